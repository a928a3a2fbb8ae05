package recovery_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	ory "github.com/ory/client-go"

	"github.com/latchkey/latchkey/internal/server/servertest"
	"github.com/latchkey/latchkey/internal/sqlstore"
)

// TestAdminRecoveryCode is journey d: an admin code for each flow type,
// then submitted by the matching client; return_to reaches the settings
// flow (Kratos bug #3050).
func TestAdminRecoveryCode(t *testing.T) {
	for _, flowType := range []string{"browser", "api"} {
		t.Run(flowType, func(t *testing.T) {
			servertest.Each(t, options(), func(t *testing.T, srv *servertest.Server) {
				email := uniqueEmail("admin-code")
				ident := mustIdentity(t, srv, email)
				ctx := context.Background()
				rc, res, err := srv.SDK(false).IdentityAPI.CreateRecoveryCodeForIdentity(ctx).CreateRecoveryCodeForIdentityBody(ory.CreateRecoveryCodeForIdentityBody{
					IdentityId: ident.Id, ExpiresIn: ory.PtrString("12h"), FlowType: ory.PtrString(flowType),
				}).Execute()
				if err != nil || res.StatusCode != http.StatusCreated {
					t.Fatalf("create: %v", err)
				}
				if len(rc.RecoveryCode) != 6 || !strings.HasPrefix(rc.RecoveryLink, recoveryUI+"?flow=") {
					t.Fatalf("answer = %+v", rc)
				}
				if d := rc.ExpiresAt.Sub(srv.Clock.Now()); d < 11*60*60e9 || d > 12*60*60e9+1e9 {
					t.Errorf("expires_at %v is not in 12h", rc.ExpiresAt)
				}
				if srv.SMTP.CountTo(email) != 0 || len(queuedTo(t, srv, email)) != 0 {
					t.Error("the admin code was mailed")
				}
				flowID := strings.TrimPrefix(rc.RecoveryLink, recoveryUI+"?flow=")
				// The UI fetches the flow without any cookie: no CSRF check.
				api := srv.SDK(false)
				f, _, err := api.FrontendAPI.GetRecoveryFlow(ctx).Id(flowID).Execute()
				if err != nil || f.Type != flowType || f.State != "sent_email" || len(f.Ui.Nodes) != 2 || f.RequestUrl != srv.Admin.URL+"/admin/recovery/code" {
					t.Fatalf("fetch: %v %+v", err, f)
				}
				// Wrong code, then the right one, as JSON without cookies.
				f, _, err = api.FrontendAPI.UpdateRecoveryFlow(ctx).Flow(flowID).UpdateRecoveryFlowBody(codeBody("", "000000", "")).Execute()
				if err != nil || messageIDs(f)[0] != 4060006 {
					t.Fatalf("wrong code: %v %+v", err, f)
				}
				f, res, err = api.FrontendAPI.UpdateRecoveryFlow(ctx).Flow(flowID).UpdateRecoveryFlowBody(codeBody("", rc.RecoveryCode, "")).Execute()
				if err != nil || f.State != "passed_challenge" {
					t.Fatalf("code: %v %+v", err, f)
				}
				if flowType == "api" {
					if len(f.ContinueWith) != 2 || f.ContinueWith[0].ContinueWithSetOrySessionToken == nil {
						t.Fatalf("continue_with = %+v", f.ContinueWith)
					}
				} else if cookieNamed(res, servertest.SessionCookieName) == nil || len(f.ContinueWith) != 1 {
					t.Fatalf("browser admin flow: no session cookie or %+v", f.ContinueWith)
				}
				// Admin codes do not verify the address.
				got := srv.MustGetIdentity(t, ident.Id)
				if got.VerifiableAddresses[0].Verified {
					t.Error("an admin code verified the address")
				}
				// Replaying the code replaces the flow ("already used").
				_, res, err = api.FrontendAPI.UpdateRecoveryFlow(ctx).Flow(flowID).UpdateRecoveryFlowBody(codeBody("", rc.RecoveryCode, "")).Execute()
				status, body := sdkError(t, res, err)
				if status != 400 || dig(body, "error", "reason") != "The code was already used. Please request another code." || dig(body, "error", "details", "continue_with", 0, "action") != "show_recovery_ui" {
					t.Fatalf("replay: %d %v", status, body)
				}
			})
		})
	}
}

