package recovery_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	ory "github.com/ory/client-go"

	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/server/servertest"
)

// The recovery step-up (issue 13): a user with a second factor recovers
// into an aal1 session; under settings required_aal highest_available the
// settings flow needs aal2 first, and every client is told so, with
// return_to kept through the step-up.

// ownSettingsUI is a settings UI on an origin allowed_return_urls does
// not list: the step-up must still return there.
const ownSettingsUI = "https://accounts.example.test/settings"

var (
	// withSecondFactors turns the totp and lookup_secret methods on (off
	// by default, as in Kratos) for the aal2 login of the step-up.
	withSecondFactors = []string{"SELFSERVICE_METHODS_TOTP_ENABLED=true", "SELFSERVICE_METHODS_LOOKUP_SECRET_ENABLED=true"}
	withOwnSettingsUI = []string{"SELFSERVICE_FLOWS_SETTINGS_UI_URL=" + ownSettingsUI}
	withSettingsAAL1  = []string{"SELFSERVICE_FLOWS_SETTINGS_REQUIRED_AAL=aal1", "SESSION_WHOAMI_REQUIRED_AAL=aal1"}
)

const stepUpPassword = "N3w-Stepped-Up-Passw0rd-Latchkey!"

// mfaUser is an identity with a password, a TOTP device and backup codes.
type mfaUser struct {
	id, email, secret string
	codes             []string
}

func mustMFAUser(t *testing.T, srv *servertest.Server) mfaUser {
	t.Helper()
	email := uniqueEmail("mfa")
	i := mustIdentity(t, srv, email)
	return mfaUser{id: i.Id, email: email, secret: srv.MustEnrolTOTP(t, i.Id), codes: srv.MustEnrolBackupCodes(t, i.Id)}
}

// activeSession is the identity's one active session (recovery revoked
// the others) as the admin API lists it.
func activeSession(t *testing.T, srv *servertest.Server, identityID string) ory.Session {
	t.Helper()
	list, _, err := srv.SDK(false).IdentityAPI.ListIdentitySessions(context.Background(), identityID).Active(true).Execute()
	if err != nil || len(list) != 1 {
		t.Fatalf("active sessions of %s: %v %d", identityID, err, len(list))
	}
	return list[0]
}

// secondFactorBody is the aal2 login submission with the TOTP code, or
// with the first backup code when backup is set (the device is lost).
func (u mfaUser) secondFactor(t *testing.T, srv *servertest.Server, backup bool) (node string, body url.Values) {
	if backup {
		return "lookup_secret", url.Values{"method": {"lookup_secret"}, "lookup_secret": {u.codes[0]}}
	}
	return "totp_code", url.Values{"method": {"totp"}, "totp_code": {srv.TOTPCode(t, u.secret)}}
}

// mustBeAAL1RecoverySession checks what the recovery left: an aal1
// session by method (code_recovery, link_recovery) that whoami refuses
// with the step-up, the password unchanged, the TOTP device enrolled.
func mustBeAAL1RecoverySession(t *testing.T, srv *servertest.Server, u mfaUser, method string) {
	t.Helper()
	s := activeSession(t, srv, u.id)
	if s.GetAuthenticatorAssuranceLevel() != "aal1" || len(s.AuthenticationMethods) != 1 || s.AuthenticationMethods[0].GetMethod() != method {
		t.Fatalf("recovery session = %s %+v", s.GetAuthenticatorAssuranceLevel(), s.AuthenticationMethods)
	}
	if !srv.PasswordIs(t, u.id, oldPassword) {
		t.Fatal("the password changed before the step-up")
	}
	mustKeepTOTP(t, srv, u)
}

// mustKeepTOTP: recovery never removes or changes the second factor.
func mustKeepTOTP(t *testing.T, srv *servertest.Server, u mfaUser) {
	t.Helper()
	if cfg := string(srv.OpenCredential(t, u.id, identity.CredentialTOTP)); !strings.Contains(cfg, "secret="+u.secret) {
		t.Fatalf("totp credential = %s, want the enrolled secret", cfg)
	}
}

