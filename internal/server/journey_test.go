package server_test

import (
	"context"
	"net/http"
	"testing"

	ory "github.com/ory/client-go"

	"github.com/latchkey/latchkey/internal/server/servertest"
	"github.com/latchkey/latchkey/internal/sqlstore"
)

var dialects = []sqlstore.Dialect{sqlstore.SQLite, sqlstore.Postgres, sqlstore.MySQL}

// TestNativeRecoveryJourney is the journey Latchkey exists for, through the
// whole server and the official SDK: a native app recovers an account by
// code read from a real mail, gets its session token and settings flow from
// the recovery answer, sets a new password, and logs in with it.
func TestNativeRecoveryJourney(t *testing.T) {
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			srv := servertest.Start(t, servertest.Options{Dialect: d})
			ctx := context.Background()
			sdk := srv.SDK(false)
			const email, oldPassword, newPassword = "native-journey@example.test", "Old-Passw0rd-For-Journey!", "N3w-Passw0rd-After-Recovery!"

			_, res, err := sdk.IdentityAPI.CreateIdentity(ctx).CreateIdentityBody(ory.CreateIdentityBody{
				SchemaId: "default",
				Traits:   map[string]any{"email": email},
				Credentials: &ory.IdentityWithCredentials{Password: &ory.IdentityWithCredentialsPassword{
					Config: &ory.IdentityWithCredentialsPasswordConfig{Password: ory.PtrString(oldPassword)}}},
			}).Execute()
			mustStatus(t, res, err, http.StatusCreated)

			// An older session of the identity, which recovery must end.
			oldToken := nativeLogin(t, sdk, email, oldPassword)

			flow, res, err := sdk.FrontendAPI.CreateNativeRecoveryFlow(ctx).Execute()
			mustStatus(t, res, err, http.StatusOK)
			sent, res, err := sdk.FrontendAPI.UpdateRecoveryFlow(ctx).Flow(flow.Id).UpdateRecoveryFlowBody(
				ory.UpdateRecoveryFlowWithCodeMethodAsUpdateRecoveryFlowBody(&ory.UpdateRecoveryFlowWithCodeMethod{Method: "code", Email: ory.PtrString(email)})).Execute()
			mustStatus(t, res, err, http.StatusOK)
			if sent.State != "sent_email" {
				t.Fatalf("state after email = %v", sent.State)
			}
			code := srv.RecoveryCode(t, email)

			done, res, err := sdk.FrontendAPI.UpdateRecoveryFlow(ctx).Flow(flow.Id).UpdateRecoveryFlowBody(
				ory.UpdateRecoveryFlowWithCodeMethodAsUpdateRecoveryFlowBody(&ory.UpdateRecoveryFlowWithCodeMethod{Method: "code", Code: ory.PtrString(code)})).Execute()
			mustStatus(t, res, err, http.StatusOK)
			if done.State != "passed_challenge" || len(done.ContinueWith) != 2 {
				t.Fatalf("recovery answer: state %v, continue_with %+v", done.State, done.ContinueWith)
			}
			token := done.ContinueWith[0].ContinueWithSetOrySessionToken.OrySessionToken
			settingsID := done.ContinueWith[1].ContinueWithSettingsUi.Flow.Id

			who, res, err := sdk.FrontendAPI.ToSession(ctx).XSessionToken(token).Execute()
			mustStatus(t, res, err, http.StatusOK)
			if m := who.AuthenticationMethods[0].GetMethod(); m != "code_recovery" {
				t.Fatalf("session method %q", m)
			}
			if _, res, _ := sdk.FrontendAPI.ToSession(ctx).XSessionToken(oldToken).Execute(); res == nil || res.StatusCode != http.StatusUnauthorized {
				t.Fatalf("the session from before recovery must be revoked, got %v", res)
			}

			// The settings flow named by continue_with, used with the token.
			settingsSDK := srv.SDK(false)
			settingsSDK.GetConfig().AddDefaultHeader("X-Session-Token", token)
			updated, res, err := settingsSDK.FrontendAPI.UpdateSettingsFlow(ctx).Flow(settingsID).XSessionToken(token).UpdateSettingsFlowBody(
				ory.UpdateSettingsFlowWithPasswordMethodAsUpdateSettingsFlowBody(&ory.UpdateSettingsFlowWithPasswordMethod{Method: "password", Password: newPassword})).Execute()
			mustStatus(t, res, err, http.StatusOK)
			if updated.State != "success" {
				t.Fatalf("settings state %v", updated.State)
			}

			nativeLogin(t, sdk, email, newPassword)
			loginFlow, res, err := sdk.FrontendAPI.CreateNativeLoginFlow(ctx).Execute()
			mustStatus(t, res, err, http.StatusOK)
			_, res, _ = sdk.FrontendAPI.UpdateLoginFlow(ctx).Flow(loginFlow.Id).UpdateLoginFlowBody(ory.UpdateLoginFlowWithPasswordMethodAsUpdateLoginFlowBody(
				&ory.UpdateLoginFlowWithPasswordMethod{Method: "password", Identifier: email, Password: oldPassword})).Execute()
			if res == nil || res.StatusCode != http.StatusBadRequest {
				t.Fatalf("old password must fail with 400, got %v", res)
			}
		})
	}
}

func nativeLogin(t *testing.T, sdk *ory.APIClient, email, password string) string {
	t.Helper()
	ctx := context.Background()
	f, res, err := sdk.FrontendAPI.CreateNativeLoginFlow(ctx).Execute()
	mustStatus(t, res, err, http.StatusOK)
	ok, res, err := sdk.FrontendAPI.UpdateLoginFlow(ctx).Flow(f.Id).UpdateLoginFlowBody(ory.UpdateLoginFlowWithPasswordMethodAsUpdateLoginFlowBody(
		&ory.UpdateLoginFlowWithPasswordMethod{Method: "password", Identifier: email, Password: password})).Execute()
	mustStatus(t, res, err, http.StatusOK)
	return ok.GetSessionToken()
}

func mustStatus(t *testing.T, res *http.Response, err error, want int) {
	t.Helper()
	if res == nil {
		t.Fatalf("no response: %v", err)
	}
	if res.StatusCode != want {
		body := ""
		if oe, ok := err.(*ory.GenericOpenAPIError); ok {
			body = string(oe.Body())
		}
		t.Fatalf("%s %s: status %d, want %d: %s", res.Request.Method, res.Request.URL, res.StatusCode, want, body)
	}
}
