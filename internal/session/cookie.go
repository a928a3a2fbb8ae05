package session

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/secret"
)

// DefaultCookieName is the Kratos session cookie name.
const DefaultCookieName = "ory_kratos_session"

// The cookie value is base64url(token "|" expires_at unix seconds) "."
// base64url(HMAC-SHA256 of that payload with the cookie secret). Clients
// treat it as opaque; the MAC makes it tamper-proof, and the embedded
// expiry tells whoami when the session was extended since the cookie was
// set. A cookie in Kratos's format is turned into this one by
// AdoptKratosCookies (kratoscookie.go) before any handler reads it.

// SetCookie sets the session cookie carrying token for s. With a
// persistent cookie, Expires and Max-Age follow the session's expires_at.
func (m *Manager) SetCookie(w http.ResponseWriter, r *http.Request, s *Session, token string) {
	m.WriteCookie(w, token, s.ExpiresAt)
}

// WriteCookie sets the session cookie carrying token for a session that
// expires at expiresAt.
func (m *Manager) WriteCookie(w http.ResponseWriter, token string, expiresAt time.Time) {
	m.writeCookieValue(w, m.encodeCookie(token, expiresAt), expiresAt)
}

// writeCookieValue sets the session cookie to value, an encodeCookie of a
// session that expires at expiresAt.
func (m *Manager) writeCookieValue(w http.ResponseWriter, value string, expiresAt time.Time) {
	c := m.cookie(value)
	if m.Config.Cookie.Persistent {
		c.Expires = expiresAt
		c.MaxAge = int(expiresAt.Sub(m.now()).Seconds())
		if c.MaxAge <= 0 {
			// MaxAge 0 would mean "no Max-Age"; an expired session's
			// cookie is deleted instead.
			c.MaxAge = -1
		}
	}
	http.SetCookie(w, c)
}

// ClearCookie deletes the session cookie (logout) the way Kratos does:
// a non-empty value, Expires one second into 1970 and Max-Age=0. Some
// proxies and cookie jars drop a Set-Cookie with an empty value, which
// would leave the old cookie in place. The value is a signed cookie
// without a token, so it never names a session even if sent back.
func (m *Manager) ClearCookie(w http.ResponseWriter, r *http.Request) {
	gone := time.Unix(1, 0)
	c := m.cookie(m.encodeCookie("", gone))
	c.MaxAge = -1 // net/http writes Max-Age=0
	c.Expires = gone
	http.SetCookie(w, c)
}

// cookie returns the cookie with the configured attributes.
func (m *Manager) cookie(value string) *http.Cookie {
	cc := m.Config.Cookie
	path := cc.Path
	if path == "" {
		path = "/"
	}
	sameSite := cc.SameSite
	if sameSite == 0 || sameSite == http.SameSiteDefaultMode {
		sameSite = http.SameSiteLaxMode
	}
	if sameSite == http.SameSiteNoneMode && !cc.Secure {
		// Browsers drop SameSite=None cookies that are not Secure.
		sameSite = http.SameSiteLaxMode
	}
	return &http.Cookie{
		Name:     m.cookieName(),
		Value:    value,
		Path:     path,
		Domain:   cc.Domain,
		HttpOnly: true,
		Secure:   cc.Secure,
		SameSite: sameSite,
	}
}

func (m *Manager) cookieName() string {
	if m.Config.Cookie.Name != "" {
		return m.Config.Cookie.Name
	}
	return DefaultCookieName
}

func (m *Manager) cookieSigner() secret.Hasher {
	if len(m.Cookies.Secrets) > 0 {
		return m.Cookies
	}
	return m.Tokens
}

func (m *Manager) encodeCookie(token string, expiresAt time.Time) string {
	payload := token + "|" + strconv.FormatInt(expiresAt.Unix(), 10)
	mac := m.cookieSigner().Sign([]byte(payload))
	return base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." + base64.RawURLEncoding.EncodeToString(mac)
}

// decodeCookie checks the MAC (in constant time, against every cookie
// secret) and returns the token and the embedded expiry. Anything that
// does not verify is treated as no cookie at all.
func (m *Manager) decodeCookie(v string) (token string, expiresAt int64, ok bool) {
	p64, mac64, found := strings.Cut(v, ".")
	if !found || len(v) > 1024 {
		return "", 0, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(p64)
	if err != nil {
		return "", 0, false
	}
	mac, err := base64.RawURLEncoding.DecodeString(mac64)
	if err != nil || !m.cookieSigner().Verify(payload, mac) {
		return "", 0, false
	}
	i := strings.LastIndexByte(string(payload), '|')
	if i < 0 {
		return "", 0, false
	}
	exp, err := strconv.ParseInt(string(payload[i+1:]), 10, 64)
	if err != nil || i == 0 {
		// No token: the logout cookie (ClearCookie) counts as no cookie.
		return "", 0, false
	}
	return string(payload[:i]), exp, true
}

// cookieIsStale reports whether the cookie that carried s embeds an expiry
// older than the session's (the session was extended since): whoami then
// re-issues it.
func (s *Session) cookieIsStale() bool {
	return s.carrier == CarrierCookie && s.cookieExpiry < s.ExpiresAt.Unix()
}