// stepUpNative raises a native app's recovery session with an aal2 login
// flow and the second factor. Before the totp and lookup_secret login
// methods are merged, the flow offers no such node, and the step is
// recorded in the database instead (logged).
func stepUpNative(t *testing.T, srv *servertest.Server, u mfaUser, token string, backup bool) {
	t.Helper()
	ctx := context.Background()
	sdk := srv.SDK(false)
	before := activeSession(t, srv, u.id)
	lf, _, err := sdk.FrontendAPI.CreateNativeLoginFlow(ctx).Aal("aal2").XSessionToken(token).Execute()
	if err != nil || lf.GetRequestedAal() != "aal2" || !slices.Equal(servertest.MessageIDs(lf.Ui.Messages), []int64{1010004}) {
		t.Fatalf("aal2 login flow: %v %s %+v", err, servertest.ErrorText(err), lf)
	}
	node, body := u.secondFactor(t, srv, backup)
	if servertest.Input(lf.Ui.Nodes, node) == nil {
		t.Logf("the %s login method is not on this branch: raising the session in the database", node)
		srv.MustRaiseToAAL2(t, before.Id)
		return
	}
	res, got := servertest.Do(t, srv.HTTPClient(false), http.MethodPost, srv.Config.PublicURL("self-service/login?flow="+lf.Id),
		flatten(body), http.Header{"X-Session-Token": {token}})
	sess, _ := got["session"].(map[string]any)
	if res.StatusCode != http.StatusOK || sess["id"] != before.Id || sess["authenticator_assurance_level"] != "aal2" {
		t.Fatalf("second factor: %d %v", res.StatusCode, got)
	}
}

// stepUpBrowser follows the step-up URL as an HTML browser: the aal2
// login flow returns to the settings UI of settingsFlowID.
func stepUpBrowser(t *testing.T, srv *servertest.Server, u mfaUser, hc *http.Client, stepUp, settingsUIURL string, backup bool) {
	t.Helper()
	res, _ := do(t, hc, http.MethodGet, stepUp, browserAccept, "")
	loc := res.Header.Get("Location")
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, uiBase+"login?flow=") {
		t.Fatalf("step-up: %d %q", res.StatusCode, loc)
	}
	_, lf := getJSON(t, srv, hc, "/self-service/login/flows?id="+strings.TrimPrefix(loc, uiBase+"login?flow="), nil)
	if lf["requested_aal"] != "aal2" || lf["return_to"] != settingsUIURL {
		t.Fatalf("aal2 login flow: %v, want return_to %s", lf, settingsUIURL)
	}
	node, body := u.secondFactor(t, srv, backup)
	csrf := ""
	hasNode := false
	for _, n := range dig(lf, "ui", "nodes").([]any) {
		switch dig(n, "attributes", "name") {
		case "csrf_token":
			csrf, _ = dig(n, "attributes", "value").(string)
		case node:
			hasNode = true
		}
	}
	if !hasNode {
		t.Logf("the %s login method is not on this branch: raising the session in the database", node)
		srv.MustRaiseToAAL2(t, activeSession(t, srv, u.id).Id)
		return
	}
	body.Set("csrf_token", csrf)
	res, _ = do(t, hc, http.MethodPost, srv.Config.PublicURL("self-service/login?flow="+lf["id"].(string)),
		map[string]string{"Accept": browserAccept["Accept"], "Content-Type": "application/x-www-form-urlencoded"}, body.Encode())
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != settingsUIURL {
		t.Fatalf("second factor: %d %q, want the settings UI %s", res.StatusCode, res.Header.Get("Location"), settingsUIURL)
	}
}

// newPasswordByForm submits the new password to settings flow id as an
// HTML form and returns where the browser is sent.
func newPasswordByForm(t *testing.T, srv *servertest.Server, hc *http.Client, id string) string {
	t.Helper()
	res, f := getJSON(t, srv, hc, "/self-service/settings/flows?id="+id, nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("settings flow after the step-up: %d %v", res.StatusCode, f)
	}
	var csrf string
	for _, n := range dig(f, "ui", "nodes").([]any) {
		if dig(n, "attributes", "name") == "csrf_token" {
			csrf, _ = dig(n, "attributes", "value").(string)
		}
	}
	form := url.Values{"method": {"password"}, "password": {stepUpPassword}, "csrf_token": {csrf}}
	res, _ = do(t, hc, http.MethodPost, srv.Config.PublicURL("self-service/settings?flow="+id),
		map[string]string{"Accept": browserAccept["Accept"], "Content-Type": "application/x-www-form-urlencoded"}, form.Encode())
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("new password: %d", res.StatusCode)
	}
	return res.Header.Get("Location")
}

func flatten(v url.Values) map[string]any {
	out := map[string]any{}
	for k := range v {
		out[k] = v.Get(k)
	}
	return out
}

