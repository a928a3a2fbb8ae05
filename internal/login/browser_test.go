package login_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	ory "github.com/ory/client-go"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

func passwordBodyCSRF(identifier, password, csrf string) ory.UpdateLoginFlowBody {
	b := ory.NewUpdateLoginFlowWithPasswordMethod(identifier, "password", password)
	b.SetCsrfToken(csrf)
	return ory.UpdateLoginFlowWithPasswordMethodAsUpdateLoginFlowBody(b)
}

var htmlAccept = http.Header{"Accept": {"text/html,application/xhtml+xml,*/*;q=0.8"}}

// startFormFlow starts a browser flow as an HTML page would and returns
// the flow id and its csrf token (read as a UI server would).
func startFormFlow(t *testing.T, srv *servertest.Server, b *http.Client, query string) (string, string) {
	t.Helper()
	res, _ := servertest.Do(t, b, "GET", srv.Config.PublicURL("self-service/login/browser"+query), nil, htmlAccept)
	loc := res.Header.Get("Location")
	if res.StatusCode != 303 || !strings.HasPrefix(loc, servertest.EntryLoginUI+"?flow=") {
		t.Fatalf("init: %d %q", res.StatusCode, loc)
	}
	id := strings.TrimPrefix(loc, servertest.EntryLoginUI+"?flow=")
	res, body := servertest.Do(t, b, "GET", srv.Config.PublicURL("self-service/login/flows?id="+id), nil, nil)
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
	servertest.Each(t, servertest.EntryOptions(), func(t *testing.T, srv *servertest.Server) {
		ctx := context.Background()
		srv.MustCreateIdentity(t, "carol@example.test", pw)

		t.Run("SPALoginSetsCookieAndSaysWhereToGo", func(t *testing.T) {
			sdk := srv.SDK(true)
			f, _, err := sdk.FrontendAPI.CreateBrowserLoginFlow(ctx).ReturnTo(servertest.EntryAllowedReturn + "home").Execute()
			if err != nil {
				t.Fatal(err)
			}
			if f.Type != "browser" || f.GetReturnTo() != servertest.EntryAllowedReturn+"home" || servertest.CSRFToken(f.Ui.Nodes) == "" {
				t.Fatalf("flow %+v", f)
			}
			ok, res, err := sdk.FrontendAPI.UpdateLoginFlow(ctx).Flow(f.Id).
				UpdateLoginFlowBody(passwordBodyCSRF("carol@example.test", pw, servertest.CSRFToken(f.Ui.Nodes))).Execute()
			if err != nil {
				t.Fatalf("%v %s", err, errBody(err))
			}
			if ok.SessionToken != nil {
				t.Fatal("browsers must not get the session token")
			}
			if len(ok.ContinueWith) != 1 || ok.ContinueWith[0].ContinueWithRedirectBrowserTo == nil ||
				ok.ContinueWith[0].ContinueWithRedirectBrowserTo.RedirectBrowserTo != servertest.EntryAllowedReturn+"home" {
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
			if e := servertest.ErrorBody(t, err)["error"].(map[string]any); e["id"] != "session_already_available" {
				t.Fatalf("error %v", e)
			}
		})

		t.Run("FormLoginRedirectsWithCookie", func(t *testing.T) {
			b := srv.HTTPClient(true)
			id, csrf := startFormFlow(t, srv, b, "?return_to="+url.QueryEscape(servertest.EntryAllowedReturn+"after"))
			res, _ := servertest.Do(t, b, "POST", srv.Config.PublicURL("self-service/login?flow="+id),
				url.Values{"method": {"password"}, "identifier": {"carol@example.test"}, "password": {pw}, "csrf_token": {csrf}}, htmlAccept)
			if res.StatusCode != 303 || res.Header.Get("Location") != servertest.EntryAllowedReturn+"after" || !hasCookie(res, "ory_kratos_session") {
				t.Fatalf("submit: %d %q %v", res.StatusCode, res.Header.Get("Location"), res.Header["Set-Cookie"])
			}
			res, body := servertest.Do(t, b, "GET", srv.Config.PublicURL("sessions/whoami"), nil, nil)
			if res.StatusCode != 200 || body["active"] != true {
				t.Fatalf("whoami %d %v", res.StatusCode, body)
			}
			// With the session, the browser endpoint sends the user home.
			res, _ = servertest.Do(t, b, "GET", srv.Config.PublicURL("self-service/login/browser"), nil, htmlAccept)
			if res.StatusCode != 303 || res.Header.Get("Location") != servertest.EntryDefaultReturn {
				t.Fatalf("init with session: %d %q", res.StatusCode, res.Header.Get("Location"))
			}
		})

		t.Run("FormLoginWithoutReturnToGoesToTheDefault", func(t *testing.T) {
			b := srv.HTTPClient(true)
			id, csrf := startFormFlow(t, srv, b, "")
			res, _ := servertest.Do(t, b, "POST", srv.Config.PublicURL("self-service/login?flow="+id),
				url.Values{"method": {"password"}, "identifier": {"carol@example.test"}, "password": {pw}, "csrf_token": {csrf}}, htmlAccept)
			if res.StatusCode != 303 || res.Header.Get("Location") != servertest.EntryDefaultReturn {
				t.Fatalf("submit: %d %q", res.StatusCode, res.Header.Get("Location"))
			}
		})

		t.Run("FormWrongPasswordGoesBackToTheUI", func(t *testing.T) {
			b := srv.HTTPClient(true)
			id, csrf := startFormFlow(t, srv, b, "")
			res, _ := servertest.Do(t, b, "POST", srv.Config.PublicURL("self-service/login?flow="+id),
				url.Values{"method": {"password"}, "identifier": {"carol@example.test"}, "password": {"wrong-password-1"}, "csrf_token": {csrf}}, htmlAccept)
			if res.StatusCode != 303 || res.Header.Get("Location") != servertest.EntryLoginUI+"?flow="+id {
				t.Fatalf("submit: %d %q", res.StatusCode, res.Header.Get("Location"))
			}
			_, body := servertest.Do(t, b, "GET", srv.Config.PublicURL("self-service/login/flows?id="+id), nil, nil)
			if messageIDs(body) != "4000006" {
				t.Fatalf("flow %v", body["ui"])
			}
		})

		t.Run("CSRFMissingOrWrongIsRefusedAndTheFlowStaysUsable", func(t *testing.T) {
			sdk := srv.SDK(true)
			f, _, err := sdk.FrontendAPI.CreateBrowserLoginFlow(ctx).Execute()
			if err != nil {
				t.Fatal(err)
			}
			for name, tok := range map[string]string{"Missing": "", "Wrong": "d3Jvbmc="} {
				_, res, err := sdk.FrontendAPI.UpdateLoginFlow(ctx).Flow(f.Id).
					UpdateLoginFlowBody(passwordBodyCSRF("carol@example.test", pw, tok)).Execute()
				e := servertest.ErrorBody(t, err)["error"].(map[string]any)
				if res.StatusCode != 403 || e["id"] != "security_csrf_violation" {
					t.Fatalf("%s: %d %v", name, res.StatusCode, e)
				}
			}
			// Departure 6: the cookie was not rotated, so the right token still works.
			if _, _, err := sdk.FrontendAPI.UpdateLoginFlow(ctx).Flow(f.Id).
				UpdateLoginFlowBody(passwordBodyCSRF("carol@example.test", pw, servertest.CSRFToken(f.Ui.Nodes))).Execute(); err != nil {
				t.Fatalf("retry: %v %s", err, errBody(err))
			}
		})

		t.Run("CSRFFailureOfAFormGoesToTheErrorUI", func(t *testing.T) {
			b := srv.HTTPClient(true)
			id, _ := startFormFlow(t, srv, b, "")
			res, _ := servertest.Do(t, b, "POST", srv.Config.PublicURL("self-service/login?flow="+id),
				url.Values{"method": {"password"}, "identifier": {"carol@example.test"}, "password": {pw}}, htmlAccept)
			loc := res.Header.Get("Location")
			if res.StatusCode != 303 || !strings.HasPrefix(loc, servertest.EntryErrorUI+"?id=") {
				t.Fatalf("submit: %d %q", res.StatusCode, loc)
			}
			_, body := servertest.Do(t, http.DefaultClient, "GET", srv.Config.PublicURL("self-service/errors?id="+strings.TrimPrefix(loc, servertest.EntryErrorUI+"?id=")), nil, nil)
			if e := body["error"].(map[string]any); e["id"] != "security_csrf_violation" || e["code"] != float64(403) {
				t.Fatalf("stored error %v", body)
			}
		})

		t.Run("FetchingABrowserFlowNeedsItsCSRFCookie", func(t *testing.T) {
			b := srv.HTTPClient(true)
			id, _ := startFormFlow(t, srv, b, "")
			res, body := servertest.Do(t, http.DefaultClient, "GET", srv.Config.PublicURL("self-service/login/flows?id="+id), nil, nil)
			if res.StatusCode != 403 || body["error"].(map[string]any)["id"] != "security_csrf_violation" {
				t.Fatalf("fetch without cookie: %d %v", res.StatusCode, body)
			}
		})

		t.Run("ExpiredFormFlowPostedWithoutItsTokenKeepsNothing", func(t *testing.T) {
			// Another site cannot pre-fill a browser's form through an
			// expired flow: without the anti-CSRF token nothing is kept.
			b := srv.HTTPClient(true)
			id, _ := startFormFlow(t, srv, b, "")
			srv.Clock.Advance(61 * time.Minute)
			res, _ := servertest.Do(t, b, "POST", srv.Config.PublicURL("self-service/login?flow="+id),
				url.Values{"method": {"password"}, "identifier": {"mallory@example.test"}, "password": {pw}}, htmlAccept)
			loc := res.Header.Get("Location")
			if res.StatusCode != 303 || !strings.HasPrefix(loc, servertest.EntryLoginUI+"?flow=") {
				t.Fatalf("submit: %d %q", res.StatusCode, loc)
			}
			_, body := servertest.Do(t, b, "GET", srv.Config.PublicURL("self-service/login/flows?id="+strings.TrimPrefix(loc, servertest.EntryLoginUI+"?flow=")), nil, nil)
			if v := nodeValue(body, "identifier"); v != nil && v != "" {
				t.Errorf("a post without the token pre-filled identifier %v", v)
			}
		})

		t.Run("ExpiredFormFlowIsReplaced", func(t *testing.T) {
			b := srv.HTTPClient(true)
			id, csrf := startFormFlow(t, srv, b, "")
			srv.Clock.Advance(61 * time.Minute)
			res, _ := servertest.Do(t, b, "POST", srv.Config.PublicURL("self-service/login?flow="+id),
				url.Values{"method": {"password"}, "identifier": {"carol@example.test"}, "password": {pw}, "csrf_token": {csrf}}, htmlAccept)
			loc := res.Header.Get("Location")
			if res.StatusCode != 303 || !strings.HasPrefix(loc, servertest.EntryLoginUI+"?flow=") || strings.HasSuffix(loc, id) {
				t.Fatalf("submit: %d %q", res.StatusCode, loc)
			}
			res, body := servertest.Do(t, b, "GET", srv.Config.PublicURL("self-service/login/flows?id="+strings.TrimPrefix(loc, servertest.EntryLoginUI+"?flow=")), nil, nil)
			if res.StatusCode != 200 || messageIDs(body) != "4010001" {
				t.Fatalf("replacement: %d %v", res.StatusCode, body)
			}
			// What was typed is kept, but never the password.
			if v := nodeValue(body, "identifier"); v != "carol@example.test" {
				t.Errorf("replacement identifier = %v, want the one typed", v)
			}
			if v := nodeValue(body, "password"); v != nil && v != "" {
				t.Errorf("replacement carries the password: %v", v)
			}
			// The old flow, fetched, is gone with where to start again.
			res, body = servertest.Do(t, b, "GET", srv.Config.PublicURL("self-service/login/flows?id="+id), nil, nil)
			e := body["error"].(map[string]any)
			if res.StatusCode != 410 || e["details"].(map[string]any)["redirect_to"] != srv.Config.PublicURL("self-service/login/browser") {
				t.Fatalf("fetch expired: %d %v", res.StatusCode, body)
			}
		})
	})
}

// nodeValue is the value of the flow's input node name (nil if none).
func nodeValue(flowJSON map[string]any, name string) any {
	nodes, _ := flowJSON["ui"].(map[string]any)["nodes"].([]any)
	for _, n := range nodes {
		a, _ := n.(map[string]any)["attributes"].(map[string]any)
		if a["name"] == name {
			return a["value"]
		}
	}
	return nil
}

func hasCookie(res *http.Response, name string) bool {
	for _, c := range res.Cookies() {
		if c.Name == name && c.Value != "" && c.MaxAge >= 0 {
			return true
		}
	}
	return false
}
