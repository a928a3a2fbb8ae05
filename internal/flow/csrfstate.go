package flow

import (
	"crypto/subtle"
	"net/http"

	"github.com/latchkey/latchkey/internal/httpx"
)

// CSRFState is one request's anti-CSRF state, read from the request by
// CSRF.State: the token its cookie holds, the csrf_token it submitted, and
// the new token the answer must set, if any. Services check and rotate it
// as plain data; Responder writes the cookie.
type CSRFState struct {
	// sent is the token of the request's cookie (nil when none is usable).
	sent []byte
	// token is the browser's token: sent, or the one this request issued.
	token []byte
	// issued: token is new and the answer must set it as the cookie.
	issued bool
	// Submitted is the csrf_token the request sent: the form field or JSON
	// key only, as Kratos reads it. The X-CSRF-Token header is never
	// accepted as the token (Kratos exempts every flow route from the
	// middleware that would read it).
	Submitted string
	// header is the X-CSRF-Token header; it only changes how a rejection
	// is explained, as in Kratos.
	header string

	// What the request carried, for the error that explains a rejection.
	cookieHeader bool // any Cookie header
	hasCookie    bool // the anti-CSRF cookie, usable or not
	ajax         bool // Sec-Fetch-Mode says fetch/XHR
	jsonBody     bool // the body is JSON
}

// State reads r's anti-CSRF state.
func (c *CSRF) State(r *http.Request) *CSRFState {
	_, cookieErr := r.Cookie(c.CookieName)
	mode := r.Header.Get("Sec-Fetch-Mode")
	t := c.cookieToken(r)
	return &CSRFState{
		sent:         t,
		token:        t,
		header:       r.Header.Get("X-CSRF-Token"),
		cookieHeader: r.Header.Get("Cookie") != "",
		hasCookie:    cookieErr == nil,
		ajax:         mode == "cors" || mode == "same-origin",
		jsonBody:     httpx.IsJSONContent(r),
	}
}

// Token is the browser's token, issuing a new one when the request has
// none (the answer then sets the cookie).
func (s *CSRFState) Token() []byte {
	if s.token == nil {
		s.token, s.issued = newCSRFToken(), true
	}
	return s.token
}

// Fingerprint is what a flow stores about the token it was created with.
func (s *CSRFState) Fingerprint() string { return Fingerprint(s.Token()) }

// Rotate issues a new token (after a successful recovery, or when a
// session is issued) and returns its fingerprint. A token planted in the
// browser before is useless afterwards.
func (s *CSRFState) Rotate() string {
	s.token, s.issued = newCSRFToken(), true
	return Fingerprint(s.token)
}

// CSRFSnapshot is the browser's token at one moment (Snapshot).
type CSRFSnapshot struct {
	token  []byte
	issued bool
}

// Snapshot returns the current token, so that a Rotate done ahead of a
// change that then fails can be undone with Restore.
func (s *CSRFState) Snapshot() CSRFSnapshot { return CSRFSnapshot{token: s.token, issued: s.issued} }

// Restore puts back the token of a Snapshot.
func (s *CSRFState) Restore(p CSRFSnapshot) { s.token, s.issued = p.token, p.issued }

// Check verifies a browser submission: Submitted must unmask to the
// cookie's token. The error carries Kratos's reject reasons.
func (s *CSRFState) Check() error {
	submitted := unmask(s.Submitted)
	if s.sent != nil && submitted != nil && subtle.ConstantTimeCompare(s.sent, submitted) == 1 {
		return nil
	}
	return csrfError(s, s.sent != nil, s.Submitted != "" || s.header != "")
}

// CheckFingerprint verifies that the browser's cookie is the one a flow
// was created with (fingerprint), as checked when a browser fetches it.
// Kratos explains a mismatch differently per flow: as a token that does
// not match (tokenSent, login and registration) or as one never sent
// (recovery).
func (s *CSRFState) CheckFingerprint(fingerprint string, tokenSent bool) error {
	if s.sent != nil && subtle.ConstantTimeCompare([]byte(Fingerprint(s.sent)), []byte(fingerprint)) == 1 {
		return nil
	}
	return csrfError(s, s.hasCookie, tokenSent)
}

// Write sets the cookie when the request issued or rotated a token; it
// must run before the answer's body.
func (c *CSRF) Write(w http.ResponseWriter, s *CSRFState) {
	if s != nil && s.issued {
		c.setCookie(w, s.token)
		s.issued = false
	}
}
