package config

import (
	"net/url"
	"strings"
)

// PublicBaseURL is serve.public.base_url, parsed (a fresh copy each call).
func (c *Config) PublicBaseURL() *url.URL { return mustParse(c.Serve.Public.BaseURL) }

// AdminBaseURL is serve.admin.base_url, parsed (a fresh copy each call).
func (c *Config) AdminBaseURL() *url.URL { return mustParse(c.Serve.Admin.BaseURL) }

// PublicURL is the public base URL joined with a relative path such as
// "self-service/recovery/browser".
func (c *Config) PublicURL(path string) string {
	return c.Serve.Public.BaseURL + strings.TrimPrefix(path, "/")
}

// UIURLs are the absolute UI URLs of the self-service flows.
type UIURLs struct {
	Error, Login, Registration, Recovery, Settings, Verification string
	// BuiltIn is the built-in UI's home (PUB/ui/); its other pages, such
	// as the dev mailbox "mail", live below it.
	BuiltIn string
}

// UIURLs resolves each flow's selfservice.flows.<flow>.ui_url against the
// public base URL. A flow without one uses the built-in UI's page for it,
// PUB/ui/<flow> (Latchkey departure 8).
func (c *Config) UIURLs() UIURLs {
	f := c.SelfService.Flows
	page := func(configured, flow string) string {
		if configured == "" {
			return c.PublicURL(builtinUIPath + flow)
		}
		return c.resolvePublic(configured)
	}
	return UIURLs{
		Error:        page(f.Error.UIURL, "error"),
		Login:        page(f.Login.UIURL, "login"),
		Registration: page(f.Registration.UIURL, "registration"),
		Recovery:     page(f.Recovery.UIURL, "recovery"),
		Settings:     page(f.Settings.UIURL, "settings"),
		Verification: page(f.Verification.UIURL, "verification"),
		BuiltIn:      c.PublicURL(builtinUIPath),
	}
}

// DefaultReturnURL is selfservice.default_browser_return_url, resolved
// against the public base URL; when unset, the built-in UI's home PUB/ui/.
func (c *Config) DefaultReturnURL() string {
	if c.SelfService.DefaultBrowserReturnURL == "" {
		return c.PublicURL(builtinUIPath)
	}
	return c.resolvePublic(c.SelfService.DefaultBrowserReturnURL)
}

// ReturnURLs are where a browser goes after finishing a flow when it asked
// for no return_to: the most specific default_browser_return_url
// configured (selfservice.flows.<flow>.after.<method>, then
// selfservice.flows.<flow>.after, then DefaultReturnURL), resolved against
// the public base URL.
type ReturnURLs struct {
	LoginPassword        string
	RegistrationPassword string
	Recovery             string
	SettingsPassword     string
	SettingsProfile      string
	// Logout is selfservice.flows.logout.after.default_browser_return_url
	// as configured, not resolved: a relative path is left for the browser
	// to resolve against the logout request (Kratos accepts only absolute
	// URLs there).
	Logout string
}

// ReturnURLs resolves the after-flow return URLs (see ReturnURLs).
func (c *Config) ReturnURLs() ReturnURLs {
	f := c.SelfService.Flows
	after := func(candidates ...string) string {
		for _, u := range candidates {
			if u != "" {
				return c.resolvePublic(u)
			}
		}
		return c.DefaultReturnURL()
	}
	logout := f.Logout.After.DefaultBrowserReturnURL
	if logout == "" {
		logout = c.DefaultReturnURL()
	}
	return ReturnURLs{
		LoginPassword:        after(f.Login.After.Password.DefaultBrowserReturnURL, f.Login.After.DefaultBrowserReturnURL),
		RegistrationPassword: after(f.Registration.After.Password.DefaultBrowserReturnURL, f.Registration.After.DefaultBrowserReturnURL),
		Recovery:             after(f.Recovery.After.DefaultBrowserReturnURL),
		SettingsPassword:     after(f.Settings.After.Password.DefaultBrowserReturnURL, f.Settings.After.DefaultBrowserReturnURL),
		SettingsProfile:      after(f.Settings.After.Profile.DefaultBrowserReturnURL, f.Settings.After.DefaultBrowserReturnURL),
		Logout:               logout,
	}
}

// AllowedReturnURLs is selfservice.allowed_return_urls, parsed.
func (c *Config) AllowedReturnURLs() []*url.URL {
	out := make([]*url.URL, 0, len(c.SelfService.AllowedReturnURLs))
	for _, s := range c.SelfService.AllowedReturnURLs {
		if u, err := url.Parse(s); err == nil {
			out = append(out, u)
		}
	}
	return out
}

// LinkBaseURL is the base URL of emailed recovery/verification links:
// selfservice.methods.link.config.base_url, else the public base URL.
// It always ends with "/".
func (c *Config) LinkBaseURL() string {
	if c.SelfService.Methods.Link.Config.BaseURL != "" {
		return c.SelfService.Methods.Link.Config.BaseURL
	}
	return c.Serve.Public.BaseURL
}

// resolvePublic resolves a possibly relative URL against the public base.
func (c *Config) resolvePublic(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.IsAbs() {
		return s
	}
	return c.PublicBaseURL().ResolveReference(u).String()
}

// mustParse parses a URL validated by Load; a Config assembled by hand
// with a broken URL yields an empty URL rather than a panic.
func mustParse(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		return &url.URL{}
	}
	return u
}

// TOTPIssuer is selfservice.methods.totp.config.issuer, or else the host
// name of the public base URL (Kratos's default).
func (c *Config) TOTPIssuer() string {
	if c.SelfService.Methods.TOTP.Config.Issuer != "" {
		return c.SelfService.Methods.TOTP.Config.Issuer
	}
	if u, err := url.Parse(c.Serve.Public.BaseURL); err == nil && u.Hostname() != "" {
		return u.Hostname()
	}
	return "latchkey"
}
