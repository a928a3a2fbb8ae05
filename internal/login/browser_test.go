package login_test

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	ory "github.com/ory/client-go"

	"github.com/latchkey/latchkey/internal/login/logintest"
	"github.com/latchkey/latchkey/internal/sqlstore"
	"github.com/latchkey/latchkey/internal/sqlstore/sqltest"
)

func passwordBodyCSRF(identifier, password, csrf string) ory.UpdateLoginFlowBody {
	b := ory.NewUpdateLoginFlowWithPasswordMethod(identifier, "password", password)
	b.SetCsrfToken(csrf)
	return ory.UpdateLoginFlowWithPasswordMethodAsUpdateLoginFlowBody(b)
}

// browserSDK is an SDK client with a cookie jar, as an SPA has.
func browserSDK(env *logintest.Env) *ory.APIClient {
	jar, _ := cookiejar.New(nil)
	return env.SDK(&http.Client{Jar: jar})
}

var htmlAccept = http.Header{"Accept": {"text/html,application/xhtml+xml,*/*;q=0.8"}}

// startFormFlow starts a browser flow as an HTML page would and returns
// the flow id and its csrf token (read as a UI server would).
func startFormFlow(t *testing.T, env *logintest.Env, b *http.Client, query string) (string, string) {
	t.Helper()
	res, _ := logintest.Do(t, b, "GET", env.URL("self-service/login/browser"+query), nil, htmlAccept)
	loc := res.Header.Get("Location")
	if res.StatusCode != 303 || !strings.HasPrefix(loc, logintest.LoginUI+"?flow=") {
		t.Fatalf("init: %d %q", res.StatusCode, loc)
	}
	id := strings.TrimPrefix(loc, logintest.LoginUI+"?flow=")
	res, body := logintest.Do(t, b, "GET", env.URL("self-service/login/flows?id="+id), nil, nil)
	if res.StatusCode != 200 {
		t.Fatalf("fetch: %d %v", res.StatusCode, body)
	}
	for _, n := range body["ui"].(map[string]any)["nodes"].([]any) {
		a := n.(map[string]any)["attributes"].(map[string]any)
		if a["name"] == "csrf_token" {
			return id, a["value"].(string)
		}
	}
	t.Fatal("no csrf_token")
	return "", ""
}

