package settings_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	ory "github.com/ory/client-go"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

// TestPrivilegedWindow: past privileged_session_max_age after the
// session authenticated, a password change needs a fresh login: native
// and SPA get 403 session_refresh_required, a browser form is sent to the
// refresh login. The check comes before the password policy.
func TestPrivilegedWindow(t *testing.T) {
	servertest.Each(t, options("SELFSERVICE_FLOWS_SETTINGS_PRIVILEGED_SESSION_MAX_AGE=15m"), func(t *testing.T, srv *servertest.Server) {
		ctx := context.Background()
		ident := mustIdentity(t, srv, "privileged@example.test")
		sess := mustSession(t, srv, ident.Id)
		tok := sess.Token
		apiFlow := createFlow(t, srv, "api", sess)
		b := newBrowser(t, srv, sess)
		m := b.Do(http.MethodGet, "/self-service/settings/browser", nil, "Accept", acceptJSON).JSON(t)
		browserFlow, csrf := m["id"].(string), csrfValue(t, m)

		srv.Clock.Advance(16 * time.Minute)
		loginURL := func(id string) string {
			return srv.Config.PublicURL("self-service/login/browser?refresh=true&return_to=" + url.QueryEscape(srv.Config.PublicURL("self-service/settings?flow="+id)))
		}
		refresh := func(id string) string {
			return `{"error":{"id":"session_refresh_required","code":403,"status":"Forbidden","reason":"The login session is too old and thus not allowed to update these fields. Please re-authenticate.","message":"The requested action was forbidden"},"redirect_browser_to":"` + loginURL(id) + `"}`
		}

		t.Run("Native", func(t *testing.T) {
			_, _, err := srv.SDK(false).FrontendAPI.UpdateSettingsFlow(ctx).Flow(apiFlow).XSessionToken(tok).
				UpdateSettingsFlowBody(passwordBody(newPassword, "")).Execute()
			body := apiError(t, err)
			if errorID(body) != "session_refresh_required" || body["redirect_browser_to"] != loginURL(apiFlow) {
				t.Fatalf("native = %v", body)
			}
			r := do(t, srv, http.MethodPost, "/self-service/settings?flow="+apiFlow, `{"method":"password","password":"123"}`, "X-Session-Token", tok)
			wantBody(t, r, http.StatusForbidden, refresh(apiFlow))
		})
		t.Run("SPA", func(t *testing.T) {
			r := b.Do(http.MethodPost, "/self-service/settings?flow="+browserFlow, `{"method":"password","password":"`+newPassword+`","csrf_token":"`+csrf+`"}`, "Accept", acceptJSON)
			wantBody(t, r, http.StatusForbidden, refresh(browserFlow))
		})
		t.Run("BrowserForm", func(t *testing.T) {
			r := b.Do(http.MethodPost, "/self-service/settings?flow="+browserFlow, url.Values{"method": {"password"}, "password": {newPassword}, "csrf_token": {csrf}}, "Accept", acceptHTML)
			wantRedirect(t, r, http.StatusSeeOther, loginURL(browserFlow))
		})
		if srv.PasswordIs(t, ident.Id, newPassword) {
			t.Fatal("password changed outside the privileged window")
		}

		t.Run("RefreshedSessionMayChange", func(t *testing.T) {
			// Sign in again (login with refresh=true) as redirect_browser_to says.
			c := srv.SDK(false)
			lf, _, err := c.FrontendAPI.CreateNativeLoginFlow(ctx).Refresh(true).XSessionToken(tok).Execute()
			if err != nil {
				t.Fatal(err)
			}
			login := ory.UpdateLoginFlowWithPasswordMethodAsUpdateLoginFlowBody(ory.NewUpdateLoginFlowWithPasswordMethod("privileged@example.test", "password", oldPassword))
			if _, _, err := c.FrontendAPI.UpdateLoginFlow(ctx).Flow(lf.Id).XSessionToken(tok).UpdateLoginFlowBody(login).Execute(); err != nil {
				t.Fatalf("refresh login: %v %s", err, body(err))
			}
			r := do(t, srv, http.MethodPost, "/self-service/settings?flow="+apiFlow, `{"method":"password","password":"`+newPassword+`"}`, "X-Session-Token", tok)
			if r.Status != http.StatusOK {
				t.Fatalf("after refresh = %d %s", r.Status, r.Body)
			}
		})
	})
}

