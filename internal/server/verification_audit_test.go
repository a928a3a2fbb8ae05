package server_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/server/servertest"
)

// TestAuditVerification: a verification writes verification.requested
// (no identity: the address is not looked up on the request path),
// verification.sent (by the courier), verification.failed for a wrong
// code and verification.succeeded; an unknown address is "sent" with
// result unknown_address. No event holds the code.
func TestAuditVerification(t *testing.T) {
	servertest.Each(t, servertest.Options{Env: verificationOn}, func(t *testing.T, srv *servertest.Server) {
		ctx := context.Background()
		sdk := srv.SDK(false)
		const email = "audit-verify@example.test"
		id := srv.MustCreateIdentity(t, email, "Verify-Passw0rd!").Id
		f, res, err := sdk.FrontendAPI.CreateNativeVerificationFlow(ctx).Execute()
		mustStatus(t, res, err, http.StatusOK)
		_, res, err = verifyEmail(t, sdk, f.Id, email, "")
		mustStatus(t, res, err, http.StatusOK)
		code := srv.VerificationCode(t, email)
		wrong := "000000"
		if code == wrong {
			wrong = "111111"
		}
		_, res, err = verifyCode(t, sdk, f.Id, wrong, "")
		mustStatus(t, res, err, http.StatusOK)
		_, res, err = verifyCode(t, sdk, f.Id, code, "")
		mustStatus(t, res, err, http.StatusOK)

		all := &auditTail{srv: srv}
		events := ofFlow(all.next(t, 4), f.Id)
		checkEvents(t, events,
			wantEvent{Type: audit.VerificationRequested, Actor: audit.ActorSelf, Method: "code", Identity: "-", Flow: f.Id, Details: map[string]any{"address": email}},
			wantEvent{Type: audit.VerificationSent, Actor: audit.ActorSystem, Method: "code", Result: audit.ResultSuccess, Identity: id, Flow: f.Id, Details: map[string]any{"address": email}},
			wantEvent{Type: audit.VerificationFailed, Actor: audit.ActorSelf, Method: "code", Result: audit.ResultInvalidCode, Identity: id, Flow: f.Id},
			wantEvent{Type: audit.VerificationSucceeded, Actor: audit.ActorSelf, Method: "code", Result: audit.ResultSuccess, Identity: id, Flow: f.Id},
		)
		noSecretsIn(t, events, code)

		const unknown = "nobody-audit-verify@example.test"
		u, res, err := sdk.FrontendAPI.CreateNativeVerificationFlow(ctx).Execute()
		mustStatus(t, res, err, http.StatusOK)
		_, res, err = verifyEmail(t, sdk, u.Id, unknown, "")
		mustStatus(t, res, err, http.StatusOK)
		checkEvents(t, ofFlow(all.next(t, 2), u.Id),
			wantEvent{Type: audit.VerificationRequested, Method: "code", Identity: "-", Flow: u.Id, Details: map[string]any{"address": unknown}},
			wantEvent{Type: audit.VerificationSent, Actor: audit.ActorSystem, Result: audit.ResultUnknownAddress, Identity: "-", Flow: u.Id,
				Details: map[string]any{"address": unknown, "notified": false}},
		)
	})
}