func TestLoginBrowser(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env := logintest.New(t, db, logintest.Options{})
		ctx := context.Background()
		env.MustCreateIdentity(t, "carol@example.test", pw)

		t.Run("SPALoginSetsCookieAndSaysWhereToGo", func(t *testing.T) {
			sdk := browserSDK(env)
			f, _, err := sdk.FrontendAPI.CreateBrowserLoginFlow(ctx).ReturnTo(logintest.AllowedReturn + "home").Execute()
			if err != nil {
				t.Fatal(err)
			}
			if f.Type != "browser" || f.GetReturnTo() != logintest.AllowedReturn+"home" || logintest.CSRFToken(f.Ui.Nodes) == "" {
				t.Fatalf("flow %+v", f)
			}
			ok, res, err := sdk.FrontendAPI.UpdateLoginFlow(ctx).Flow(f.Id).
				UpdateLoginFlowBody(passwordBodyCSRF("carol@example.test", pw, logintest.CSRFToken(f.Ui.Nodes))).Execute()
			if err != nil {
				t.Fatalf("%v %s", err, errBody(err))
			}
			if ok.SessionToken != nil {
				t.Fatal("browsers must not get the session token")
			}
			if len(ok.ContinueWith) != 1 || ok.ContinueWith[0].ContinueWithRedirectBrowserTo == nil ||
				ok.ContinueWith[0].ContinueWithRedirectBrowserTo.RedirectBrowserTo != logintest.AllowedReturn+"home" {
				t.Fatalf("continue_with %+v", ok.ContinueWith)
			}
			if !hasCookie(res, "ory_kratos_session") {
				t.Fatalf("no session cookie: %v", res.Header["Set-Cookie"])
			}
			who, _, err := sdk.FrontendAPI.ToSession(ctx).Execute()
			if err != nil || who.Id != ok.Session.Id {
				t.Fatalf("whoami with the cookie: %v %v", who, err)
			}
			// Holding the session, a new flow is refused.
			_, _, err = sdk.FrontendAPI.CreateBrowserLoginFlow(ctx).Execute()
			if e := logintest.ErrorBody(t, err)["error"].(map[string]any); e["id"] != "session_already_available" {
				t.Fatalf("error %v", e)
			}
		})

		t.Run("FormLoginRedirectsWithCookie", func(t *testing.T) {
			b := env.Browser()
			id, csrf := startFormFlow(t, env, b, "?return_to="+url.QueryEscape(logintest.AllowedReturn+"after"))
			res, _ := logintest.Do(t, b, "POST", env.URL("self-service/login?flow="+id),
				url.Values{"method": {"password"}, "identifier": {"carol@example.test"}, "password": {pw}, "csrf_token": {csrf}}, htmlAccept)
			if res.StatusCode != 303 || res.Header.Get("Location") != logintest.AllowedReturn+"after" || !hasCookie(res, "ory_kratos_session") {
				t.Fatalf("submit: %d %q %v", res.StatusCode, res.Header.Get("Location"), res.Header["Set-Cookie"])
			}
			res, body := logintest.Do(t, b, "GET", env.URL("sessions/whoami"), nil, nil)
			if res.StatusCode != 200 || body["active"] != true {
				t.Fatalf("whoami %d %v", res.StatusCode, body)
			}
			// With the session, the browser endpoint sends the user home.
			res, _ = logintest.Do(t, b, "GET", env.URL("self-service/login/browser"), nil, htmlAccept)
			if res.StatusCode != 303 || res.Header.Get("Location") != logintest.DefaultReturn {
				t.Fatalf("init with session: %d %q", res.StatusCode, res.Header.Get("Location"))
			}
		})

		t.Run("FormLoginWithoutReturnToGoesToTheDefault", func(t *testing.T) {
			b := env.Browser()
			id, csrf := startFormFlow(t, env, b, "")
			res, _ := logintest.Do(t, b, "POST", env.URL("self-service/login?flow="+id),
				url.Values{"method": {"password"}, "identifier": {"carol@example.test"}, "password": {pw}, "csrf_token": {csrf}}, htmlAccept)
			if res.StatusCode != 303 || res.Header.Get("Location") != logintest.DefaultReturn {
				t.Fatalf("submit: %d %q", res.StatusCode, res.Header.Get("Location"))
			}
		})

		t.Run("FormWrongPasswordGoesBackToTheUI", func(t *testing.T) {
			b := env.Browser()
			id, csrf := startFormFlow(t, env, b, "")
			res, _ := logintest.Do(t, b, "POST", env.URL("self-service/login?flow="+id),
				url.Values{"method": {"password"}, "identifier": {"carol@example.test"}, "password": {"wrong-password-1"}, "csrf_token": {csrf}}, htmlAccept)
			if res.StatusCode != 303 || res.Header.Get("Location") != logintest.LoginUI+"?flow="+id {
				t.Fatalf("submit: %d %q", res.StatusCode, res.Header.Get("Location"))
			}
			_, body := logintest.Do(t, b, "GET", env.URL("self-service/login/flows?id="+id), nil, nil)
			if messageIDs(body) != "4000006" {
				t.Fatalf("flow %v", body["ui"])
			}
		})

		t.Run("CSRFMissingOrWrongIsRefusedAndTheFlowStaysUsable", func(t *testing.T) {
			sdk := browserSDK(env)
			f, _, err := sdk.FrontendAPI.CreateBrowserLoginFlow(ctx).Execute()
			if err != nil {
				t.Fatal(err)
			}
			for name, tok := range map[string]string{"Missing": "", "Wrong": "d3Jvbmc="} {
				_, res, err := sdk.FrontendAPI.UpdateLoginFlow(ctx).Flow(f.Id).
					UpdateLoginFlowBody(passwordBodyCSRF("carol@example.test", pw, tok)).Execute()
				e := logintest.ErrorBody(t, err)["error"].(map[string]any)
				if res.StatusCode != 403 || e["id"] != "security_csrf_violation" {
					t.Fatalf("%s: %d %v", name, res.StatusCode, e)
				}
			}
			// Departure 6: the cookie was not rotated, so the right token still works.
			if _, _, err := sdk.FrontendAPI.UpdateLoginFlow(ctx).Flow(f.Id).
				UpdateLoginFlowBody(passwordBodyCSRF("carol@example.test", pw, logintest.CSRFToken(f.Ui.Nodes))).Execute(); err != nil {
				t.Fatalf("retry: %v %s", err, errBody(err))
			}
		})

		t.Run("CSRFFailureOfAFormGoesToTheErrorUI", func(t *testing.T) {
			b := env.Browser()
			id, _ := startFormFlow(t, env, b, "")
			res, _ := logintest.Do(t, b, "POST", env.URL("self-service/login?flow="+id),
				url.Values{"method": {"password"}, "identifier": {"carol@example.test"}, "password": {pw}}, htmlAccept)
			loc := res.Header.Get("Location")
			if res.StatusCode != 303 || !strings.HasPrefix(loc, logintest.ErrorUI+"?id=") {
				t.Fatalf("submit: %d %q", res.StatusCode, loc)
			}
			_, body := logintest.Do(t, http.DefaultClient, "GET", env.URL("self-service/errors?id="+strings.TrimPrefix(loc, logintest.ErrorUI+"?id=")), nil, nil)
			if e := body["error"].(map[string]any); e["id"] != "security_csrf_violation" || e["code"] != float64(403) {
				t.Fatalf("stored error %v", body)
			}
		})

		t.Run("FetchingABrowserFlowNeedsItsCSRFCookie", func(t *testing.T) {
			b := env.Browser()
			id, _ := startFormFlow(t, env, b, "")
			res, body := logintest.Do(t, http.DefaultClient, "GET", env.URL("self-service/login/flows?id="+id), nil, nil)
			if res.StatusCode != 403 || body["error"].(map[string]any)["id"] != "security_csrf_violation" {
				t.Fatalf("fetch without cookie: %d %v", res.StatusCode, body)
			}
		})

		t.Run("ExpiredFormFlowIsReplaced", func(t *testing.T) {
			b := env.Browser()
			id, csrf := startFormFlow(t, env, b, "")
			env.Clock.Advance(61 * time.Minute)
			res, _ := logintest.Do(t, b, "POST", env.URL("self-service/login?flow="+id),
				url.Values{"method": {"password"}, "identifier": {"carol@example.test"}, "password": {pw}, "csrf_token": {csrf}}, htmlAccept)
			loc := res.Header.Get("Location")
			if res.StatusCode != 303 || !strings.HasPrefix(loc, logintest.LoginUI+"?flow=") || strings.HasSuffix(loc, id) {
				t.Fatalf("submit: %d %q", res.StatusCode, loc)
			}
			res, body := logintest.Do(t, b, "GET", env.URL("self-service/login/flows?id="+strings.TrimPrefix(loc, logintest.LoginUI+"?flow=")), nil, nil)
			if res.StatusCode != 200 || messageIDs(body) != "4010001" {
				t.Fatalf("replacement: %d %v", res.StatusCode, body)
			}
			// The old flow, fetched, is gone with where to start again.
			res, body = logintest.Do(t, b, "GET", env.URL("self-service/login/flows?id="+id), nil, nil)
			e := body["error"].(map[string]any)
			if res.StatusCode != 410 || e["details"].(map[string]any)["redirect_to"] != env.URL("self-service/login/browser") {
				t.Fatalf("fetch expired: %d %v", res.StatusCode, body)
			}
		})
	})
}

func hasCookie(res *http.Response, name string) bool {
	for _, c := range res.Cookies() {
		if c.Name == name && c.Value != "" && c.MaxAge >= 0 {
			return true
		}
	}
	return false
}
