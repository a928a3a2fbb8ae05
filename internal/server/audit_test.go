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
		if e := srv.AuditEvents(t, id); e[len(e)-1].Reason != "refused" {
			t.Fatalf("admin reason %q", e[len(e)-1].Reason)
		}
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

// passwordLogin submits a native password login and returns its flow,
// status and session token ("" when refused).
func passwordLogin(t *testing.T, srv *servertest.Server, identifier, password string) (string, int, string) {
	t.Helper()
	f, res, err := srv.SDK(false).FrontendAPI.CreateNativeLoginFlow(context.Background()).Execute()
	mustStatus(t, res, err, http.StatusOK)
	res, body := servertest.Do(t, srv.HTTPClient(false), http.MethodPost, srv.Public.URL+"/self-service/login?flow="+f.Id,
		map[string]any{"method": "password", "identifier": identifier, "password": password}, nil)
	token, _ := body["session_token"].(string)
	return f.Id, res.StatusCode, token
}

// secondFactorLogin submits an aal2 login for the session of token with
// body (the totp or lookup_secret method) and returns its flow and status.
func secondFactorLogin(t *testing.T, srv *servertest.Server, token string, body map[string]any) (string, int) {
	t.Helper()
	f, res, err := srv.SDK(false).FrontendAPI.CreateNativeLoginFlow(context.Background()).Aal("aal2").XSessionToken(token).Execute()
	mustStatus(t, res, err, http.StatusOK)
	res, _ = servertest.Do(t, srv.HTTPClient(false), http.MethodPost, srv.Public.URL+"/self-service/login?flow="+f.Id, body,
		http.Header{"X-Session-Token": {token}})
	return f.Id, res.StatusCode
}

// settingsUpdate submits body to a new native settings flow of token and
// returns the flow id and status.
func settingsUpdate(t *testing.T, srv *servertest.Server, token string, body map[string]any) (string, int, map[string]any) {
	t.Helper()
	f := newSettingsFlow(t, srv, token)
	res, answer := servertest.Do(t, srv.HTTPClient(false), http.MethodPost, srv.Public.URL+"/self-service/settings?flow="+f.Id, body,
		http.Header{"X-Session-Token": {token}})
	return f.Id, res.StatusCode, answer
}

