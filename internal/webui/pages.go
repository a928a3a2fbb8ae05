package webui

import (
	"bytes"
	"encoding/json"
	"html/template"
	"net/http"
	"sort"
	"sync"

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

// pageNames are the page templates (templates/<name>.html).
var pageNames = []string{"flow", "error", "message", "welcome", "mail", "lockdown"}

// pageSet holds the page templates of every supported language. A
// language's pages are parsed on its first page: a UI that is only ever
// shown in English keeps one copy, not five (about 0.6 MiB each).
type pageSet map[language.Tag]*langPages

type langPages struct {
	once  sync.Once
	pages map[string]*template.Template
}

func newPageSet() pageSet {
	s := pageSet{}
	for _, tag := range i18n.Supported {
		s[tag] = &langPages{}
	}
	return s
}

// page is the template of page name in tag, a supported language.
func (s pageSet) page(tag language.Tag, name string) *template.Template {
	l := s[tag]
	l.once.Do(func() { l.pages = parsePages(tag) })
	return l.pages[name]
}

// parsePages parses the layout once per page template, so each page
// defines its own "content", with text functions (i18n.Printer.Funcs)
// that speak the language of tag. The templates are part of the binary
// and the tests render every page, so a parse error is a broken build.
func parsePages(tag language.Tag) map[string]*template.Template {
	funcs := template.FuncMap(i18n.For(tag).Funcs())
	layout := template.Must(template.New("layout.html").Funcs(funcs).
		ParseFS(assets, "templates/layout.html", "templates/partials.html"))
	pages := map[string]*template.Template{}
	for _, name := range pageNames {
		t := template.Must(layout.Clone())
		pages[name] = template.Must(t.ParseFS(assets, "templates/"+name+".html"))
	}
	return pages
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
	if err := h.pages.page(v.P.Tag(), name).ExecuteTemplate(&buf, "layout.html", p); err != nil {
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
