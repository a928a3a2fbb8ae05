package webui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"golang.org/x/text/language"

	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/i18n"
)

// page is what every template receives.
type page struct {
	Title string
	// Set by render.
	Product        string
	Base           string
	MailboxEnabled bool
	// Lang is the page's language ("en", "de", "pt-BR").
	Lang string

	Flow *flowView
	// SecondStep marks the second login step (aal2): the page says so and
	// offers LogoutURL instead of the usual links.
	SecondStep  bool
	LogoutURL   string
	Links       []link
	MailboxHint bool
	Error       *errorView
	Message     *messagePage
	Welcome     *welcomeView
	Lockdown    *lockdownView
	Mail        []mailView
}

// link is a link in a page's body.
type link struct {
	Text string
	Href string
}

// messagePage is a page that only says something (not found, disabled).
type messagePage struct {
	Heading string
	Text    string
	Detail  string
}

// parsePages parses the layout once per page template, so each page
// defines its own "content", and gives each supported language its own
// copy whose t, tn and duration functions speak that language.
func parsePages() map[language.Tag]map[string]*template.Template {
	layout := template.Must(template.New("layout.html").Funcs(textFuncs(i18n.For(i18n.Default))).
		ParseFS(assets, "templates/layout.html", "templates/partials.html"))
	out := map[language.Tag]map[string]*template.Template{}
	for _, tag := range i18n.Supported {
		funcs := textFuncs(i18n.For(tag))
		pages := map[string]*template.Template{}
		for _, name := range []string{"flow", "error", "message", "welcome", "mail", "lockdown"} {
			t := template.Must(layout.Clone())
			t = template.Must(t.ParseFS(assets, "templates/"+name+".html"))
			pages[name] = t.Funcs(funcs)
		}
		out[tag] = pages
	}
	return out
}

// textFuncs are the template functions that print texts: {{t "key"}},
// {{t "key" "name" value}}, {{tn "key" count}}, {{duration d}}.
func textFuncs(p *i18n.Printer) template.FuncMap {
	return template.FuncMap{
		"t":        p.T,
		"tn":       p.N,
		"duration": p.Duration,
	}
}

// render writes a page. The template runs into a buffer first, so a
// template error becomes a clean 500 instead of half a page.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	v := h.visitor(w, r)
	p.Product = h.productName()
	p.Base = h.base
	p.MailboxEnabled = h.Config.Mailbox
	p.Lang = v.P.Lang()
	var buf bytes.Buffer
	if err := h.pages[v.P.Tag()][name].ExecuteTemplate(&buf, "layout.html", p); err != nil {
		httpx.Logger(r.Context()).Error("web UI template failed", "page", name, "error", err)
		http.Error(w, "The page could not be rendered.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Language", p.Lang)
	w.Header().Add("Vary", "Accept-Language")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}

// errorView is an API error shown to a person.
type errorView struct {
	Heading string
	Message string
	Reason  string
	Code    int
	Status  string
	ID      string
	Details []detail
}

// detail is one entry of an error's details.
type detail struct {
	Key   string
	Value string
}

func buildErrorView(e errorBody) *errorView {
	v := &errorView{
		Heading: "Something went wrong",
		Message: e.Message,
		Reason:  e.Reason,
		Code:    e.Code,
		Status:  e.Status,
		ID:      e.ID,
	}
	if v.Status == "" {
		v.Status = http.StatusText(e.Code)
	}
	switch {
	case e.ID == "security_csrf_violation":
		v.Heading = "Your request was blocked"
	case e.Code == http.StatusGone:
		v.Heading = "This page has expired"
	case e.Code == http.StatusNotFound:
		v.Heading = "Not found"
	case e.Code == http.StatusUnauthorized || e.Code == http.StatusForbidden:
		v.Heading = "Not allowed"
	}
	for _, k := range sortedKeys(e.Details) {
		v.Details = append(v.Details, detail{Key: k, Value: detailString(e.Details[k])})
	}
	return v
}

func detailString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// errorPage serves /ui/error?id=: the error a browser flow stored before
// sending the browser here.
func (h *Handler) errorPage(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	if id == "" {
		id = r.URL.Query().Get("error")
	}
	if id == "" {
		h.render(w, r, http.StatusNotFound, "message", page{
			Title:   "Error not found",
			Message: &messagePage{Heading: "Error not found", Text: "This address names no error."},
		})
		return
	}
	res := h.call(w, r, "/self-service/errors?id="+url.QueryEscape(id))
	if res.Status != http.StatusOK {
		h.render(w, r, http.StatusNotFound, "message", page{
			Title:   "Error not found",
			Message: &messagePage{Heading: "Error not found", Text: "The error could not be found. It may have been removed."},
		})
		return
	}
	var ef struct {
		Error errorBody `json:"error"`
	}
	if err := res.decode(&ef); err != nil {
		h.showAPIError(w, r, apiError{Error: errorBody{Code: http.StatusBadGateway, Message: "The error could not be read."}})
		return
	}
	h.render(w, r, http.StatusOK, "error", page{Title: "Something went wrong", Error: buildErrorView(ef.Error)})
}

