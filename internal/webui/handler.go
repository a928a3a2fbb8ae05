// Package webui is Latchkey's built-in browser UI and development mailbox:
// the pages under /ui/ on the public listener (registration, login,
// recovery, settings, verification, error, welcome, lockdown) and /ui/mail.
//
// The UI is a client of Latchkey's own public API, exactly like an external
// Kratos UI: each page asks the API (in-process, through Handler.API) for
// its flow and renders the flow's "ui" container generically — every node,
// label and message the server produces shows up without page-specific
// code — as an HTML form that posts straight to the API. The pages need no
// JavaScript and load nothing but one embedded stylesheet and one small
// embedded script (a Copy button for backup codes).
package webui

import (
	"embed"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/text/language"
)

//go:embed templates/*.html static/*
var assets embed.FS

// Config is what the UI reads from the configuration; internal/server maps
// config.Config onto it.
type Config struct {
	// PublicBaseURL is serve.public.base_url (e.g. "http://127.0.0.1:4433/").
	// Flow pages send browsers to its self-service endpoints, and the UI's
	// own links live under its path + "ui/".
	PublicBaseURL string
	// Mailbox turns on /ui/mail and the "check the dev mailbox" hints (true
	// in --dev, or dev_mailbox.enabled).
	Mailbox bool
	// ProductName is shown in the header and page titles ("Latchkey" when
	// empty): ui.brand.name.
	ProductName string
	// LogoURL is ui.brand.logo_url: an image shown in the header instead
	// of the name (which becomes its alt text). Its origin is allowed by
	// the pages' img-src.
	LogoURL string
	// PrimaryColor is ui.brand.primary_color (#rgb or #rrggbb): the
	// colour of buttons and links, served as <base>static/brand.css.
	PrimaryColor string
	// ReturnURLs are where a browser may be sent after a form post on
	// another origin than the public API: selfservice.allowed_return_urls
	// and the configured default_browser_return_urls. Their origins are
	// allowed by the pages' Content-Security-Policy form-action, because
	// Chromium applies form-action to the redirects that follow a form post.
	ReturnURLs []string
	// Now is the clock for "5 minutes ago" texts (time.Now when nil).
	Now func() time.Time
	// DefaultLocale is selfservice.default_locale: the language of a page
	// when neither the identity's locale trait nor the browser's
	// Accept-Language names a supported one (English when unset).
	DefaultLocale language.Tag
}

// Handler serves /ui/. Set the fields, then mount it on the public
// listener: mux.Handle("/ui/", h). It must not be copied after first use.
type Handler struct {
	// API is Latchkey's public API handler (the public listener's mux).
	// Pages call it in-process with the browser's cookies, as an external
	// UI would call it over the network.
	API http.Handler
	// Mailbox lists the courier's messages for /ui/mail. It is only used
	// when Config.Mailbox is true.
	Mailbox Mailbox
	// Config holds the UI's settings.
	Config Config

	once sync.Once
	mux  *http.ServeMux
	// pages holds each page's templates per supported language.
	pages pageSet
	csp   string
	// brandCSS is the stylesheet of Config.PrimaryColor ("" without one).
	brandCSS string
	// base is the UI's path as browsers see it (links and redirects):
	// "/ui/", or "/auth/ui/" when the public base URL has a path.
	base string
}

// MountPath is where the server mounts the Handler on the public listener.
// Requests are routed on it; behind a proxy that strips a path prefix the
// pages' links still carry the prefix of the public base URL.
const MountPath = "/ui/"

// ServeHTTP sets the security headers every UI response carries and
// dispatches to the page.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.once.Do(h.init)
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", h.csp)
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Cache-Control", "no-store")
	h.mux.ServeHTTP(w, withVisitorSlot(r))
}

// Pages of the UI, relative to its base path.
const (
	pathWelcome = "welcome"
	pathMail    = "mail"
	pathError   = "error"
)

