package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	ory "github.com/ory/client-go"
	"github.com/pquerna/otp/totp"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

// totpOptions is a server with the totp method on and a fixed issuer.
// pw is the password of the identities of the totp tests.
const pw = "Totp-Test-Passw0rd!"

func totpOptions(env ...string) servertest.Options {
	return servertest.EntryOptions(append([]string{
		"SELFSERVICE_METHODS_TOTP_ENABLED=true",
		"SELFSERVICE_METHODS_TOTP_CONFIG_ISSUER=Latchkey Test",
	}, env...)...)
}

// totpCode is the code an authenticator app shows for secret at the
// server's time plus shift.
func totpCode(t *testing.T, srv *servertest.Server, secret string, shift time.Duration) string {
	t.Helper()
	c, err := totp.GenerateCode(secret, srv.Clock.Now().Add(shift))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// totpNodes are the nodes of group totp.
func totpNodes(nodes []ory.UiNode) []ory.UiNode {
	var out []ory.UiNode
	for _, n := range nodes {
		if n.Group == "totp" {
			out = append(out, n)
		}
	}
	return out
}

// totpSecretOf is the secret a settings flow shows in totp_secret_key.
func totpSecretOf(t *testing.T, f *ory.SettingsFlow) string {
	t.Helper()
	for _, n := range f.Ui.Nodes {
		if a := n.Attributes.UiNodeTextAttributes; a != nil && a.Id == "totp_secret_key" {
			s, _ := a.Text.GetContext()["secret"].(string)
			return s
		}
	}
	t.Fatalf("settings flow %s shows no totp secret", f.Id)
	return ""
}

// settingsFlowOf decodes the settings flow a 400 answer carries.
func settingsFlowOf(t *testing.T, err error) *ory.SettingsFlow {
	t.Helper()
	var ge *ory.GenericOpenAPIError
	if !errors.As(err, &ge) {
		t.Fatalf("want an API error, got %v", err)
	}
	var f ory.SettingsFlow
	if jerr := json.Unmarshal(ge.Body(), &f); jerr != nil {
		t.Fatalf("not a settings flow: %s", ge.Body())
	}
	return &f
}

// loginFlowOf decodes the login flow a 400 answer carries.
func loginFlowOf(t *testing.T, err error) *ory.LoginFlow {
	t.Helper()
	var ge *ory.GenericOpenAPIError
	if !errors.As(err, &ge) {
		t.Fatalf("want an API error, got %v", err)
	}
	var f ory.LoginFlow
	if jerr := json.Unmarshal(ge.Body(), &f); jerr != nil {
		t.Fatalf("not a login flow: %s", ge.Body())
	}
	return &f
}

func wantIDs(t *testing.T, what string, got []int64, want ...int64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: message ids %v, want %v", what, got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: message ids %v, want %v", what, got, want)
		}
	}
}

func settingsTOTPBody(code string) ory.UpdateSettingsFlowBody {
	b := ory.NewUpdateSettingsFlowWithTotpMethod("totp")
	if code != "" {
		b.SetTotpCode(code)
	}
	return ory.UpdateSettingsFlowWithTotpMethodAsUpdateSettingsFlowBody(b)
}

func loginTOTPBody(code, csrf string) ory.UpdateLoginFlowBody {
	b := ory.NewUpdateLoginFlowWithTotpMethod("totp", code)
	if csrf != "" {
		b.SetCsrfToken(csrf)
	}
	return ory.UpdateLoginFlowWithTotpMethodAsUpdateLoginFlowBody(b)
}

// newSettingsFlow starts a native settings flow for token.
func newSettingsFlow(t *testing.T, srv *servertest.Server, token string) *ory.SettingsFlow {
	t.Helper()
	f, res, err := srv.SDK(false).FrontendAPI.CreateNativeSettingsFlow(context.Background()).XSessionToken(token).Execute()
	mustStatus(t, res, err, http.StatusOK)
	return f
}

// mustEnrolTOTP enrols an authenticator for the identity of token and
// returns its secret; the clock then moves past the step used.
func mustEnrolTOTP(t *testing.T, srv *servertest.Server, token string) string {
	t.Helper()
	f := newSettingsFlow(t, srv, token)
	secret := totpSecretOf(t, f)
	_, res, err := srv.SDK(false).FrontendAPI.UpdateSettingsFlow(context.Background()).Flow(f.Id).XSessionToken(token).
		UpdateSettingsFlowBody(settingsTOTPBody(totpCode(t, srv, secret, 0))).Execute()
	mustStatus(t, res, err, http.StatusOK)
	srv.Clock.Advance(30 * time.Second)
	return secret
}

// whoamiOf is the whoami answer for token.
func whoamiOf(t *testing.T, srv *servertest.Server, token string) (int, map[string]any) {
	t.Helper()
	res, body := servertest.Do(t, srv.HTTPClient(false), http.MethodGet, srv.Public.URL+"/sessions/whoami", nil, http.Header{"X-Session-Token": {token}})
	return res.StatusCode, body
}