// TestAdminRecoveryReturnTo: return_to of the admin call is validated and
// handed to the settings flow.
func TestAdminRecoveryReturnTo(t *testing.T) {
	servertest.Each(t, options(), func(t *testing.T, srv *servertest.Server) {
		ident := mustIdentity(t, srv, uniqueEmail("admin-rt"))
		ctx := context.Background()
		rc, _, err := srv.SDK(false).IdentityAPI.CreateRecoveryCodeForIdentity(ctx).CreateRecoveryCodeForIdentityBody(ory.CreateRecoveryCodeForIdentityBody{IdentityId: ident.Id}).Execute()
		if err != nil {
			t.Fatal(err)
		}
		_ = rc
		res, body := adminPost(t, srv, "/admin/recovery/code?return_to=https://app.example.com/after", `{"identity_id":"`+ident.Id+`","flow_type":"api"}`)
		if res.StatusCode != 201 {
			t.Fatalf("create: %d %v", res.StatusCode, body)
		}
		flowID := strings.TrimPrefix(body["recovery_link"].(string), recoveryUI+"?flow=")
		f, _, err := srv.SDK(false).FrontendAPI.UpdateRecoveryFlow(ctx).Flow(flowID).UpdateRecoveryFlowBody(codeBody("", body["recovery_code"].(string), "")).Execute()
		if err != nil || f.GetReturnTo() != "" && f.GetReturnTo() != "https://app.example.com/after" {
			t.Fatalf("code: %v %+v", err, f)
		}
		sf, _, err := srv.SDK(false).FrontendAPI.GetSettingsFlow(ctx).Id(f.ContinueWith[1].ContinueWithSettingsUi.Flow.Id).
			XSessionToken(f.ContinueWith[0].ContinueWithSetOrySessionToken.OrySessionToken).Execute()
		if err != nil || sf.GetReturnTo() != "https://app.example.com/after" {
			t.Fatalf("settings flow: %v %+v", err, sf)
		}
		res, body = adminPost(t, srv, "/admin/recovery/code?return_to=https://evil.example.org/", `{"identity_id":"`+ident.Id+`"}`)
		if res.StatusCode != 400 || dig(body, "error", "id") != "self_service_flow_return_to_forbidden" {
			t.Fatalf("forbidden return_to: %d %v", res.StatusCode, body)
		}
	})
}