// TestAAL: with required_aal highest_available, an aal1 session of an
// identity that has a second factor cannot use settings; with aal1 it can.
func TestAAL(t *testing.T) {
	servertest.Each(t, options(), func(t *testing.T, srv *servertest.Server) {
		ident := mustIdentity(t, srv, "totp@example.test")
		// A second factor: Latchkey has no method to enrol one, so it is
		// written as an imported identity would hold it.
		now := srv.Clock.Now()
		db := srv.DB
		if _, err := db.Exec(context.Background(), `INSERT INTO identity_credentials (id, identity_id, type, config, version, created_at, updated_at) VALUES (?, ?, ?, ?, 0, ?, ?)`,
			uuid.NewString(), ident.Id, "totp", `{"totp_url":"otpauth://totp/x"}`, db.T(now), db.T(now)); err != nil {
			t.Fatal(err)
		}
		sess := mustSession(t, srv, ident.Id)
		tok := sess.Token

		aal2 := func(returnTo string) string {
			return srv.Config.PublicURL("self-service/login/browser?aal=aal2&return_to=" + url.QueryEscape(returnTo))
		}
		r := do(t, srv, http.MethodGet, "/self-service/settings/api", nil, "X-Session-Token", tok)
		want := aal2(srv.Public.URL + "/self-service/settings/api")
		wantBody(t, r, http.StatusForbidden, `{"error":{"id":"session_aal2_required","code":403,"status":"Forbidden","reason":"An active session was found but it does not fulfill the requested Authenticator Assurance Level. Please verify yourself with a second factor to resolve this issue.","details":{"redirect_browser_to":"`+want+`"},"message":"Session does not fulfill the requested Authenticator Assurance Level"},"redirect_browser_to":"`+want+`"}`)

		b := newBrowser(t, srv, sess)
		r = b.Do(http.MethodGet, "/self-service/settings/browser", nil, "Accept", acceptHTML)
		wantRedirect(t, r, http.StatusSeeOther, aal2(srv.Public.URL+"/self-service/settings/browser"))
		r = b.Do(http.MethodGet, "/self-service/settings/browser", nil, "Accept", acceptJSON)
		if r.Status != http.StatusForbidden || errorID(r.JSON(t)) != "session_aal2_required" {
			t.Fatalf("SPA init = %d %s", r.Status, r.Body)
		}

		// A flow made before the second factor existed cannot be used either.
		aal1 := srv.StartSharingDB(t, options("SELFSERVICE_FLOWS_SETTINGS_REQUIRED_AAL=aal1"))
		f := createFlow(t, aal1, "api", sess)
		r = do(t, srv, http.MethodGet, "/self-service/settings/flows?id="+f, nil, "X-Session-Token", tok)
		if r.Status != http.StatusForbidden || errorID(r.JSON(t)) != "session_aal2_required" {
			t.Fatalf("fetch = %d %s", r.Status, r.Body)
		}
		r = do(t, srv, http.MethodPost, "/self-service/settings?flow="+f, `{"method":"password","password":"`+newPassword+`"}`, "X-Session-Token", tok)
		if r.Status != http.StatusForbidden || errorID(r.JSON(t)) != "session_aal2_required" ||
			!strings.Contains(string(r.Body), url.QueryEscape(srv.Config.PublicURL("self-service/settings?flow="+f))) {
			t.Fatalf("submit = %d %s", r.Status, r.Body)
		}
		if srv.PasswordIs(t, ident.Id, newPassword) {
			t.Fatal("password changed below the required AAL")
		}

		// required_aal: aal1 lets the same session through.
		r = do(t, aal1, http.MethodPost, "/self-service/settings?flow="+f, `{"method":"password","password":"`+newPassword+`"}`, "X-Session-Token", tok)
		if r.Status != http.StatusOK {
			t.Fatalf("aal1 submit = %d %s", r.Status, r.Body)
		}
	})
}
