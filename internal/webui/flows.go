package webui

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/i18n"
)

// flowKind is everything a flow page knows about its flow: which API
// endpoints to call and the page's chrome. How the flow looks comes from
// the flow's ui container alone.
type flowKind struct {
	// Name is the flow's name in the API paths and the page's path; the
	// page's heading is the text ui.flow.<name>.title.
	Name string
	// Keep lists the query parameters passed on to the init endpoint.
	Keep []string
	// InitInProcess: start the flow with an in-process call rather than by
	// sending the browser to the init endpoint, so that a disabled flow
	// shows a friendly page instead of an error (verification).
	InitInProcess bool
	// Links are shown under the form.
	Links []pageLink
	// MailboxHint: point to the dev mailbox (flows that send email).
	MailboxHint bool
}

// pageLink is a link to another UI page (Path relative to the UI's base)
// with the key of its text.
type pageLink struct {
	Key  string
	Path string
}

var flowKinds = []flowKind{
	{
		Name: "registration", Keep: []string{"return_to"},
		Links: []pageLink{{"ui.link.have_account", "login"}},
	},
	{
		Name: "login", Keep: []string{"return_to", "refresh", "aal"},
		Links: []pageLink{{"ui.link.forgot_password", "recovery"}, {"ui.link.create_account", "registration"}},
	},
	{
		Name: "recovery", Keep: []string{"return_to"},
		Links:       []pageLink{{"ui.link.back_to_sign_in", "login"}},
		MailboxHint: true,
	},
	{
		Name: "settings", Keep: []string{"return_to"},
		Links: []pageLink{{"ui.link.back_to_account", pathWelcome}},
	},
	{
		Name: "verification", Keep: []string{"return_to"},
		InitInProcess: true,
		Links:         []pageLink{{"ui.link.back_to_account", pathWelcome}},
		MailboxHint:   true,
	},
}

// title is the flow page's heading in p's language.
func (k flowKind) title(p *i18n.Printer) string { return p.T("ui.flow." + k.Name + ".title") }

// flowPage serves /ui/<flow>: without ?flow= it starts a flow; with it, it
// fetches the flow and renders its form. A flow that cannot be fetched
// because it expired, is unknown, or is bound to another browser (CSRF
// cookie) or session is replaced by a new one instead of a dead end.
func (h *Handler) flowPage(k flowKind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h.rememberFlow(w, r, k) // lastflow.go: the error page's restart
		id, err := uuid.Parse(r.URL.Query().Get("flow"))
		if err != nil {
			h.startFlow(w, r, k)
			return
		}
		res := h.call(w, r, "/self-service/"+k.Name+"/flows?id="+id.String())
		if res.Status == http.StatusOK {
			h.renderFlow(w, r, k, res)
			return
		}
		e := res.errorOf()
		if to := e.redirect(); safeRedirect(to) {
			http.Redirect(w, r, to, http.StatusSeeOther)
			return
		}
		switch {
		case res.Status == http.StatusForbidden && e.Error.ID == "security_csrf_violation" && r.Header.Get("Cookie") == "":
			// The browser sent no cookie at all, so a new flow would fail
			// the same way: say so instead of redirecting in a loop.
			p := h.visitor(w, r).P
			h.render(w, r, http.StatusForbidden, "message", page{
				Title:   p.T("ui.cookies_needed.title"),
				Message: &messagePage{Heading: p.T("ui.cookies_needed.title"), Text: p.T("ui.cookies_needed.text")},
			})
		case res.Status == http.StatusUnauthorized, res.Status == http.StatusForbidden, res.Status == http.StatusNotFound, res.Status == http.StatusGone:
			h.startFlow(w, r, k)
		default:
			h.showAPIError(w, r, e)
		}
	}
}

