package recovery_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	ory "github.com/ory/client-go"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

// withBackupCodes turns recovery by backup code on (Latchkey departure).
var withBackupCodes = []string{servertest.LookupEnabled, "SELFSERVICE_METHODS_LOOKUP_SECRET_CONFIG_USE_FOR_RECOVERY=true"}

// mustIdentityWithCodes creates an identity with a password and backup
// codes (enrolled in settings after an admin recovery) and returns the
// codes.
func mustIdentityWithCodes(t *testing.T, srv *servertest.Server, email string) (*ory.Identity, []string) {
	t.Helper()
	ident := mustIdentity(t, srv, email)
	return ident, srv.MustBackupCodes(t, srv.MustRecover(t, ident.Id, "api", "").Token)
}

// backupCodeBody is a backup-code submission.
func backupCodeBody(email, code, csrf string) string {
	m := map[string]string{"method": "lookup_secret", "email": email, "lookup_secret": code}
	if csrf != "" {
		m["csrf_token"] = csrf
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// answerShape is what an answer says, minus what differs between any two
// flows (ids, times, the address typed): status, error id and reason,
// state, active group, messages and nodes.
func answerShape(res *http.Response, body map[string]any, email string) string {
	b, _ := json.Marshal(map[string]any{
		"status": res.StatusCode, "error": dig(body, "error", "reason"), "state": body["state"], "active": body["active"],
		"messages": dig(body, "ui", "messages"), "nodes": dig(body, "ui", "nodes"),
	})
	shape := csrfValue.ReplaceAllString(string(b), `"name":"csrf_token"`)
	return strings.ReplaceAll(shape, email, "EMAIL")
}

// csrfValue is a masked CSRF token (new on every answer) in a node.
var csrfValue = regexp.MustCompile(`"name":"csrf_token","node_type":"input","required":true,"type":"hidden","value":"[^"]*"`)

func TestRecoveryWithBackupCode(t *testing.T) {
	servertest.Each(t, options(withBackupCodes), func(t *testing.T, srv *servertest.Server) {
		ctx := context.Background()
		api := srv.SDK(false)

		t.Run("FlowOffersTheBackupCodeForm", func(t *testing.T) {
			f, _, err := api.FrontendAPI.CreateNativeRecoveryFlow(ctx).Execute()
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, n := range f.Ui.Nodes {
				if a := n.Attributes.UiNodeInputAttributes; a != nil && n.Group == "lookup_secret" {
					v, _ := json.Marshal(a.Value)
					got = append(got, a.Name+"/"+a.Type+"/"+string(v)+"/"+itoa(n.Meta.Label.Id)+"/"+strings.TrimSpace(strings.Repeat("required", btoi(a.GetRequired()))))
				}
			}
			want := "email/email/null/1070007/required lookup_secret/text/null/1010007/required method/submit/\"lookup_secret\"/1010010/"
			if strings.Join(got, " ") != want {
				t.Fatalf("lookup_secret nodes %v\nwant %s", got, want)
			}
			// The mailed method is still there.
			if servertest.Input(f.Ui.Nodes, "email") == nil || f.GetActive() != "code" {
				t.Fatalf("flow %+v", f)
			}
		})

		t.Run("NativeRecoveryLandsInSettingsAtAal2AndSpendsTheCode", func(t *testing.T) {
			email := uniqueEmail("backup-native")
			ident, codes := mustIdentityWithCodes(t, srv, email)
			other := srv.MustNativeLogin(t, email, oldPassword)
			res, body := postJSON(t, srv, nil, newNativeFlow(t, srv), backupCodeBody(email, codes[2], ""), nil)
			if res.StatusCode != http.StatusOK || body["state"] != "passed_challenge" {
				t.Fatalf("recover: %d %v", res.StatusCode, body)
			}
			token, _ := dig(body, "continue_with", 0, "ory_session_token").(string)
			settingsFlow, _ := dig(body, "continue_with", 1, "flow", "id").(string)
			if dig(body, "continue_with", 0, "action") != "set_ory_session_token" || dig(body, "continue_with", 1, "action") != "show_settings_ui" || token == "" {
				t.Fatalf("continue_with %v", body["continue_with"])
			}
			if cookieNamed(res, servertest.SessionCookieName) != nil {
				t.Fatal("a native client got a session cookie")
			}
			sess, _, err := api.FrontendAPI.ToSession(ctx).XSessionToken(token).Execute()
			if err != nil {
				t.Fatalf("whoami: %v", err)
			}
			var methods []string
			for _, m := range sess.AuthenticationMethods {
				methods = append(methods, m.GetMethod()+"/"+string(m.GetAal()))
			}
			if sess.GetAuthenticatorAssuranceLevel() != "aal2" || strings.Join(methods, ",") != "code_recovery/aal1,lookup_secret/aal2" {
				t.Fatalf("session %v %v", sess.GetAuthenticatorAssuranceLevel(), methods)
			}
			if srv.SessionActive(t, other) {
				t.Fatal("the other session survived the recovery")
			}
			// The settings flow takes the new password at once.
			sf, _, err := api.FrontendAPI.GetSettingsFlow(ctx).Id(settingsFlow).XSessionToken(token).Execute()
			if err != nil || servertest.MessageIDs(sf.Ui.Messages)[0] != 1060001 {
				t.Fatalf("settings flow: %v %v", err, sf)
			}
			const newPassword = "New-Passw0rd-After-Backup-Code!"
			pw := ory.UpdateSettingsFlowWithPasswordMethodAsUpdateSettingsFlowBody(ory.NewUpdateSettingsFlowWithPasswordMethod("password", newPassword))
			if _, _, err := api.FrontendAPI.UpdateSettingsFlow(ctx).Flow(settingsFlow).XSessionToken(token).UpdateSettingsFlowBody(pw).Execute(); err != nil {
				t.Fatalf("new password: %v %s", err, servertest.ErrorText(err))
			}
			if !srv.PasswordIs(t, ident.Id, newPassword) {
				t.Fatal("password not changed")
			}
			// The code is spent; another one still works.
			res, body = postJSON(t, srv, nil, newNativeFlow(t, srv), backupCodeBody(email, codes[2], ""), nil)
			if res.StatusCode != http.StatusBadRequest || dig(body, "ui", "messages", 0, "id") != 4000016.0 {
				t.Fatalf("spent code: %d %v", res.StatusCode, body)
			}
			if res, body := postJSON(t, srv, nil, newNativeFlow(t, srv), backupCodeBody(email, codes[3], ""), nil); res.StatusCode != http.StatusOK {
				t.Fatalf("next code: %d %v", res.StatusCode, body)
			}
		})

		t.Run("UnknownAddressAnswersAsAWrongCode", func(t *testing.T) {
			known := uniqueEmail("backup-known")
			_, codes := mustIdentityWithCodes(t, srv, known)
			noCodes := uniqueEmail("backup-nocodes")
			mustIdentity(t, srv, noCodes)
			unknown := uniqueEmail("backup-unknown")
			answers := map[string]string{}
			for name, try := range map[string][2]string{
				"wrong code":   {known, "zzzzzzzz"},
				"unknown":      {unknown, codes[0]},
				"no codes":     {noCodes, codes[0]},
				"other's code": {noCodes, codes[1]},
			} {
				res, body := postJSON(t, srv, nil, newNativeFlow(t, srv), backupCodeBody(try[0], try[1], ""), nil)
				answers[name] = answerShape(res, body, try[0])
			}
			want := answers["wrong code"]
			if !strings.Contains(want, `"status":400`) || !strings.Contains(want, `"id":4000016`) || !strings.Contains(want, `"active":"lookup_secret"`) {
				t.Fatalf("wrong code answer %s", want)
			}
			for name, got := range answers {
				if got != want {
					t.Fatalf("%s answered\n%s\nwrong code answered\n%s", name, got, want)
				}
			}
			// Browser (SPA) answers are alike too.
			spa := func(email, code string) string {
				sdk, hc := browser(srv)
				f, _, err := sdk.FrontendAPI.CreateBrowserRecoveryFlow(ctx).Execute()
				if err != nil {
					t.Fatal(err)
				}
				res, body := postJSON(t, srv, hc, f.Id, backupCodeBody(email, code, csrfOf(f)), nil)
				return answerShape(res, body, email)
			}
			if a, b := spa(known, "zzzzzzzz"), spa(unknown, codes[0]); a != b || !strings.Contains(a, `"status":400`) {
				t.Fatalf("browser answers differ:\n%s\n%s", a, b)
			}
		})

		t.Run("SixthSubmissionReplacesTheFlowWithoutLookingAtTheCode", func(t *testing.T) {
			email := uniqueEmail("backup-budget")
			_, codes := mustIdentityWithCodes(t, srv, email)
			hc := srv.HTTPClientFrom("127.0.0.31", false)
			for _, addr := range []string{email, uniqueEmail("backup-budget-unknown")} {
				flowID := newNativeFlow(t, srv)
				for i := range 5 {
					// Different addresses do not reset the flow's budget.
					if res, body := postJSON(t, srv, hc, flowID, backupCodeBody(uniqueEmail("x"), "wrong00"+itoa(int64(i)), ""), nil); res.StatusCode != http.StatusBadRequest {
						t.Fatalf("guess %d: %d %v", i, res.StatusCode, body)
					}
				}
				res, body := postJSON(t, srv, hc, flowID, backupCodeBody(addr, codes[0], ""), nil)
				if res.StatusCode != http.StatusBadRequest || dig(body, "error", "reason") != "The request was submitted too often. Please request another code." {
					t.Fatalf("sixth: %d %v", res.StatusCode, body)
				}
			}
			// The code was not spent.
			if res, body := postJSON(t, srv, hc, newNativeFlow(t, srv), backupCodeBody(email, codes[0], ""), nil); res.StatusCode != http.StatusOK {
				t.Fatalf("code after budget: %d %v", res.StatusCode, body)
			}
		})

		t.Run("AddressLimitCountsGuessesAcrossFlows", func(t *testing.T) {
			email := uniqueEmail("backup-limit")
			_, codes := mustIdentityWithCodes(t, srv, email)
			unknown := uniqueEmail("backup-limit-unknown")
			shapes := []string{}
			for _, addr := range []string{email, unknown} {
				for i := range 5 {
					hc := srv.HTTPClientFrom("127.0.0."+itoa(int64(40+i)), false)
					if res, body := postJSON(t, srv, hc, newNativeFlow(t, srv), backupCodeBody(addr, "wrong00"+itoa(int64(i)), ""), nil); res.StatusCode != http.StatusBadRequest {
						t.Fatalf("guess %d: %d %v", i, res.StatusCode, body)
					}
				}
				res, body := postJSON(t, srv, srv.HTTPClientFrom("127.0.0.49", false), newNativeFlow(t, srv), backupCodeBody(addr, codes[0], ""), nil)
				if res.StatusCode != http.StatusTooManyRequests || dig(body, "ui", "messages", 0, "id") != 4060100.0 || res.Header.Get("Retry-After") == "" {
					t.Fatalf("over the address limit: %d %v", res.StatusCode, body)
				}
				shapes = append(shapes, answerShape(res, body, addr))
			}
			// The windows started at different times; the waits may differ.
			wait := regexp.MustCompile(`"retry_after_seconds":\d+|wait \d+ \w+`)
			if wait.ReplaceAllString(shapes[0], "") != wait.ReplaceAllString(shapes[1], "") {
				t.Fatalf("limit answers differ:\n%s\n%s", shapes[0], shapes[1])
			}
		})

		t.Run("BrowserFormLandsInSettingsWithACookie", func(t *testing.T) {
			email := uniqueEmail("backup-browser")
			_, codes := mustIdentityWithCodes(t, srv, email)
			sdk, hc := browser(srv)
			f, _, err := sdk.FrontendAPI.CreateBrowserRecoveryFlow(ctx).Execute()
			if err != nil {
				t.Fatal(err)
			}
			// One form holding both groups sends two email fields.
			form := url.Values{"csrf_token": {csrfOf(f)}, "method": {"lookup_secret"}, "email": {"", email}, "lookup_secret": {codes[5]}}
			res, _ := do(t, hc, http.MethodPost, srv.Public.URL+"/self-service/recovery?flow="+f.Id,
				map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"}, form.Encode())
			if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), settingsUI+"?flow=") {
				t.Fatalf("form: %d %s", res.StatusCode, res.Header.Get("Location"))
			}
			if cookieNamed(res, servertest.SessionCookieName) == nil {
				t.Fatal("no session cookie")
			}
			// Without the CSRF token the code is not even looked at.
			sdk2, hc2 := browser(srv)
			f2, _, err := sdk2.FrontendAPI.CreateBrowserRecoveryFlow(ctx).Execute()
			if err != nil {
				t.Fatal(err)
			}
			if res, body := postJSON(t, srv, hc2, f2.Id, backupCodeBody(email, codes[6], ""), nil); res.StatusCode != http.StatusForbidden || dig(body, "error", "id") != "security_csrf_violation" {
				t.Fatalf("no csrf: %d %v", res.StatusCode, body)
			}
			if res, body := postJSON(t, srv, nil, newNativeFlow(t, srv), backupCodeBody(email, codes[6], ""), nil); res.StatusCode != http.StatusOK {
				t.Fatalf("code after the CSRF failure: %d %v", res.StatusCode, body)
			}
		})
	})
}

func TestRecoveryWithBackupCodeOff(t *testing.T) {
	srv := servertest.Start(t, options([]string{servertest.LookupEnabled}))
	email := uniqueEmail("backup-off")
	_, codes := mustIdentityWithCodes(t, srv, email)
	f, _, err := srv.SDK(false).FrontendAPI.CreateNativeRecoveryFlow(context.Background()).Execute()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range f.Ui.Nodes {
		if n.Group == "lookup_secret" {
			t.Fatalf("node %+v offered with use_for_recovery off", n)
		}
	}
	res, body := postJSON(t, srv, nil, f.Id, backupCodeBody(email, codes[0], ""), nil)
	unknown, other := postJSON(t, srv, nil, newNativeFlow(t, srv), `{"method":"carrier-pigeon","email":"`+email+`"}`, nil)
	if res.StatusCode != http.StatusBadRequest || dig(body, "ui", "messages", 0, "id") != 4010005.0 || answerShape(res, body, email) != answerShape(unknown, other, email) {
		t.Fatalf("off: %d %v\nunknown method: %d %v", res.StatusCode, body, unknown.StatusCode, other)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
