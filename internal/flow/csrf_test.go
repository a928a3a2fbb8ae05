package flow_test

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/httpx"
)

func TestCSRFEnsure(t *testing.T) {
	csrf := flow.NewCSRF("http://127.0.0.1:4433/", "/", "", http.SameSiteLaxMode, false)

	t.Run("RequestWithoutCookieGetsOne", func(t *testing.T) {
		w := httptest.NewRecorder()
		r := csrf.Ensure(w, httptest.NewRequest("GET", "/self-service/recovery/flows?id=x", nil))
		set := w.Result().Cookies()
		if len(set) != 1 || set[0].Name != csrf.CookieName || set[0].MaxAge != 31536000 || !set[0].HttpOnly {
			t.Fatalf("Set-Cookie %v", w.Header()["Set-Cookie"])
		}
		// The handler sees the new token: no second cookie, and a form
		// token masked from it passes the check.
		w2 := httptest.NewRecorder()
		st := csrf.State(r)
		tok := st.Token()
		csrf.Write(w2, st)
		if len(w2.Result().Cookies()) != 0 {
			t.Fatalf("second Set-Cookie %v", w2.Header()["Set-Cookie"])
		}
		st.Submitted = csrf.Mask(tok)
		if err := st.Check(); err != nil {
			t.Fatalf("check: %v", err)
		}
		// What the browser sent is unchanged: errors explain that.
		if r.Header.Get("Cookie") != "" {
			t.Fatalf("Cookie header %q", r.Header.Get("Cookie"))
		}
	})

	t.Run("RequestWithCookieKeepsIt", func(t *testing.T) {
		w := httptest.NewRecorder()
		csrf.Rotate(w)
		r := httptest.NewRequest("GET", "/self-service/recovery/flows?id=x", nil)
		r.AddCookie(w.Result().Cookies()[0])
		w2 := httptest.NewRecorder()
		if csrf.Ensure(w2, r) != r || len(w2.Result().Cookies()) != 0 {
			t.Fatalf("Set-Cookie %v", w2.Header()["Set-Cookie"])
		}
	})
}

func TestCSRFState(t *testing.T) {
	csrf := flow.NewCSRF("http://127.0.0.1:4433/", "/", "", http.SameSiteLaxMode, false)
	w := httptest.NewRecorder()
	csrf.Rotate(w)
	cookie := w.Result().Cookies()[0]
	withCookie := func() *http.Request {
		r := httptest.NewRequest("POST", "/self-service/login?flow=x", nil)
		r.AddCookie(cookie)
		return r
	}

	t.Run("MaskedTokenOfTheCookiePasses", func(t *testing.T) {
		st := csrf.State(withCookie())
		st.Submitted = csrf.Mask(st.Token())
		if err := st.Check(); err != nil {
			t.Fatal(err)
		}
	})
	for name, c := range map[string]struct {
		cookie    bool
		submitted string
		reason    string
	}{
		"NoCookieHeader":   {cookie: false, submitted: "x", reason: "The HTTP Cookie Header is empty or not set."},
		"WrongToken":       {cookie: true, submitted: csrf.Mask(make([]byte, 32)), reason: "The HTTP Cookie Header was set and a CSRF token was sent but they do not match. We recommend deleting all cookies for this domain and retrying the flow."},
		"UndecodableToken": {cookie: true, submitted: "%%%", reason: "The HTTP Cookie Header was set and a CSRF token was sent but they do not match. We recommend deleting all cookies for this domain and retrying the flow."},
	} {
		t.Run(name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/self-service/login?flow=x", nil)
			if c.cookie {
				r = withCookie()
			}
			st := csrf.State(r)
			st.Submitted = c.submitted
			err := st.Check()
			var he *httpx.Error
			if !errors.As(err, &he) || he.Code != 403 || he.ID != "security_csrf_violation" || he.Details["reject_reason"] != c.reason {
				t.Fatalf("got %#v", err)
			}
		})
	}

	t.Run("HeaderIsNeverTheToken", func(t *testing.T) {
		// Kratos reads the token from the body only; the X-CSRF-Token header
		// just changes how the rejection is explained.
		r := withCookie()
		st := csrf.State(r)
		r.Header.Set("X-CSRF-Token", csrf.Mask(st.Token()))
		st = csrf.State(r)
		var he *httpx.Error
		if err := st.Check(); !errors.As(err, &he) || he.Details["reject_reason"] != "The HTTP Cookie Header was set and a CSRF token was sent but they do not match. We recommend deleting all cookies for this domain and retrying the flow." {
			t.Fatalf("header token: %#v", err)
		}
		st = csrf.State(withCookie())
		if err := st.Check(); !errors.As(err, &he) || he.Details["hint"] != "The anti-CSRF cookie was found but the CSRF token was not included in the HTTP request body (csrf_token) nor in the HTTP Header (X-CSRF-Token)." {
			t.Fatalf("no token: %#v", err)
		}
	})

	t.Run("RotateSetsOneNewCookie", func(t *testing.T) {
		st := csrf.State(withCookie())
		old := st.Fingerprint()
		if st.Rotate() == old {
			t.Fatal("rotation kept the token")
		}
		w := httptest.NewRecorder()
		csrf.Write(w, st)
		set := w.Result().Cookies()
		if len(set) != 1 || set[0].Value == cookie.Value {
			t.Fatalf("Set-Cookie %v", w.Header()["Set-Cookie"])
		}
		// The submitted token is still checked against what the browser sent.
		st.Submitted = csrf.Mask(mustDecode(t, cookie.Value))
		if err := st.Check(); err != nil {
			t.Fatalf("check after rotation: %v", err)
		}
	})

	t.Run("FingerprintOfAnotherCookieFails", func(t *testing.T) {
		st := csrf.State(withCookie())
		if err := st.CheckFingerprint(st.Fingerprint(), true); err != nil {
			t.Fatal(err)
		}
		if err := st.CheckFingerprint(flow.Fingerprint([]byte("other")), true); err == nil {
			t.Fatal("another fingerprint passed")
		}
	})
}

func mustDecode(t *testing.T, v string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
