package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	ory "github.com/ory/client-go"

	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/secret"
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

// notificationsTo lists the security notifications queued for addr,
// oldest first, through the admin courier API (queued in the request's
// own transaction, so there is no waiting).
func notificationsTo(t *testing.T, srv *servertest.Server, addr string) []string {
	t.Helper()
	res, raw := servertest.DoRaw(t, srv.HTTPClient(false), http.MethodGet, srv.Admin.URL+"/admin/courier/messages?recipient="+url.QueryEscape(addr), nil, nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("courier list: %d %s", res.StatusCode, raw)
	}
	var msgs []struct {
		TemplateType string `json:"template_type"`
	}
	if err := json.Unmarshal(raw, &msgs); err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := len(msgs) - 1; i >= 0; i-- { // the list is newest first
		if strings.HasPrefix(msgs[i].TemplateType, "security_") {
			out = append(out, msgs[i].TemplateType)
		}
	}
	return out
}

// TestNotificationSwitches: each notification is sent when its switch is
// on, to the right addresses (an address change warns the old address
// and the new), and not at all when it is off.
func TestNotificationSwitches(t *testing.T) {
	const password, adminPassword = "Switches-Passw0rd!", "Switches-Admin-Passw0rd!"
	change := func(t *testing.T, srv *servertest.Server, id, newEmail string) {
		t.Helper()
		admin := srv.HTTPClient(false)
		res, body := servertest.Do(t, admin, http.MethodPatch, srv.Admin.URL+"/admin/identities/"+id, []map[string]any{
			{"op": "replace", "path": "/traits/email", "value": newEmail},
			{"op": "add", "path": "/credentials/password/config/password", "value": adminPassword},
		}, nil)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("admin PATCH: %d %v", res.StatusCode, body)
		}
		srv.MustEnrolTOTP(t, id)
		if res, body = servertest.Do(t, admin, http.MethodDelete, srv.Admin.URL+"/admin/identities/"+id+"/credentials/totp", nil, nil); res.StatusCode != http.StatusNoContent {
			t.Fatalf("remove totp: %d %v", res.StatusCode, body)
		}
	}
	t.Run("AllOn", func(t *testing.T) {
		servertest.Each(t, servertest.Options{Env: append(servertest.NotificationsOn(), totpOn)}, func(t *testing.T, srv *servertest.Server) {
			const old, new = "switch-old@example.test", "switch-new@example.test"
			id := srv.MustCreateIdentity(t, old, password).Id
			change(t, srv, id, new)
			// The old address hears of the change and nothing after it.
			if got, want := notificationsTo(t, srv, old), []string{"security_address_changed"}; !slicesEqual(got, want) {
				t.Errorf("to the old address: %v, want %v", got, want)
			}
			// (MustEnrolTOTP stores the credential directly: no "added".)
			want := []string{"security_address_changed", "security_password_changed", "security_second_factor_removed"}
			if got := notificationsTo(t, srv, new); !slicesEqual(got, want) {
				t.Errorf("to the new address: %v, want %v", got, want)
			}
			// Each mail has a link of its own.
			_, oldLink := srv.Notification(t, old, subjectAddressChange)
			_, newLink := srv.Notification(t, new, subjectAddressChange)
			if oldLink == "" || oldLink == newLink {
				t.Fatalf("links %q and %q", oldLink, newLink)
			}
			// ... used once each: spending the new address's leaves the old
			// address's to its owner.
			client := srv.HTTPClient(false)
			lockdown := srv.Public.URL + "/self-service/lockdown?token="
			if res, body := servertest.Do(t, client, http.MethodPost, lockdown+lockdownToken(t, newLink), nil, jsonHeader()); res.StatusCode != http.StatusOK {
				t.Fatalf("the new address's link: %d %v", res.StatusCode, body)
			}
			if res, body := servertest.Do(t, client, http.MethodGet, lockdown+lockdownToken(t, oldLink), nil, jsonHeader()); res.StatusCode != http.StatusOK || body["state"] != "pending" {
				t.Fatalf("the old address's link after the new one's was used: %d %v", res.StatusCode, body)
			}
			if m, _ := srv.Notification(t, new, subjectPasswordSet); !strings.Contains(m.Text, "changed") {
				t.Fatalf("password mail: %q", m.Text)
			}
		})
	})
	t.Run("Defaults", func(t *testing.T) {
		// The defaults: password, recovery and admin recovery on; second
		// factors and addresses off.
		env := []string{totpOn, "SELFSERVICE_NOTIFICATIONS_PASSWORD_CHANGED_ENABLED=true",
			"SELFSERVICE_NOTIFICATIONS_ACCOUNT_RECOVERED_ENABLED=true", "SELFSERVICE_NOTIFICATIONS_ADMIN_RECOVERY_ISSUED_ENABLED=true"}
		srv := servertest.Start(t, servertest.Options{Env: env})
		cfg := srv.Config.SelfService.Notifications
		if !cfg.PasswordChanged.Enabled || cfg.SecondFactorAdded.Enabled || cfg.AddressChanged.Enabled {
			t.Fatalf("servertest's switches leak: %+v", cfg)
		}
		const old, new = "defaults-old@example.test", "defaults-new@example.test"
		id := srv.MustCreateIdentity(t, old, password).Id
		change(t, srv, id, new)
		if got := notificationsTo(t, srv, old); len(got) != 0 {
			t.Errorf("to the old address: %v, want none", got)
		}
		if got, want := notificationsTo(t, srv, new), []string{"security_password_changed"}; !slicesEqual(got, want) {
			t.Errorf("to the new address: %v, want %v", got, want)
		}
	})
	t.Run("Off", func(t *testing.T) {
		srv := servertest.Start(t, servertest.Options{Env: []string{totpOn}})
		const old, new = "off-old@example.test", "off-new@example.test"
		id := srv.MustCreateIdentity(t, old, password).Id
		change(t, srv, id, new)
		if got := append(notificationsTo(t, srv, old), notificationsTo(t, srv, new)...); len(got) != 0 {
			t.Errorf("notifications sent while off: %v", got)
		}
	})
}