// methodsOf lists a session's authentication methods as "method/aal".
func methodsOf(s map[string]any) []string {
	var out []string
	ms, _ := s["authentication_methods"].([]any)
	for _, m := range ms {
		mm := m.(map[string]any)
		out = append(out, mm["method"].(string)+"/"+mm["aal"].(string))
	}
	return out
}

func TestTOTPSettings(t *testing.T) {
	servertest.Each(t, totpOptions(), func(t *testing.T, srv *servertest.Server) {
		ctx := context.Background()
		sdk := srv.SDK(false)

		t.Run("EnrolFormShowsKratosNodes", func(t *testing.T) {
			ident := srv.MustCreateIdentity(t, "nodes@example.test", pw)
			token := srv.MustNativeLogin(t, "nodes@example.test", pw)
			f := newSettingsFlow(t, srv, token)
			nodes := totpNodes(f.Ui.Nodes)
			if len(nodes) != 4 {
				t.Fatalf("totp group has %d nodes, want 4: %+v", len(nodes), nodes)
			}
			img := nodes[0].Attributes.UiNodeImageAttributes
			if nodes[0].Type != "img" || img == nil || img.Id != "totp_qr" || img.Width != 256 || img.Height != 256 ||
				!strings.HasPrefix(img.Src, "data:image/png;base64,") || nodes[0].Meta.Label.Id != 1050005 {
				t.Fatalf("qr node %+v", nodes[0])
			}
			txt := nodes[1].Attributes.UiNodeTextAttributes
			if nodes[1].Type != "text" || txt == nil || txt.Id != "totp_secret_key" || txt.Text.Id != 1050006 || nodes[1].Meta.Label.Id != 1050017 {
				t.Fatalf("secret node %+v", nodes[1])
			}
			secret := totpSecretOf(t, f)
			if !regexp.MustCompile(`^[A-Z2-7]{32}$`).MatchString(secret) || txt.Text.Text != secret {
				t.Fatalf("secret %q / text %q", secret, txt.Text.Text)
			}
			code := nodes[2].Attributes.UiNodeInputAttributes
			if code == nil || code.Name != "totp_code" || code.Type != "text" || !code.GetRequired() || nodes[2].Meta.Label.Id != 1070006 {
				t.Fatalf("code node %+v", nodes[2])
			}
			submit := nodes[3].Attributes.UiNodeInputAttributes
			if submit == nil || submit.Name != "method" || submit.Type != "submit" || submit.Value != "totp" || nodes[3].Meta.Label.Id != 1070003 {
				t.Fatalf("submit node %+v", nodes[3])
			}
			// Fetching the flow shows the same key again (from the sealed
			// pending key, not from stored nodes).
			again, res, err := sdk.FrontendAPI.GetSettingsFlow(ctx).Id(f.Id).XSessionToken(token).Execute()
			mustStatus(t, res, err, http.StatusOK)
			if totpSecretOf(t, again) != secret {
				t.Fatal("fetching the flow shows another secret")
			}
			var data string
			if err := srv.DB.QueryRow(ctx, `SELECT data FROM selfservice_flows WHERE id = ?`, f.Id).Scan(&data); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(data, secret) || strings.Contains(data, "otpauth") || strings.Contains(data, "data:image") {
				t.Fatalf("the stored flow holds the key in clear: %s", data)
			}
			_ = ident
		})

		t.Run("WrongMissingAndExpiredCodesKeepTheKey", func(t *testing.T) {
			ident := srv.MustCreateIdentity(t, "wrong@example.test", pw)
			token := srv.MustNativeLogin(t, "wrong@example.test", pw)
			f := newSettingsFlow(t, srv, token)
			secret := totpSecretOf(t, f)
			for _, tc := range []struct {
				name, code string
				want       int64
			}{
				{"missing", "", 4000002},
				{"wrong", "000000", 4000008},
				{"not digits", "abcdef", 4000008},
				{"expired beyond skew", totpCode(t, srv, secret, -90*time.Second), 4000008},
				{"ahead beyond skew", totpCode(t, srv, secret, 90*time.Second), 4000008},
			} {
				_, res, err := sdk.FrontendAPI.UpdateSettingsFlow(ctx).Flow(f.Id).XSessionToken(token).UpdateSettingsFlowBody(settingsTOTPBody(tc.code)).Execute()
				mustStatus(t, res, err, http.StatusBadRequest)
				got := settingsFlowOf(t, err)
				wantIDs(t, tc.name, servertest.NodeMessageIDs(got.Ui.Nodes, "totp_code"), tc.want)
				if got.State != "show_form" || totpSecretOf(t, got) != secret {
					t.Fatalf("%s: state %s, the key changed", tc.name, got.State)
				}
			}
			if i := srv.MustGetIdentity(t, ident.Id); hasCredential(i, "totp") {
				t.Fatal("a rejected code enrolled TOTP")
			}
		})

		t.Run("RightCodeEnrolsAndRaisesTheSession", func(t *testing.T) {
			ident := srv.MustCreateIdentity(t, "enrol@example.test", pw)
			token := srv.MustNativeLogin(t, "enrol@example.test", pw)
			_, before := whoamiOf(t, srv, token)
			f := newSettingsFlow(t, srv, token)
			secret := totpSecretOf(t, f)
			ok, res, err := sdk.FrontendAPI.UpdateSettingsFlow(ctx).Flow(f.Id).XSessionToken(token).
				UpdateSettingsFlowBody(settingsTOTPBody(totpCode(t, srv, secret, 0))).Execute()
			mustStatus(t, res, err, http.StatusOK)
			wantIDs(t, "success", servertest.MessageIDs(ok.Ui.Messages), 1050001)
			nodes := totpNodes(ok.Ui.Nodes)
			if ok.State != "success" || len(nodes) != 1 {
				t.Fatalf("state %s, totp nodes %+v", ok.State, nodes)
			}
			unlink := nodes[0].Attributes.UiNodeInputAttributes
			if unlink == nil || unlink.Name != "totp_unlink" || unlink.Type != "submit" || unlink.Value != "true" || nodes[0].Meta.Label.Id != 1050004 {
				t.Fatalf("unlink node %+v", nodes[0])
			}
			status, after := whoamiOf(t, srv, token)
			if status != 200 || after["id"] != before["id"] || after["authenticator_assurance_level"] != "aal2" ||
				strings.Join(methodsOf(after), ",") != "password/aal1,totp/aal2" {
				t.Fatalf("whoami after enrolment: %d %v", status, after)
			}
			i, res, err := srv.SDK(false).IdentityAPI.GetIdentity(ctx, ident.Id).Execute()
			mustStatus(t, res, err, http.StatusOK)
			c, has := i.GetCredentials()["totp"]
			if !has || strings.Join(c.Identifiers, ",") != ident.Id {
				t.Fatalf("totp credential %+v", c)
			}
			var config string
			if err := srv.DB.QueryRow(ctx, `SELECT config FROM identity_credentials WHERE identity_id = ? AND type = 'totp'`, ident.Id).Scan(&config); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(config, `"sealed"`) || strings.Contains(config, secret) || strings.Contains(config, "otpauth") {
				t.Fatalf("stored totp config is not sealed: %s", config)
			}
			var data string
			if err := srv.DB.QueryRow(ctx, `SELECT data FROM selfservice_flows WHERE id = ?`, f.Id).Scan(&data); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(data, `"pending"`) {
				t.Fatalf("the enrolled key is still pending on the flow: %s", data)
			}
		})

		t.Run("EnrollingTwiceKeepsTheFirstFactor", func(t *testing.T) {
			srv.MustCreateIdentity(t, "twice@example.test", pw)
			token := srv.MustNativeLogin(t, "twice@example.test", pw)
			stale := newSettingsFlow(t, srv, token)
			staleSecret := totpSecretOf(t, stale)
			enrolled := mustEnrolTOTP(t, srv, token)
			if enrolled == staleSecret {
				t.Fatal("two flows offered one secret")
			}
			// As in Kratos: the stale flow's right code succeeds and
			// changes nothing; the factor in use stays.
			ok, res, err := sdk.FrontendAPI.UpdateSettingsFlow(ctx).Flow(stale.Id).XSessionToken(token).
				UpdateSettingsFlowBody(settingsTOTPBody(totpCode(t, srv, staleSecret, 0))).Execute()
			mustStatus(t, res, err, http.StatusOK)
			if ok.State != "success" || len(totpNodes(ok.Ui.Nodes)) != 1 {
				t.Fatalf("stale enrolment answer %+v", ok.Ui.Nodes)
			}
			aal1 := srv.MustNativeLogin(t, "twice@example.test", pw)
			if code := secondStep(t, srv, aal1, totpCode(t, srv, staleSecret, 0)); code != http.StatusBadRequest {
				t.Fatalf("the stale secret signs in: %d", code)
			}
			if code := secondStep(t, srv, aal1, totpCode(t, srv, enrolled, 0)); code != http.StatusOK {
				t.Fatalf("the enrolled secret no longer signs in: %d", code)
			}
		})

		t.Run("OtherChangesKeepShowingTheUnlinkButton", func(t *testing.T) {
			srv.MustCreateIdentity(t, "other-change@example.test", pw)
			token := srv.MustNativeLogin(t, "other-change@example.test", pw)
			mustEnrolTOTP(t, srv, token)
			f := newSettingsFlow(t, srv, token)
			ok, res, err := sdk.FrontendAPI.UpdateSettingsFlow(ctx).Flow(f.Id).XSessionToken(token).UpdateSettingsFlowBody(
				ory.UpdateSettingsFlowWithPasswordMethodAsUpdateSettingsFlowBody(ory.NewUpdateSettingsFlowWithPasswordMethod("password", "Another-Passw0rd-For-Totp!"))).Execute()
			mustStatus(t, res, err, http.StatusOK)
			if nodes := totpNodes(ok.Ui.Nodes); len(nodes) != 1 || servertest.Input(nodes, "totp_unlink") == nil {
				t.Fatalf("after a password change the totp group is %+v", nodes)
			}
		})

		t.Run("UnlinkRemovesTheCredential", func(t *testing.T) {
			ident := srv.MustCreateIdentity(t, "unlink@example.test", pw)
			token := srv.MustNativeLogin(t, "unlink@example.test", pw)
			mustEnrolTOTP(t, srv, token)
			f := newSettingsFlow(t, srv, token)
			b := ory.NewUpdateSettingsFlowWithTotpMethod("totp")
			b.SetTotpUnlink(true)
			ok, res, err := sdk.FrontendAPI.UpdateSettingsFlow(ctx).Flow(f.Id).XSessionToken(token).
				UpdateSettingsFlowBody(ory.UpdateSettingsFlowWithTotpMethodAsUpdateSettingsFlowBody(b)).Execute()
			mustStatus(t, res, err, http.StatusOK)
			if ok.State != "success" || servertest.Input(ok.Ui.Nodes, "totp_code") == nil {
				t.Fatalf("after unlink the flow offers no enrolment: %+v", ok.Ui.Nodes)
			}
			if hasCredential(srv.MustGetIdentity(t, ident.Id), "totp") {
				t.Fatal("totp still there")
			}
			if n := countRows(t, srv, `SELECT COUNT(*) FROM identity_credential_identifiers WHERE identity_id = ? AND credential_type = 'totp'`, ident.Id); n != 0 {
				t.Fatalf("%d totp identifiers left", n)
			}
		})

		t.Run("CodeOnAFlowThatOfferedNoKey", func(t *testing.T) {
			ident := srv.MustCreateIdentity(t, "no-key@example.test", pw)
			token := srv.MustNativeLogin(t, "no-key@example.test", pw)
			mustEnrolTOTP(t, srv, token)
			unlinkFlow := newSettingsFlow(t, srv, token) // offers only the unlink button
			b := ory.NewUpdateSettingsFlowWithTotpMethod("totp")
			b.SetTotpUnlink(true)
			_, res, err := sdk.FrontendAPI.UpdateSettingsFlow(ctx).Flow(newSettingsFlow(t, srv, token).Id).XSessionToken(token).
				UpdateSettingsFlowBody(ory.UpdateSettingsFlowWithTotpMethodAsUpdateSettingsFlowBody(b)).Execute()
			mustStatus(t, res, err, http.StatusOK)
			_, res, err = sdk.FrontendAPI.UpdateSettingsFlow(ctx).Flow(unlinkFlow.Id).XSessionToken(token).
				UpdateSettingsFlowBody(settingsTOTPBody("123456")).Execute()
			mustStatus(t, res, err, http.StatusBadRequest)
			got := settingsFlowOf(t, err)
			wantIDs(t, "code without a key", servertest.NodeMessageIDs(got.Ui.Nodes, "totp_code"), 4000008)
			secret := totpSecretOf(t, got)
			_, res, err = sdk.FrontendAPI.UpdateSettingsFlow(ctx).Flow(unlinkFlow.Id).XSessionToken(token).
				UpdateSettingsFlowBody(settingsTOTPBody(totpCode(t, srv, secret, 0))).Execute()
			mustStatus(t, res, err, http.StatusOK)
			if !hasCredential(srv.MustGetIdentity(t, ident.Id), "totp") {
				t.Fatal("the key offered again did not enrol")
			}
		})

		t.Run("HTMLFormUnlinkButtonNeedsNoMethod", func(t *testing.T) {
			ident := srv.MustCreateIdentity(t, "form-unlink@example.test", pw)
			token := srv.MustNativeLogin(t, "form-unlink@example.test", pw)
			mustEnrolTOTP(t, srv, token)
			f := newSettingsFlow(t, srv, token)
			res, body := servertest.Do(t, srv.HTTPClient(false), http.MethodPost, srv.Public.URL+"/self-service/settings?flow="+f.Id,
				map[string]any{"totp_unlink": true}, http.Header{"X-Session-Token": {token}})
			if res.StatusCode != http.StatusOK || body["state"] != "success" {
				t.Fatalf("unlink without method: %d %v", res.StatusCode, body)
			}
			if hasCredential(srv.MustGetIdentity(t, ident.Id), "totp") {
				t.Fatal("totp still there")
			}
		})

		t.Run("EnrolAndUnlinkNeedAPrivilegedSession", func(t *testing.T) {
			ident := srv.MustCreateIdentity(t, "stale-session@example.test", pw)
			token := srv.MustNativeLogin(t, "stale-session@example.test", pw)
			srv.Clock.Advance(61 * time.Minute) // past privileged_session_max_age
			f := newSettingsFlow(t, srv, token)
			secret := totpSecretOf(t, f)
			_, res, err := sdk.FrontendAPI.UpdateSettingsFlow(ctx).Flow(f.Id).XSessionToken(token).
				UpdateSettingsFlowBody(settingsTOTPBody(totpCode(t, srv, secret, 0))).Execute()
			mustStatus(t, res, err, http.StatusForbidden)
			if e := servertest.ErrorBody(t, err)["error"].(map[string]any); e["id"] != "session_refresh_required" {
				t.Fatalf("error %v", e)
			}
			if hasCredential(srv.MustGetIdentity(t, ident.Id), "totp") {
				t.Fatal("an old session enrolled TOTP")
			}

			enrolled := srv.MustCreateIdentity(t, "stale-unlink@example.test", pw)
			token = srv.MustNativeLogin(t, "stale-unlink@example.test", pw)
			mustEnrolTOTP(t, srv, token)
			srv.Clock.Advance(61 * time.Minute)
			f = newSettingsFlow(t, srv, token)
			b := ory.NewUpdateSettingsFlowWithTotpMethod("totp")
			b.SetTotpUnlink(true)
			_, res, err = sdk.FrontendAPI.UpdateSettingsFlow(ctx).Flow(f.Id).XSessionToken(token).
				UpdateSettingsFlowBody(ory.UpdateSettingsFlowWithTotpMethodAsUpdateSettingsFlowBody(b)).Execute()
			mustStatus(t, res, err, http.StatusForbidden)
			if !hasCredential(srv.MustGetIdentity(t, enrolled.Id), "totp") {
				t.Fatal("an old session unlinked TOTP")
			}
		})

		t.Run("BrowserFlowNeedsCSRF", func(t *testing.T) {
			srv.MustCreateIdentity(t, "csrf@example.test", pw)
			b := srv.HTTPClient(true)
			jsonAccept := http.Header{"Accept": {"application/json"}}
			res, lf := servertest.Do(t, b, http.MethodGet, srv.Public.URL+"/self-service/login/browser", nil, jsonAccept)
			res, _ = servertest.Do(t, b, http.MethodPost, srv.Public.URL+"/self-service/login?flow="+lf["id"].(string),
				map[string]any{"method": "password", "identifier": "csrf@example.test", "password": pw, "csrf_token": csrfOf(lf)}, jsonAccept)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("login: %d", res.StatusCode)
			}
			res, sf := servertest.Do(t, b, http.MethodGet, srv.Public.URL+"/self-service/settings/browser", nil, jsonAccept)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("settings flow: %d %v", res.StatusCode, sf)
			}
			res, body := servertest.Do(t, b, http.MethodPost, srv.Public.URL+"/self-service/settings?flow="+sf["id"].(string),
				map[string]any{"method": "totp", "totp_code": "123456"}, jsonAccept)
			if res.StatusCode != http.StatusForbidden || body["error"].(map[string]any)["id"] != "security_csrf_violation" {
				t.Fatalf("without csrf_token: %d %v", res.StatusCode, body)
			}
		})
	})
}

