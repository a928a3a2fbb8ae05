package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	ory "github.com/ory/client-go"

	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/server/servertest"
)

// The audit log, end to end: each journey below runs through the HTTP
// API and then reads the events it wrote from the database, checking
// their order, actor, method, result, identity and flow.

// wantEvent is what a test checks of one event; "" and nil fields are
// not checked.
type wantEvent struct {
	Type   audit.Type
	Actor  audit.Actor
	Method string
	Result string
	// Flow is the flow id the event must name ("-": none).
	Flow string
	// Identity is the identity id the event must name ("-": none).
	Identity string
	// Details must all be in the event's details (compared as JSON).
	Details map[string]any
}

// checkEvents compares events with want, one for one, in order.
func checkEvents(t *testing.T, got []audit.Event, want ...wantEvent) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("events %v, want %d: %s", servertest.AuditTypes(got), len(want), describe(got))
	}
	for i, w := range want {
		e := got[i]
		fail := func(what string, g, w any) {
			t.Helper()
			t.Fatalf("event %d (%s): %s %v, want %v\nall: %s", i, e.Type, what, g, w, describe(got))
		}
		if e.Type != w.Type {
			fail("type", e.Type, w.Type)
		}
		if w.Actor != "" && e.Actor != w.Actor {
			fail("actor", e.Actor, w.Actor)
		}
		if w.Method != "" && e.Method != w.Method {
			fail("method", e.Method, w.Method)
		}
		if w.Result != "" && e.Result != w.Result {
			fail("result", e.Result, w.Result)
		}
		if got := idString(e.FlowID); w.Flow != "" && got != w.Flow {
			fail("flow", got, w.Flow)
		}
		if got := idString(e.IdentityID); w.Identity != "" && got != w.Identity {
			fail("identity", got, w.Identity)
		}
		for k, v := range w.Details {
			gb, _ := json.Marshal(e.Details[k])
			wb, _ := json.Marshal(v)
			if string(gb) != string(wb) {
				fail("details."+k, string(gb), string(wb))
			}
		}
		if e.Time.IsZero() || e.ID == uuid.Nil {
			fail("time/id", e.Time, e.ID)
		}
	}
}

func idString(id *uuid.UUID) string {
	if id == nil {
		return "-"
	}
	return id.String()
}

func describe(events []audit.Event) string {
	b, _ := json.MarshalIndent(events, "", " ")
	return string(b)
}

// auditTail reads the events of one identity (or, with identity "", of
// every identity) as a journey goes on.
type auditTail struct {
	srv      *servertest.Server
	identity string
	seen     int
}

