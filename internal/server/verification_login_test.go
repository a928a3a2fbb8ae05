package server_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	ory "github.com/ory/client-go"

	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/server/servertest"
)

// TestRequireVerifiedAddress: with verification on, a password sign-in of
// an identity without a verified address writes no session, mails a code
// in a new verification flow and answers Kratos's 403
// session_verified_address_required naming that flow (JSON) or sends the
// browser to its page; once verified, the sign-in works. The legacy flag
// restores the 400 form error.
func TestRequireVerifiedAddress(t *testing.T) {
	env := append([]string{`SELFSERVICE_FLOWS_LOGIN_AFTER_PASSWORD_HOOKS=[{"hook":"require_verified_address"}]`}, verificationOn...)
	const pw = "Unverified-Passw0rd!"
	servertest.Each(t, servertest.Options{Env: env}, func(t *testing.T, srv *servertest.Server) {
		ctx := context.Background()
		sdk := srv.SDK(false)
		login := func(t *testing.T, email string) (*ory.SuccessfulNativeLogin, error) {
			t.Helper()
			f, res, err := sdk.FrontendAPI.CreateNativeLoginFlow(ctx).Execute()
			mustStatus(t, res, err, http.StatusOK)
			ok, _, err := sdk.FrontendAPI.UpdateLoginFlow(ctx).Flow(f.Id).UpdateLoginFlowBody(
				ory.UpdateLoginFlowWithPasswordMethodAsUpdateLoginFlowBody(ory.NewUpdateLoginFlowWithPasswordMethod(email, "password", pw))).Execute()
			return ok, err
		}

		t.Run("Native", func(t *testing.T) {
			const email = "unverified-native@example.test"
			id := srv.MustCreateIdentity(t, email, pw).Id
			_, err := login(t, email)
			body := servertest.ErrorBody(t, err)
			e, _ := body["error"].(map[string]any)
			if e["id"] != "session_verified_address_required" || e["code"] != float64(http.StatusForbidden) {
				t.Fatalf("answer %v", body)
			}
			cws, _ := e["details"].(map[string]any)["continue_with"].([]any)
			if len(cws) != 1 {
				t.Fatalf("continue_with %v", e["details"])
			}
			cw := cws[0].(map[string]any)
			vf, _ := cw["flow"].(map[string]any)
			flowID, _ := vf["id"].(string)
			if cw["action"] != "show_verification_ui" || vf["verifiable_address"] != email || vf["url"] != srv.Config.UIURLs().Verification+"?flow="+flowID {
				t.Fatalf("continue_with %v", cw)
			}
			if sessions, _, err := sdk.IdentityAPI.ListIdentitySessions(ctx, id).Execute(); err != nil || len(sessions) != 0 {
				t.Fatalf("%d sessions written (%v)", len(sessions), err)
			}
			f, res, err := sdk.FrontendAPI.GetVerificationFlow(ctx).Id(flowID).Execute()
			mustStatus(t, res, err, http.StatusOK)
			if f.Type != "api" || f.State != "sent_email" {
				t.Fatalf("verification flow %s %s", f.Type, f.State)
			}
			code := srv.VerificationCode(t, email)
			passed, res, err := verifyCode(t, sdk, flowID, code, "")
			mustStatus(t, res, err, http.StatusOK)
			if passed.State != "passed_challenge" {
				t.Fatalf("state %v", passed.State)
			}
			if ok, err := login(t, email); err != nil || ok.GetSessionToken() == "" {
				t.Fatalf("login once verified: %v %s", err, servertest.ErrorText(err))
			}
			failed := false
			for _, ev := range srv.AuditEvents(t, id) {
				failed = failed || (ev.Type == audit.LoginFailed && ev.Result == audit.ResultAddressNotVerified)
			}
			if !failed {
				t.Error("no login.failed address_not_verified event")
			}
		})

		t.Run("BrowserForm", func(t *testing.T) {
			const email = "unverified-browser@example.test"
			srv.MustCreateIdentity(t, email, pw)
			browser := srv.HTTPClient(true)
			res, lf := servertest.Do(t, browser, http.MethodGet, srv.Public.URL+"/self-service/login/browser", nil, http.Header{"Accept": {"application/json"}})
			mustStatus(t, res, nil, http.StatusOK)
			form := url.Values{"method": {"password"}, "identifier": {email}, "password": {pw}, "csrf_token": {csrfOf(lf)}}
			res, _ = servertest.DoRaw(t, browser, http.MethodPost, srv.Public.URL+"/self-service/login?flow="+lf["id"].(string), form, http.Header{"Accept": {"text/html"}})
			loc := res.Header.Get("Location")
			if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, srv.Config.UIURLs().Verification+"?flow=") {
				t.Fatalf("answer %d to %q", res.StatusCode, loc)
			}
			for _, c := range res.Cookies() {
				if c.Name == "ory_kratos_session" {
					t.Fatal("a session cookie was set")
				}
			}
			u, _ := url.Parse(loc)
			f, r, err := srv.SDKWith(browser).FrontendAPI.GetVerificationFlow(context.Background()).Id(u.Query().Get("flow")).Execute()
			mustStatus(t, r, err, http.StatusOK)
			if f.Type != "browser" || f.State != "sent_email" {
				t.Fatalf("verification flow %s %s", f.Type, f.State)
			}
			srv.VerificationCode(t, email)
		})
	})

	legacy := append([]string{"FEATURE_FLAGS_LEGACY_REQUIRE_VERIFIED_LOGIN_ERROR=true"}, env...)
	servertest.Each(t, servertest.Options{Env: legacy}, func(t *testing.T, srv *servertest.Server) {
		const email = "unverified-legacy@example.test"
		srv.MustCreateIdentity(t, email, pw)
		sdk := srv.SDK(false)
		f, res, err := sdk.FrontendAPI.CreateNativeLoginFlow(context.Background()).Execute()
		mustStatus(t, res, err, http.StatusOK)
		_, _, err = sdk.FrontendAPI.UpdateLoginFlow(context.Background()).Flow(f.Id).UpdateLoginFlowBody(
			ory.UpdateLoginFlowWithPasswordMethodAsUpdateLoginFlowBody(ory.NewUpdateLoginFlowWithPasswordMethod(email, "password", pw))).Execute()
		if ids := servertest.MessageIDs(rejectedLogin(t, err).Ui.Messages); len(ids) != 1 || ids[0] != 4000010 {
			t.Fatalf("legacy answer %v", ids)
		}
		if n := srv.SMTP.CountTo(email); n != 0 {
			t.Fatalf("%d mails in the legacy mode", n)
		}
	})
}