// TestAuditLoginAndSecondFactors: password logins (wrong, unknown,
// right, throttled, disabled identity), second factors enrolled and
// removed in settings and by an admin, and second-step logins with each.
func TestAuditLoginAndSecondFactors(t *testing.T) {
	opts := totpOptions(servertest.LookupEnabled, "SELFSERVICE_FLOWS_LOGIN_RATE_LIMIT_PER_IDENTIFIER_MAX=3")
	servertest.Each(t, opts, func(t *testing.T, srv *servertest.Server) {
		const email, throttled = "login-audit@example.test", "throttled-audit@example.test"
		id := srv.MustCreateIdentity(t, email, pw).Id
		mine := &auditTail{srv: srv, identity: id}
		all := &auditTail{srv: srv}

		// Password: wrong, unknown identifier, right.
		wrongFlow, status, _ := passwordLogin(t, srv, email, "Wrong-Passw0rd-Audit!")
		unknownFlow, status2, _ := passwordLogin(t, srv, "nobody-login@example.test", "Wrong-Passw0rd-Audit!")
		rightFlow, status3, token := passwordLogin(t, srv, email, pw)
		if status != http.StatusBadRequest || status2 != http.StatusBadRequest || status3 != http.StatusOK {
			t.Fatalf("logins: %d %d %d", status, status2, status3)
		}
		sessionID := sessionIDOf(t, srv, token)
		checkEvents(t, all.next(t, 3),
			wantEvent{Type: audit.LoginFailed, Actor: audit.ActorSelf, Method: "password", Result: audit.ResultInvalidCredentials, Identity: id, Flow: wrongFlow},
			wantEvent{Type: audit.LoginFailed, Actor: audit.ActorSelf, Method: "password", Result: audit.ResultInvalidCredentials, Identity: "-", Flow: unknownFlow},
			wantEvent{Type: audit.LoginSucceeded, Actor: audit.ActorSelf, Method: "password", Result: audit.ResultSuccess, Identity: id, Flow: rightFlow,
				Details: map[string]any{"session_id": sessionID, "aal": "aal1"}})
		mine.next(t, 2)

		// TOTP enrolled, backup codes confirmed, then regenerated.
		secret := mustEnrolTOTP(t, srv, token)
		srv.MustBackupCodes(t, token)
		codes := srv.MustBackupCodes(t, token)
		enrolled := mine.next(t, 3)
		checkEvents(t, enrolled,
			wantEvent{Type: audit.SecondFactorAdded, Actor: audit.ActorSelf, Method: "totp", Identity: id},
			wantEvent{Type: audit.SecondFactorAdded, Actor: audit.ActorSelf, Method: "lookup_secret", Identity: id, Details: map[string]any{"regenerated": false}},
			wantEvent{Type: audit.SecondFactorAdded, Actor: audit.ActorSelf, Method: "lookup_secret", Identity: id, Details: map[string]any{"regenerated": true}})
		for _, e := range enrolled {
			if e.FlowID == nil {
				t.Fatalf("enrolment without its settings flow: %+v", e)
			}
		}

		// Second steps: a wrong then a right TOTP code, a wrong then a
		// right backup code.
		_, _, aal1 := passwordLogin(t, srv, email, pw)
		wrongCode := "000000"
		if totpCode(t, srv, secret, 0) == wrongCode {
			wrongCode = "111111"
		}
		totpWrong, s1 := secondFactorLogin(t, srv, aal1, map[string]any{"method": "totp", "totp_code": wrongCode})
		totpRight, s2 := secondFactorLogin(t, srv, aal1, map[string]any{"method": "totp", "totp_code": totpCode(t, srv, secret, 0)})
		_, _, aal1b := passwordLogin(t, srv, email, pw)
		lookupWrong, s3 := secondFactorLogin(t, srv, aal1b, map[string]any{"method": "lookup_secret", "lookup_secret": "notacode1"})
		lookupRight, s4 := secondFactorLogin(t, srv, aal1b, map[string]any{"method": "lookup_secret", "lookup_secret": codes[0]})
		if s1 != http.StatusBadRequest || s2 != http.StatusOK || s3 != http.StatusBadRequest || s4 != http.StatusOK {
			t.Fatalf("second steps: %d %d %d %d", s1, s2, s3, s4)
		}
		checkEvents(t, mine.next(t, 6),
			wantEvent{Type: audit.LoginSucceeded, Method: "password", Details: map[string]any{"aal": "aal1", "session_id": sessionIDOf(t, srv, aal1)}},
			wantEvent{Type: audit.LoginFailed, Actor: audit.ActorSelf, Method: "totp", Result: audit.ResultInvalidTOTP, Identity: id, Flow: totpWrong},
			wantEvent{Type: audit.LoginSucceeded, Actor: audit.ActorSelf, Method: "totp", Identity: id, Flow: totpRight,
				Details: map[string]any{"aal": "aal2", "session_id": sessionIDOf(t, srv, aal1)}},
			wantEvent{Type: audit.LoginSucceeded, Method: "password", Details: map[string]any{"aal": "aal1"}},
			wantEvent{Type: audit.LoginFailed, Actor: audit.ActorSelf, Method: "lookup_secret", Result: audit.ResultInvalidBackupCode, Identity: id, Flow: lookupWrong},
			wantEvent{Type: audit.LoginSucceeded, Actor: audit.ActorSelf, Method: "lookup_secret", Identity: id, Flow: lookupRight,
				Details: map[string]any{"aal": "aal2"}})

		// Settings: backup codes disabled, TOTP unlinked (an aal2 session).
		disableFlow, st, body := settingsUpdate(t, srv, aal1b, map[string]any{"method": "lookup_secret", "lookup_secret_disable": true})
		if st != http.StatusOK {
			t.Fatalf("disable backup codes: %d %v", st, body)
		}
		unlinkFlow, st, body := settingsUpdate(t, srv, aal1b, map[string]any{"method": "totp", "totp_unlink": true})
		if st != http.StatusOK {
			t.Fatalf("unlink totp: %d %v", st, body)
		}
		// An admin removes a TOTP enrolled since.
		srv.MustEnrolTOTP(t, id)
		res, _ := servertest.DoRaw(t, srv.HTTPClient(false), http.MethodDelete, srv.Admin.URL+"/admin/identities/"+id+"/credentials/totp", nil, nil)
		if res.StatusCode != http.StatusNoContent {
			t.Fatalf("admin delete totp: %d", res.StatusCode)
		}
		// Removing what is not there changes nothing and records nothing.
		res, _ = servertest.DoRaw(t, srv.HTTPClient(false), http.MethodDelete, srv.Admin.URL+"/admin/identities/"+id+"/credentials/totp", nil, nil)
		if res.StatusCode != http.StatusNotFound {
			t.Fatalf("admin delete missing totp: %d", res.StatusCode)
		}
		checkEvents(t, mine.next(t, 3),
			wantEvent{Type: audit.SecondFactorRemoved, Actor: audit.ActorSelf, Method: "lookup_secret", Identity: id, Flow: disableFlow},
			wantEvent{Type: audit.SecondFactorRemoved, Actor: audit.ActorSelf, Method: "totp", Identity: id, Flow: unlinkFlow},
			wantEvent{Type: audit.SecondFactorRemoved, Actor: audit.ActorAdmin, Method: "totp", Identity: id, Flow: "-"})

		// A disabled identity with the right password.
		res, _ = servertest.Do(t, srv.HTTPClient(false), http.MethodPatch, srv.Admin.URL+"/admin/identities/"+id,
			[]map[string]any{{"op": "replace", "path": "/state", "value": "inactive"}}, nil)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("disable: %d", res.StatusCode)
		}
		inactiveFlow, st, _ := passwordLogin(t, srv, email, pw)
		if st != http.StatusUnauthorized {
			t.Fatalf("disabled identity login: %d", st)
		}
		checkEvents(t, mine.next(t, 1),
			wantEvent{Type: audit.LoginFailed, Actor: audit.ActorSelf, Method: "password", Result: audit.ResultIdentityInactive, Identity: id, Flow: inactiveFlow})

		// Throttled: the fourth guess within the window is refused unchecked.
		srv.MustCreateIdentity(t, throttled, pw)
		all.next(t, 0)
		var flows []string
		for range 4 {
			f, _, _ := passwordLogin(t, srv, throttled, "Guess-Passw0rd-Audit!")
			flows = append(flows, f)
		}
		events := all.next(t, 4)
		checkEvents(t, ofFlow(events, flows[3]),
			wantEvent{Type: audit.LoginFailed, Actor: audit.ActorSelf, Method: "password", Result: audit.ResultRateLimited, Identity: "-", Flow: flows[3],
				Details: map[string]any{"limit": "login_identifier"}})
		noSecretsIn(t, srv.AuditEvents(t, ""), pw, "Wrong-Passw0rd-Audit!", "Guess-Passw0rd-Audit!", secret, wrongCode, "notacode1", codes[0], token, aal1, aal1b)
	})
}

