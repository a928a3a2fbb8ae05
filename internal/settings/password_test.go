package settings_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	ory "github.com/ory/client-go"

	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/settings"
	"github.com/latchkey/latchkey/internal/sqlstore"
	"github.com/latchkey/latchkey/internal/sqlstore/sqltest"
)

const newPassword = "N3w-Recovered-Passw0rd-Anchor!"

// TestSetPasswordAfterRecovery is the journey the settings flow exists
// for: a recovery session sets a new password, from a native app, an SPA
// and an HTML form. The old password stops working, the new one works,
// the session that made the change stays, every other one is revoked.
func TestSetPasswordAfterRecovery(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		h := newHarness(t, db)
		ctx := context.Background()

		t.Run("Native", func(t *testing.T) {
			ident := h.MustIdentity("native@example.test")
			_, otherTok := h.MustSession(ident)
			sess, tok := h.MustSession(ident)
			recoveryURL := h.pub + "self-service/recovery?flow=9886c252-e300-4df1-b9cb-33f0ec024c79"
			id, err := h.service.StartAfterRecovery(ctx, ident, sess, flow.TypeAPI, recoveryURL, "")
			if err != nil {
				t.Fatal(err)
			}
			c := h.Native()

			f, _, err := c.FrontendAPI.GetSettingsFlow(ctx).Id(id.String()).XSessionToken(tok).Execute()
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

			up, resp, err := c.FrontendAPI.UpdateSettingsFlow(ctx).Flow(id.String()).XSessionToken(tok).
				UpdateSettingsFlowBody(passwordBody(newPassword, "")).Execute()
			if err != nil {
				t.Fatalf("update: %v %s", err, body(err))
			}
			if resp.StatusCode != http.StatusOK || up.Id != id.String() || up.State != "success" {
				t.Fatalf("update = %d %s %s", resp.StatusCode, up.Id, up.State)
			}
			wantIDs(t, "success", up.Ui.Messages, 1050001)
			if next := flowIDOf(t, up.Ui.Action); next == "" || next == id.String() {
				t.Fatalf("success ui.action %q must name a fresh flow", up.Ui.Action)
			}
			if len(up.ContinueWith) != 0 {
				t.Fatalf("native success has continue_with %+v", up.ContinueWith)
			}
			if !h.PasswordIs(ident.ID, newPassword) || h.PasswordIs(ident.ID, oldPassword) {
				t.Fatal("the stored password was not replaced")
			}
			if !h.SessionActive(tok) {
				t.Fatal("the session that changed the password was revoked")
			}
			if h.SessionActive(otherTok) {
				t.Fatal("another session survived the password change")
			}
			if _, status := h.Login("native@example.test", newPassword); status != http.StatusOK {
				t.Fatalf("login with the new password = %d", status)
			}
			if _, status := h.Login("native@example.test", oldPassword); status != http.StatusBadRequest {
				t.Fatalf("login with the old password = %d", status)
			}
		})

		t.Run("NativeOwnFlow", func(t *testing.T) {
			ident := h.MustIdentity("native-own@example.test")
			_, tok := h.MustSession(ident)
			c := h.Native()
			f, resp, err := c.FrontendAPI.CreateNativeSettingsFlow(ctx).XSessionToken(tok).Execute()
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("create: %v", err)
			}
			if f.RequestUrl != h.pub+"self-service/settings/api" || len(f.Ui.Messages) != 0 {
				t.Fatalf("flow = %s %+v", f.RequestUrl, f.Ui.Messages)
			}
			if got := resp.Header.Get("Cache-Control"); got != "private, no-cache, no-store, must-revalidate" {
				t.Fatalf("Cache-Control = %q", got)
			}
			// Authorization: Bearer carries the token as well as X-Session-Token.
			r := h.Do(http.MethodPost, "/self-service/settings?flow="+f.Id, `{"method":"password","password":"`+newPassword+`"}`,
				"Authorization", "Bearer "+tok)
			if r.Status != http.StatusOK || r.JSON(t)["state"] != "success" {
				t.Fatalf("bearer update = %d %s", r.Status, r.Body)
			}
			if !h.PasswordIs(ident.ID, newPassword) {
				t.Fatal("password not changed")
			}
		})

		t.Run("SPA", func(t *testing.T) {
			ident := h.MustIdentity("spa@example.test")
			_, otherTok := h.MustSession(ident)
			sess, tok := h.MustSession(ident)
			id, err := h.service.StartAfterRecovery(ctx, ident, sess, flow.TypeBrowser, h.pub+"self-service/recovery?flow=x", "https://app.example.com/welcome")
			if err != nil {
				t.Fatal(err)
			}
			c, b := h.Browser(tok)
			f, _, err := c.FrontendAPI.GetSettingsFlow(ctx).Id(id.String()).Execute()
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
			up, resp, err := c.FrontendAPI.UpdateSettingsFlow(ctx).Flow(id.String()).
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
			if !h.PasswordIs(ident.ID, newPassword) || h.PasswordIs(ident.ID, oldPassword) {
				t.Fatal("password not replaced")
			}
			if !h.SessionActive(tok) || h.SessionActive(otherTok) {
				t.Fatal("wrong sessions revoked")
			}
			if _, status := h.Login("spa@example.test", newPassword); status != http.StatusOK {
				t.Fatalf("login with the new password = %d", status)
			}
		})

		t.Run("BrowserForm", func(t *testing.T) {
			ident := h.MustIdentity("form@example.test")
			_, otherTok := h.MustSession(ident)
			_, tok := h.MustSession(ident)
			b := h.NewBrowser(tok)
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
			if h.PasswordIs(ident.ID, newPassword) {
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
			if !h.PasswordIs(ident.ID, newPassword) || h.PasswordIs(ident.ID, oldPassword) {
				t.Fatal("password not replaced")
			}
			if !h.SessionActive(tok) || h.SessionActive(otherTok) {
				t.Fatal("wrong sessions revoked")
			}
			if _, status := h.Login("form@example.test", newPassword); status != http.StatusOK {
				t.Fatalf("login with the new password = %d", status)
			}
			if _, status := h.Login("form@example.test", oldPassword); status != http.StatusBadRequest {
				t.Fatalf("login with the old password = %d", status)
			}
		})

		t.Run("AfterPasswordReturnURL", func(t *testing.T) {
			h := newHarness(t, db, func(c *settings.Config) {
				c.AfterDefaultReturnURL = "https://app.example.com/after"
				c.AfterPasswordReturnURL = "https://app.example.com/after-password"
			})
			ident := h.MustIdentity("form-after@example.test")
			_, tok := h.MustSession(ident)
			b := h.NewBrowser(tok)
			r := b.Do(http.MethodGet, "/self-service/settings/browser", nil, "Accept", acceptJSON)
			m := r.JSON(t)
			r = b.Do(http.MethodPost, "/self-service/settings?flow="+m["id"].(string),
				url.Values{"method": {"password"}, "password": {newPassword}, "csrf_token": {csrfValue(t, m)}}, "Accept", acceptHTML)
			if r.Status != http.StatusSeeOther || r.Header.Get("Location") != "https://app.example.com/after-password" {
				t.Fatalf("update = %d %s", r.Status, r.Header.Get("Location"))
			}
		})

		t.Run("KeepOtherSessionsWhenConfigured", func(t *testing.T) {
			h := newHarness(t, db, func(c *settings.Config) { c.RevokeOtherSessions = false })
			ident := h.MustIdentity("keep@example.test")
			_, otherTok := h.MustSession(ident)
			_, tok := h.MustSession(ident)
			c := h.Native()
			f, _, err := c.FrontendAPI.CreateNativeSettingsFlow(ctx).XSessionToken(tok).Execute()
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := c.FrontendAPI.UpdateSettingsFlow(ctx).Flow(f.Id).XSessionToken(tok).
				UpdateSettingsFlowBody(passwordBody(newPassword, "")).Execute(); err != nil {
				t.Fatal(err)
			}
			if !h.SessionActive(otherTok) {
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
