package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	ory "github.com/ory/client-go"

	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/server/servertest"
)

// The security notifications and their "this wasn't me" lockdown, end to
// end (docs/security-notifications.md).

const (
	subjectRecovered     = "Your account was recovered"
	subjectLockedDown    = "Your account is locked down"
	subjectAdminCode     = "An administrator created a recovery code for your account"
	subjectPasswordSet   = "Your password was changed"
	subjectAddressChange = "The email address of your account changed"
)

// lockdownToken is the token of a lockdown link.
func lockdownToken(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil || u.Query().Get("token") == "" {
		t.Fatalf("not a lockdown link: %q", link)
	}
	return u.Query().Get("token")
}

func jsonHeader() http.Header { return http.Header{"Accept": {"application/json"}} }

// auditViaAPI lists an identity's events through GET /admin/audit/events.
func auditViaAPI(t *testing.T, srv *servertest.Server, identityID string) []audit.Event {
	t.Helper()
	res, raw := servertest.DoRaw(t, srv.HTTPClient(false), http.MethodGet, srv.Admin.URL+"/admin/audit/events?identity_id="+identityID, nil, nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("audit list: %d %s", res.StatusCode, raw)
	}
	var events []audit.Event
	if err := json.Unmarshal(raw, &events); err != nil {
		t.Fatalf("audit list: %v: %s", err, raw)
	}
	return events
}