// TestAdminRecoveryErrors: Kratos's exact bodies, including its
// inconsistencies between the two endpoints.
func TestAdminRecoveryErrors(t *testing.T) {
	servertest.Each(t, options(), func(t *testing.T, srv *servertest.Server) {
		ident := mustIdentity(t, srv, uniqueEmail("admin-err"))
		id := ident.Id
		for _, c := range []struct {
			path, body string
			status     int
			reason     string
		}{
			{"/admin/recovery/code", `{"identity_id":"00000000-0000-0000-0000-000000000001"}`, 404, "could not find identity"},
			{"/admin/recovery/code", `{}`, 404, "could not find identity"},
			{"/admin/recovery/code", `{"identity_id":"nope"}`, 400, `Unable to decode JSON payload: uuid: incorrect UUID length 4 in string "nope"`},
			{"/admin/recovery/code", `{"identity_id":"` + id + `","expires_in":"tomorrow"}`, 400, `Unable to parse "expires_in" whose format should match "[0-9]+(ns|us|ms|s|m|h)" but did not: tomorrow`},
			{"/admin/recovery/code", `{"identity_id":"00000000-0000-0000-0000-000000000001","expires_in":"-1h"}`, 400, `Value from "expires_in" must result to a future time: -1h0m0s`},
			{"/admin/recovery/code", `{"identity_id":"` + id + `","expires_in":"0s"}`, 400, `Value from "expires_in" must result to a future time: 0s`},
			{"/admin/recovery/code", `{"identity_id":"` + id + `","flow_type":"native"}`, 400, `Value from "flow_type" is not valid: "native"`},
			{"/admin/recovery/code", `{"identity_id":"` + id + `","bogus":1}`, 400, `Unable to decode JSON payload: json: unknown field "bogus"`},
			{"/admin/recovery/link", `{"identity_id":"` + id + `"}`, 404, "This endpoint was disabled by system administrator. Please check your url or contact the system administrator to enable it."},
		} {
			res, body := adminPost(t, srv, c.path, c.body)
			if res.StatusCode != c.status || dig(body, "error", "reason") != c.reason {
				t.Errorf("%s %s: %d %v", c.path, c.body, res.StatusCode, body)
			}
		}
		// The link endpoint's errors, from an instance with links enabled on the same database.
		links := srv.StartSharingDB(t, options(withLink))
		for _, c := range []struct {
			body   string
			status int
			reason string
		}{
			{`{"identity_id":"00000000-0000-0000-0000-000000000001"}`, 400, "The requested identity id does not exist."},
			{`{"identity_id":"` + id + `","expires_in":"abc"}`, 400, `Unable to parse "expires_in" whose format should match "[0-9]+(ns|us|ms|s|m|h)" but did not: abc`},
			{`{"identity_id":"` + id + `","expires_in":"-1h"}`, 400, `Value from "expires_in" must be result to a future time: -1h`},
			{`{"identity_id":"` + id + `","flow_type":"api"}`, 400, `Unable to decode JSON payload: json: unknown field "flow_type"`},
		} {
			res, body := adminPost(t, links, "/admin/recovery/link", c.body)
			if res.StatusCode != c.status || dig(body, "error", "reason") != c.reason {
				t.Errorf("link %s: %d %v", c.body, res.StatusCode, body)
			}
		}
	})
}

// TestAdminRecoveryLink: 200 with a link to the public API; identities
// without a recovery address work too.
func TestAdminRecoveryLink(t *testing.T) {
	servertest.Each(t, options(withLink, withoutConfirmation), func(t *testing.T, srv *servertest.Server) {
		ctx := context.Background()
		for _, ident := range []string{mustIdentity(t, srv, uniqueEmail("admin-link")).Id, mustIdentityWithoutEmail(t, srv)} {
			rl, res, err := srv.SDK(false).IdentityAPI.CreateRecoveryLinkForIdentity(ctx).CreateRecoveryLinkForIdentityBody(ory.CreateRecoveryLinkForIdentityBody{IdentityId: ident}).Execute()
			if err != nil || res.StatusCode != 200 {
				t.Fatalf("create: %v", err)
			}
			if !linkInBody.MatchString(rl.RecoveryLink) || !strings.HasPrefix(rl.RecoveryLink, srv.Public.URL+"/self-service/recovery?flow=") {
				t.Fatalf("link = %q", rl.RecoveryLink)
			}
			res, _ = do(t, newJar(), "GET", rl.RecoveryLink, browserAccept, "")
			if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), settingsUI+"?flow=") || cookieNamed(res, servertest.SessionCookieName) == nil {
				t.Fatalf("open: %d %q", res.StatusCode, res.Header.Get("Location"))
			}
			res, _ = do(t, nil, "GET", rl.RecoveryLink, browserAccept, "")
			if !strings.HasPrefix(res.Header.Get("Location"), recoveryUI+"?flow=") {
				t.Fatalf("replay: %d %q", res.StatusCode, res.Header.Get("Location"))
			}
		}
	})
}

