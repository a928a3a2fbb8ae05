package flow

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"

	"github.com/latchkey/latchkey/internal/httpx"
)

// CSRF implements the double-submit protection of browser flows: a random
// token lives in an HttpOnly cookie, every rendered form carries a freshly
// masked copy of it, and a submission must bring back a copy that unmasks
// to the cookie's token.
//
// Unlike Kratos, a failed check never rotates the cookie (departure 6): the
// user can simply retry in the same flow.
type CSRF struct {
	CookieName string
	Path       string
	Domain     string
	SameSite   http.SameSite
	Secure     bool
}

// csrfTokenLen is the size of the raw token (the cookie holds it base64-encoded).
const csrfTokenLen = 32

// NewCSRF configures the cookie. Its name is bound to the public base URL as
// Kratos does (csrf_token_<sha256 hex>), so existing UIs find it.
func NewCSRF(publicBaseURL string, path, domain string, sameSite http.SameSite, secure bool) *CSRF {
	sum := sha256.Sum256([]byte(publicBaseURL))
	if path == "" {
		path = "/"
	}
	if !secure && sameSite == http.SameSiteNoneMode {
		// Browsers drop SameSite=None cookies that are not Secure.
		sameSite = http.SameSiteLaxMode
	}
	return &CSRF{CookieName: "csrf_token_" + hex.EncodeToString(sum[:]), Path: path, Domain: domain, SameSite: sameSite, Secure: secure}
}

// Rotate issues a new token cookie (after a session is issued or ended).
func (c *CSRF) Rotate(w http.ResponseWriter) []byte {
	t := newCSRFToken()
	c.setCookie(w, t)
	return t
}

func newCSRFToken() []byte {
	t := make([]byte, csrfTokenLen)
	_, _ = rand.Read(t)
	return t
}

func (c *CSRF) setCookie(w http.ResponseWriter, t []byte) {
	http.SetCookie(w, &http.Cookie{
		Name:     c.CookieName,
		Value:    base64.StdEncoding.EncodeToString(t),
		Path:     c.Path,
		Domain:   c.Domain,
		MaxAge:   31536000,
		HttpOnly: true,
		Secure:   c.Secure,
		SameSite: c.SameSite,
	})
}

// Ensure gives a request without a usable CSRF cookie a new one, as
// Kratos's CSRF middleware does on every public route it does not ignore
// (recovery.md §10): the cookie goes on the response, and the returned
// request carries the token so that Token, Check and MatchesFingerprint
// see what the browser will hold. The request's Cookie header is left as
// it was: CSRF errors explain what the browser actually sent.
func (c *CSRF) Ensure(w http.ResponseWriter, r *http.Request) *http.Request {
	if c.cookieToken(r) != nil {
		return r
	}
	t := c.Rotate(w)
	return r.WithContext(context.WithValue(r.Context(), ensuredTokenKey{}, t))
}

type ensuredTokenKey struct{}

func (c *CSRF) cookieToken(r *http.Request) []byte {
	if t, ok := r.Context().Value(ensuredTokenKey{}).([]byte); ok {
		return t
	}
	ck, err := r.Cookie(c.CookieName)
	if err != nil {
		return nil
	}
	t, err := base64.StdEncoding.DecodeString(ck.Value)
	if err != nil || len(t) != csrfTokenLen {
		return nil
	}
	return t
}

// Mask returns a new form value for token: base64(pad ‖ token XOR pad), so
// the rendered value differs on every page (defeats BREACH-style attacks).
func (c *CSRF) Mask(token []byte) string {
	out := make([]byte, 2*len(token))
	pad := out[:len(token)]
	_, _ = rand.Read(pad)
	for i := range token {
		out[len(token)+i] = token[i] ^ pad[i]
	}
	return base64.StdEncoding.EncodeToString(out)
}

func unmask(v string) []byte {
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return nil
	}
	switch len(b) {
	case 2 * csrfTokenLen:
		t := make([]byte, csrfTokenLen)
		for i := range t {
			t[i] = b[csrfTokenLen+i] ^ b[i]
		}
		return t
	case csrfTokenLen: // unmasked tokens are accepted too
		return b
	}
	return nil
}

// Fingerprint is what a flow stores about the token it was rendered with:
// a hash, so the database never holds the cookie's secret.
func Fingerprint(token []byte) string {
	sum := sha256.Sum256(token)
	return hex.EncodeToString(sum[:])
}

// csrfError builds the 403 security_csrf_violation with Kratos's details,
// explaining what the browser sent.
func csrfError(s *CSRFState, hasCookie, tokenSent bool) *httpx.Error {
	hint := "We detected a regular browser or server-side call. To debug browser calls check your Browser's Network Tab to see what cookies are included or excluded. If you are calling from a server ensure that the appropriate cookies are being forwarded and that the SDK method is called correctly."
	if s.ajax {
		hint = "We detected an AJAX call, please ensure that CORS is enabled and configured correctly, and that your AJAX code sends cookies and has credentials enabled. For further debugging, check your Browser's Network Tab to see what cookies are included or excluded."
	}
	details := map[string]any{"docs": "https://www.ory.sh/kratos/docs/debug/csrf", "hint": hint}
	switch {
	case !s.cookieHeader:
		details["reject_reason"] = "The HTTP Cookie Header is empty or not set."
	case !hasCookie:
		details["reject_reason"] = "The HTTP Cookie Header was set but did not include the anti-CSRF cookie."
	case !tokenSent && !s.jsonBody:
		details["hint"] = "The anti-CSRF cookie was found but the CSRF token was not included in the HTTP request body (csrf_token) nor in the HTTP Header (X-CSRF-Token)."
	default:
		details["reject_reason"] = "The HTTP Cookie Header was set and a CSRF token was sent but they do not match. We recommend deleting all cookies for this domain and retrying the flow."
	}
	return &httpx.Error{
		ID:      "security_csrf_violation",
		Code:    http.StatusForbidden,
		Reason:  "Please retry the flow and optionally clear your cookies. The request was rejected to protect you from Cross-Site-Request-Forgery (CSRF) which could cause account takeover, leaking personal information, and other serious security issues.",
		Details: details,
		Message: "the request was rejected to protect you from Cross-Site-Request-Forgery",
	}
}