// browserLogin signs a cookie-keeping browser in with a password.
func browserLogin(t *testing.T, srv *servertest.Server, email, password string) *http.Client {
	t.Helper()
	browser := srv.HTTPClient(true)
	accept := http.Header{"Accept": {"application/json"}}
	res, lf := servertest.Do(t, browser, http.MethodGet, srv.Public.URL+"/self-service/login/browser", nil, accept)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("browser login flow: %d %v", res.StatusCode, lf)
	}
	res, done := servertest.Do(t, browser, http.MethodPost, srv.Public.URL+"/self-service/login?flow="+lf["id"].(string),
		map[string]any{"method": "password", "identifier": email, "password": password, "csrf_token": csrfOf(lf)}, accept)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("browser login: %d %v", res.StatusCode, done)
	}
	return browser
}

// TestAuditSessionRevocations: every way a session ends writes
// session.revoked with the right actor, once; revoking a session that
// already ended writes nothing.
func TestAuditSessionRevocations(t *testing.T) {
	opts := servertest.Options{Env: []string{"SELFSERVICE_FLOWS_SETTINGS_REVOKE_OTHER_SESSIONS=true"}}
	servertest.Each(t, opts, func(t *testing.T, srv *servertest.Server) {
		const email, password = "sessions-audit@example.test", "Sessions-Audit-Passw0rd!"
		id := srv.MustCreateIdentity(t, email, password).Id
		mine := &auditTail{srv: srv, identity: id}
		admin := srv.HTTPClient(false)
		accept := http.Header{"Accept": {"application/json"}}

		// Browser logout.
		browser := browserLogin(t, srv, email, password)
		res, lo := servertest.Do(t, browser, http.MethodGet, srv.Public.URL+"/self-service/logout/browser", nil, accept)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("logout url: %d %v", res.StatusCode, lo)
		}
		res, _ = servertest.Do(t, browser, http.MethodGet, lo["logout_url"].(string), nil, accept)
		if res.StatusCode != http.StatusNoContent {
			t.Fatalf("browser logout: %d", res.StatusCode)
		}
		login := mine.next(t, 2)
		checkEvents(t, login,
			wantEvent{Type: audit.LoginSucceeded},
			wantEvent{Type: audit.SessionRevoked, Actor: audit.ActorSelf, Identity: id, Flow: "-",
				Details: map[string]any{"session_id": login[0].Details["session_id"]}})

		tokens := make([]string, 5)
		ids := make([]string, 5)
		for i := range tokens {
			tokens[i] = srv.MustNativeLogin(t, email, password)
			ids[i] = sessionIDOf(t, srv, tokens[i])
		}
		mine.next(t, 5)
		// API logout, then the same token again (already ended: nothing).
		for range 2 {
			res, _ = servertest.DoRaw(t, srv.HTTPClient(false), http.MethodDelete, srv.Public.URL+"/self-service/logout/api",
				map[string]any{"session_token": tokens[4]}, nil)
			if res.StatusCode != http.StatusNoContent {
				t.Fatalf("api logout: %d", res.StatusCode)
			}
		}
		// One other session, then all the others, by the user.
		self := http.Header{"X-Session-Token": {tokens[0]}}
		if res, _ := servertest.DoRaw(t, srv.HTTPClient(false), http.MethodDelete, srv.Public.URL+"/sessions/"+ids[1], nil, self); res.StatusCode != http.StatusNoContent {
			t.Fatalf("DELETE /sessions/{id}: %d", res.StatusCode)
		}
		if res, body := servertest.Do(t, srv.HTTPClient(false), http.MethodDelete, srv.Public.URL+"/sessions", nil, self); res.StatusCode != http.StatusOK || body["count"] != float64(2) {
			t.Fatalf("DELETE /sessions: %d %v", res.StatusCode, body)
		}
		// An admin ends the last one; a second time changes nothing.
		for range 2 {
			if res, _ := servertest.DoRaw(t, admin, http.MethodDelete, srv.Admin.URL+"/admin/sessions/"+ids[0], nil, nil); res.StatusCode != http.StatusNoContent {
				t.Fatalf("admin DELETE /admin/sessions/{id}: %d", res.StatusCode)
			}
		}
		checkEvents(t, mine.next(t, 4),
			wantEvent{Type: audit.SessionRevoked, Actor: audit.ActorSelf, Identity: id, Details: map[string]any{"session_id": ids[4]}},
			wantEvent{Type: audit.SessionRevoked, Actor: audit.ActorSelf, Identity: id, Details: map[string]any{"session_id": ids[1]}},
			wantEvent{Type: audit.SessionRevoked, Actor: audit.ActorSelf, Identity: id, Details: map[string]any{"count": 2, "scope": "others"}},
			wantEvent{Type: audit.SessionRevoked, Actor: audit.ActorAdmin, Identity: id, Details: map[string]any{"session_id": ids[0]}})

		// A password change in settings ends the other sessions, in its flow.
		other := srv.MustNativeLogin(t, email, password)
		current := srv.MustNativeLogin(t, email, password)
		mine.next(t, 2)
		flowID, st, body := settingsUpdate(t, srv, current, map[string]any{"method": "password", "password": "Changed-Sessions-Passw0rd!"})
		if st != http.StatusOK {
			t.Fatalf("settings password: %d %v", st, body)
		}
		checkEvents(t, mine.next(t, 2),
			wantEvent{Type: audit.SessionRevoked, Actor: audit.ActorSelf, Method: "password", Identity: id, Flow: flowID, Details: map[string]any{"count": 1, "scope": "others"}},
			wantEvent{Type: audit.PasswordChanged, Actor: audit.ActorSelf, Method: "password", Identity: id, Flow: flowID})
		if srv.SessionActive(t, other) {
			t.Fatal("the other session survived the password change")
		}

		// An admin deletes every session of the identity: all eight rows,
		// ended or not.
		if res, _ := servertest.DoRaw(t, admin, http.MethodDelete, srv.Admin.URL+"/admin/identities/"+id+"/sessions", nil, nil); res.StatusCode != http.StatusNoContent {
			t.Fatalf("admin DELETE sessions: %d", res.StatusCode)
		}
		checkEvents(t, mine.next(t, 1),
			wantEvent{Type: audit.SessionRevoked, Actor: audit.ActorAdmin, Identity: id, Flow: "-", Details: map[string]any{"count": 8, "scope": "all"}})
		// None left: 404, nothing recorded.
		if res, _ := servertest.DoRaw(t, admin, http.MethodDelete, srv.Admin.URL+"/admin/identities/"+id+"/sessions", nil, nil); res.StatusCode != http.StatusNotFound {
			t.Fatalf("admin DELETE no sessions: %d", res.StatusCode)
		}
		if got := mine.next(t, 0); len(got) != 0 {
			t.Fatalf("nothing revoked, yet %v", servertest.AuditTypes(got))
		}
	})
}

