package server_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	ory "github.com/ory/client-go"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

// factorHookBody sends the identity and the whole flow, so a test can
// check that no secret the flow shows reaches a hook.
var factorHookBody = "base64://" + base64.StdEncoding.EncodeToString([]byte(
	`function(ctx) { identity_id: ctx.identity.id, email: ctx.identity.traits.email, session_id: ctx.session.id, flow: ctx.flow }`))

// refusal is a parsing hook's 4xx answer with one message on the flow.
const refusal = `{"messages":[{"instance_ptr":"#/","messages":[{"id":4000001,"text":"Ask the help desk first.","type":"error"}]}]}`

// TestSettingsSecondFactorHooks: the totp and lookup_secret settings
// methods run after.totp.hooks and after.lookup_secret.hooks as the
// password method runs its own: before anything is written, refusing or
// failing leaves the credentials as they were.
func TestSettingsSecondFactorHooks(t *testing.T) {
	target := newHookTarget(t)
	opts := totpOptions(
		servertest.LookupEnabled,
		hooksEnv("SELFSERVICE_FLOWS_SETTINGS_AFTER_TOTP_HOOKS",
			webHook(map[string]any{"url": target.URL + "/totp", "method": "POST", "body": factorHookBody, "response": map[string]any{"parse": true}})),
		hooksEnv("SELFSERVICE_FLOWS_SETTINGS_AFTER_LOOKUP_SECRET_HOOKS",
			webHook(map[string]any{"url": target.URL + "/lookup", "method": "POST", "body": factorHookBody, "response": map[string]any{"parse": true}}),
			webHook(map[string]any{"url": target.URL + "/lookup-ignored", "method": "POST", "body": factorHookBody, "response": map[string]any{"ignore": true}})),
	)
	opts.WebHooks = hookLimits
	servertest.Each(t, opts, func(t *testing.T, srv *servertest.Server) {
		ctx := context.Background()
		sdk := srv.SDK(false)
		addr := addresses(t)
		// enrol submits a valid code for the key a new flow offers.
		enrol := func(t *testing.T, token string) (string, *ory.SettingsFlow, error) {
			t.Helper()
			f := newSettingsFlow(t, srv, token)
			secret := totpSecretOf(t, f)
			done, _, err := sdk.FrontendAPI.UpdateSettingsFlow(ctx).Flow(f.Id).XSessionToken(token).
				UpdateSettingsFlowBody(settingsTOTPBody(totpCode(t, srv, secret, 0))).Execute()
			return secret, done, err
		}
		// lookup submits one lookup_secret button to flow id.
		lookup := func(t *testing.T, token, id string, set func(b *ory.UpdateSettingsFlowWithLookupMethod)) (*ory.SettingsFlow, error) {
			t.Helper()
			b := ory.NewUpdateSettingsFlowWithLookupMethod("lookup_secret")
			set(b)
			done, _, err := sdk.FrontendAPI.UpdateSettingsFlow(ctx).Flow(id).XSessionToken(token).
				UpdateSettingsFlowBody(ory.UpdateSettingsFlowWithLookupMethodAsUpdateSettingsFlowBody(b)).Execute()
			return done, err
		}
		regenerate := func(b *ory.UpdateSettingsFlowWithLookupMethod) { b.SetLookupSecretRegenerate(true) }
		confirm := func(b *ory.UpdateSettingsFlowWithLookupMethod) { b.SetLookupSecretConfirm(true) }
		// refusedWith asserts a 400 settings flow showing the hook's message.
		refusedWith := func(t *testing.T, err error) {
			t.Helper()
			f := settingsFlowOf(t, err)
			if len(f.Ui.Messages) != 1 || f.Ui.Messages[0].Text != "Ask the help desk first." {
				t.Fatalf("messages %+v", f.Ui.Messages)
			}
		}

		t.Run("TOTPEnrolCallsTheHookWithTheIdentity", func(t *testing.T) {
			email := addr("amy", "factors.example")
			id := srv.MustCreateIdentity(t, email, pw).Id
			token := srv.MustNativeLogin(t, email, pw)
			secret, done, err := enrol(t, token)
			if err != nil {
				t.Fatalf("enrol: %v %s", err, servertest.ErrorText(err))
			}
			if done.State != "success" || !hasCredential(srv.MustGetIdentity(t, id), "totp") {
				t.Fatalf("state %s, credential stored: %v", done.State, hasCredential(srv.MustGetIdentity(t, id), "totp"))
			}
			calls := target.to("/totp", email)
			if len(calls) != 1 || calls[0].Body["identity_id"] != id || calls[0].Body["session_id"] == nil {
				t.Fatalf("/totp calls %v", calls)
			}
			if strings.Contains(mustJSON(calls[0].Body), secret) {
				t.Error("the hook saw the totp secret")
			}
		})

		t.Run("TOTPEnrolRefusedByTheHookStoresNothing", func(t *testing.T) {
			email := addr("ben", "factors.example")
			id := srv.MustCreateIdentity(t, email, pw).Id
			token := srv.MustNativeLogin(t, email, pw)
			target.on(t, "/totp", answerJSON(403, refusal))
			_, _, err := enrol(t, token)
			refusedWith(t, err)
			if hasCredential(srv.MustGetIdentity(t, id), "totp") {
				t.Error("totp credential stored")
			}
			if _, s := whoamiOf(t, srv, token); s["authenticator_assurance_level"] != "aal1" {
				t.Errorf("session raised to %v", s["authenticator_assurance_level"])
			}
		})

		t.Run("TOTPUnlinkFailingHookKeepsTheAuthenticator", func(t *testing.T) {
			email := addr("cleo", "factors.example")
			id := srv.MustCreateIdentity(t, email, pw).Id
			token := srv.MustNativeLogin(t, email, pw)
			mustEnrolTOTP(t, srv, token)
			target.on(t, "/totp", answerJSON(500, ``))
			f := newSettingsFlow(t, srv, token)
			b := ory.NewUpdateSettingsFlowWithTotpMethod("totp")
			b.SetTotpUnlink(true)
			_, _, err := sdk.FrontendAPI.UpdateSettingsFlow(ctx).Flow(f.Id).XSessionToken(token).
				UpdateSettingsFlowBody(ory.UpdateSettingsFlowWithTotpMethodAsUpdateSettingsFlowBody(b)).Execute()
			upstreamError(t, err, http.StatusBadGateway, target)
			if !hasCredential(srv.MustGetIdentity(t, id), "totp") {
				t.Error("totp credential removed")
			}
		})

		t.Run("LookupConfirmCallsTheHooksAndAppliesItsChanges", func(t *testing.T) {
			email := addr("dora", "factors.example")
			id := srv.MustCreateIdentity(t, email, pw).Id
			token := srv.MustNativeLogin(t, email, pw)
			target.on(t, "/lookup", answerJSON(200, `{"identity":{"metadata_public":{"backup_codes":true}}}`))
			f := newSettingsFlow(t, srv, token)
			shown, err := lookup(t, token, f.Id, regenerate)
			if err != nil {
				t.Fatalf("regenerate: %v %s", err, servertest.ErrorText(err))
			}
			if calls := target.to("/lookup", email); len(calls) != 0 {
				t.Fatalf("regenerate called the hook: %v", calls)
			}
			done, err := lookup(t, token, f.Id, confirm)
			if err != nil {
				t.Fatalf("confirm: %v %s", err, servertest.ErrorText(err))
			}
			stored := srv.MustGetIdentity(t, id)
			if done.State != "success" || !hasCredential(stored, "lookup_secret") || mustJSON(stored.MetadataPublic) != `{"backup_codes":true}` {
				t.Fatalf("state %s, stored %v %v", done.State, stored.Credentials, stored.MetadataPublic)
			}
			calls := target.to("/lookup", email)
			if len(calls) != 1 || calls[0].Body["identity_id"] != id {
				t.Fatalf("/lookup calls %v", calls)
			}
			for _, code := range servertest.BackupCodes(shown.Ui.Nodes) {
				if strings.Contains(mustJSON(calls[0].Body), code) {
					t.Fatal("the hook saw a backup code")
				}
			}
			target.eventually(t, "/lookup-ignored", email)
		})

		t.Run("LookupConfirmRefusedByTheHookStoresNothing", func(t *testing.T) {
			email := addr("emil", "factors.example")
			id := srv.MustCreateIdentity(t, email, pw).Id
			token := srv.MustNativeLogin(t, email, pw)
			target.on(t, "/lookup", answerJSON(422, refusal))
			f := newSettingsFlow(t, srv, token)
			if _, err := lookup(t, token, f.Id, regenerate); err != nil {
				t.Fatalf("regenerate: %v %s", err, servertest.ErrorText(err))
			}
			_, err := lookup(t, token, f.Id, confirm)
			refusedWith(t, err)
			if hasCredential(srv.MustGetIdentity(t, id), "lookup_secret") {
				t.Error("backup codes stored")
			}
			if calls := target.to("/lookup-ignored", email); len(calls) != 0 {
				t.Errorf("background hook called for a refused change: %v", calls)
			}
		})
	})
}