// mustWantAAL2 checks that whoami and the settings flow refuse the
// recovery session until the step-up.
func mustWantAAL2(t *testing.T, srv *servertest.Server, hc *http.Client, header map[string]string, settingsFlowID string) {
	t.Helper()
	for _, path := range []string{"/sessions/whoami", "/self-service/settings/flows?id=" + settingsFlowID} {
		res, body := getJSON(t, srv, hc, path, header)
		if res.StatusCode != http.StatusForbidden || dig(body, "error", "id") != "session_aal2_required" {
			t.Fatalf("%s before the step-up: %d %v", path, res.StatusCode, body)
		}
	}
}

func TestRecoveryStepUp(t *testing.T) {
	servertest.Each(t, options(withSecondFactors, withOwnSettingsUI), func(t *testing.T, srv *servertest.Server) {
		ctx := context.Background()
		returnTo := allowedReturn + "after-recovery"
		aal2Login := srv.Config.PublicURL("self-service/login/browser?aal=aal2")

		t.Run("NativeCode", func(t *testing.T) {
			u := mustMFAUser(t, srv)
			_, f := getJSON(t, srv, nil, "/self-service/recovery/api?return_to="+url.QueryEscape(returnTo), nil)
			id, _ := f["id"].(string)
			if res, body := postJSON(t, srv, nil, id, `{"method":"code","email":"`+u.email+`"}`, nil); res.StatusCode != http.StatusOK {
				t.Fatalf("email: %d %v", res.StatusCode, body)
			}
			done, _, err := srv.SDK(false).FrontendAPI.UpdateRecoveryFlow(ctx).Flow(id).UpdateRecoveryFlowBody(codeBody("", mustReadCode(t, srv, u.email), "")).Execute()
			if err != nil || done.State != "passed_challenge" || len(done.ContinueWith) != 2 ||
				done.ContinueWith[0].ContinueWithSetOrySessionToken == nil || done.ContinueWith[1].ContinueWithSettingsUi == nil {
				t.Fatalf("code: %v %s %+v", err, servertest.ErrorText(err), done)
			}
			// The answer says a second factor comes first.
			if ids := messageIDs(done); !slices.Equal(ids, []int64{1010004}) {
				t.Fatalf("recovery messages %v, want [1010004]", ids)
			}
			token := done.ContinueWith[0].ContinueWithSetOrySessionToken.OrySessionToken
			settings := done.ContinueWith[1].ContinueWithSettingsUi.Flow
			if settings.GetUrl() != ownSettingsUI+"?flow="+settings.Id {
				t.Fatalf("show_settings_ui url = %q", settings.GetUrl())
			}
			mustBeAAL1RecoverySession(t, srv, u, "code_recovery")
			mustWantAAL2(t, srv, nil, map[string]string{"X-Session-Token": token}, settings.Id)
			r, b := do(t, nil, http.MethodPost, srv.Public.URL+"/self-service/settings?flow="+settings.Id,
				map[string]string{"Content-Type": "application/json", "Accept": "application/json", "X-Session-Token": token},
				`{"method":"password","password":"`+stepUpPassword+`"}`)
			if r.StatusCode != http.StatusForbidden || !srv.PasswordIs(t, u.id, oldPassword) {
				t.Fatalf("password before the step-up: %d %s", r.StatusCode, b)
			}

			stepUpNative(t, srv, u, token, false)
			sf, _, err := srv.SDK(false).FrontendAPI.UpdateSettingsFlow(ctx).Flow(settings.Id).XSessionToken(token).UpdateSettingsFlowBody(
				ory.UpdateSettingsFlowWithPasswordMethodAsUpdateSettingsFlowBody(&ory.UpdateSettingsFlowWithPasswordMethod{Method: "password", Password: stepUpPassword})).Execute()
			if err != nil || sf.State != "success" || sf.GetReturnTo() != returnTo {
				t.Fatalf("settings after the step-up: %v %s %+v", err, servertest.ErrorText(err), sf)
			}
			if !srv.PasswordIs(t, u.id, stepUpPassword) {
				t.Fatal("the new password was not saved")
			}
			mustKeepTOTP(t, srv, u)
		})

		t.Run("BrowserFormCode", func(t *testing.T) {
			u := mustMFAUser(t, srv)
			hc := newJar()
			res, _ := do(t, hc, http.MethodGet, srv.Public.URL+"/self-service/recovery/browser?return_to="+url.QueryEscape(returnTo), browserAccept, "")
			id := strings.TrimPrefix(res.Header.Get("Location"), recoveryUI+"?flow=")
			_, f := getJSON(t, srv, hc, "/self-service/recovery/flows?id="+id, nil)
			csrf := ""
			for _, n := range dig(f, "ui", "nodes").([]any) {
				if dig(n, "attributes", "name") == "csrf_token" {
					csrf, _ = dig(n, "attributes", "value").(string)
				}
			}
			form := map[string]string{"Accept": browserAccept["Accept"], "Content-Type": "application/x-www-form-urlencoded"}
			post := func(v url.Values) *http.Response {
				res, _ := do(t, hc, http.MethodPost, srv.Public.URL+"/self-service/recovery?flow="+id, form, v.Encode())
				return res
			}
			post(url.Values{"method": {"code"}, "email": {u.email}, "csrf_token": {csrf}})
			res = post(url.Values{"method": {"code"}, "code": {mustReadCode(t, srv, u.email)}, "csrf_token": {csrf}})
			stepUp := res.Header.Get("Location")
			settingsID := servertest.SettingsFlowAfterStepUp(t, stepUp)
			settingsUIURL := ownSettingsUI + "?flow=" + settingsID
			if res.StatusCode != http.StatusSeeOther || stepUp != aal2Login+"&return_to="+url.QueryEscape(settingsUIURL) {
				t.Fatalf("code: %d %q", res.StatusCode, stepUp)
			}
			if cookieNamed(res, servertest.SessionCookieName) == nil {
				t.Fatal("no session cookie with the step-up")
			}
			mustBeAAL1RecoverySession(t, srv, u, "code_recovery")
			mustWantAAL2(t, srv, hc, nil, settingsID)

			stepUpBrowser(t, srv, u, hc, stepUp, settingsUIURL, false)
			if to := newPasswordByForm(t, srv, hc, settingsID); to != returnTo {
				t.Fatalf("after the new password the browser goes to %q, want the recovery's return_to %q", to, returnTo)
			}
			if !srv.PasswordIs(t, u.id, stepUpPassword) {
				t.Fatal("the new password was not saved")
			}
			mustKeepTOTP(t, srv, u)
		})

		t.Run("SPACodeWithBackupCode", func(t *testing.T) {
			u := mustMFAUser(t, srv)
			api, hc := browser(srv)
			f, _, err := api.FrontendAPI.CreateBrowserRecoveryFlow(ctx).ReturnTo(returnTo).Execute()
			if err != nil {
				t.Fatal(err)
			}
			f, _, err = api.FrontendAPI.UpdateRecoveryFlow(ctx).Flow(f.Id).UpdateRecoveryFlowBody(codeBody(u.email, "", csrfOf(f))).Execute()
			if err != nil {
				t.Fatal(err)
			}
			_, res, err := api.FrontendAPI.UpdateRecoveryFlow(ctx).Flow(f.Id).UpdateRecoveryFlowBody(codeBody("", mustReadCode(t, srv, u.email), csrfOf(f))).Execute()
			status, body := sdkError(t, res, err)
			stepUp, _ := body["redirect_browser_to"].(string)
			if status != http.StatusUnprocessableEntity || dig(body, "error", "id") != "browser_location_change_required" ||
				!strings.HasPrefix(stepUp, aal2Login+"&return_to=") {
				t.Fatalf("code: %d %v", status, body)
			}
			if cookieNamed(res, servertest.SessionCookieName) == nil {
				t.Fatal("no session cookie with the 422")
			}
			settingsID := servertest.SettingsFlowAfterStepUp(t, stepUp)
			mustBeAAL1RecoverySession(t, srv, u, "code_recovery")
			mustWantAAL2(t, srv, hc, nil, settingsID)

			// The device is lost: a backup code does the step-up.
			stepUpBrowser(t, srv, u, hc, stepUp, ownSettingsUI+"?flow="+settingsID, true)
			if to := newPasswordByForm(t, srv, hc, settingsID); to != returnTo {
				t.Fatalf("after the new password: %q, want %q", to, returnTo)
			}
			mustKeepTOTP(t, srv, u)
		})
	})
}

