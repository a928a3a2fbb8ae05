package recovery_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/internal/sqlstore"
	"github.com/latchkey/latchkey/internal/sqlstore/sqltest"
)

// TestBrowserSPACodeRecovery is journey b (browser with JSON) for both
// values of use_continue_with_transitions.
func TestBrowserSPACodeRecovery(t *testing.T) {
	for _, mode := range []struct {
		name string
		opts []option
	}{{"continue_with", nil}, {"kratos_transitions", []option{withKratosTransitions}}} {
		t.Run(mode.name, func(t *testing.T) {
			sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
				h := newHarness(t, db, mode.opts...)
				email := uniqueEmail("spa")
				ident := h.MustIdentity(email)
				ctx := context.Background()
				api, hc := h.Browser()

				f, res, err := api.FrontendAPI.CreateBrowserRecoveryFlow(ctx).Execute()
				if err != nil || res.StatusCode != 200 {
					t.Fatalf("create: %v", err)
				}
				if cookieNamed(res, h.csrfCookieName()) == nil || csrfOf(f) == "" || f.Type != "browser" {
					t.Fatalf("no CSRF cookie or token: %+v", f)
				}
				csrf := csrfOf(f)
				f, _, err = api.FrontendAPI.UpdateRecoveryFlow(ctx).Flow(f.Id).UpdateRecoveryFlowBody(codeBody(email, "", csrf)).Execute()
				if err != nil || f.State != "sent_email" {
					t.Fatalf("email: %v %+v", err, f)
				}
				code := h.MustReadCode(email)
				f2, res, err := api.FrontendAPI.UpdateRecoveryFlow(ctx).Flow(f.Id).UpdateRecoveryFlowBody(codeBody("", code, csrfOf(f))).Execute()
				if cookieNamed(res, session.DefaultCookieName) == nil {
					t.Fatal("no session cookie")
				}
				if cookieNamed(res, h.csrfCookieName()) == nil {
					t.Error("the CSRF cookie was not rotated")
				}
				var settingsURL string
				if h.cfg.ContinueWithTransitions {
					if err != nil || res.StatusCode != 200 || f2.State != "passed_challenge" || len(f2.ContinueWith) != 1 || f2.ContinueWith[0].ContinueWithSettingsUi == nil {
						t.Fatalf("code: %v %+v", err, f2)
					}
					settingsURL = f2.ContinueWith[0].ContinueWithSettingsUi.Flow.GetUrl()
				} else {
					status, body := sdkError(t, res, err)
					if status != 422 || dig(body, "error", "id") != "browser_location_change_required" {
						t.Fatalf("code: %d %v", status, body)
					}
					settingsURL, _ = body["redirect_browser_to"].(string)
				}
				if !strings.HasPrefix(settingsURL, h.cfg.SettingsUIURL+"?flow=") {
					t.Errorf("settings url = %q", settingsURL)
				}
				// The cookie jar now holds a session of the identity.
				sess, _, err := api.FrontendAPI.ToSession(ctx).Execute()
				if err != nil || sess.Identity.Id != ident.ID.String() {
					t.Fatalf("whoami with the cookie: %v", err)
				}
				// The recovery flow is still readable with the rotated cookie.
				if _, res, err := api.FrontendAPI.GetRecoveryFlow(ctx).Id(f.Id).Execute(); err != nil {
					t.Fatalf("fetch after success: %d %v", res.StatusCode, err)
				}
				_ = hc
			})
		})
	}
}

// TestBrowserFormCodeRecovery is journey b with HTML form posts: every
// answer is a redirect.
func TestBrowserFormCodeRecovery(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		h := newHarness(t, db)
		email := uniqueEmail("form")
		h.MustIdentity(email)
		api, hc := h.Browser()
		html := map[string]string{"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
		form := map[string]string{"Accept": html["Accept"], "Content-Type": "application/x-www-form-urlencoded"}

		res, _ := do(t, hc, "GET", h.pub.URL+"/self-service/recovery/browser", html, "")
		loc := res.Header.Get("Location")
		if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, h.cfg.RecoveryUIURL+"?flow=") {
			t.Fatalf("create: %d %q", res.StatusCode, loc)
		}
		id := strings.TrimPrefix(loc, h.cfg.RecoveryUIURL+"?flow=")
		f, _, err := api.FrontendAPI.GetRecoveryFlow(context.Background()).Id(id).Execute()
		if err != nil {
			t.Fatalf("fetch: %v", err)
		}
		post := func(values url.Values) *http.Response {
			res, _ := do(t, hc, "POST", h.pub.URL+"/self-service/recovery?flow="+id, form, values.Encode())
			return res
		}
		res = post(url.Values{"method": {"code"}, "email": {email}, "csrf_token": {csrfOf(f)}})
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != loc {
			t.Fatalf("email: %d %q", res.StatusCode, res.Header.Get("Location"))
		}
		code := h.MustReadCode(email)
		res = post(url.Values{"method": {"code"}, "code": {code}, "csrf_token": {csrfOf(f)}})
		if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), h.cfg.SettingsUIURL+"?flow=") {
			t.Fatalf("code: %d %q", res.StatusCode, res.Header.Get("Location"))
		}
		if cookieNamed(res, session.DefaultCookieName) == nil || cookieNamed(res, h.csrfCookieName()) == nil {
			t.Fatal("session cookie or new CSRF cookie missing")
		}
	})
}