// next returns the events written since the last call, waiting up to 10s
// until there are at least n (the courier writes some in the background).
func (a *auditTail) next(t *testing.T, n int) []audit.Event {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		all := a.srv.AuditEvents(t, a.identity)
		if len(all)-a.seen >= n || time.Now().After(deadline) {
			out := all[a.seen:]
			a.seen = len(all)
			return out
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ofFlow keeps the events of flow id.
func ofFlow(events []audit.Event, id string) []audit.Event {
	var out []audit.Event
	for _, e := range events {
		if idString(e.FlowID) == id {
			out = append(out, e)
		}
	}
	return out
}

// noSecretsIn fails when an event holds one of secrets anywhere.
func noSecretsIn(t *testing.T, events []audit.Event, secrets ...string) {
	t.Helper()
	b, err := json.Marshal(events)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(string(b), s) {
			t.Errorf("the audit log holds the secret %q: %s", s, b)
		}
	}
}

// recoverByCode runs the email step of a native code recovery and
// returns the flow id.
func submitRecoveryEmail(t *testing.T, srv *servertest.Server, email string) (string, *http.Response) {
	t.Helper()
	ctx := context.Background()
	sdk := srv.SDK(false)
	f, res, err := sdk.FrontendAPI.CreateNativeRecoveryFlow(ctx).Execute()
	mustStatus(t, res, err, http.StatusOK)
	_, res, _ = sdk.FrontendAPI.UpdateRecoveryFlow(ctx).Flow(f.Id).UpdateRecoveryFlowBody(
		ory.UpdateRecoveryFlowWithCodeMethodAsUpdateRecoveryFlowBody(&ory.UpdateRecoveryFlowWithCodeMethod{Method: "code", Email: ory.PtrString(email)})).Execute()
	if res == nil {
		t.Fatal("no answer to the recovery email")
	}
	return f.Id, res
}

func submitRecoveryCode(t *testing.T, srv *servertest.Server, flowID, code string) (*ory.RecoveryFlow, *http.Response) {
	t.Helper()
	f, res, _ := srv.SDK(false).FrontendAPI.UpdateRecoveryFlow(context.Background()).Flow(flowID).UpdateRecoveryFlowBody(
		ory.UpdateRecoveryFlowWithCodeMethodAsUpdateRecoveryFlowBody(&ory.UpdateRecoveryFlowWithCodeMethod{Method: "code", Code: ory.PtrString(code)})).Execute()
	if res == nil {
		t.Fatal("no answer to the recovery code")
	}
	return f, res
}

// TestAuditRecoveryJourney: sign in, recover by code (a wrong code
// first), set a new password, and an admin issues a code with a reason:
// the log shows each step in order with its actor, and no secret.
func TestAuditRecoveryJourney(t *testing.T) {
	servertest.Each(t, servertest.Options{}, func(t *testing.T, srv *servertest.Server) {
		ctx := context.Background()
		const email, oldPassword, newPassword = "audit-journey@example.test", "Old-Audit-Passw0rd!", "New-Audit-Passw0rd!"
		ident := srv.MustCreateIdentity(t, email, oldPassword)
		id := ident.Id
		all := &auditTail{srv: srv}
		if got := all.next(t, 0); len(got) != 0 {
			t.Fatalf("creating an identity wrote %v", servertest.AuditTypes(got))
		}

		oldToken := srv.MustNativeLogin(t, email, oldPassword)
		flowID, res := submitRecoveryEmail(t, srv, email)
		mustStatus(t, res, nil, http.StatusOK)
		code := srv.RecoveryCode(t, email)
		wrong := "000000"
		if code == wrong {
			wrong = "111111"
		}
		if f, res := submitRecoveryCode(t, srv, flowID, wrong); res.StatusCode != http.StatusOK || f == nil || f.State != "sent_email" {
			t.Fatalf("wrong code: %d %+v", res.StatusCode, f)
		}
		done, res := submitRecoveryCode(t, srv, flowID, code)
		mustStatus(t, res, nil, http.StatusOK)
		token := done.ContinueWith[0].ContinueWithSetOrySessionToken.OrySessionToken
		settingsID := done.ContinueWith[1].ContinueWithSettingsUi.Flow.Id
		_, res, err := srv.SDK(false).FrontendAPI.UpdateSettingsFlow(ctx).Flow(settingsID).XSessionToken(token).UpdateSettingsFlowBody(
			ory.UpdateSettingsFlowWithPasswordMethodAsUpdateSettingsFlowBody(&ory.UpdateSettingsFlowWithPasswordMethod{Method: "password", Password: newPassword})).Execute()
		mustStatus(t, res, err, http.StatusOK)
		res, adm := servertest.Do(t, srv.HTTPClient(false), http.MethodPost, srv.Admin.URL+"/admin/recovery/code",
			map[string]any{"identity_id": id, "reason": "ticket 42: lost phone"}, nil)
		if res.StatusCode != http.StatusCreated {
			t.Fatalf("admin code: %d %v", res.StatusCode, adm)
		}

		events := all.next(t, 8)
		loginFlow := idString(events[0].FlowID)
		checkEvents(t, events,
			wantEvent{Type: audit.LoginSucceeded, Actor: audit.ActorSelf, Method: "password", Result: audit.ResultSuccess, Identity: id, Flow: loginFlow,
				Details: map[string]any{"aal": "aal1"}},
			// Before the lookup: no identity, the address as typed.
			wantEvent{Type: audit.RecoveryRequested, Actor: audit.ActorSelf, Method: "code", Result: audit.ResultSuccess, Identity: "-", Flow: flowID,
				Details: map[string]any{"address": email}},
			// The courier's preparation: the system.
			wantEvent{Type: audit.RecoverySent, Actor: audit.ActorSystem, Method: "code", Result: audit.ResultSuccess, Identity: id, Flow: flowID,
				Details: map[string]any{"address": email}},
			wantEvent{Type: audit.RecoveryFailed, Actor: audit.ActorSelf, Method: "code", Result: audit.ResultInvalidCode, Identity: id, Flow: flowID},
			// The session from before recovery ends with it.
			wantEvent{Type: audit.SessionRevoked, Actor: audit.ActorSelf, Method: "code", Identity: id, Flow: flowID,
				Details: map[string]any{"count": 1, "scope": "all"}},
			wantEvent{Type: audit.RecoverySucceeded, Actor: audit.ActorSelf, Method: "code", Result: audit.ResultSuccess, Identity: id, Flow: flowID},
			wantEvent{Type: audit.PasswordChanged, Actor: audit.ActorSelf, Method: "password", Identity: id, Flow: settingsID},
			wantEvent{Type: audit.AdminRecoveryCodeCreated, Actor: audit.ActorAdmin, Method: "code", Identity: id},
		)
		if loginFlow == "-" || events[7].Reason != "ticket 42: lost phone" {
			t.Fatalf("login flow %s, admin reason %q", loginFlow, events[7].Reason)
		}
		if e := events[0]; e.ClientIP == "" || e.UserAgent == "" || e.Details["session_id"] == "" {
			t.Fatalf("login event lacks its client or session: %+v", e)
		}
		if srv.SessionActive(t, oldToken) {
			t.Fatal("the old session survived recovery")
		}
		noSecretsIn(t, events, code, wrong, oldPassword, newPassword, oldToken, token, adm["recovery_code"].(string))
	})
}

// TestAuditRecoveryUnknownAddress: a request for an address of no account
// writes what a known one writes on the request path (recovery.requested
// without identity), and the courier's recovery.sent says
// unknown_address, with or without the "invalid" mail.
func TestAuditRecoveryUnknownAddress(t *testing.T) {
	for _, notify := range []bool{false, true} {
		name := "silent"
		env := []string{}
		if notify {
			name = "notify"
			env = append(env, "SELFSERVICE_FLOWS_RECOVERY_NOTIFY_UNKNOWN_RECIPIENTS=true")
		}
		t.Run(name, func(t *testing.T) {
			servertest.Each(t, servertest.Options{Env: env}, func(t *testing.T, srv *servertest.Server) {
				const email = "Nobody-Audit@example.test"
				flowID, res := submitRecoveryEmail(t, srv, email)
				mustStatus(t, res, nil, http.StatusOK)
				all := &auditTail{srv: srv}
				checkEvents(t, ofFlow(all.next(t, 2), flowID),
					wantEvent{Type: audit.RecoveryRequested, Actor: audit.ActorSelf, Method: "code", Result: audit.ResultSuccess, Identity: "-", Flow: flowID,
						Details: map[string]any{"address": email}},
					wantEvent{Type: audit.RecoverySent, Actor: audit.ActorSystem, Method: "code", Result: audit.ResultUnknownAddress, Identity: "-", Flow: flowID,
						Details: map[string]any{"address": email, "notified": notify}},
				)
				if notify {
					srv.SMTP.WaitFor(t, email, 10*time.Second)
				}
			})
		})
	}
}

// TestAuditRecoveryRateLimited: a send refused by the send limits is
// recorded although the refused submission rolls back, for the
// self-service flow and for the admin API's "send": true.
func TestAuditRecoveryRateLimited(t *testing.T) {
	opts := servertest.Options{Env: []string{"SELFSERVICE_FLOWS_RECOVERY_RATE_LIMIT_PER_ADDRESS_MAX=1"}}
	servertest.Each(t, opts, func(t *testing.T, srv *servertest.Server) {
		const email = "limited-audit@example.test"
		id := srv.MustCreateIdentity(t, email, "Limited-Audit-Passw0rd!").Id
		first, res := submitRecoveryEmail(t, srv, email)
		mustStatus(t, res, nil, http.StatusOK)
		second, res := submitRecoveryEmail(t, srv, email)
		mustStatus(t, res, nil, http.StatusTooManyRequests)
		all := &auditTail{srv: srv}
		events := all.next(t, 3)
		checkEvents(t, ofFlow(events, first),
			wantEvent{Type: audit.RecoveryRequested, Flow: first},
			wantEvent{Type: audit.RecoverySent, Identity: id, Flow: first})
		// The refused request wrote no recovery.requested.
		checkEvents(t, ofFlow(events, second),
			wantEvent{Type: audit.RecoveryRateLimited, Actor: audit.ActorSelf, Method: "code", Result: audit.ResultRateLimited, Identity: "-", Flow: second,
				Details: map[string]any{"limit": "recovery_address", "address": email}})

		res, body := servertest.Do(t, srv.HTTPClient(false), http.MethodPost, srv.Admin.URL+"/admin/recovery/code",
			map[string]any{"identity_id": id, "send": true, "reason": "refused"}, nil)
		if res.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("admin send over the limit: %d %v", res.StatusCode, body)
		}
		// No admin.recovery_code_created: the code was rolled back.
		checkEvents(t, all.next(t, 1),
			wantEvent{Type: audit.RecoveryRateLimited, Actor: audit.ActorAdmin, Method: "code", Result: audit.ResultRateLimited, Identity: id, Flow: "-",
				Details: map[string]any{"limit": "recovery_address"}})
	})
}

