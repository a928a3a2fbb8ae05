package recovery_test

import (
	"context"
	"net/http"
	"testing"

	ory "github.com/ory/client-go"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

// TestNativeCodeRecovery is journey a with Latchkey's default
// use_continue_with_transitions: true.
func TestNativeCodeRecovery(t *testing.T) {
	servertest.Each(t, options(), func(t *testing.T, srv *servertest.Server) {
		email := uniqueEmail("native")
		ident := mustIdentity(t, srv, email)
		ctx := context.Background()
		api := srv.SDK(false)
		// A session from before the recovery (e.g. the attacker's).
		oldToken := srv.MustNativeLogin(t, email, oldPassword)

		f, res, err := api.FrontendAPI.CreateNativeRecoveryFlow(ctx).Execute()
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("create flow: %v", err)
		}
		if f.Type != "api" || f.State != "choose_method" || f.GetActive() != "code" || csrfOf(f) != "" {
			t.Fatalf("flow = %+v", f)
		}
		if got := res.Header.Get("Cache-Control"); got != "private, no-cache, no-store, must-revalidate" {
			t.Errorf("Cache-Control = %q", got)
		}
		f, _, err = api.FrontendAPI.UpdateRecoveryFlow(ctx).Flow(f.Id).UpdateRecoveryFlowBody(codeBody(email, "", "")).Execute()
		if err != nil {
			t.Fatalf("submit email: %v", err)
		}
		if f.State != "sent_email" || len(messageIDs(f)) != 1 || messageIDs(f)[0] != 1060003 {
			t.Fatalf("after email: %+v", f)
		}
		code := mustReadCode(t, srv, email)
		f, res, err = api.FrontendAPI.UpdateRecoveryFlow(ctx).Flow(f.Id).UpdateRecoveryFlowBody(codeBody("", code, "")).Execute()
		if err != nil {
			t.Fatalf("submit code: %v", err)
		}
		if res.StatusCode != 200 || f.State != "passed_challenge" || len(f.ContinueWith) != 2 {
			t.Fatalf("after code: %d %+v", res.StatusCode, f)
		}
		tok := f.ContinueWith[0].ContinueWithSetOrySessionToken
		settings := f.ContinueWith[1].ContinueWithSettingsUi
		if tok == nil || settings == nil {
			t.Fatalf("continue_with = %+v", f.ContinueWith)
		}
		if want := settingsUI + "?flow=" + settings.Flow.Id; settings.Flow.GetUrl() != want {
			t.Errorf("settings url = %q, want %q", settings.Flow.GetUrl(), want)
		}
		if cookieNamed(res, servertest.SessionCookieName) != nil {
			t.Error("a native client got a session cookie")
		}
		sess, _, err := api.FrontendAPI.ToSession(ctx).XSessionToken(tok.OrySessionToken).Execute()
		if err != nil {
			t.Fatalf("whoami: %v", err)
		}
		if sess.Identity.Id != ident.Id || sess.AuthenticationMethods[0].GetMethod() != "code_recovery" || sess.GetAuthenticatorAssuranceLevel() != "aal1" {
			t.Fatalf("session = %+v", sess)
		}
		// The recovery address is verified, other sessions are revoked.
		got := srv.MustGetIdentity(t, ident.Id)
		if len(got.VerifiableAddresses) != 1 || !got.VerifiableAddresses[0].Verified || got.VerifiableAddresses[0].Status != "completed" {
			t.Errorf("verifiable addresses = %+v", got.VerifiableAddresses)
		}
		if _, _, err := api.FrontendAPI.ToSession(ctx).XSessionToken(oldToken).Execute(); err == nil {
			t.Error("the session from before the recovery is still active")
		}
		// The settings flow: message 1060001, then a new password.
		sf, _, err := api.FrontendAPI.GetSettingsFlow(ctx).Id(settings.Flow.Id).XSessionToken(tok.OrySessionToken).Execute()
		if err != nil || sf.Type != "api" || len(sf.Ui.Messages) == 0 || sf.Ui.Messages[0].Id != 1060001 || sf.RequestUrl != srv.Public.URL+"/self-service/recovery?flow="+f.Id {
			t.Fatalf("settings flow: %v %+v", err, sf)
		}
		const newPassword = "N3w-Recovered-Passw0rd-Latchkey!"
		sf, _, err = api.FrontendAPI.UpdateSettingsFlow(ctx).Flow(sf.Id).XSessionToken(tok.OrySessionToken).UpdateSettingsFlowBody(
			ory.UpdateSettingsFlowWithPasswordMethodAsUpdateSettingsFlowBody(&ory.UpdateSettingsFlowWithPasswordMethod{Method: "password", Password: newPassword})).Execute()
		if err != nil || sf.State != "success" {
			t.Fatalf("set password: %v %+v", err, sf)
		}
		// The new password signs in, the old one does not.
		for _, c := range []struct {
			password string
			ok       bool
		}{{newPassword, true}, {oldPassword, false}} {
			lf, _, err := api.FrontendAPI.CreateNativeLoginFlow(ctx).Execute()
			if err != nil {
				t.Fatal(err)
			}
			_, res, err := api.FrontendAPI.UpdateLoginFlow(ctx).Flow(lf.Id).UpdateLoginFlowBody(
				ory.UpdateLoginFlowWithPasswordMethodAsUpdateLoginFlowBody(&ory.UpdateLoginFlowWithPasswordMethod{Method: "password", Identifier: email, Password: c.password})).Execute()
			if (err == nil) != c.ok {
				t.Fatalf("login with %q: status %d, err %v", c.password, res.StatusCode, err)
			}
		}
		// Fetching the recovery flow afterwards: passed, no continue_with.
		f2, _, err := api.FrontendAPI.GetRecoveryFlow(ctx).Id(f.Id).Execute()
		if err != nil || f2.State != "passed_challenge" || len(f2.ContinueWith) != 0 {
			t.Fatalf("fetch after success: %v %+v", err, f2)
		}
	})
}

// TestNativeCodeRecoveryKratosTransitions: with the flag off a native
// client gets Kratos's 422 and no session token (documented pain point).
func TestNativeCodeRecoveryKratosTransitions(t *testing.T) {
	servertest.Each(t, options(withKratosTransitions), func(t *testing.T, srv *servertest.Server) {
		email := uniqueEmail("native-off")
		mustIdentity(t, srv, email)
		ctx := context.Background()
		api := srv.SDK(false)
		f, _, err := api.FrontendAPI.CreateNativeRecoveryFlow(ctx).Execute()
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := api.FrontendAPI.UpdateRecoveryFlow(ctx).Flow(f.Id).UpdateRecoveryFlowBody(codeBody(email, "", "")).Execute(); err != nil {
			t.Fatal(err)
		}
		code := mustReadCode(t, srv, email)
		_, res, err := api.FrontendAPI.UpdateRecoveryFlow(ctx).Flow(f.Id).UpdateRecoveryFlowBody(codeBody("", code, "")).Execute()
		status, body := sdkError(t, res, err)
		if status != http.StatusUnprocessableEntity || dig(body, "error", "id") != "browser_location_change_required" {
			t.Fatalf("answer = %d %v", status, body)
		}
		redirect, _ := body["redirect_browser_to"].(string)
		if redirect == "" || dig(body, "error", "reason") != "In order to complete this flow please redirect the browser to: "+redirect {
			t.Fatalf("body = %v", body)
		}
	})
}