func (h *Handler) init() {
	h.base = uiBasePath(h.Config.PublicBaseURL)
	h.csp = contentSecurityPolicy(h.Config.PublicBaseURL, h.Config.ReturnURLs, h.Config.LogoURL)
	h.pages = newPageSet()
	h.brandCSS = brandStylesheet(h.Config.PrimaryColor)

	m := http.NewServeMux()
	b := MountPath
	m.HandleFunc("GET "+b+"{$}", h.home)
	for _, k := range flowKinds {
		m.HandleFunc("GET "+b+k.Name, h.flowPage(k))
	}
	m.HandleFunc("GET "+b+pathError, h.errorPage)
	m.HandleFunc("GET "+b+pathWelcome, h.welcome)
	m.HandleFunc("GET "+b+pathMail, h.mailbox)
	m.HandleFunc("GET "+b+pathLockdown, h.lockdown)
	m.HandleFunc("POST "+b+pathRevoke, h.revokeSession)
	m.HandleFunc("GET "+b+"static/brand.css", h.serveBrandCSS)
	static, _ := fs.Sub(assets, "static")
	m.Handle("GET "+b+"static/", http.StripPrefix(b+"static/", http.FileServerFS(static)))
	m.HandleFunc("/", h.notFound)
	h.mux = m
}

// uiBasePath is the path of the UI under the public base URL: "/ui/" for
// "http://host/", "/auth/ui/" behind a proxy mounting Latchkey at /auth/.
func uiBasePath(publicBase string) string {
	p := "/"
	if u, err := url.Parse(publicBase); err == nil && u.Path != "" {
		p = u.Path
	}
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p + "ui/"
}

// contentSecurityPolicy allows nothing but the UI's own stylesheets, and
// forms that post to the public API (or redirect on to an allowed return
// URL), the UI's own script (the backup codes' Copy button), and images
// of its own, inline QR codes and the configured logo.
func contentSecurityPolicy(publicBase string, returnURLs []string, logoURL string) string {
	actions := []string{"'self'"}
	seen := map[string]bool{}
	for _, raw := range append([]string{publicBase}, returnURLs...) {
		o := origin(raw)
		if o == "" || seen[o] {
			continue
		}
		seen[o] = true
		actions = append(actions, o)
	}
	img := "'self' data:"
	if o := origin(logoURL); o != "" && !strings.Contains(o, "*") {
		img += " " + o
	}
	return "default-src 'none'; script-src 'self'; style-src 'self'; img-src " + img + "; form-action " +
		strings.Join(actions, " ") + "; frame-ancestors 'none'; base-uri 'none'"
}

// origin is scheme://host[:port] of an absolute URL (wildcard hosts such as
// https://*.example.com are kept, CSP understands them), or "".
func origin(raw string) string {
	u, err := url.Parse(strings.Replace(raw, "*.", "wildcard-placeholder.", 1))
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	host := strings.Replace(u.Host, "wildcard-placeholder.", "*.", 1)
	if strings.ContainsAny(host, " ;,'") {
		return ""
	}
	return u.Scheme + "://" + host
}

// publicURL is an absolute URL on the public API.
func (h *Handler) publicURL(path string) string {
	base := h.Config.PublicBaseURL
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	return base + strings.TrimPrefix(path, "/")
}

func (h *Handler) now() time.Time {
	if h.Config.Now != nil {
		return h.Config.Now()
	}
	return time.Now()
}

func (h *Handler) productName() string {
	if h.Config.ProductName != "" {
		return h.Config.ProductName
	}
	return "Latchkey"
}

// home sends the browser to its account page when it has a session, else
// to sign in.
func (h *Handler) home(w http.ResponseWriter, r *http.Request) {
	if h.visitor(w, r).Session != nil {
		http.Redirect(w, r, h.base+pathWelcome, http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, h.base+"login", http.StatusSeeOther)
}

func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) {
	p := h.visitor(w, r).P
	h.render(w, r, http.StatusNotFound, "message", page{
		Title:   p.T("account.not_found.title"),
		Message: &messagePage{Heading: p.T("account.not_found.title"), Text: p.T("account.not_found.text")},
	})
}