const totpOn = "SELFSERVICE_METHODS_TOTP_ENABLED=true"

func slicesEqual(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }

// TestNotificationIsPartOfTheChange: a notification that cannot be
// stored takes its change down with it: no password change without its
// warning.
func TestNotificationIsPartOfTheChange(t *testing.T) {
	servertest.Each(t, servertest.Options{Env: servertest.NotificationsOn()}, func(t *testing.T, srv *servertest.Server) {
		const email, password = "atomic-notify@example.test", "Atomic-Passw0rd!"
		id := srv.MustCreateIdentity(t, email, password).Id
		lift := srv.RefuseInserts(t, "courier_messages")
		res, _ := servertest.Do(t, srv.HTTPClient(false), http.MethodPatch, srv.Admin.URL+"/admin/identities/"+id, []map[string]any{
			{"op": "add", "path": "/credentials/password/config/password", "value": "Atomic-Other-Passw0rd!"},
		}, nil)
		if res.StatusCode != http.StatusInternalServerError {
			t.Fatalf("PATCH with the notification refused: %d", res.StatusCode)
		}
		if !srv.PasswordIs(t, id, password) || len(srv.AuditEvents(t, id)) != 0 || len(notificationsTo(t, srv, email)) != 0 {
			t.Fatal("the change, its event or its mail outlived the failed notification")
		}
		lift()
	})
}

