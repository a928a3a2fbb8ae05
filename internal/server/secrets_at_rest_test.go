package server_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	ory "github.com/ory/client-go"

	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/server/servertest"
)

// TestNoUsableSecretAtRest is the promise to someone who can read the
// database (a backup, a replica, a leaked dump): every journey is run,
// each code, link token, session token, cookie value and password that
// crossed the wire is collected, and then every column of every table is
// searched for each of them. None may appear: the database keeps keyed
// hashes, password hashes and ciphertext only.
func TestNoUsableSecretAtRest(t *testing.T) {
	env := append([]string{"SELFSERVICE_METHODS_LINK_ENABLED=true", "SELFSERVICE_METHODS_TOTP_ENABLED=true", "SELFSERVICE_FLOWS_VERIFICATION_ENABLED=true",
		servertest.LookupEnabled, "SELFSERVICE_METHODS_LOOKUP_SECRET_CONFIG_USE_FOR_RECOVERY=true"}, servertest.NotificationsOn()...)
	servertest.Each(t, servertest.Options{Env: env}, func(t *testing.T, srv *servertest.Server) {
		ctx := context.Background()
		secrets := map[string]string{} // value -> what it is
		keep := func(what, value string) {
			t.Helper()
			if len(value) < 6 {
				t.Fatalf("%s %q is too short to search for", what, value)
			}
			secrets[value] = what
		}
		sdk := srv.SDK(false)
		const email, firstPassword, newPassword = "at-rest@example.test", "First-Passw0rd-At-Rest!", "Second-Passw0rd-At-Rest!"
		keep("registration password", firstPassword)
		keep("settings password", newPassword)

		// Registration (native) signs in: a session token.
		reg, _, err := sdk.FrontendAPI.CreateNativeRegistrationFlow(ctx).Execute()
		if err != nil {
			t.Fatal(err)
		}
		registered, _, err := sdk.FrontendAPI.UpdateRegistrationFlow(ctx).Flow(reg.Id).UpdateRegistrationFlowBody(
			ory.UpdateRegistrationFlowWithPasswordMethodAsUpdateRegistrationFlowBody(
				ory.NewUpdateRegistrationFlowWithPasswordMethod("password", firstPassword, map[string]any{"email": email}))).Execute()
		if err != nil {
			t.Fatalf("registration: %v %s", err, servertest.ErrorText(err))
		}
		keep("registration session token", registered.GetSessionToken())
		identityID := registered.Identity.Id
		// The registration mailed a verification code; it is left unused.
		keep("verification code", srv.VerificationCode(t, email))

		// A wrong password first: the failed login is logged, never what was typed.
		const wrongPassword = "Wrong-Passw0rd-At-Rest!"
		keep("wrong login password", wrongPassword)
		if _, status, _ := passwordLogin(t, srv, email, wrongPassword); status != http.StatusBadRequest {
			t.Fatalf("wrong password: %d", status)
		}

		// Login, native and browser: a token, a session cookie, a CSRF cookie.
		token := srv.MustNativeLogin(t, email, firstPassword)
		keep("login session token", token)
		browser := srv.HTTPClient(true)
		jsonAccept := http.Header{"Accept": {"application/json"}}
		res, lf := servertest.Do(t, browser, http.MethodGet, srv.Public.URL+"/self-service/login/browser", nil, jsonAccept)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("browser login flow: %d %v", res.StatusCode, lf)
		}
		res, done := servertest.Do(t, browser, http.MethodPost, srv.Public.URL+"/self-service/login?flow="+lf["id"].(string),
			map[string]any{"method": "password", "identifier": email, "password": firstPassword, "csrf_token": csrfOf(lf)}, jsonAccept)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("browser login: %d %v", res.StatusCode, done)
		}
		keepCookies(t, srv, browser, keep)

		// Settings: a new password, with the native session.
		settings := srv.SDK(false)
		sf, _, err := settings.FrontendAPI.CreateNativeSettingsFlow(ctx).XSessionToken(token).Execute()
		if err != nil {
			t.Fatalf("settings flow: %v %s", err, servertest.ErrorText(err))
		}
		if _, _, err := settings.FrontendAPI.UpdateSettingsFlow(ctx).Flow(sf.Id).XSessionToken(token).UpdateSettingsFlowBody(
			ory.UpdateSettingsFlowWithPasswordMethodAsUpdateSettingsFlowBody(ory.NewUpdateSettingsFlowWithPasswordMethod("password", newPassword))).Execute(); err != nil {
			t.Fatalf("settings: %v %s", err, servertest.ErrorText(err))
		}

		// TOTP: a key left pending on a flow, an enrolled key (its secret
		// and QR code), and a second-step login. Another identity, so the
		// journeys below meet no second factor.
		const totpEmail = "totp-at-rest@example.test"
		srv.MustCreateIdentity(t, totpEmail, firstPassword)
		totpToken := srv.MustNativeLogin(t, totpEmail, firstPassword)
		keep("totp user session token", totpToken)
		pending := newSettingsFlow(t, srv, totpToken)
		keep("pending totp secret", totpSecretOf(t, pending))
		keepTOTPQRCode(t, pending, "pending totp qr code", keep)
		enrol := newSettingsFlow(t, srv, totpToken)
		keepTOTPQRCode(t, enrol, "enrolled totp qr code", keep)
		totpSecret := totpSecretOf(t, enrol)
		keep("enrolled totp secret", totpSecret)
		if _, _, err := settings.FrontendAPI.UpdateSettingsFlow(ctx).Flow(enrol.Id).XSessionToken(totpToken).
			UpdateSettingsFlowBody(settingsTOTPBody(totpCode(t, srv, totpSecret, 0))).Execute(); err != nil {
			t.Fatalf("totp enrolment: %v %s", err, servertest.ErrorText(err))
		}
		srv.Clock.Advance(30 * time.Second)
		aal1 := srv.MustNativeLogin(t, totpEmail, firstPassword)
		keep("aal1 session token", aal1)
		if got := secondStep(t, srv, aal1, totpCode(t, srv, totpSecret, 0)); got != http.StatusOK {
			t.Fatalf("totp login: %d", got)
		}

		// Recovery by code (native): the code and the recovery session token.
		rf, _, err := sdk.FrontendAPI.CreateNativeRecoveryFlow(ctx).Execute()
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := sdk.FrontendAPI.UpdateRecoveryFlow(ctx).Flow(rf.Id).UpdateRecoveryFlowBody(
			ory.UpdateRecoveryFlowWithCodeMethodAsUpdateRecoveryFlowBody(&ory.UpdateRecoveryFlowWithCodeMethod{Method: "code", Email: ory.PtrString(email)})).Execute(); err != nil {
			t.Fatalf("recovery email: %v %s", err, servertest.ErrorText(err))
		}
		code := srv.RecoveryCode(t, email)
		keep("recovery code", code)
		wrongCode := "000000"
		if code == wrongCode {
			wrongCode = "111111"
		}
		keep("wrong recovery code", wrongCode)
		submitRecoveryCode(t, srv, rf.Id, wrongCode)
		recovered, _, err := sdk.FrontendAPI.UpdateRecoveryFlow(ctx).Flow(rf.Id).UpdateRecoveryFlowBody(
			ory.UpdateRecoveryFlowWithCodeMethodAsUpdateRecoveryFlowBody(&ory.UpdateRecoveryFlowWithCodeMethod{Method: "code", Code: ory.PtrString(code)})).Execute()
		if err != nil || len(recovered.ContinueWith) == 0 {
			t.Fatalf("recovery code: %v %s", err, servertest.ErrorText(err))
		}
		keep("recovery session token", recovered.ContinueWith[0].ContinueWithSetOrySessionToken.OrySessionToken)

		// Backup codes: enrolled, one used at login, one for recovery, and a
		// new set left pending in a settings flow.
		backupCodesJourney(t, srv, email, newPassword, recovered.ContinueWith[0].ContinueWithSetOrySessionToken.OrySessionToken, keep)

		// Recovery by link (browser): the link token and the session cookie.
		linkBrowser := srv.HTTPClient(true)
		res, lrf := servertest.Do(t, linkBrowser, http.MethodGet, srv.Public.URL+"/self-service/recovery/browser", nil, jsonAccept)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("browser recovery flow: %d %v", res.StatusCode, lrf)
		}
		res, sent := servertest.Do(t, linkBrowser, http.MethodPost, srv.Public.URL+"/self-service/recovery?flow="+lrf["id"].(string),
			map[string]any{"method": "link", "email": email, "csrf_token": csrfOf(lrf)}, jsonAccept)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("recovery link email: %d %v", res.StatusCode, sent)
		}
		keepLinkToken(t, srv.RecoveryLink(t, email), "recovery link token", keep)
		// The link is left unused: a pending link is what a database reader
		// would want most.

		// Admin recovery, mailed by Latchkey (send: true), unused.
		admin := srv.HTTPClient(false)
		res, ac := servertest.Do(t, admin, http.MethodPost, srv.Admin.URL+"/admin/recovery/code",
			map[string]any{"identity_id": identityID, "send": true}, nil)
		if res.StatusCode != http.StatusCreated {
			t.Fatalf("admin code: %d %v", res.StatusCode, ac)
		}
		keep("admin recovery code", ac["recovery_code"].(string))
		res, al := servertest.Do(t, admin, http.MethodPost, srv.Admin.URL+"/admin/recovery/link",
			map[string]any{"identity_id": identityID, "send": true}, nil)
		if res.StatusCode != http.StatusOK { // Kratos answers 200 here, 201 for a code
			t.Fatalf("admin link: %d %v", res.StatusCode, al)
		}
		keepLinkToken(t, al["recovery_link"].(string), "admin recovery link token", keep)
		// The security notifications' lockdown links, unused.
		for _, subject := range []string{subjectRecovered, subjectPasswordSet, subjectAdminCode} {
			_, link := srv.Notification(t, email, subject)
			keepLinkToken(t, link, "lockdown link token ("+subject+")", keep)
		}
		// While the admin mails may still be queued, and after delivery.
		scanForSecrets(t, srv, secrets)
		srv.SMTP.WaitFor(t, email, 10*time.Second)
		srv.SMTP.WaitFor(t, email, 10*time.Second)
		scanForSecrets(t, srv, secrets)
		// The audit log, scanned with the rest, recorded every step, the
		// wrong password and the wrong code too.
		types := servertest.AuditTypes(srv.AuditEvents(t, ""))
		for _, want := range []audit.Type{audit.LoginFailed, audit.LoginSucceeded, audit.RecoveryFailed, audit.RecoverySucceeded,
			audit.SecondFactorAdded, audit.PasswordChanged, audit.AdminRecoveryCodeCreated} {
			if !slices.Contains(types, want) {
				t.Errorf("no %s event among %v", want, types)
			}
		}
	})
}