// secondStep runs an aal2 login for the aal1 session token with code and
// returns the status of the submission.
func secondStep(t *testing.T, srv *servertest.Server, token, code string) int {
	t.Helper()
	ctx := context.Background()
	sdk := srv.SDK(false)
	f, res, err := sdk.FrontendAPI.CreateNativeLoginFlow(ctx).Aal("aal2").XSessionToken(token).Execute()
	mustStatus(t, res, err, http.StatusOK)
	_, res, err = sdk.FrontendAPI.UpdateLoginFlow(ctx).Flow(f.Id).XSessionToken(token).UpdateLoginFlowBody(loginTOTPBody(code, "")).Execute()
	if res == nil {
		t.Fatalf("second step: %v", err)
	}
	return res.StatusCode
}

func hasCredential(i *ory.Identity, ct string) bool {
	_, ok := i.GetCredentials()[ct]
	return ok
}

func countRows(t *testing.T, srv *servertest.Server, query string, args ...any) int {
	t.Helper()
	var n int
	if err := srv.DB.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestTOTPLogin(t *testing.T) {
	servertest.Each(t, totpOptions(), func(t *testing.T, srv *servertest.Server) {
		ctx := context.Background()
		sdk := srv.SDK(false)
		aal2URL := srv.Config.PublicURL("self-service/login/browser") + "?aal=aal2"

		t.Run("NativeFirstFactorThenCode", func(t *testing.T) {
			srv.MustCreateIdentity(t, "native@example.test", pw)
			secret := mustEnrolTOTP(t, srv, srv.MustNativeLogin(t, "native@example.test", pw))

			// The password alone: a token, an aal1 session without identity.
			lf, res, err := sdk.FrontendAPI.CreateNativeLoginFlow(ctx).Execute()
			mustStatus(t, res, err, http.StatusOK)
			res, body := servertest.Do(t, srv.HTTPClient(false), http.MethodPost, srv.Public.URL+"/self-service/login?flow="+lf.Id,
				map[string]any{"method": "password", "identifier": "native@example.test", "password": pw}, nil)
			sess, _ := body["session"].(map[string]any)
			token, _ := body["session_token"].(string)
			if res.StatusCode != http.StatusOK || token == "" || sess["authenticator_assurance_level"] != "aal1" {
				t.Fatalf("password login: %d %v", res.StatusCode, body)
			}
			if _, has := sess["identity"]; has {
				t.Fatalf("an aal1 session of a TOTP user shows its identity: %v", sess)
			}
			status, who := whoamiOf(t, srv, token)
			e, _ := who["error"].(map[string]any)
			if status != http.StatusForbidden || e["id"] != "session_aal2_required" || who["redirect_browser_to"] != aal2URL ||
				e["details"].(map[string]any)["redirect_browser_to"] != aal2URL {
				t.Fatalf("whoami at aal1: %d %v", status, who)
			}

			// The second step.
			f, res, err := sdk.FrontendAPI.CreateNativeLoginFlow(ctx).Aal("aal2").XSessionToken(token).Execute()
			mustStatus(t, res, err, http.StatusOK)
			wantIDs(t, "aal2 flow", servertest.MessageIDs(f.Ui.Messages), 1010004)
			nodes := totpNodes(f.Ui.Nodes)
			if f.GetRequestedAal() != "aal2" || len(nodes) != 2 {
				t.Fatalf("aal2 flow: %s %+v", f.GetRequestedAal(), nodes)
			}
			if a := nodes[0].Attributes.UiNodeInputAttributes; a == nil || a.Name != "totp_code" || !a.GetRequired() || a.Value != "" || nodes[0].Meta.Label.Id != 1010006 {
				t.Fatalf("code node %+v", nodes[0])
			}
			if a := nodes[1].Attributes.UiNodeInputAttributes; a == nil || a.Name != "method" || a.Value != "totp" || nodes[1].Meta.Label.Id != 1010009 {
				t.Fatalf("submit node %+v", nodes[1])
			}
			_, res, err = sdk.FrontendAPI.UpdateLoginFlow(ctx).Flow(f.Id).XSessionToken(token).UpdateLoginFlowBody(loginTOTPBody("", "")).Execute()
			mustStatus(t, res, err, http.StatusBadRequest)
			wantIDs(t, "missing code", servertest.NodeMessageIDs(loginFlowOf(t, err).Ui.Nodes, "totp_code"), 4000002)
			_, res, err = sdk.FrontendAPI.UpdateLoginFlow(ctx).Flow(f.Id).XSessionToken(token).UpdateLoginFlowBody(loginTOTPBody("000000", "")).Execute()
			mustStatus(t, res, err, http.StatusBadRequest)
			wantIDs(t, "wrong code", servertest.MessageIDs(loginFlowOf(t, err).Ui.Messages), 4000008)
			_, res, err = sdk.FrontendAPI.UpdateLoginFlow(ctx).Flow(f.Id).XSessionToken(token).
				UpdateLoginFlowBody(loginTOTPBody(totpCode(t, srv, secret, -90*time.Second), "")).Execute()
			mustStatus(t, res, err, http.StatusBadRequest)
			wantIDs(t, "expired code", servertest.MessageIDs(loginFlowOf(t, err).Ui.Messages), 4000008)

			code := totpCode(t, srv, secret, 0)
			ok, res, err := sdk.FrontendAPI.UpdateLoginFlow(ctx).Flow(f.Id).XSessionToken(token).UpdateLoginFlowBody(loginTOTPBody(code, "")).Execute()
			mustStatus(t, res, err, http.StatusOK)
			if ok.Session.Id != sess["id"] || ok.GetSessionToken() != token || ok.Session.GetAuthenticatorAssuranceLevel() != "aal2" {
				t.Fatalf("second step: session %s (was %s), token kept %v, aal %s", ok.Session.Id, sess["id"], ok.GetSessionToken() == token, ok.Session.GetAuthenticatorAssuranceLevel())
			}
			status, who = whoamiOf(t, srv, token)
			if status != http.StatusOK || who["id"] != sess["id"] || strings.Join(methodsOf(who), ",") != "password/aal1,totp/aal2" {
				t.Fatalf("whoami at aal2: %d %v", status, who)
			}
			if _, res, err := sdk.FrontendAPI.CreateNativeLoginFlow(ctx).Aal("aal2").XSessionToken(token).Execute(); res == nil || res.StatusCode == http.StatusOK {
				t.Fatalf("aal2 flow for an aal2 session: %v", err)
			}

			// The same code, from another aal1 session: used already.
			other := srv.MustNativeLogin(t, "native@example.test", pw)
			if got := secondStep(t, srv, other, code); got != http.StatusBadRequest {
				t.Fatalf("replayed code: %d", got)
			}
			srv.Clock.Advance(30 * time.Second)
			if got := secondStep(t, srv, other, totpCode(t, srv, secret, 0)); got != http.StatusOK {
				t.Fatalf("next code: %d", got)
			}
		})

		t.Run("OneCodeTwiceAtOnceWinsOnce", func(t *testing.T) {
			srv.MustCreateIdentity(t, "race@example.test", pw)
			secret := mustEnrolTOTP(t, srv, srv.MustNativeLogin(t, "race@example.test", pw))
			code := totpCode(t, srv, secret, 0)
			const n = 4
			var flows, tokens [n]string
			for i := range n {
				tokens[i] = srv.MustNativeLogin(t, "race@example.test", pw)
				f, res, err := sdk.FrontendAPI.CreateNativeLoginFlow(ctx).Aal("aal2").XSessionToken(tokens[i]).Execute()
				mustStatus(t, res, err, http.StatusOK)
				flows[i] = f.Id
			}
			var wg sync.WaitGroup
			var statuses [n]int
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					res, _ := servertest.DoRaw(t, srv.HTTPClient(false), http.MethodPost, srv.Public.URL+"/self-service/login?flow="+flows[i],
						map[string]any{"method": "totp", "totp_code": code}, http.Header{"X-Session-Token": {tokens[i]}})
					statuses[i] = res.StatusCode
				}()
			}
			wg.Wait()
			won := 0
			for _, s := range statuses {
				switch s {
				case http.StatusOK:
					won++
				case http.StatusBadRequest:
				default:
					t.Fatalf("statuses %v", statuses)
				}
			}
			if won != 1 {
				t.Fatalf("%d of %d concurrent uses of one code won (statuses %v)", won, n, statuses)
			}
		})

		t.Run("GuessesAreLimited", func(t *testing.T) {
			srv.MustCreateIdentity(t, "guess@example.test", pw)
			secret := mustEnrolTOTP(t, srv, srv.MustNativeLogin(t, "guess@example.test", pw))
			token := srv.MustNativeLogin(t, "guess@example.test", pw)
			f, res, err := sdk.FrontendAPI.CreateNativeLoginFlow(ctx).Aal("aal2").XSessionToken(token).Execute()
			mustStatus(t, res, err, http.StatusOK)
			limit := srv.Config.SelfService.Flows.Login.RateLimit.PerIdentifier.Max
			for i := range limit {
				_, res, _ := sdk.FrontendAPI.UpdateLoginFlow(ctx).Flow(f.Id).XSessionToken(token).UpdateLoginFlowBody(loginTOTPBody("000000", "")).Execute()
				if res.StatusCode != http.StatusBadRequest {
					t.Fatalf("guess %d: %d", i+1, res.StatusCode)
				}
			}
			_, res, err = sdk.FrontendAPI.UpdateLoginFlow(ctx).Flow(f.Id).XSessionToken(token).
				UpdateLoginFlowBody(loginTOTPBody(totpCode(t, srv, secret, 0), "")).Execute()
			mustStatus(t, res, err, http.StatusTooManyRequests)
			if res.Header.Get("Retry-After") == "" {
				t.Fatal("no Retry-After")
			}
			if status, _ := whoamiOf(t, srv, token); status != http.StatusForbidden {
				t.Fatalf("a refused guess raised the session: whoami %d", status)
			}
		})

		t.Run("NoSessionNoSecondStep", func(t *testing.T) {
			srv.MustCreateIdentity(t, "nosession@example.test", pw)
			secret := mustEnrolTOTP(t, srv, srv.MustNativeLogin(t, "nosession@example.test", pw))
			token := srv.MustNativeLogin(t, "nosession@example.test", pw)
			f, res, err := sdk.FrontendAPI.CreateNativeLoginFlow(ctx).Aal("aal2").XSessionToken(token).Execute()
			mustStatus(t, res, err, http.StatusOK)
			res, body := servertest.Do(t, srv.HTTPClient(false), http.MethodPost, srv.Public.URL+"/self-service/login?flow="+f.Id,
				map[string]any{"method": "totp", "totp_code": totpCode(t, srv, secret, 0)}, nil)
			if res.StatusCode != http.StatusUnauthorized || body["error"].(map[string]any)["id"] != "session_aal1_required" || body["session_token"] != nil {
				t.Fatalf("code without the session: %d %v", res.StatusCode, body)
			}
		})

		t.Run("SPAIsSentToTheSecondStepWithReturnTo", func(t *testing.T) {
			srv.MustCreateIdentity(t, "spa@example.test", pw)
			secret := mustEnrolTOTP(t, srv, srv.MustNativeLogin(t, "spa@example.test", pw))
			b := srv.HTTPClient(true)
			jsonAccept := http.Header{"Accept": {"application/json"}}
			returnTo := servertest.EntryAllowedReturn + "home"
			res, lf := servertest.Do(t, b, http.MethodGet, srv.Public.URL+"/self-service/login/browser?return_to="+url.QueryEscape(returnTo), nil, jsonAccept)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("login flow: %d %v", res.StatusCode, lf)
			}
			res, body := servertest.Do(t, b, http.MethodPost, srv.Public.URL+"/self-service/login?flow="+lf["id"].(string),
				map[string]any{"method": "password", "identifier": "spa@example.test", "password": pw, "csrf_token": csrfOf(lf)}, jsonAccept)
			next := aal2URL + "&return_to=" + url.QueryEscape(returnTo)
			e, _ := body["error"].(map[string]any)
			if res.StatusCode != 422 || e["id"] != "browser_location_change_required" || body["redirect_browser_to"] != next {
				t.Fatalf("SPA password login: %d %v", res.StatusCode, body)
			}
			first := srv.SessionOf(t, res)
			if first.ID != "" { // whoami refuses it
				t.Fatal("whoami accepts the aal1 session of a TOTP user")
			}
			res, f := servertest.Do(t, b, http.MethodGet, next, nil, jsonAccept)
			if res.StatusCode != http.StatusOK || f["return_to"] != returnTo || f["requested_aal"] != "aal2" {
				t.Fatalf("aal2 flow: %d %v", res.StatusCode, f)
			}
			res, body = servertest.Do(t, b, http.MethodPost, srv.Public.URL+"/self-service/login?flow="+f["id"].(string),
				map[string]any{"method": "totp", "totp_code": totpCode(t, srv, secret, 0), "csrf_token": csrfOf(f)}, jsonAccept)
			cw, _ := body["continue_with"].([]any)
			if res.StatusCode != http.StatusOK || len(cw) != 1 || cw[0].(map[string]any)["redirect_browser_to"] != returnTo {
				t.Fatalf("SPA second step: %d %v", res.StatusCode, body)
			}
			second := srv.SessionOf(t, res)
			if second.Token != first.Token || second.ID == "" {
				t.Fatalf("the second step changed the session token or whoami still refuses it")
			}
			if status, who := whoamiOf(t, srv, second.Token); status != 200 || who["authenticator_assurance_level"] != "aal2" {
				t.Fatalf("whoami: %d %v", status, who)
			}
		})

		t.Run("HTMLFormIsRedirectedToTheSecondStep", func(t *testing.T) {
			srv.MustCreateIdentity(t, "form@example.test", pw)
			mustEnrolTOTP(t, srv, srv.MustNativeLogin(t, "form@example.test", pw))
			b := srv.HTTPClient(true)
			returnTo := servertest.EntryAllowedReturn + "deep"
			res, lf := servertest.Do(t, b, http.MethodGet, srv.Public.URL+"/self-service/login/browser?return_to="+url.QueryEscape(returnTo), nil,
				http.Header{"Accept": {"application/json"}})
			if res.StatusCode != http.StatusOK {
				t.Fatalf("login flow: %d", res.StatusCode)
			}
			res, _ = servertest.Do(t, b, http.MethodPost, srv.Public.URL+"/self-service/login?flow="+lf["id"].(string),
				url.Values{"method": {"password"}, "identifier": {"form@example.test"}, "password": {pw}, "csrf_token": {csrfOf(lf)}},
				http.Header{"Accept": {"text/html"}})
			if want := aal2URL + "&return_to=" + url.QueryEscape(returnTo); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != want {
				t.Fatalf("form password login: %d %q, want 303 %q", res.StatusCode, res.Header.Get("Location"), want)
			}
			srv.SessionOf(t, res) // the aal1 cookie is set
		})

		t.Run("WithoutSecondFactorNothingChanges", func(t *testing.T) {
			srv.MustCreateIdentity(t, "plain@example.test", pw)
			token := srv.MustNativeLogin(t, "plain@example.test", pw)
			if status, who := whoamiOf(t, srv, token); status != 200 || who["identity"] == nil {
				t.Fatalf("whoami: %d %v", status, who)
			}
			f, res, err := sdk.FrontendAPI.CreateNativeLoginFlow(ctx).Aal("aal2").XSessionToken(token).Execute()
			mustStatus(t, res, err, http.StatusOK)
			if len(totpNodes(f.Ui.Nodes)) != 0 {
				t.Fatalf("aal2 flow of an identity without TOTP offers it: %+v", f.Ui.Nodes)
			}
			res, body := servertest.Do(t, srv.HTTPClient(false), http.MethodPost, srv.Public.URL+"/self-service/login?flow="+f.Id,
				map[string]any{"method": "totp", "totp_code": "123456"}, http.Header{"X-Session-Token": {token}})
			if res.StatusCode != http.StatusBadRequest {
				t.Fatalf("totp without a device: %d %v", res.StatusCode, body)
			}
		})
	})
}