// TestAuditRecoveryFailures: the other refusals of a recovery submission
// (too many attempts, a used code, an expired flow, an unknown link
// token, a wrong backup code, a disabled identity) are each recorded
// with their result.
func TestAuditRecoveryFailures(t *testing.T) {
	opts := servertest.Options{Env: []string{"SELFSERVICE_METHODS_LINK_ENABLED=true", servertest.LookupEnabled,
		"SELFSERVICE_METHODS_LOOKUP_SECRET_CONFIG_USE_FOR_RECOVERY=true", "SELFSERVICE_METHODS_CODE_CONFIG_MAX_SUBMISSIONS=2",
		"SELFSERVICE_METHODS_LINK_CONFIG_REQUIRE_CONFIRMATION=false"}}
	servertest.Each(t, opts, func(t *testing.T, srv *servertest.Server) {
		const email, password = "failures-audit@example.test", "Failures-Audit-Passw0rd!"
		id := srv.MustCreateIdentity(t, email, password).Id
		all := &auditTail{srv: srv}

		// Too many attempts.
		flowID, res := submitRecoveryEmail(t, srv, email)
		mustStatus(t, res, nil, http.StatusOK)
		code := srv.RecoveryCode(t, email)
		wrong := "000000"
		if code == wrong {
			wrong = "111111"
		}
		for range 2 {
			submitRecoveryCode(t, srv, flowID, wrong)
		}
		submitRecoveryCode(t, srv, flowID, code)
		checkEvents(t, ofFlow(all.next(t, 5), flowID),
			wantEvent{Type: audit.RecoveryRequested},
			wantEvent{Type: audit.RecoverySent},
			wantEvent{Type: audit.RecoveryFailed, Result: audit.ResultInvalidCode, Identity: id},
			wantEvent{Type: audit.RecoveryFailed, Result: audit.ResultInvalidCode, Identity: id},
			wantEvent{Type: audit.RecoveryFailed, Actor: audit.ActorSelf, Method: "code", Result: audit.ResultTooManyAttempts, Identity: id, Flow: flowID})

		// A code used before: recovered once, then sent again on the same flow.
		flowID, res = submitRecoveryEmail(t, srv, email)
		mustStatus(t, res, nil, http.StatusOK)
		code = srv.RecoveryCode(t, email)
		_, res = submitRecoveryCode(t, srv, flowID, code)
		mustStatus(t, res, nil, http.StatusOK)
		submitRecoveryCode(t, srv, flowID, code)
		events := ofFlow(all.next(t, 4), flowID)
		checkEvents(t, events[len(events)-1:],
			wantEvent{Type: audit.RecoveryFailed, Method: "code", Result: audit.ResultAlreadyUsed, Identity: id, Flow: flowID})

		// An expired flow.
		flowID, res = submitRecoveryEmail(t, srv, email)
		mustStatus(t, res, nil, http.StatusOK)
		code = srv.RecoveryCode(t, email)
		all.next(t, 2)
		srv.Clock.Advance(2 * time.Hour)
		submitRecoveryCode(t, srv, flowID, code)
		checkEvents(t, all.next(t, 1),
			wantEvent{Type: audit.RecoveryFailed, Actor: audit.ActorSelf, Method: "code", Result: audit.ResultExpired, Identity: id, Flow: flowID})

		// A link with an unknown token: the flow's identity, never the token.
		sdk := srv.SDK(false)
		lf, res, err := sdk.FrontendAPI.CreateNativeRecoveryFlow(context.Background()).Execute()
		mustStatus(t, res, err, http.StatusOK)
		_, res, _ = sdk.FrontendAPI.UpdateRecoveryFlow(context.Background()).Flow(lf.Id).UpdateRecoveryFlowBody(
			ory.UpdateRecoveryFlowWithLinkMethodAsUpdateRecoveryFlowBody(&ory.UpdateRecoveryFlowWithLinkMethod{Method: "link", Email: email})).Execute()
		mustStatus(t, res, nil, http.StatusOK)
		link := srv.RecoveryLink(t, email)
		all.next(t, 2)
		const forged = "forgedforgedforgedforgedforged12"
		forgedLink := srv.Public.URL + "/self-service/recovery?flow=" + lf.Id + "&token=" + forged
		if res, _ := servertest.DoRaw(t, srv.HTTPClient(false), http.MethodGet, forgedLink, nil, nil); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("forged link: %d", res.StatusCode)
		}
		// The real link once (recovered), then again (used).
		if res, _ := servertest.DoRaw(t, srv.HTTPClient(false), http.MethodGet, link, nil, nil); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("link: %d", res.StatusCode)
		}
		if res, _ := servertest.DoRaw(t, srv.HTTPClient(false), http.MethodGet, link, nil, nil); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("used link: %d", res.StatusCode)
		}
		checkEvents(t, all.next(t, 4),
			wantEvent{Type: audit.RecoveryFailed, Actor: audit.ActorSelf, Method: "link", Result: audit.ResultInvalidToken, Identity: id, Flow: lf.Id},
			// The session of the code recovery above ends.
			wantEvent{Type: audit.SessionRevoked, Method: "link", Identity: id, Flow: lf.Id, Details: map[string]any{"count": 1, "scope": "all"}},
			wantEvent{Type: audit.RecoverySucceeded, Method: "link", Identity: id, Flow: lf.Id},
			wantEvent{Type: audit.RecoveryFailed, Method: "link", Result: audit.ResultAlreadyUsed, Identity: id, Flow: lf.Id})

		// A wrong backup code, for a known and an unknown address.
		srv.MustEnrolBackupCodes(t, id)
		backup := func(address, code string) string {
			f, res, err := sdk.FrontendAPI.CreateNativeRecoveryFlow(context.Background()).Execute()
			mustStatus(t, res, err, http.StatusOK)
			res, body := servertest.Do(t, srv.HTTPClient(false), http.MethodPost, srv.Public.URL+"/self-service/recovery?flow="+f.Id,
				map[string]any{"method": "lookup_secret", "email": address, "lookup_secret": code}, nil)
			if res.StatusCode != http.StatusBadRequest {
				t.Fatalf("wrong backup code: %d %v", res.StatusCode, body)
			}
			return f.Id
		}
		known, unknown := backup(email, "wrongcode"), backup("nobody-backup@example.test", "wrongcode")
		checkEvents(t, all.next(t, 2),
			wantEvent{Type: audit.RecoveryFailed, Actor: audit.ActorSelf, Method: "lookup_secret", Result: audit.ResultInvalidBackupCode, Identity: id, Flow: known},
			wantEvent{Type: audit.RecoveryFailed, Actor: audit.ActorSelf, Method: "lookup_secret", Result: audit.ResultInvalidBackupCode, Identity: "-", Flow: unknown})

		// A disabled identity's code is refused and recorded; nothing else.
		flowID, res = submitRecoveryEmail(t, srv, email)
		mustStatus(t, res, nil, http.StatusOK)
		code = srv.RecoveryCode(t, email)
		res, body := servertest.Do(t, srv.HTTPClient(false), http.MethodPatch, srv.Admin.URL+"/admin/identities/"+id,
			[]map[string]any{{"op": "replace", "path": "/state", "value": "inactive"}}, nil)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("disable: %d %v", res.StatusCode, body)
		}
		all.next(t, 2)
		if _, res := submitRecoveryCode(t, srv, flowID, code); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("disabled identity's code: %d", res.StatusCode)
		}
		checkEvents(t, all.next(t, 1),
			wantEvent{Type: audit.RecoveryFailed, Actor: audit.ActorSelf, Method: "code", Result: audit.ResultIdentityInactive, Identity: id, Flow: flowID})
		noSecretsIn(t, srv.AuditEvents(t, ""), code, wrong, forged, "wrongcode", password)
	})
}

// sessionIDOf is the id of the session of token (whoami).
func sessionIDOf(t *testing.T, srv *servertest.Server, token string) string {
	t.Helper()
	status, body := whoamiOf(t, srv, token)
	if status != http.StatusOK {
		t.Fatalf("whoami: %d %v", status, body)
	}
	return body["id"].(string)
}
