package settings_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	ory "github.com/ory/client-go"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

const newPassword = "N3w-Recovered-Passw0rd-Anchor!"

// TestSetPasswordAfterRecovery is the journey the settings flow exists
// for: a recovery session sets a new password, from a native app, an SPA
// and an HTML form. The old password stops working, the new one works,
// the session that made the change stays, every other one is revoked.
func TestSetPasswordAfterRecovery(t *testing.T) {
	servertest.Each(t, options(), func(t *testing.T, srv *servertest.Server) {
		ctx := context.Background()

		t.Run("Native", func(t *testing.T) {
			ident := mustIdentity(t, srv, "native@example.test")
			otherTok := mustSession(t, srv, ident.Id).Token
			rec := srv.MustRecover(t, ident.Id, "api", "")
			tok, id := rec.Token, rec.SettingsFlowID
			recoveryURL := srv.Config.PublicURL("self-service/recovery?flow=" + rec.RecoveryFlowID)
			c := srv.SDK(false)

			f, _, err := c.FrontendAPI.GetSettingsFlow(ctx).Id(id).XSessionToken(tok).Execute()
			if err != nil {
				t.Fatal(err)
			}
			if f.Type != "api" || f.RequestUrl != recoveryURL || f.State != "show_form" {
				t.Fatalf("flow = %s %s %s", f.Type, f.RequestUrl, f.State)
			}
			wantIDs(t, "recovered flow", f.Ui.Messages, 1060001)
			if csrf := csrfOf(t, f); csrf != "" {
				t.Fatalf("api flow csrf_token = %q, want empty", csrf)
			}

			up, resp, err := c.FrontendAPI.UpdateSettingsFlow(ctx).Flow(id).XSessionToken(tok).
				UpdateSettingsFlowBody(passwordBody(newPassword, "")).Execute()
			if err != nil {
				t.Fatalf("update: %v %s", err, body(err))
			}
			if resp.StatusCode != http.StatusOK || up.Id != id || up.State != "success" {
				t.Fatalf("update = %d %s %s", resp.StatusCode, up.Id, up.State)
			}
			wantIDs(t, "success", up.Ui.Messages, 1050001)
			if next := flowIDOf(t, up.Ui.Action); next == "" || next == id {
				t.Fatalf("success ui.action %q must name a fresh flow", up.Ui.Action)
			}
			if len(up.ContinueWith) != 0 {
				t.Fatalf("native success has continue_with %+v", up.ContinueWith)
			}
			if !srv.PasswordIs(t, ident.Id, newPassword) || srv.PasswordIs(t, ident.Id, oldPassword) {
				t.Fatal("the stored password was not replaced")
			}
			if !srv.SessionActive(t, tok) {
				t.Fatal("the session that changed the password was revoked")
			}
			if srv.SessionActive(t, otherTok) {
				t.Fatal("another session survived the password change")
			}
			if _, status := login(t, srv, "native@example.test", newPassword); status != http.StatusOK {
				t.Fatalf("login with the new password = %d", status)
			}
			if _, status := login(t, srv, "native@example.test", oldPassword); status != http.StatusBadRequest {
				t.Fatalf("login with the old password = %d", status)
			}
		})

		t.Run("NativeOwnFlow", func(t *testing.T) {
			ident := mustIdentity(t, srv, "native-own@example.test")
			tok := mustSession(t, srv, ident.Id).Token
			c := srv.SDK(false)
			f, resp, err := c.FrontendAPI.CreateNativeSettingsFlow(ctx).XSessionToken(tok).Execute()
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("create: %v", err)
			}
			if f.RequestUrl != srv.Config.PublicURL("self-service/settings/api") || len(f.Ui.Messages) != 0 {
				t.Fatalf("flow = %s %+v", f.RequestUrl, f.Ui.Messages)
			}
			if got := resp.Header.Get("Cache-Control"); got != "private, no-cache, no-store, must-revalidate" {
				t.Fatalf("Cache-Control = %q", got)
			}
			// Authorization: Bearer carries the token as well as X-Session-Token.
			r := do(t, srv, http.MethodPost, "/self-service/settings?flow="+f.Id, `{"method":"password","password":"`+newPassword+`"}`,
				"Authorization", "Bearer "+tok)
			if r.Status != http.StatusOK || r.JSON(t)["state"] != "success" {
				t.Fatalf("bearer update = %d %s", r.Status, r.Body)
			}
			if !srv.PasswordIs(t, ident.Id, newPassword) {
				t.Fatal("password not changed")
			}
		})

		t.Run("SPA", func(t *testing.T) {
			ident := mustIdentity(t, srv, "spa@example.test")
			otherTok := mustSession(t, srv, ident.Id).Token
			rec := srv.MustRecover(t, ident.Id, "browser", "https://app.example.com/welcome")
			tok, id := rec.Token, rec.SettingsFlowID
			b := newBrowser(t, srv, rec.Session)
			c := b.SDK()
			f, _, err := c.FrontendAPI.GetSettingsFlow(ctx).Id(id).Execute()
			if err != nil {
				t.Fatal(err)
			}
			if f.ReturnTo == nil || *f.ReturnTo != "https://app.example.com/welcome" {
				t.Fatalf("return_to = %v", f.ReturnTo)
			}
			csrf := csrfOf(t, f)
			if csrf == "" {
				t.Fatal("browser flow without csrf_token")
			}
			cookieBefore := b.Cookie("ory_kratos_session")
			up, resp, err := c.FrontendAPI.UpdateSettingsFlow(ctx).Flow(id).
				UpdateSettingsFlowBody(passwordBody(newPassword, csrf)).Execute()
			if err != nil {
				t.Fatalf("update: %v %s", err, body(err))
			}
			if up.State != "success" || len(up.ContinueWith) != 1 || up.ContinueWith[0].ContinueWithRedirectBrowserTo == nil ||
				up.ContinueWith[0].ContinueWithRedirectBrowserTo.RedirectBrowserTo != "https://app.example.com/welcome" {
				t.Fatalf("SPA success = %s %+v", up.State, up.ContinueWith)
			}
			if !strings.Contains(strings.Join(resp.Header.Values("Set-Cookie"), "\n"), "ory_kratos_session=") {
				t.Fatal("session cookie not re-issued")
			}
			if b.Cookie("ory_kratos_session") == "" || cookieBefore == "" {
				t.Fatal("session cookie lost")
			}
			if !srv.PasswordIs(t, ident.Id, newPassword) || srv.PasswordIs(t, ident.Id, oldPassword) {
				t.Fatal("password not replaced")
			}
			if !srv.SessionActive(t, tok) || srv.SessionActive(t, otherTok) {
				t.Fatal("wrong sessions revoked")
			}
			if _, status := login(t, srv, "spa@example.test", newPassword); status != http.StatusOK {
				t.Fatalf("login with the new password = %d", status)
			}
		})

		t.Run("BrowserForm", func(t *testing.T) {
			ident := mustIdentity(t, srv, "form@example.test")
			otherTok := mustSession(t, srv, ident.Id).Token
			sess := mustSession(t, srv, ident.Id)
			tok := sess.Token
			b := newBrowser(t, srv, sess)
			r := b.Do(http.MethodGet, "/self-service/settings/browser", nil, "Accept", acceptHTML)
			loc := r.Header.Get("Location")
			if r.Status != http.StatusSeeOther || !strings.HasPrefix(loc, settingsUI+"?flow=") {
				t.Fatalf("init = %d %s", r.Status, loc)
			}
			id := flowIDOf(t, loc)
			// The UI fetches the flow as a server would: no Accept header.
			r = b.Do(http.MethodGet, "/self-service/settings/flows?id="+id, nil)
			if r.Status != http.StatusOK {
				t.Fatalf("fetch = %d %s", r.Status, r.Body)
			}
			csrf := csrfValue(t, r.JSON(t))

			r = b.Do(http.MethodPost, "/self-service/settings?flow="+id,
				url.Values{"method": {"password"}, "password": {newPassword}}, "Accept", acceptHTML)
			if r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), errorUI+"?id=") {
				t.Fatalf("no csrf = %d %s", r.Status, r.Header.Get("Location"))
			}
			e := b.Do(http.MethodGet, "/self-service/errors?id="+url.QueryEscape(mustQuery(t, r.Header.Get("Location"), "id")), nil)
			if ee, _ := e.JSON(t)["error"].(map[string]any); ee["id"] != "security_csrf_violation" {
				t.Fatalf("stored error = %s", e.Body)
			}
			if srv.PasswordIs(t, ident.Id, newPassword) {
				t.Fatal("password changed without CSRF token")
			}

			r = b.Do(http.MethodPost, "/self-service/settings?flow="+id,
				url.Values{"method": {"password"}, "password": {newPassword}, "csrf_token": {csrf}}, "Accept", acceptHTML)
			if r.Status != http.StatusSeeOther || r.Header.Get("Location") != settingsUI+"?flow="+id {
				t.Fatalf("update = %d %s %s", r.Status, r.Header.Get("Location"), r.Body)
			}
			if !strings.Contains(strings.Join(r.Header.Values("Set-Cookie"), "\n"), "ory_kratos_session=") {
				t.Fatal("session cookie not re-issued")
			}
			r = b.Do(http.MethodGet, "/self-service/settings/flows?id="+id, nil)
			if r.JSON(t)["state"] != "success" {
				t.Fatalf("flow after success: %s", r.Body)
			}
			if !srv.PasswordIs(t, ident.Id, newPassword) || srv.PasswordIs(t, ident.Id, oldPassword) {
				t.Fatal("password not replaced")
			}
			if !srv.SessionActive(t, tok) || srv.SessionActive(t, otherTok) {
				t.Fatal("wrong sessions revoked")
			}
			if _, status := login(t, srv, "form@example.test", newPassword); status != http.StatusOK {
				t.Fatalf("login with the new password = %d", status)
			}
			if _, status := login(t, srv, "form@example.test", oldPassword); status != http.StatusBadRequest {
				t.Fatalf("login with the old password = %d", status)
			}
		})

		t.Run("AfterPasswordReturnURL", func(t *testing.T) {
			srv := srv.StartSharingDB(t, options(
				"SELFSERVICE_FLOWS_SETTINGS_AFTER_DEFAULT_BROWSER_RETURN_URL=https://app.example.com/after",
				"SELFSERVICE_FLOWS_SETTINGS_AFTER_PASSWORD_DEFAULT_BROWSER_RETURN_URL=https://app.example.com/after-password",
			))
			ident := mustIdentity(t, srv, "form-after@example.test")
			b := newBrowser(t, srv, mustSession(t, srv, ident.Id))
			r := b.Do(http.MethodGet, "/self-service/settings/browser", nil, "Accept", acceptJSON)
			m := r.JSON(t)
			r = b.Do(http.MethodPost, "/self-service/settings?flow="+m["id"].(string),
				url.Values{"method": {"password"}, "password": {newPassword}, "csrf_token": {csrfValue(t, m)}}, "Accept", acceptHTML)
			if r.Status != http.StatusSeeOther || r.Header.Get("Location") != "https://app.example.com/after-password" {
				t.Fatalf("update = %d %s", r.Status, r.Header.Get("Location"))
			}
		})

		t.Run("KeepOtherSessionsWhenConfigured", func(t *testing.T) {
			srv := srv.StartSharingDB(t, options("SELFSERVICE_FLOWS_SETTINGS_REVOKE_OTHER_SESSIONS=false"))
			ident := mustIdentity(t, srv, "keep@example.test")
			otherTok := mustSession(t, srv, ident.Id).Token
			tok := mustSession(t, srv, ident.Id).Token
			c := srv.SDK(false)
			f, _, err := c.FrontendAPI.CreateNativeSettingsFlow(ctx).XSessionToken(tok).Execute()
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := c.FrontendAPI.UpdateSettingsFlow(ctx).Flow(f.Id).XSessionToken(tok).
				UpdateSettingsFlowBody(passwordBody(newPassword, "")).Execute(); err != nil {
				t.Fatal(err)
			}
			if !srv.SessionActive(t, otherTok) {
				t.Fatal("revoke_other_sessions: false still revoked the other session")
			}
		})
	})
}

// body is the raw body of an SDK error, for failure messages.
func body(err error) string {
	if oe, ok := err.(*ory.GenericOpenAPIError); ok {
		return string(oe.Body())
	}
	return ""
}

// csrfValue is the csrf_token node value of a flow decoded as JSON.
func csrfValue(t *testing.T, f map[string]any) string {
	t.Helper()
	ui, _ := f["ui"].(map[string]any)
	nodes, _ := ui["nodes"].([]any)
	for _, n := range nodes {
		attrs, _ := n.(map[string]any)["attributes"].(map[string]any)
		if attrs["name"] == "csrf_token" {
			s, _ := attrs["value"].(string)
			return s
		}
	}
	t.Fatalf("no csrf_token node in %v", f)
	return ""
}

func mustQuery(t *testing.T, raw, key string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get(key)
}
