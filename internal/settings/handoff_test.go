package settings_test

import (
	"context"
	"net/http"
	"testing"

	ory "github.com/ory/client-go"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

// TestStartAfterRecovery: the flow recovery hands over is written in the
// recovery's transaction (gone if it rolls back), carries the recovery's
// request_url and return_to, and is usable by the recovery session.
func TestStartAfterRecovery(t *testing.T) {
	servertest.Each(t, options(), func(t *testing.T, srv *servertest.Server) {
		ctx := context.Background()
		ident := mustIdentity(t, srv, "handoff@example.test")

		// The last write of the recovery fails, after the settings flow
		// was started: no flow is left behind.
		code, _, err := srv.SDK(false).IdentityAPI.CreateRecoveryCodeForIdentity(ctx).CreateRecoveryCodeForIdentityBody(
			ory.CreateRecoveryCodeForIdentityBody{IdentityId: ident.Id, FlowType: ory.PtrString("api")}).Execute()
		if err != nil {
			t.Fatal(err)
		}
		submit := func() response {
			return do(t, srv, http.MethodPost, "/self-service/recovery?flow="+flowIDOf(t, code.RecoveryLink), `{"method":"code","code":"`+code.RecoveryCode+`"}`)
		}
		settingsFlows := func() int {
			var n int
			if err := srv.DB.QueryRow(ctx, `SELECT COUNT(*) FROM selfservice_flows WHERE kind = 'settings' AND identity_id = ?`, ident.Id).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		lift := srv.FailRecoveryCompletion(t)
		r := submit()
		lift()
		if r.Status != http.StatusInternalServerError || settingsFlows() != 0 {
			t.Fatalf("rolled back recovery = %d %s, left %d settings flows", r.Status, r.Body, settingsFlows())
		}
		// Nothing of it was kept: the code is still good, and now starts one flow.
		if r := submit(); r.Status != http.StatusOK || settingsFlows() != 1 {
			t.Fatalf("recovery after the fault = %d %s, %d settings flows", r.Status, r.Body, settingsFlows())
		}

		rec := srv.MustRecover(t, ident.Id, "browser", "https://app.example.com/home")
		b := newBrowser(t, srv, rec.Session)
		r = b.Do(http.MethodGet, "/self-service/settings/flows?id="+rec.SettingsFlowID, nil)
		m := r.JSON(t)
		if r.Status != http.StatusOK || m["type"] != "browser" || m["return_to"] != "https://app.example.com/home" ||
			m["request_url"] != srv.Config.PublicURL("self-service/recovery?flow="+rec.RecoveryFlowID) {
			t.Fatalf("flow = %d %s", r.Status, r.Body)
		}
		if b.Cookie(srv.CSRFCookieName()) == "" {
			t.Fatal("fetching a browser flow did not set the CSRF cookie")
		}

		// SPA without the token: 403, and (departure 6) the flow still
		// works afterwards in the same browser.
		id := rec.SettingsFlowID
		r = b.Do(http.MethodPost, "/self-service/settings?flow="+id, `{"method":"password","password":"`+newPassword+`"}`, "Accept", acceptJSON)
		body := r.JSON(t)
		if r.Status != http.StatusForbidden || errorID(body) != "security_csrf_violation" {
			t.Fatalf("no csrf = %d %s", r.Status, r.Body)
		}
		details, _ := errorField(body, "details").(map[string]any)
		if details["reject_reason"] != "The HTTP Cookie Header was set and a CSRF token was sent but they do not match. We recommend deleting all cookies for this domain and retrying the flow." {
			t.Fatalf("details = %v", details)
		}
		r = b.Do(http.MethodPost, "/self-service/settings?flow="+id, `{"method":"password","password":"`+newPassword+`","csrf_token":"`+csrfValue(t, m)+`"}`, "Accept", acceptJSON)
		if r.Status != http.StatusOK {
			t.Fatalf("retry = %d %s", r.Status, r.Body)
		}
		cw := mustJSON(r.JSON(t)["continue_with"])
		if cw != `[{"action":"redirect_browser_to","redirect_browser_to":"https://app.example.com/home"}]` {
			t.Fatalf("continue_with = %s", cw)
		}
	})
}