// TestAdminRecoveryCodeWithoutAddress: an identity with no recovery
// address can still be recovered with an admin code.
func TestAdminRecoveryCodeWithoutAddress(t *testing.T) {
	servertest.Each(t, options(), func(t *testing.T, srv *servertest.Server) {
		identID := mustIdentityWithoutEmail(t, srv)
		ctx := context.Background()
		rc, _, err := srv.SDK(false).IdentityAPI.CreateRecoveryCodeForIdentity(ctx).CreateRecoveryCodeForIdentityBody(ory.CreateRecoveryCodeForIdentityBody{IdentityId: identID, FlowType: ory.PtrString("api")}).Execute()
		if err != nil {
			t.Fatal(err)
		}
		flowID := strings.TrimPrefix(rc.RecoveryLink, recoveryUI+"?flow=")
		f, _, err := srv.SDK(false).FrontendAPI.UpdateRecoveryFlow(ctx).Flow(flowID).UpdateRecoveryFlowBody(codeBody("", rc.RecoveryCode, "")).Execute()
		if err != nil || f.State != "passed_challenge" {
			t.Fatalf("code: %v %+v", err, f)
		}
		sess, _, err := srv.SDK(false).FrontendAPI.ToSession(ctx).XSessionToken(f.ContinueWith[0].ContinueWithSetOrySessionToken.OrySessionToken).Execute()
		if err != nil || sess.Identity.Id != identID {
			t.Fatalf("whoami: %v", err)
		}
	})
}

// TestAdminRecoverySend: "send": true mails the code or link to the
// identity's recovery address (Latchkey only), within the send limits.
func TestAdminRecoverySend(t *testing.T) {
	sendLimit := []string{"SELFSERVICE_METHODS_LINK_ENABLED=true", "SELFSERVICE_FLOWS_RECOVERY_RATE_LIMIT_PER_ADDRESS_MAX=2"}
	servertest.EachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		srv, logs := startLogged(t, d, sendLimit)
		email := uniqueEmail("admin-send")
		ident := mustIdentity(t, srv, email)
		ctx := context.Background()
		body := ory.CreateRecoveryCodeForIdentityBody{IdentityId: ident.Id, FlowType: ory.PtrString("api"), AdditionalProperties: map[string]any{"send": true}}
		rc, res, err := srv.SDK(false).IdentityAPI.CreateRecoveryCodeForIdentity(ctx).CreateRecoveryCodeForIdentityBody(body).Execute()
		if err != nil || res.StatusCode != 201 {
			t.Fatalf("create: %v", err)
		}
		if got := mustReadCode(t, srv, email); got != rc.RecoveryCode {
			t.Fatalf("mailed code %q, answered %q", got, rc.RecoveryCode)
		}
		res2, lb := adminPost(t, srv, "/admin/recovery/link", `{"identity_id":"`+ident.Id+`","send":true}`)
		if res2.StatusCode != 200 || mustReadLink(t, srv, email) != lb["recovery_link"] {
			t.Fatalf("link send: %d %v", res2.StatusCode, lb)
		}
		// The third mail to the address within the hour is refused.
		res2, eb := adminPost(t, srv, "/admin/recovery/code", `{"identity_id":"`+ident.Id+`","send":true}`)
		if res2.StatusCode != 429 || res2.Header.Get("Retry-After") == "" {
			t.Fatalf("limit: %d %v", res2.StatusCode, eb)
		}
		// Without send the limit does not apply.
		if res2, _ := adminPost(t, srv, "/admin/recovery/code", `{"identity_id":"`+ident.Id+`"}`); res2.StatusCode != 201 {
			t.Fatalf("without send: %d", res2.StatusCode)
		}
		noAddr := mustIdentityWithoutEmail(t, srv)
		res2, eb = adminPost(t, srv, "/admin/recovery/code", `{"identity_id":"`+noAddr+`","send":true}`)
		if res2.StatusCode != 400 || !strings.Contains(dig(eb, "error", "reason").(string), "no recovery email address") {
			t.Fatalf("no address: %d %v", res2.StatusCode, eb)
		}
		if !strings.Contains(logs.String(), `"msg":"admin recovery code created"`) || !strings.Contains(logs.String(), `"remote_addr":"127.0.0.1:`) {
			t.Error("admin event not logged with the remote address")
		}
	})
}

func adminPost(t *testing.T, srv *servertest.Server, path, body string) (*http.Response, map[string]any) {
	t.Helper()
	res, b := do(t, nil, "POST", srv.Admin.URL+path, map[string]string{"Content-Type": "application/json"}, body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return res, m
}
