package flow

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/httpx"
)

// FuzzCSRFCheck: whatever anti-CSRF cookie and csrf_token a browser
// sends, the check passes only when the submitted token unmasks to the
// cookie's token, and fails with the Kratos 403 otherwise; never a panic.
func FuzzCSRFCheck(f *testing.F) {
	c := NewCSRF("http://127.0.0.1:4433/", "/", "", http.SameSiteLaxMode, false)
	token := bytes.Repeat([]byte{7}, csrfTokenLen)
	cookie := base64.StdEncoding.EncodeToString(token)
	f.Add(cookie, c.Mask(token), "")
	f.Add(cookie, cookie, "")                     // unmasked token
	f.Add(cookie, c.Mask(token[:16]), "")         // masked short token
	f.Add(cookie, "", c.Mask(token))              // header only
	f.Add("%%%", "not base64", "")                // garbage
	f.Add(cookie+"==", c.Mask(token)+"\x00", "x") // near-valid
	f.Add(base64.StdEncoding.EncodeToString(token[:31]), base64.StdEncoding.EncodeToString(token[:31]), "")
	f.Fuzz(func(t *testing.T, cookieValue, submitted, header string) {
		r := httptest.NewRequest(http.MethodPost, "/self-service/login?flow=x", nil)
		r.Header.Set("Cookie", c.CookieName+"="+cookieValue)
		r.Header.Set("X-CSRF-Token", header)
		s := c.State(r)
		s.Submitted = submitted
		err := s.Check()
		sent := c.cookieToken(r)
		want := sent != nil && bytes.Equal(unmask(submitted), sent)
		if (err == nil) != want {
			t.Fatalf("Check(cookie %q, submitted %q) = %v, want pass=%v", cookieValue, submitted, err, want)
		}
		if err != nil {
			if he := csrfError(s, false, false); he.Code != http.StatusForbidden || he.ID != "security_csrf_violation" {
				t.Fatalf("CSRF rejection is %d %s", he.Code, he.ID)
			}
		}
		if u := unmask(submitted); u != nil && len(u) != csrfTokenLen {
			t.Fatalf("unmask(%q) returned %d bytes", submitted, len(u))
		}
		if sent != nil && !bytes.Equal(unmask(c.Mask(sent)), sent) {
			t.Fatalf("Mask does not round-trip the cookie token")
		}
	})
}

// FuzzReturnTo: a return_to that Validate accepts is an absolute http(s)
// URL whose host is the public base, the default return URL's, or an
// allowed one, spelled so that a browser reads the same host; anything
// else is the 400 self_service_flow_return_to_forbidden. Latchkey is never
// an open redirector.
func FuzzReturnTo(f *testing.F) {
	p := ReturnToPolicy{
		Allowed:       []*url.URL{mustURL("https://app.example.com/"), mustURL("https://*.example.org/welcome")},
		PublicBase:    mustURL("http://127.0.0.1:4433/"),
		DefaultReturn: mustURL("https://home.example.net/"),
	}
	for _, s := range []string{
		"https://app.example.com/dashboard",
		"https://a.example.org/welcome/x",
		"https://app.example.com.evil.com/",
		"//evil.com/",
		"/\\evil.com",
		"https:\\\\evil.com",
		"https://evil.com\\@app.example.com/",
		"https://app.example.com@evil.com/",
		"javascript:alert(1)",
		"/settings?x=1#frag",
		"http://127.0.0.1:4433/ui/welcome",
		"https://a.example.org%2f.evil.com/welcome",
		"https://xn--80ak6aa92e.example.org/welcome",
		" https://evil.com",
	} {
		f.Add(s)
	}
	allowedHost := func(h string) bool {
		h = strings.ToLower(h)
		return h == "app.example.com" || h == "127.0.0.1:4433" || h == "home.example.net" ||
			(strings.HasSuffix(h, ".example.org") && len(h) > len(".example.org"))
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := p.Validate(raw)
		if err != nil {
			he, ok := err.(*httpx.Error)
			if !ok || he.Code != http.StatusBadRequest || he.ID != "self_service_flow_return_to_forbidden" {
				t.Fatalf("Validate(%q) error %v is not the return_to 400", raw, err)
			}
			return
		}
		if raw == "" {
			if got != "" {
				t.Fatalf("Validate(\"\") = %q", got)
			}
			return
		}
		for _, b := range []byte(got) {
			if b <= ' ' || b >= 0x7f || b == '\\' {
				t.Fatalf("Validate(%q) = %q: contains byte %#x a browser may read differently", raw, got, b)
			}
		}
		u, err := url.Parse(got)
		if err != nil {
			t.Fatalf("Validate(%q) = %q does not parse: %v", raw, got, err)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			t.Fatalf("Validate(%q) = %q: scheme %q", raw, got, u.Scheme)
		}
		if !allowedHost(u.Host) {
			t.Fatalf("Validate(%q) = %q: host %q is not allowed", raw, got, u.Host)
		}
		if strings.ContainsAny(u.Host, "@\\/%") {
			t.Fatalf("Validate(%q) = %q: host %q", raw, got, u.Host)
		}
	})
}
