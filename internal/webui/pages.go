package webui

import (
	"bytes"
	"encoding/json"
	"html/template"
	"net/http"
	"sort"

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
	// LogoURL is ui.brand.logo_url; BrandCSS links the stylesheet of
	// ui.brand.primary_color.
	LogoURL  string
	BrandCSS bool
	// Account names the signed-in visitor in the header (their email or
	// other identifier), "" when signed out; AccountLogoutURL is the
	// header's Log out link.
	Account          string
	AccountLogoutURL string

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

// messagePage is a page that only says something (not found, disabled,
// already signed in), with optional buttons instead of the Home link.
type messagePage struct {
	Heading string
	Text    string
	Detail  string
	Actions []action
}

// action is a button-styled link; the first Primary one is the page's
// main way on.
type action struct {
	Text    string
	Href    string
	ID      string
	Primary bool
}

// parsePages parses the layout once per page template, so each page
// defines its own "content", and gives each supported language its own
// copy whose text functions (i18n.Printer.Funcs) speak that language.
func parsePages() map[language.Tag]map[string]*template.Template {
	layout := template.Must(template.New("layout.html").Funcs(i18n.For(i18n.Default).Funcs()).
		ParseFS(assets, "templates/layout.html", "templates/partials.html"))
	out := map[language.Tag]map[string]*template.Template{}
	for _, tag := range i18n.Supported {
		funcs := template.FuncMap(i18n.For(tag).Funcs())
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

// render writes a page. The template runs into a buffer first, so a
// template error becomes a clean 500 instead of half a page.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	v := h.visitor(w, r)
	p.Product = h.productName()
	p.Base = h.base
	p.MailboxEnabled = h.Config.Mailbox
	p.Lang = v.P.Lang()
	p.LogoURL = h.Config.LogoURL
	p.BrandCSS = h.brandCSS != ""
	if v.Session != nil {
		p.Account = accountName(v.Session, v.P)
		p.AccountLogoutURL = h.logoutURL(w, r)
	}
	if p.Error != nil {
		h.explainError(w, r, v, p.Error)
		p.Title = p.Error.Heading
	}
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
