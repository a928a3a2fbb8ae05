package recovery_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

// TestBrowserSPACodeRecovery is journey b (browser with JSON) for both
// values of use_continue_with_transitions.
func TestBrowserSPACodeRecovery(t *testing.T) {
	for _, mode := range []struct {
		name string
		opts [][]string
	}{{"continue_with", nil}, {"kratos_transitions", [][]string{withKratosTransitions}}} {
		t.Run(mode.name, func(t *testing.T) {
			servertest.Each(t, options(mode.opts...), func(t *testing.T, srv *servertest.Server) {
				email := uniqueEmail("spa")
				ident := mustIdentity(t, srv, email)
				ctx := context.Background()
				api, hc := browser(srv)

				f, res, err := api.FrontendAPI.CreateBrowserRecoveryFlow(ctx).Execute()
				if err != nil || res.StatusCode != 200 {
					t.Fatalf("create: %v", err)
				}
				if cookieNamed(res, srv.CSRFCookieName()) == nil || csrfOf(f) == "" || f.Type != "browser" {
					t.Fatalf("no CSRF cookie or token: %+v", f)
				}
				csrf := csrfOf(f)
				f, _, err = api.FrontendAPI.UpdateRecoveryFlow(ctx).Flow(f.Id).UpdateRecoveryFlowBody(codeBody(email, "", csrf)).Execute()
				if err != nil || f.State != "sent_email" {
					t.Fatalf("email: %v %+v", err, f)
				}
				code := mustReadCode(t, srv, email)
				f2, res, err := api.FrontendAPI.UpdateRecoveryFlow(ctx).Flow(f.Id).UpdateRecoveryFlowBody(codeBody("", code, csrfOf(f))).Execute()
				if cookieNamed(res, servertest.SessionCookieName) == nil {
					t.Fatal("no session cookie")
				}
				if cookieNamed(res, srv.CSRFCookieName()) == nil {
					t.Error("the CSRF cookie was not rotated")
				}
				var settingsURL string
				if continueWith(srv) {
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
				if !strings.HasPrefix(settingsURL, settingsUI+"?flow=") {
					t.Errorf("settings url = %q", settingsURL)
				}
				// The cookie jar now holds a session of the identity.
				sess, _, err := api.FrontendAPI.ToSession(ctx).Execute()
				if err != nil || sess.Identity.Id != ident.Id {
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
	servertest.Each(t, options(), func(t *testing.T, srv *servertest.Server) {
		email := uniqueEmail("form")
		mustIdentity(t, srv, email)
		api, hc := browser(srv)
		html := map[string]string{"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
		form := map[string]string{"Accept": html["Accept"], "Content-Type": "application/x-www-form-urlencoded"}

		res, _ := do(t, hc, "GET", srv.Public.URL+"/self-service/recovery/browser", html, "")
		loc := res.Header.Get("Location")
		if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, recoveryUI+"?flow=") {
			t.Fatalf("create: %d %q", res.StatusCode, loc)
		}
		id := strings.TrimPrefix(loc, recoveryUI+"?flow=")
		f, _, err := api.FrontendAPI.GetRecoveryFlow(context.Background()).Id(id).Execute()
		if err != nil {
			t.Fatalf("fetch: %v", err)
		}
		post := func(values url.Values) *http.Response {
			res, _ := do(t, hc, "POST", srv.Public.URL+"/self-service/recovery?flow="+id, form, values.Encode())
			return res
		}
		res = post(url.Values{"method": {"code"}, "email": {email}, "csrf_token": {csrfOf(f)}})
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != loc {
			t.Fatalf("email: %d %q", res.StatusCode, res.Header.Get("Location"))
		}
		code := mustReadCode(t, srv, email)
		res = post(url.Values{"method": {"code"}, "code": {code}, "csrf_token": {csrfOf(f)}})
		if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), settingsUI+"?flow=") {
			t.Fatalf("code: %d %q", res.StatusCode, res.Header.Get("Location"))
		}
		if cookieNamed(res, servertest.SessionCookieName) == nil || cookieNamed(res, srv.CSRFCookieName()) == nil {
			t.Fatal("session cookie or new CSRF cookie missing")
		}
	})
}