// TestLockdownLinkErrors: what a bad, expired, used or raced link gets,
// for JSON clients and browsers.
func TestLockdownLinkErrors(t *testing.T) {
	servertest.Each(t, servertest.Options{Env: servertest.NotificationsOn()}, func(t *testing.T, srv *servertest.Server) {
		client := srv.HTTPClient(false)
		errorID := func(method, query string, body any) (int, any) {
			t.Helper()
			res, b := servertest.Do(t, client, method, srv.Public.URL+"/self-service/lockdown"+query, body, jsonHeader())
			e, _ := b["error"].(map[string]any)
			return res.StatusCode, e["id"]
		}
		for _, q := range []string{"", "?token=", "?token=short", "?token=" + strings.Repeat("A", 32), "?token=" + strings.Repeat("%00", 32), "?token=" + strings.Repeat("ä", 16)} {
			for _, method := range []string{http.MethodGet, http.MethodPost} {
				if status, id := errorID(method, q, nil); status != http.StatusNotFound || id != "lockdown_token_invalid" {
					t.Errorf("%s %q: %d %v, want 404 lockdown_token_invalid", method, q, status, id)
				}
			}
		}
		res, _ := servertest.DoRaw(t, client, http.MethodPost, srv.Public.URL+"/self-service/lockdown", "{not json", http.Header{"Content-Type": {"application/json"}})
		if res.StatusCode != http.StatusBadRequest {
			t.Errorf("POST garbage JSON: %d, want 400", res.StatusCode)
		}

		const email = "link-errors@example.test"
		id := srv.MustCreateIdentity(t, email, "Link-Errors-Passw0rd!").Id
		issue := func() string {
			t.Helper()
			res, body := servertest.Do(t, client, http.MethodPost, srv.Admin.URL+"/admin/recovery/code", map[string]any{"identity_id": id}, nil)
			if res.StatusCode != http.StatusCreated {
				t.Fatalf("admin code: %d %v", res.StatusCode, body)
			}
			_, link := srv.Notification(t, email, subjectAdminCode)
			return lockdownToken(t, link)
		}

		// Two confirmations at once: exactly one locks down.
		token := issue()
		statuses := make(chan int, 2)
		for range 2 {
			go func() {
				res, _ := servertest.DoRaw(t, client, http.MethodPost, srv.Public.URL+"/self-service/lockdown?token="+token, nil, jsonHeader())
				statuses <- res.StatusCode
			}()
		}
		if a, b := <-statuses, <-statuses; a+b != http.StatusOK+http.StatusGone {
			t.Fatalf("concurrent confirmations: %d and %d, want one 200 and one 410", a, b)
		}
		confirmed := 0
		for _, e := range srv.AuditEvents(t, id) {
			if e.Type == audit.LockdownConfirmed {
				confirmed++
			}
		}
		if confirmed != 1 {
			t.Fatalf("%d lockdown.confirmed events, want 1", confirmed)
		}

		// A browser's form post is sent to the page, with the outcome.
		token = issue()
		noRedirect := srv.HTTPClient(false)
		noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		form := func() *http.Response {
			t.Helper()
			res, err := noRedirect.PostForm(srv.Public.URL+"/self-service/lockdown", url.Values{"token": {token}})
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			return res
		}
		if res := form(); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != srv.Public.URL+"/ui/lockdown?state=confirmed" {
			t.Fatalf("form post: %d to %q", res.StatusCode, res.Header.Get("Location"))
		}
		if res := form(); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != srv.Public.URL+"/ui/lockdown?token="+token {
			t.Fatalf("form post of a used link: %d to %q", res.StatusCode, res.Header.Get("Location"))
		}

		// After its lifespan a link has expired and changes nothing.
		token = issue()
		srv.Clock.Advance(srv.Config.SelfService.Notifications.Lockdown.Lifespan + time.Minute)
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			if status, id := errorID(method, "?token="+token, nil); status != http.StatusGone || id != "lockdown_token_expired" {
				t.Errorf("%s an expired link: %d %v", method, status, id)
			}
		}
	})
}