func TestRecoveryStepUpLink(t *testing.T) {
	servertest.Each(t, options(withSecondFactors, withLink, withoutConfirmation, withOwnSettingsUI), func(t *testing.T, srv *servertest.Server) {
		u := mustMFAUser(t, srv)
		_, link := sendLink(t, srv, u.email)
		hc := newJar()
		res, _ := do(t, hc, http.MethodGet, link, browserAccept, "")
		stepUp := res.Header.Get("Location")
		if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(stepUp, srv.Config.PublicURL("self-service/login/browser?aal=aal2&return_to=")) {
			t.Fatalf("link: %d %q", res.StatusCode, stepUp)
		}
		settingsID := servertest.SettingsFlowAfterStepUp(t, stepUp)
		mustBeAAL1RecoverySession(t, srv, u, "link_recovery")
		mustWantAAL2(t, srv, hc, nil, settingsID)
		stepUpBrowser(t, srv, u, hc, stepUp, ownSettingsUI+"?flow="+settingsID, false)
		newPasswordByForm(t, srv, hc, settingsID)
		if !srv.PasswordIs(t, u.id, stepUpPassword) {
			t.Fatal("the new password was not saved")
		}
	})
}

// TestRecoveryWithoutStepUp: with required_aal aal1 a user with a second
// factor lands in settings right away, as anyone does.
func TestRecoveryWithoutStepUp(t *testing.T) {
	servertest.Each(t, options(withSecondFactors, withSettingsAAL1), func(t *testing.T, srv *servertest.Server) {
		u := mustMFAUser(t, srv)
		r := srv.MustRecover(t, u.id, "api", "")
		_, f := getJSON(t, srv, nil, "/self-service/recovery/flows?id="+r.RecoveryFlowID, nil)
		if msgs := dig(f, "ui", "messages"); msgs != nil {
			t.Fatalf("messages %v, want none", msgs)
		}
		res, b := do(t, nil, http.MethodPost, srv.Public.URL+"/self-service/settings?flow="+r.SettingsFlowID,
			map[string]string{"Content-Type": "application/json", "Accept": "application/json", "X-Session-Token": r.Token},
			`{"method":"password","password":"`+stepUpPassword+`"}`)
		if res.StatusCode != http.StatusOK || !srv.PasswordIs(t, u.id, stepUpPassword) {
			t.Fatalf("settings with the aal1 recovery session: %d %s", res.StatusCode, b)
		}
		mustKeepTOTP(t, srv, u)

		// A profile change re-derives identifiers: the second factors
		// keep theirs.
		changed := uniqueEmail("mfa-changed")
		res, b = do(t, nil, http.MethodPost, srv.Public.URL+"/self-service/settings?flow="+r.SettingsFlowID,
			map[string]string{"Content-Type": "application/json", "Accept": "application/json", "X-Session-Token": r.Token},
			`{"method":"profile","traits":{"email":"`+changed+`"}}`)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("profile change: %d %s", res.StatusCode, b)
		}
		creds := srv.MustGetIdentity(t, u.id).GetCredentials()
		if !slices.Equal(creds["password"].Identifiers, []string{changed}) ||
			!slices.Equal(creds["totp"].Identifiers, []string{u.id}) || !slices.Equal(creds["lookup_secret"].Identifiers, []string{u.id}) {
			t.Fatalf("identifiers after the profile change: %+v", creds)
		}
		mustKeepTOTP(t, srv, u)
		u.email = changed

		// An HTML form is sent to the settings UI, not to a login.
		hc := newJar()
		res, _ = do(t, hc, http.MethodGet, srv.Public.URL+"/self-service/recovery/browser", browserAccept, "")
		id := strings.TrimPrefix(res.Header.Get("Location"), recoveryUI+"?flow=")
		_, fl := getJSON(t, srv, hc, "/self-service/recovery/flows?id="+id, nil)
		csrf := ""
		for _, n := range dig(fl, "ui", "nodes").([]any) {
			if dig(n, "attributes", "name") == "csrf_token" {
				csrf, _ = dig(n, "attributes", "value").(string)
			}
		}
		form := map[string]string{"Accept": browserAccept["Accept"], "Content-Type": "application/x-www-form-urlencoded"}
		do(t, hc, http.MethodPost, srv.Public.URL+"/self-service/recovery?flow="+id, form, url.Values{"method": {"code"}, "email": {u.email}, "csrf_token": {csrf}}.Encode())
		res, _ = do(t, hc, http.MethodPost, srv.Public.URL+"/self-service/recovery?flow="+id, form,
			url.Values{"method": {"code"}, "code": {mustReadCode(t, srv, u.email)}, "csrf_token": {csrf}}.Encode())
		if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), settingsUI+"?flow=") {
			t.Fatalf("form code: %d %q", res.StatusCode, res.Header.Get("Location"))
		}
	})
}