// TestNoVerificationLinkAtRest: an unused verification link's token,
// pending in its flow and in the mail queue, is nowhere in the database.
func TestNoVerificationLinkAtRest(t *testing.T) {
	env := append([]string{"SELFSERVICE_FLOWS_VERIFICATION_USE=link", "SELFSERVICE_METHODS_LINK_ENABLED=true"}, verificationOn...)
	servertest.Each(t, servertest.Options{Env: env}, func(t *testing.T, srv *servertest.Server) {
		const email = "link-at-rest@example.test"
		srv.MustCreateIdentity(t, email, "Link-Passw0rd-At-Rest!")
		f, res, err := srv.SDK(false).FrontendAPI.CreateNativeVerificationFlow(context.Background()).Execute()
		mustStatus(t, res, err, http.StatusOK)
		_, res, err = verifyEmailLink(t, srv.SDK(false), f.Id, email, "")
		mustStatus(t, res, err, http.StatusOK)
		secrets := map[string]string{}
		keepLinkToken(t, srv.VerificationTokenLink(t, email), "verification link token", func(what, v string) { secrets[v] = what })
		scanForSecrets(t, srv, secrets)
	})
}

func csrfOf(f map[string]any) string {
	nodes, _ := f["ui"].(map[string]any)["nodes"].([]any)
	for _, n := range nodes {
		a, _ := n.(map[string]any)["attributes"].(map[string]any)
		if a["name"] == "csrf_token" {
			v, _ := a["value"].(string)
			return v
		}
	}
	return ""
}