// sessionJSON is the part of a session the welcome page shows.
type sessionJSON struct {
	ID                          string    `json:"id"`
	AuthenticatedAt             time.Time `json:"authenticated_at"`
	ExpiresAt                   time.Time `json:"expires_at"`
	AuthenticatorAssuranceLevel string    `json:"authenticator_assurance_level"`
	AuthenticationMethods       []struct {
		Method string `json:"method"`
	} `json:"authentication_methods"`
	Identity *struct {
		ID     string         `json:"id"`
		Traits map[string]any `json:"traits"`
	} `json:"identity"`
	Devices []struct {
		UserAgent string `json:"user_agent"`
		IPAddress string `json:"ip_address"`
	} `json:"devices"`
}

// welcomeView is the signed-in person's account page.
type welcomeView struct {
	IdentityID string
	Traits     []detail
	Current    sessionView
	Others     []sessionView
	LogoutURL  string
}

// sessionView is one session as listed on the welcome page.
type sessionView struct {
	ID              string
	AuthenticatedAt string
	ExpiresAt       string
	Methods         string
	AAL             string
	Device          string
}

func (h *Handler) sessionView(s sessionJSON) sessionView {
	var methods []string
	for _, m := range s.AuthenticationMethods {
		methods = append(methods, methodName(m.Method))
	}
	v := sessionView{
		ID:              s.ID,
		AuthenticatedAt: h.timeText(s.AuthenticatedAt),
		ExpiresAt:       h.timeText(s.ExpiresAt),
		Methods:         strings.Join(methods, ", "),
		AAL:             s.AuthenticatorAssuranceLevel,
	}
	if len(s.Devices) > 0 {
		d := s.Devices[0]
		v.Device = strings.TrimSpace(d.UserAgent + " " + d.IPAddress)
	}
	return v
}

// methodName says how a session was authenticated, in words.
func methodName(m string) string {
	switch m {
	case "password":
		return "password"
	case "code_recovery":
		return "recovery code"
	case "link_recovery":
		return "recovery link"
	}
	return strings.ReplaceAll(m, "_", " ")
}

// welcome serves /ui/welcome: who is signed in, their sessions, and the way
// out. Without a session the browser is sent to sign in.
func (h *Handler) welcome(w http.ResponseWriter, r *http.Request) {
	res := h.call(w, r, "/sessions/whoami")
	if res.Status != http.StatusOK {
		if to := res.errorOf().redirect(); safeRedirect(to) {
			http.Redirect(w, r, to, http.StatusSeeOther)
			return
		}
		http.Redirect(w, r, h.base+"login", http.StatusSeeOther)
		return
	}
	var s sessionJSON
	if err := res.decode(&s); err != nil {
		h.showAPIError(w, r, apiError{Error: errorBody{Code: http.StatusBadGateway, Message: "The session could not be read."}})
		return
	}
	v := &welcomeView{Current: h.sessionView(s)}
	if s.Identity != nil {
		v.IdentityID = s.Identity.ID
		v.Traits = flattenTraits("", s.Identity.Traits)
	}
	if others := h.call(w, r, "/sessions"); others.Status == http.StatusOK {
		var list []sessionJSON
		if others.decode(&list) == nil {
			for _, o := range list {
				if o.ID != s.ID {
					v.Others = append(v.Others, h.sessionView(o))
				}
			}
		}
	}
	v.LogoutURL = h.logoutURL(w, r)
	h.render(w, r, http.StatusOK, "welcome", page{Title: "Your account", Welcome: v})
}

// logoutURL is the browser's log-out link, or "" without a session.
func (h *Handler) logoutURL(w http.ResponseWriter, r *http.Request) string {
	lo := h.call(w, r, "/self-service/logout/browser")
	if lo.Status != http.StatusOK {
		return ""
	}
	var l struct {
		LogoutURL string `json:"logout_url"`
	}
	if lo.decode(&l) != nil || !safeRedirect(l.LogoutURL) {
		return ""
	}
	return l.LogoutURL
}

// flattenTraits lists traits as dotted keys ("name.first"), sorted.
func flattenTraits(prefix string, traits map[string]any) []detail {
	var out []detail
	for _, k := range sortedKeys(traits) {
		key := k
		if prefix != "" {
			key = prefix + "." + k
		}
		if sub, ok := traits[k].(map[string]any); ok {
			out = append(out, flattenTraits(key, sub)...)
			continue
		}
		out = append(out, detail{Key: key, Value: detailString(traits[k])})
	}
	return out
}

// timeText is "2026-11-22 11:26 UTC (5 minutes ago)".
func (h *Handler) timeText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04 UTC") + " (" + relative(t, h.now()) + ")"
}

// relative is a rough "3 minutes ago" / "in 2 hours".
func relative(t, now time.Time) string {
	d := now.Sub(t)
	past := d >= 0
	if !past {
		d = -d
	}
	// Rounded to the nearest unit: a link valid for 7 days less a few
	// seconds is valid "in 7 days", not "in 6 days" (and 59m50s is
	// "1 hour", not "60 minutes").
	in := func(unit time.Duration) int { return int((d + unit/2) / unit) }
	var s string
	switch {
	case d < time.Minute:
		return "just now"
	case in(time.Minute) < 60:
		s = plural(in(time.Minute), "minute")
	case in(time.Hour) < 48:
		s = plural(in(time.Hour), "hour")
	default:
		s = plural(in(24*time.Hour), "day")
	}
	if past {
		return s + " ago"
	}
	return "in " + s
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