// startFlow sends the browser to the flow's init endpoint, which creates
// the flow and answers 303 back to this page with ?flow=<id> (the flows'
// ui_urls default to these pages).
func (h *Handler) startFlow(w http.ResponseWriter, r *http.Request, k flowKind) {
	if h.explainSignedIn(w, r, k) { // signedin.go
		return
	}
	q := url.Values{}
	for _, p := range k.Keep {
		if v := r.URL.Query().Get(p); v != "" {
			q.Set(p, v)
		}
	}
	init := "self-service/" + k.Name + "/browser"
	if len(q) > 0 {
		init += "?" + q.Encode()
	}
	if !k.InitInProcess {
		http.Redirect(w, r, h.publicURL(init), http.StatusSeeOther)
		return
	}
	res := h.call(w, r, "/"+init)
	var f struct {
		ID string `json:"id"`
	}
	if res.Status == http.StatusOK && res.decode(&f) == nil && f.ID != "" {
		http.Redirect(w, r, h.base+k.Name+"?flow="+url.QueryEscape(f.ID), http.StatusSeeOther)
		return
	}
	e := res.errorOf()
	if to := e.redirect(); safeRedirect(to) {
		http.Redirect(w, r, to, http.StatusSeeOther)
		return
	}
	switch res.Status {
	case http.StatusBadRequest, http.StatusNotFound:
		// The flow is turned off (or not built into this server).
		p := h.visitor(w, r).P
		h.render(w, r, http.StatusOK, "message", page{
			Title: k.title(p),
			Message: &messagePage{
				Heading: k.title(p),
				Text:    p.T("ui.flow.disabled"),
				Detail:  e.Error.Reason,
			},
		})
	default:
		h.showAPIError(w, r, e)
	}
}

// renderFlow shows a fetched flow.
func (h *Handler) renderFlow(w http.ResponseWriter, r *http.Request, k flowKind, res apiResponse) {
	lang := h.visitor(w, r).P
	var f flowJSON
	if err := res.decode(&f); err != nil {
		h.showAPIError(w, r, apiError{Error: errorBody{Code: http.StatusBadGateway, Status: http.StatusText(http.StatusBadGateway), Message: lang.T("ui.flow.unreadable")}})
		return
	}
	if k.Name == "verification" {
		prefillCode(&f.UI, r.URL.Query().Get("code"))
	}
	p := page{Title: k.title(lang), Flow: buildFlowView(f.UI, texts{p: lang, now: h.now()})}
	links := k.Links
	if k.Name == "login" && f.RequestedAAL == "aal2" {
		// The second step: the person is half signed in, so the way out is
		// to log out, not to sign up.
		p.SecondStep = true
		p.Flow.foldBackupCodes()
		links = nil
		p.LogoutURL = h.logoutURL(w, r)
	}
	for _, l := range links {
		p.Links = append(p.Links, link{Text: lang.T(l.Key), Href: h.base + l.Path})
	}
	if k.MailboxHint && h.Config.Mailbox {
		p.MailboxHint = true
	}
	h.render(w, r, http.StatusOK, "flow", p)
}

// prefillCode puts the code of an emailed verification link into the
// flow's empty code input: the link only fills the form, the person
// submits it (so a mail scanner opening links verifies nothing).
func prefillCode(c *containerJSON, code string) {
	if len(code) != 6 || strings.Trim(code, "0123456789") != "" {
		return
	}
	for i, n := range c.Nodes {
		if n.Attributes.Name == "code" && n.Attributes.Type == "text" && valueString(n.Attributes.Value) == "" {
			c.Nodes[i].Attributes.Value = code
		}
	}
}

// showAPIError renders an error the API answered instead of a flow.
func (h *Handler) showAPIError(w http.ResponseWriter, r *http.Request, e apiError) {
	status := e.Error.Code
	if status < 400 || status > 599 {
		status = http.StatusBadGateway
	}
	h.render(w, r, status, "error", page{Error: buildErrorView(e.Error)}) // render words the title
}

// safeRedirect accepts only http(s) URLs and absolute paths.
func safeRedirect(to string) bool {
	if to == "" {
		return false
	}
	if strings.HasPrefix(to, "/") && !strings.HasPrefix(to, "//") {
		return true
	}
	u, err := url.Parse(to)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