// TestAuditAddressAndPasswordChanges: a changed address, in settings or
// by an admin, is recorded with the addresses before and after; an admin
// password is recorded as password.changed; changes that are refused,
// or touch no address, record nothing.
func TestAuditAddressAndPasswordChanges(t *testing.T) {
	servertest.Each(t, servertest.Options{}, func(t *testing.T, srv *servertest.Server) {
		const first, second, third, fourth = "first-address@example.test", "second-address@example.test", "third-address@example.test", "fourth-address@example.test"
		const password, adminPassword = "Address-Audit-Passw0rd!", "Admin-Set-Passw0rd-Audit!"
		id := srv.MustCreateIdentity(t, first, password).Id
		mine := &auditTail{srv: srv, identity: id}
		admin := srv.HTTPClient(false)
		token := srv.MustNativeLogin(t, first, password)
		mine.next(t, 1)

		// Refused: an address that is not one, a password the policy refuses.
		if _, st, body := settingsUpdate(t, srv, token, map[string]any{"method": "profile", "traits": map[string]any{"email": "not-an-address"}}); st != http.StatusBadRequest {
			t.Fatalf("bad address: %d %v", st, body)
		}
		if _, st, body := settingsUpdate(t, srv, token, map[string]any{"method": "password", "password": "short"}); st != http.StatusBadRequest {
			t.Fatalf("weak password: %d %v", st, body)
		}
		if got := mine.next(t, 0); len(got) != 0 {
			t.Fatalf("refused changes recorded %v", servertest.AuditTypes(got))
		}

		// Settings profile.
		flowID, st, body := settingsUpdate(t, srv, token, map[string]any{"method": "profile", "traits": map[string]any{"email": second}})
		if st != http.StatusOK {
			t.Fatalf("profile: %d %v", st, body)
		}
		checkEvents(t, mine.next(t, 1),
			wantEvent{Type: audit.AddressChanged, Actor: audit.ActorSelf, Method: "profile", Result: audit.ResultSuccess, Identity: id, Flow: flowID,
				Details: map[string]any{"previous": []string{first}, "current": []string{second}}})

		// Admin: a full update to another address; a refused one; a patch
		// of the address and the password; a patch of metadata only.
		res, body := servertest.Do(t, admin, http.MethodPut, srv.Admin.URL+"/admin/identities/"+id,
			map[string]any{"schema_id": "default", "traits": map[string]any{"email": third}}, nil)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("admin PUT: %d %v", res.StatusCode, body)
		}
		res, body = servertest.Do(t, admin, http.MethodPut, srv.Admin.URL+"/admin/identities/"+id,
			map[string]any{"schema_id": "default", "traits": map[string]any{"email": "still-not-an-address"}}, nil)
		if res.StatusCode != http.StatusBadRequest {
			t.Fatalf("refused admin PUT: %d %v", res.StatusCode, body)
		}
		res, body = servertest.Do(t, admin, http.MethodPatch, srv.Admin.URL+"/admin/identities/"+id, []map[string]any{
			{"op": "replace", "path": "/traits/email", "value": fourth},
			{"op": "add", "path": "/credentials/password/config/password", "value": adminPassword},
		}, nil)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("admin PATCH: %d %v", res.StatusCode, body)
		}
		res, body = servertest.Do(t, admin, http.MethodPatch, srv.Admin.URL+"/admin/identities/"+id,
			[]map[string]any{{"op": "add", "path": "/metadata_public", "value": map[string]any{"plan": "pro"}}}, nil)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("admin PATCH metadata: %d %v", res.StatusCode, body)
		}
		checkEvents(t, mine.next(t, 3),
			wantEvent{Type: audit.AddressChanged, Actor: audit.ActorAdmin, Identity: id, Flow: "-",
				Details: map[string]any{"previous": []string{second}, "current": []string{third}}},
			wantEvent{Type: audit.AddressChanged, Actor: audit.ActorAdmin, Identity: id, Flow: "-",
				Details: map[string]any{"previous": []string{third}, "current": []string{fourth}}},
			wantEvent{Type: audit.PasswordChanged, Actor: audit.ActorAdmin, Method: "password", Identity: id, Flow: "-"})
		if !srv.PasswordIs(t, id, adminPassword) {
			t.Fatal("the admin's password was not set")
		}
		noSecretsIn(t, srv.AuditEvents(t, ""), password, adminPassword, "short", token)
	})
}
