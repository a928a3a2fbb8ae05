package config

import (
	"net/http"
	"strings"
)

// CookieSecure reports whether cookies.* cookies get the Secure attribute:
// cookies.secure, which Load sets when it is not configured (see derive).
// A Config assembled by hand without it gets secure cookies.
func (c *Config) CookieSecure() bool {
	return c.Cookies.Secure == nil || *c.Cookies.Secure
}

// SameSite is cookies.same_site as an http.SameSite.
func (c *Config) SameSite() http.SameSite { return sameSite(c.Cookies.SameSite) }

// CookieSettings are resolved cookie attributes.
type CookieSettings struct {
	Name       string
	Domain     string
	Path       string
	SameSite   http.SameSite
	Secure     bool
	Persistent bool
}

// SessionCookie is the session cookie's attributes with session.cookie.*
// falling back to cookies.*.
func (c *Config) SessionCookie() CookieSettings {
	sc := c.Session.Cookie
	out := CookieSettings{
		Name:       sc.Name,
		Domain:     firstNonEmpty(sc.Domain, c.Cookies.Domain),
		Path:       firstNonEmpty(sc.Path, c.Cookies.Path, defaultCookiePath),
		SameSite:   sameSite(firstNonEmpty(sc.SameSite, c.Cookies.SameSite)),
		Secure:     c.CookieSecure(),
		Persistent: sc.Persistent,
	}
	if sc.Secure != nil {
		out.Secure = *sc.Secure
	}
	return out
}

// sameSite maps a validated same_site value (Lax, Strict or None, any
// case) to its http.SameSite.
func sameSite(s string) http.SameSite {
	switch strings.ToLower(s) {
	case "strict":
		return http.SameSiteStrictMode
	case "none":
		return http.SameSiteNoneMode
	}
	return http.SameSiteLaxMode
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