// TestLockdownLinkIsDerived: mailing a notification stores no token;
// confirming its link writes the one row that makes it single-use; a
// token changed in one character is unknown; and a link mailed before
// tokens were derived (a stored token) still works, once.
func TestLockdownLinkIsDerived(t *testing.T) {
	servertest.Each(t, servertest.Options{Env: servertest.NotificationsOn()}, func(t *testing.T, srv *servertest.Server) {
		ctx := context.Background()
		client := srv.HTTPClient(false)
		count := func(table string) int {
			t.Helper()
			var n int
			if err := srv.DB.QueryRow(ctx, `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		lockdown := func(method, token string) (int, map[string]any) {
			t.Helper()
			res, body := servertest.Do(t, client, method, srv.Public.URL+"/self-service/lockdown?token="+token, nil, jsonHeader())
			return res.StatusCode, body
		}

		const email = "derived-link@example.test"
		id := srv.MustCreateIdentity(t, email, "Derived-Link-Passw0rd!").Id
		if res, body := servertest.Do(t, client, http.MethodPost, srv.Admin.URL+"/admin/recovery/code", map[string]any{"identity_id": id}, nil); res.StatusCode != http.StatusCreated {
			t.Fatalf("admin code: %d %v", res.StatusCode, body)
		}
		_, link := srv.Notification(t, email, subjectAdminCode)
		token := lockdownToken(t, link)
		if n := count("lockdown_tokens") + count("lockdown_uses"); n != 0 {
			t.Fatalf("mailing the link stored %d rows", n)
		}
		changed := []byte(token)
		if changed[len(changed)/2] = 'x'; token[len(token)/2] == 'x' {
			changed[len(changed)/2] = 'y'
		}
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			if status, body := lockdown(method, string(changed)); status != http.StatusNotFound {
				t.Errorf("%s a changed token: %d %v, want 404", method, status, body)
			}
		}
		if status, body := lockdown(http.MethodPost, token); status != http.StatusOK || body["state"] != "confirmed" {
			t.Fatalf("confirm: %d %v", status, body)
		}
		if n := count("lockdown_uses"); n != 1 {
			t.Fatalf("%d lockdown_uses rows after one confirmation, want 1", n)
		}
		if status, body := lockdown(http.MethodGet, token); status != http.StatusGone || body["error"].(map[string]any)["id"] != "lockdown_token_used" {
			t.Fatalf("GET a used link: %d %v", status, body)
		}

		// A link mailed by an earlier version: its token's keyed hash is a
		// row of lockdown_tokens.
		const stored = "StoredLockdownToken0123456789abc"
		now := srv.Clock.Now()
		if _, err := srv.DB.Exec(ctx, `INSERT INTO lockdown_tokens (id, identity_id, token_hash, event_id, event_type, event_time, expires_at, used_at, created_at)
			VALUES (?, ?, ?, ?, 'password.changed', ?, ?, NULL, ?)`, uuid.NewString(), id,
			secret.Hasher{Secrets: srv.Config.Secrets.DefaultKeys().VerificationSecrets()}.Hash(stored), uuid.NewString(),
			srv.DB.T(now.Add(-time.Hour)), srv.DB.T(now.Add(time.Hour)), srv.DB.T(now.Add(-time.Hour))); err != nil {
			t.Fatal(err)
		}
		if status, body := lockdown(http.MethodGet, stored); status != http.StatusOK || body["event"].(map[string]any)["type"] != "password.changed" {
			t.Fatalf("GET a stored token: %d %v", status, body)
		}
		if status, body := lockdown(http.MethodPost, stored); status != http.StatusOK || body["state"] != "confirmed" {
			t.Fatalf("confirm a stored token: %d %v", status, body)
		}
		if status, _ := lockdown(http.MethodPost, stored); status != http.StatusGone {
			t.Fatalf("confirm a stored token again: %d, want 410", status)
		}

		// The link of an identity deleted since is unknown, as a stored
		// token deleted with it was.
		const gone = "derived-link-gone@example.test"
		goneID := srv.MustCreateIdentity(t, gone, "Derived-Link-Gone-Passw0rd!").Id
		if res, body := servertest.Do(t, client, http.MethodPost, srv.Admin.URL+"/admin/recovery/code", map[string]any{"identity_id": goneID}, nil); res.StatusCode != http.StatusCreated {
			t.Fatalf("admin code: %d %v", res.StatusCode, body)
		}
		_, link = srv.Notification(t, gone, subjectAdminCode)
		if status, body := lockdown(http.MethodGet, lockdownToken(t, link)); status != http.StatusOK {
			t.Fatalf("GET before the identity is deleted: %d %v", status, body)
		}
		if res, body := servertest.Do(t, client, http.MethodDelete, srv.Admin.URL+"/admin/identities/"+goneID, nil, nil); res.StatusCode != http.StatusNoContent {
			t.Fatalf("delete identity: %d %v", res.StatusCode, body)
		}
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			if status, body := lockdown(method, lockdownToken(t, link)); status != http.StatusNotFound {
				t.Errorf("%s the link of a deleted identity: %d %v, want 404", method, status, body)
			}
		}
	})
}

// TestLockdownOwnPage: with selfservice.notifications.lockdown.ui_url on
// another origin, browsers are sent there, and the built-in pages allow
// form posts that end there (Chromium applies form-action to the redirect).
func TestLockdownOwnPage(t *testing.T) {
	const page = "https://security.example.net/lockdown"
	srv := servertest.Start(t, servertest.Options{Env: []string{"SELFSERVICE_NOTIFICATIONS_LOCKDOWN_UI_URL=" + page}})
	client := srv.HTTPClient(false)
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := client.Get(srv.Public.URL + "/self-service/lockdown?token=abc")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != page+"?token=abc" {
		t.Errorf("browser GET: %d to %q, want 303 to %s?token=abc", res.StatusCode, res.Header.Get("Location"), page)
	}
	res, err = client.Get(srv.Public.URL + "/ui/lockdown")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' "+srv.Public.URL) || !strings.Contains(csp, " https://security.example.net") {
		t.Errorf("CSP %q does not allow form posts that end on the lockdown page's origin", csp)
	}
}
