package server_test

import (
	"context"
	"net/http"
	"testing"

	ory "github.com/ory/client-go"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

// backupCodesJourney is the backup-code part of TestNoUsableSecretAtRest:
// codes enrolled in settings (regenerate, confirm), one signing in as
// second factor, one recovering the account, and a second set left
// pending (regenerated, never confirmed) in a settings flow. Every code
// shown is kept for the scan. token is a privileged session of email.
func backupCodesJourney(t *testing.T, srv *servertest.Server, email, password, token string, keep func(what, value string)) {
	t.Helper()
	ctx := context.Background()
	sdk := srv.SDK(false)
	codes := srv.MustBackupCodes(t, token)
	for _, c := range codes {
		keep("backup code", c)
	}

	// Second factor at login.
	aal1 := srv.MustNativeLogin(t, email, password)
	keep("aal1 session token", aal1)
	lf, _, err := sdk.FrontendAPI.CreateNativeLoginFlow(ctx).Aal("aal2").XSessionToken(aal1).Execute()
	if err != nil {
		t.Fatalf("aal2 login flow: %v %s", err, servertest.ErrorText(err))
	}
	if _, _, err := sdk.FrontendAPI.UpdateLoginFlow(ctx).Flow(lf.Id).XSessionToken(aal1).UpdateLoginFlowBody(
		ory.UpdateLoginFlowWithLookupSecretMethodAsUpdateLoginFlowBody(ory.NewUpdateLoginFlowWithLookupSecretMethod(codes[0], "lookup_secret"))).Execute(); err != nil {
		t.Fatalf("backup code login: %v %s", err, servertest.ErrorText(err))
	}

	// Regenerated but never confirmed: the new set waits in the flow.
	sf, _, err := sdk.FrontendAPI.CreateNativeSettingsFlow(ctx).XSessionToken(aal1).Execute()
	if err != nil {
		t.Fatalf("settings flow: %v %s", err, servertest.ErrorText(err))
	}
	b := ory.NewUpdateSettingsFlowWithLookupMethod("lookup_secret")
	b.SetLookupSecretRegenerate(true)
	pending, _, err := sdk.FrontendAPI.UpdateSettingsFlow(ctx).Flow(sf.Id).XSessionToken(aal1).
		UpdateSettingsFlowBody(ory.UpdateSettingsFlowWithLookupMethodAsUpdateSettingsFlowBody(b)).Execute()
	if err != nil {
		t.Fatalf("regenerate: %v %s", err, servertest.ErrorText(err))
	}
	for _, c := range servertest.BackupCodes(pending.Ui.Nodes) {
		keep("pending backup code", c)
	}

	// Recovery with a backup code (the departure).
	rf, _, err := sdk.FrontendAPI.CreateNativeRecoveryFlow(ctx).Execute()
	if err != nil {
		t.Fatal(err)
	}
	res, done := servertest.Do(t, srv.HTTPClient(false), http.MethodPost, srv.Public.URL+"/self-service/recovery?flow="+rf.Id,
		map[string]any{"method": "lookup_secret", "email": email, "lookup_secret": codes[1]}, nil)
	if res.StatusCode != http.StatusOK || done["state"] != "passed_challenge" {
		t.Fatalf("backup-code recovery: %d %v", res.StatusCode, done)
	}
	cw, _ := done["continue_with"].([]any)
	tok, _ := cw[0].(map[string]any)["ory_session_token"].(string)
	keep("backup-code recovery session token", tok)
}