// TestLockdownJourney: someone recovers the account; the owner gets the
// warning, opens its link (nothing changes), confirms (sessions revoked,
// an outstanding code dead, the password refused) and recovers the
// account again; an admin issues a code with a reason. The audit log,
// read through the admin API, shows each step in order with its actor.
func TestLockdownJourney(t *testing.T) {
	servertest.Each(t, servertest.Options{Env: servertest.NotificationsOn()}, func(t *testing.T, srv *servertest.Server) {
		ctx := context.Background()
		const email, password, newPassword = "lockdown@example.test", "Lockdown-Passw0rd!", "Lockdown-New-Passw0rd!"
		id := srv.MustCreateIdentity(t, email, password).Id

		// Someone recovers the account by code.
		flowID, res := submitRecoveryEmail(t, srv, email)
		mustStatus(t, res, nil, http.StatusOK)
		code := srv.RecoveryCode(t, email)
		done, res := submitRecoveryCode(t, srv, flowID, code)
		mustStatus(t, res, nil, http.StatusOK)
		intruder := done.ContinueWith[0].ContinueWithSetOrySessionToken.OrySessionToken

		mail, link := srv.Notification(t, email, subjectRecovered)
		if link == "" || !strings.Contains(mail.Text, "with a recovery code sent by email") || !strings.Contains(mail.HTML, "lock my account") {
			t.Fatalf("recovery notification: link %q, text %q", link, mail.Text)
		}
		if !strings.HasPrefix(link, srv.Public.URL+"/ui/lockdown?token=") {
			t.Fatalf("lockdown link %q does not open the built-in page", link)
		}
		token := lockdownToken(t, link)

		// ... and asks for another code, not used yet.
		pending, res := submitRecoveryEmail(t, srv, email)
		mustStatus(t, res, nil, http.StatusOK)
		pendingCode := srv.RecoveryCode(t, email)

		// Opening the link changes nothing: JSON says what it would lock
		// down, a browser is sent to the confirm page.
		client := srv.HTTPClient(false)
		lockdownURL := srv.Public.URL + "/self-service/lockdown?token=" + token
		res, body := servertest.Do(t, client, http.MethodGet, lockdownURL, nil, jsonHeader())
		if res.StatusCode != http.StatusOK || body["state"] != "pending" || body["event"].(map[string]any)["type"] != "recovery.succeeded" || body["expires_at"] == nil {
			t.Fatalf("GET lockdown: %d %v", res.StatusCode, body)
		}
		res, _ = servertest.DoRaw(t, client, http.MethodGet, lockdownURL, nil, http.Header{"Accept": {"text/html"}})
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != link {
			t.Fatalf("browser GET: %d to %q, want 303 to %q", res.StatusCode, res.Header.Get("Location"), link)
		}
		if !srv.SessionActive(t, intruder) {
			t.Fatal("opening the lockdown link revoked the session")
		}

		// Confirming locks the account down.
		res, body = servertest.Do(t, client, http.MethodPost, srv.Public.URL+"/self-service/lockdown", map[string]any{"token": token}, jsonHeader())
		if res.StatusCode != http.StatusOK || body["state"] != "confirmed" || body["revoked_sessions"] != float64(1) ||
			body["invalidated_recovery_secrets"] != float64(1) || body["password_disabled"] != true {
			t.Fatalf("POST lockdown: %d %v", res.StatusCode, body)
		}
		if srv.SessionActive(t, intruder) {
			t.Fatal("the session survived the lockdown")
		}
		if f, res := submitRecoveryCode(t, srv, pending, pendingCode); res.StatusCode != http.StatusBadRequest || (f != nil && len(f.ContinueWith) > 0) {
			t.Fatalf("the outstanding code still works: %d %+v", res.StatusCode, f)
		}
		// The password answers as a wrong one would.
		sdk := srv.SDK(false)
		lf, _, err := sdk.FrontendAPI.CreateNativeLoginFlow(ctx).Execute()
		if err != nil {
			t.Fatal(err)
		}
		_, res, err = sdk.FrontendAPI.UpdateLoginFlow(ctx).Flow(lf.Id).UpdateLoginFlowBody(
			ory.UpdateLoginFlowWithPasswordMethodAsUpdateLoginFlowBody(ory.NewUpdateLoginFlowWithPasswordMethod(email, "password", password))).Execute()
		if res == nil || res.StatusCode != http.StatusBadRequest || !strings.Contains(servertest.ErrorText(err), "4000006") {
			t.Fatalf("password login after lockdown: %v %s", res, servertest.ErrorText(err))
		}
		if mail, link := srv.Notification(t, email, subjectLockedDown); link != "" || !strings.Contains(mail.Text, "recover your account") {
			t.Fatalf("lockdown confirmation: link %q, text %q", link, mail.Text)
		}

		// The link works once.
		for _, method := range []string{http.MethodPost, http.MethodGet} {
			res, body = servertest.Do(t, client, method, lockdownURL, nil, jsonHeader())
			if e, _ := body["error"].(map[string]any); res.StatusCode != http.StatusGone || e["id"] != "lockdown_token_used" {
				t.Fatalf("%s a used link: %d %v", method, res.StatusCode, body)
			}
		}

		// Recovery works again, and with it a new password.
		flowID, res = submitRecoveryEmail(t, srv, email)
		mustStatus(t, res, nil, http.StatusOK)
		done, res = submitRecoveryCode(t, srv, flowID, srv.RecoveryCode(t, email))
		mustStatus(t, res, nil, http.StatusOK)
		owner := done.ContinueWith[0].ContinueWithSetOrySessionToken.OrySessionToken
		settingsID := done.ContinueWith[1].ContinueWithSettingsUi.Flow.Id
		_, res, err = sdk.FrontendAPI.UpdateSettingsFlow(ctx).Flow(settingsID).XSessionToken(owner).UpdateSettingsFlowBody(
			ory.UpdateSettingsFlowWithPasswordMethodAsUpdateSettingsFlowBody(&ory.UpdateSettingsFlowWithPasswordMethod{Method: "password", Password: newPassword})).Execute()
		mustStatus(t, res, err, http.StatusOK)
		srv.MustNativeLogin(t, email, newPassword)
		srv.Notification(t, email, subjectRecovered)
		srv.Notification(t, email, subjectPasswordSet)

		// An admin issues a code, with a reason: the owner hears of it.
		res, adm := servertest.Do(t, client, http.MethodPost, srv.Admin.URL+"/admin/recovery/code",
			map[string]any{"identity_id": id, "reason": "ticket 7: locked out"}, nil)
		if res.StatusCode != http.StatusCreated {
			t.Fatalf("admin code: %d %v", res.StatusCode, adm)
		}
		srv.Notification(t, email, subjectAdminCode)

		events := auditViaAPI(t, srv, id)
		checkEvents(t, events,
			wantEvent{Type: audit.RecoverySent, Actor: audit.ActorSystem, Method: "code"},
			wantEvent{Type: audit.RecoverySucceeded, Actor: audit.ActorSelf, Method: "code"},
			wantEvent{Type: audit.RecoverySent, Actor: audit.ActorSystem, Flow: pending},
			wantEvent{Type: audit.SessionRevoked, Actor: audit.ActorSelf, Details: map[string]any{"count": 1, "scope": "all"}},
			wantEvent{Type: audit.LockdownConfirmed, Actor: audit.ActorSelf, Result: audit.ResultSuccess, Identity: id,
				Details: map[string]any{"trigger_type": "recovery.succeeded", "trigger_event_id": events[1].ID.String(),
					"revoked_sessions": 1, "invalidated_recovery_secrets": 1, "password_disabled": true}},
			wantEvent{Type: audit.RecoveryFailed, Actor: audit.ActorSelf, Result: audit.ResultAlreadyUsed, Flow: pending},
			wantEvent{Type: audit.LoginFailed, Actor: audit.ActorSelf, Method: "password"},
			wantEvent{Type: audit.RecoverySent, Actor: audit.ActorSystem, Flow: flowID},
			wantEvent{Type: audit.RecoverySucceeded, Actor: audit.ActorSelf, Flow: flowID},
			wantEvent{Type: audit.PasswordChanged, Actor: audit.ActorSelf, Flow: settingsID},
			wantEvent{Type: audit.LoginSucceeded, Actor: audit.ActorSelf},
			wantEvent{Type: audit.AdminRecoveryCodeCreated, Actor: audit.ActorAdmin, Method: "code"},
		)
		if r := events[len(events)-1].Reason; r != "ticket 7: locked out" {
			t.Fatalf("admin reason %q", r)
		}
		noSecretsIn(t, events, token, code, pendingCode, password, newPassword, intruder, owner)

		// The admin courier API shows the notifications without their link.
		res, raw := servertest.DoRaw(t, client, http.MethodGet, srv.Admin.URL+"/admin/courier/messages", nil, nil)
		if res.StatusCode != http.StatusOK || !strings.Contains(string(raw), subjectRecovered) || strings.Contains(string(raw), token) {
			t.Fatalf("courier list shows the lockdown link or no notification: %d", res.StatusCode)
		}
	})
}
