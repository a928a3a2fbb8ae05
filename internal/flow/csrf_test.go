package flow_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/latchkey/latchkey/internal/flow"
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
		tok := csrf.Token(w2, r)
		if len(w2.Result().Cookies()) != 0 {
			t.Fatalf("second Set-Cookie %v", w2.Header()["Set-Cookie"])
		}
		if err := csrf.Check(r, csrf.Mask(tok)); err != nil {
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
