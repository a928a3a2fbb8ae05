package login_test

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

// TestLoginAAL: the rules for asking a login flow for aal2 (Kratos
// v26.2.0's login/handler.go), and what refresh offers a user with a
// second factor.
func TestLoginAAL(t *testing.T) {
	servertest.Each(t, servertest.EntryOptions(), func(t *testing.T, srv *servertest.Server) {
		ctx := context.Background()
		sdk := srv.SDK(false)
		srv.MustCreateIdentity(t, "plain@example.test", pw)
		mfa := srv.MustCreateIdentity(t, "mfa@example.test", pw)
		srv.MustEnrolTOTP(t, mfa.Id)

		t.Run("BrowserWithoutSessionNeedsAAL1", func(t *testing.T) {
			res, body := servertest.Do(t, srv.HTTPClient(true), http.MethodGet, srv.Config.PublicURL("self-service/login/browser?aal=aal2"), nil,
				http.Header{"Accept": {"application/json"}})
			e, _ := body["error"].(map[string]any)
			if res.StatusCode != http.StatusUnauthorized || e["id"] != "session_aal1_required" ||
				e["reason"] != "You can not requested a higher AAL (AAL2/AAL3) without an active session." {
				t.Fatalf("%d %v", res.StatusCode, body)
			}
		})

		t.Run("NativeWithoutSecondFactorHasNoNodes", func(t *testing.T) {
			token, _ := mustNativeLogin(t, srv, "plain@example.test", pw)
			res, raw := servertest.DoRaw(t, http.DefaultClient, http.MethodGet, srv.Config.PublicURL("self-service/login/api?aal=aal2"), nil,
				http.Header{"X-Session-Token": {token}})
			if res.StatusCode != http.StatusOK || !strings.Contains(string(raw), `"nodes":[]`) || !strings.Contains(string(raw), `"id":1010004`) {
				t.Fatalf("%d %s", res.StatusCode, raw)
			}
		})

		t.Run("BrowserWithoutSecondFactorHasOnlyCSRF", func(t *testing.T) {
			b := srv.HTTPClient(true)
			id, csrf := startFormFlow(t, srv, b, "")
			if res, _ := servertest.Do(t, b, http.MethodPost, srv.Config.PublicURL("self-service/login?flow="+id),
				formLogin("plain@example.test", pw, csrf), htmlAccept); res.StatusCode != http.StatusSeeOther {
				t.Fatalf("login %d", res.StatusCode)
			}
			res, body := servertest.Do(t, b, http.MethodGet, srv.Config.PublicURL("self-service/login/browser?aal=aal2"), nil,
				http.Header{"Accept": {"application/json"}})
			ui, _ := body["ui"].(map[string]any)
			nodes, _ := ui["nodes"].([]any)
			if res.StatusCode != http.StatusOK || len(nodes) != 1 || messageIDs(body) != "1010004" {
				t.Fatalf("%d %v", res.StatusCode, body)
			}
			if a := nodes[0].(map[string]any)["attributes"].(map[string]any); a["name"] != "csrf_token" || a["value"] == "" {
				t.Fatalf("node %v", nodes[0])
			}
		})

		t.Run("AAL2SessionIsAlreadyAvailable", func(t *testing.T) {
			token, sess := mustNativeLogin(t, srv, "mfa@example.test", pw)
			srv.MustRaiseToAAL2(t, sess.Id)
			_, _, err := sdk.FrontendAPI.CreateNativeLoginFlow(ctx).Aal("aal2").XSessionToken(token).Execute()
			e := servertest.ErrorBody(t, err)["error"].(map[string]any)
			if e["id"] != "session_already_available" || e["code"] != float64(400) {
				t.Fatalf("error %v", e)
			}
			// refresh=true&aal=aal2 asks the second factor again; the
			// session has aal2 already, so only 1010003 is shown.
			f, _, err := sdk.FrontendAPI.CreateNativeLoginFlow(ctx).Aal("aal2").Refresh(true).XSessionToken(token).Execute()
			if err != nil || f.GetRequestedAal() != "aal2" || !f.GetRefresh() ||
				!reflect.DeepEqual(servertest.MessageIDs(f.Ui.Messages), []int64{1010003}) {
				t.Fatalf("%v %s %+v", err, errBody(err), f)
			}
		})

		t.Run("SecondFactorUserAsksAAL2", func(t *testing.T) {
			token, _ := mustNativeLogin(t, srv, "mfa@example.test", pw)
			f, _, err := sdk.FrontendAPI.CreateNativeLoginFlow(ctx).Aal("aal2").XSessionToken(token).Execute()
			if err != nil || f.GetRequestedAal() != "aal2" || !reflect.DeepEqual(servertest.MessageIDs(f.Ui.Messages), []int64{1010004}) {
				t.Fatalf("%v %s %+v", err, errBody(err), f)
			}
		})

		t.Run("RefreshOfSecondFactorUserAsksThePassword", func(t *testing.T) {
			// As Kratos: refresh without aal is a first-factor refresh,
			// for the session's own identity; its aal1 stays aal1.
			token, _ := mustNativeLogin(t, srv, "mfa@example.test", pw)
			f, _, err := sdk.FrontendAPI.CreateNativeLoginFlow(ctx).Refresh(true).XSessionToken(token).Execute()
			if err != nil {
				t.Fatalf("%v %s", err, errBody(err))
			}
			id := servertest.Input(f.Ui.Nodes, "identifier")
			if f.GetRequestedAal() != "aal1" || id == nil || id.Type != "hidden" || id.Value != "mfa@example.test" ||
				servertest.Input(f.Ui.Nodes, "password") == nil || !reflect.DeepEqual(servertest.MessageIDs(f.Ui.Messages), []int64{1010003}) {
				t.Fatalf("refresh flow %+v", f.Ui)
			}
			ok, _, err := sdk.FrontendAPI.UpdateLoginFlow(ctx).Flow(f.Id).XSessionToken(token).UpdateLoginFlowBody(passwordBody("mfa@example.test", pw)).Execute()
			if err != nil || ok.Session.GetAuthenticatorAssuranceLevel() != "aal1" {
				t.Fatalf("%v %s", err, errBody(err))
			}
			if srv.SessionActive(t, token) {
				t.Fatal("a password refresh satisfied highest_available for a TOTP user")
			}
		})
	})
}