// keepCookies keeps every cookie the browser holds for the public URL.
func keepCookies(t *testing.T, srv *servertest.Server, browser *http.Client, keep func(what, value string)) {
	t.Helper()
	u, _ := url.Parse(srv.Public.URL)
	cookies := browser.Jar.Cookies(u)
	if len(cookies) < 2 {
		t.Fatalf("expected a session and a CSRF cookie, got %v", cookies)
	}
	for _, c := range cookies {
		keep("cookie "+c.Name, c.Value)
	}
}

func keepLinkToken(t *testing.T, link, what string, keep func(what, value string)) {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil || u.Query().Get("token") == "" {
		t.Fatalf("%s: no token in %q", what, link)
	}
	keep(what, u.Query().Get("token"))
}

// scanForSecrets reads every column of every table and fails for each
// secret found in one.
func scanForSecrets(t *testing.T, srv *servertest.Server, secrets map[string]string) {
	t.Helper()
	tables := srv.Tables(t)
	if len(tables) < 8 {
		t.Fatalf("found only tables %v", tables)
	}
	cells := 0
	for _, table := range tables {
		cells += scanTable(t, srv.DB.SQL, table, secrets)
	}
	if !slices.Contains(tables, "audit_events") {
		t.Fatalf("the audit log was not scanned (tables %v)", tables)
	}
	if cells == 0 {
		t.Fatal("no cell was read")
	}
}

func scanTable(t *testing.T, db *sql.DB, table string, secrets map[string]string) int {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), "SELECT * FROM "+table)
	if err != nil {
		t.Fatalf("read %s: %v", table, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	cells := 0
	for rows.Next() {
		values := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range values {
			ptrs[i] = &values[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatalf("scan %s: %v", table, err)
		}
		for i, v := range values {
			var text string
			switch v := v.(type) {
			case nil:
				continue
			case time.Time:
				continue // a timestamp's digits could match a 6-digit code by chance
			case []byte:
				text = string(v)
			case string:
				text = v
			default:
				text = fmt.Sprint(v)
			}
			if _, err := time.Parse("2006-01-02 15:04:05.999999999-07:00", text); err == nil {
				continue
			}
			cells++
			for value, what := range secrets {
				if strings.Contains(text, value) {
					t.Errorf("%s found at rest in %s.%s", what, table, cols[i])
				}
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return cells
}

// keepTOTPQRCode keeps the QR code a settings flow shows.
func keepTOTPQRCode(t *testing.T, f *ory.SettingsFlow, what string, keep func(what, value string)) {
	t.Helper()
	for _, n := range f.Ui.Nodes {
		if a := n.Attributes.UiNodeImageAttributes; a != nil && a.Id == "totp_qr" {
			keep(what, strings.TrimPrefix(a.Src, "data:image/png;base64,"))
			return
		}
	}
	t.Fatalf("settings flow %s shows no QR code", f.Id)
}
