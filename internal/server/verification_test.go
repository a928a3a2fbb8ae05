package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	ory "github.com/ory/client-go"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

// The verification flow with the code method (docs/verification.md).

var sixDigitsRE = regexp.MustCompile(`\b\d{6}\b`)

var verificationOn = []string{"SELFSERVICE_FLOWS_VERIFICATION_ENABLED=true"}

func verifyEmail(t *testing.T, sdk *ory.APIClient, flowID, email, csrf string) (*ory.VerificationFlow, *http.Response, error) {
	t.Helper()
	body := &ory.UpdateVerificationFlowWithCodeMethod{Method: "code", Email: ory.PtrString(email)}
	if csrf != "" {
		body.CsrfToken = ory.PtrString(csrf)
	}
	return sdk.FrontendAPI.UpdateVerificationFlow(context.Background()).Flow(flowID).
		UpdateVerificationFlowBody(ory.UpdateVerificationFlowWithCodeMethodAsUpdateVerificationFlowBody(body)).Execute()
}

func verifyCode(t *testing.T, sdk *ory.APIClient, flowID, code, csrf string) (*ory.VerificationFlow, *http.Response, error) {
	t.Helper()
	body := &ory.UpdateVerificationFlowWithCodeMethod{Method: "code", Code: ory.PtrString(code)}
	if csrf != "" {
		body.CsrfToken = ory.PtrString(csrf)
	}
	return sdk.FrontendAPI.UpdateVerificationFlow(context.Background()).Flow(flowID).
		UpdateVerificationFlowBody(ory.UpdateVerificationFlowWithCodeMethodAsUpdateVerificationFlowBody(body)).Execute()
}

func nodeNames(nodes []ory.UiNode) []string {
	var out []string
	for _, n := range nodes {
		if a := n.Attributes.UiNodeInputAttributes; a != nil {
			out = append(out, a.Name+"/"+a.Type)
		} else if a := n.Attributes.UiNodeAnchorAttributes; a != nil {
			out = append(out, "a:"+a.Id+"->"+a.Href)
		}
	}
	return out
}

func mustAddress(t *testing.T, srv *servertest.Server, id string) ory.VerifiableIdentityAddress {
	t.Helper()
	ident := srv.MustGetIdentity(t, id)
	if len(ident.VerifiableAddresses) != 1 {
		t.Fatalf("verifiable addresses %+v", ident.VerifiableAddresses)
	}
	return ident.VerifiableAddresses[0]
}

// TestVerificationNative: the whole code flow of a native app, with
// Kratos's states, nodes and message ids, and the address's statuses.
func TestVerificationNative(t *testing.T) {
	servertest.Each(t, servertest.Options{Env: verificationOn}, func(t *testing.T, srv *servertest.Server) {
		ctx := context.Background()
		sdk := srv.SDK(false)
		const email = "verify-native@example.test"
		id := srv.MustCreateIdentity(t, email, "Verify-Passw0rd!").Id
		if a := mustAddress(t, srv, id); a.Status != "pending" || a.Verified {
			t.Fatalf("new address %+v, want pending", a)
		}

		f, res, err := sdk.FrontendAPI.CreateNativeVerificationFlow(ctx).Execute()
		mustStatus(t, res, err, http.StatusOK)
		if f.Type != "api" || f.State != "choose_method" || !slices.Equal(nodeNames(f.Ui.Nodes), []string{"email/email", "method/submit"}) {
			t.Fatalf("new flow: type %s state %v nodes %v", f.Type, f.State, nodeNames(f.Ui.Nodes))
		}

		sent, res, err := verifyEmail(t, sdk, f.Id, email, "")
		mustStatus(t, res, err, http.StatusOK)
		if sent.State != "sent_email" || !slices.Equal(servertest.MessageIDs(sent.Ui.Messages), []int64{1080003}) ||
			!slices.Equal(nodeNames(sent.Ui.Nodes), []string{"method/hidden", "code/text", "method/submit", "email/submit"}) {
			t.Fatalf("after email: state %v messages %v nodes %v", sent.State, servertest.MessageIDs(sent.Ui.Messages), nodeNames(sent.Ui.Nodes))
		}
		// The courier prepares the mail off the request path (the
		// address is looked up there): once it is sent, so is the status.
		code := srv.VerificationCode(t, email)
		if a := mustAddress(t, srv, id); a.Status != "sent" || a.Verified {
			t.Fatalf("address after the mail %+v, want sent", a)
		}

		wrong := "000000"
		if code == wrong {
			wrong = "111111"
		}
		got, res, err := verifyCode(t, sdk, f.Id, wrong, "")
		mustStatus(t, res, err, http.StatusOK)
		if got.State != "sent_email" || !slices.Equal(servertest.MessageIDs(got.Ui.Messages), []int64{4070006}) {
			t.Fatalf("wrong code: state %v messages %v", got.State, servertest.MessageIDs(got.Ui.Messages))
		}
		if mustAddress(t, srv, id).Verified {
			t.Fatal("a wrong code verified the address")
		}

		done, res, err := verifyCode(t, sdk, f.Id, code, "")
		mustStatus(t, res, err, http.StatusOK)
		if done.State != "passed_challenge" || !slices.Equal(servertest.MessageIDs(done.Ui.Messages), []int64{1080002}) {
			t.Fatalf("right code: state %v messages %v", done.State, servertest.MessageIDs(done.Ui.Messages))
		}
		ret := srv.Config.DefaultReturnURL()
		if done.Ui.Method != "GET" || done.Ui.Action != ret || !slices.Equal(nodeNames(done.Ui.Nodes), []string{"a:continue->" + ret}) {
			t.Fatalf("passed flow ui: %s %s %v", done.Ui.Method, done.Ui.Action, nodeNames(done.Ui.Nodes))
		}
		a := mustAddress(t, srv, id)
		if !a.Verified || a.Status != "completed" || a.VerifiedAt == nil {
			t.Fatalf("verified address %+v", a)
		}

		// Submitting again: a new flow takes over (410 naming it).
		_, res, err = verifyCode(t, sdk, f.Id, code, "")
		mustStatus(t, res, err, http.StatusGone)
		body := servertest.ErrorBody(t, err)
		e, _ := body["error"].(map[string]any)
		newID, _ := body["use_flow_id"].(string)
		if e["id"] != "self_service_flow_replaced" || newID == "" {
			t.Fatalf("replaced: %v", body)
		}
		nf, res, err := sdk.FrontendAPI.GetVerificationFlow(ctx).Id(newID).Execute()
		mustStatus(t, res, err, http.StatusOK)
		if nf.State != "choose_method" || !slices.Equal(servertest.MessageIDs(nf.Ui.Messages), []int64{4070002}) {
			t.Fatalf("new flow: state %v messages %v", nf.State, servertest.MessageIDs(nf.Ui.Messages))
		}
	})
}

// TestVerificationNoEnumeration: an unknown address gets the answer a
// known one gets, and no mail (a mail only with notify_unknown_recipients).
func TestVerificationNoEnumeration(t *testing.T) {
	answer := func(t *testing.T, srv *servertest.Server, email string) (int, string) {
		f, res, err := srv.SDK(false).FrontendAPI.CreateNativeVerificationFlow(context.Background()).Execute()
		mustStatus(t, res, err, http.StatusOK)
		sent, res, _ := verifyEmail(t, srv.SDK(false), f.Id, email, "")
		raw, _ := json.Marshal(sent.Ui)
		shape := strings.ReplaceAll(strings.ReplaceAll(string(raw), f.Id, "FLOW"), email, "EMAIL")
		return res.StatusCode, string(sent.State) + shape
	}
	servertest.Each(t, servertest.Options{Env: verificationOn}, func(t *testing.T, srv *servertest.Server) {
		const known, unknown = "known-verify@example.test", "unknown-verify@example.test"
		srv.MustCreateIdentity(t, known, "Verify-Passw0rd!")
		ks, kshape := answer(t, srv, known)
		us, ushape := answer(t, srv, unknown)
		if ks != us || kshape != ushape {
			t.Fatalf("known and unknown differ:\n%d %s\n%d %s", ks, kshape, us, ushape)
		}
		srv.VerificationCode(t, known)
		if n := srv.SMTP.CountTo(unknown); n != 0 {
			t.Fatalf("%d mails to an unknown address", n)
		}
	})
	servertest.Each(t, servertest.Options{Env: append([]string{"SELFSERVICE_FLOWS_VERIFICATION_NOTIFY_UNKNOWN_RECIPIENTS=true"}, verificationOn...)}, func(t *testing.T, srv *servertest.Server) {
		const unknown = "nobody-verify@example.test"
		answer(t, srv, unknown)
		m := srv.SMTP.WaitFor(t, unknown, 10*time.Second)
		if sixDigitsRE.MatchString(m.Text) {
			t.Fatalf("the unknown-recipient mail carries a code: %s", m.Text)
		}
	})
}

// TestVerificationAfterRegistration: with show_verification_ui, a native
// registration answers [show_verification_ui, set_ory_session_token], the
// address is "sent", and the mailed code verifies it on that flow.
func TestVerificationAfterRegistration(t *testing.T) {
	env := append([]string{`SELFSERVICE_FLOWS_REGISTRATION_AFTER_PASSWORD_HOOKS=[{"hook":"show_verification_ui"},{"hook":"session"}]`}, verificationOn...)
	servertest.Each(t, servertest.Options{Env: env}, func(t *testing.T, srv *servertest.Server) {
		ctx := context.Background()
		sdk := srv.SDK(false)
		const email = "verify-register@example.test"
		f, res, err := sdk.FrontendAPI.CreateNativeRegistrationFlow(ctx).Execute()
		mustStatus(t, res, err, http.StatusOK)
		done, res, err := sdk.FrontendAPI.UpdateRegistrationFlow(ctx).Flow(f.Id).UpdateRegistrationFlowBody(
			ory.UpdateRegistrationFlowWithPasswordMethodAsUpdateRegistrationFlowBody(&ory.UpdateRegistrationFlowWithPasswordMethod{
				Method: "password", Password: "Lantern-ferry-4821-x", Traits: map[string]any{"email": email},
			})).Execute()
		mustStatus(t, res, err, http.StatusOK)
		if len(done.ContinueWith) != 2 || done.ContinueWith[0].ContinueWithVerificationUi == nil || done.ContinueWith[1].ContinueWithSetOrySessionToken == nil {
			t.Fatalf("continue_with %+v", done.ContinueWith)
		}
		show := done.ContinueWith[0].ContinueWithVerificationUi
		if show.Action != "show_verification_ui" || show.Flow.VerifiableAddress != email || show.Flow.Url != nil {
			t.Fatalf("show_verification_ui %+v (a native answer has no url)", show.Flow)
		}
		if a := done.Identity.VerifiableAddresses[0]; a.Status != "sent" {
			t.Fatalf("address in the answer %+v, want sent", a)
		}
		code := srv.VerificationCode(t, email)
		passed, res, err := verifyCode(t, sdk, show.Flow.Id, code, "")
		mustStatus(t, res, err, http.StatusOK)
		if passed.State != "passed_challenge" || !mustAddress(t, srv, done.Identity.Id).Verified {
			t.Fatalf("state %v after the code", passed.State)
		}
	})
	// Without the hook the mail is still sent, the answer names no flow.
	servertest.Each(t, servertest.Options{Env: verificationOn}, func(t *testing.T, srv *servertest.Server) {
		sdk := srv.SDK(false)
		f, res, err := sdk.FrontendAPI.CreateNativeRegistrationFlow(context.Background()).Execute()
		mustStatus(t, res, err, http.StatusOK)
		done, res, err := sdk.FrontendAPI.UpdateRegistrationFlow(context.Background()).Flow(f.Id).UpdateRegistrationFlowBody(
			ory.UpdateRegistrationFlowWithPasswordMethodAsUpdateRegistrationFlowBody(&ory.UpdateRegistrationFlowWithPasswordMethod{
				Method: "password", Password: "Lantern-ferry-4821-x", Traits: map[string]any{"email": "plain-register@example.test"},
			})).Execute()
		mustStatus(t, res, err, http.StatusOK)
		for _, c := range done.ContinueWith {
			if c.ContinueWithVerificationUi != nil {
				t.Fatalf("show_verification_ui without the hook: %+v", done.ContinueWith)
			}
		}

		// The mail of an app's registration is read in a browser: its link
		// continues in a browser flow of that browser, with the same code.
		link := srv.VerificationLink(t, "plain-register@example.test")
		u, _ := url.Parse(link)
		code, apiFlow := u.Query().Get("code"), u.Query().Get("flow")
		browser := srv.HTTPClient(true)
		res, _ = servertest.DoRaw(t, browser, http.MethodGet, link, nil, nil)
		to, _ := url.Parse(res.Header.Get("Location"))
		newFlow := to.Query().Get("flow")
		if res.StatusCode != http.StatusSeeOther || newFlow == "" || newFlow == apiFlow || to.Query().Get("code") != code {
			t.Fatalf("link of an api flow: %d to %q", res.StatusCode, res.Header.Get("Location"))
		}
		bsdk := srv.SDKWith(browser)
		bf, res, err := bsdk.FrontendAPI.GetVerificationFlow(context.Background()).Id(newFlow).Execute()
		mustStatus(t, res, err, http.StatusOK)
		if bf.Type != "browser" || bf.State != "sent_email" {
			t.Fatalf("continued flow: %s %s", bf.Type, bf.State)
		}
		passed, res, err := verifyCode(t, bsdk, newFlow, code, servertest.CSRFToken(bf.Ui.Nodes))
		mustStatus(t, res, err, http.StatusOK)
		if passed.State != "passed_challenge" || !mustAddress(t, srv, done.Identity.Id).Verified {
			t.Fatalf("state %v after the code in the browser", passed.State)
		}
	})
}

// TestVerificationBrowser: a browser flow needs its CSRF token, works
// with it, and the emailed link opens the verification page with the
// code filled in without spending it.
func TestVerificationBrowser(t *testing.T) {
	servertest.Each(t, servertest.Options{Env: verificationOn}, func(t *testing.T, srv *servertest.Server) {
		ctx := context.Background()
		browser := srv.HTTPClient(true)
		sdk := srv.SDKWith(browser)
		const email = "verify-browser@example.test"
		id := srv.MustCreateIdentity(t, email, "Verify-Passw0rd!").Id
		f, res, err := sdk.FrontendAPI.CreateBrowserVerificationFlow(ctx).Execute()
		mustStatus(t, res, err, http.StatusOK)
		csrf := servertest.CSRFToken(f.Ui.Nodes)
		if csrf == "" {
			t.Fatal("a browser flow without csrf_token")
		}
		_, res, err = verifyEmail(t, sdk, f.Id, email, "")
		mustStatus(t, res, err, http.StatusForbidden)
		_, res, err = verifyEmail(t, sdk, f.Id, email, csrf)
		mustStatus(t, res, err, http.StatusOK)

		link := srv.VerificationLink(t, email)
		u, _ := url.Parse(link)
		code := u.Query().Get("code")
		res, _ = servertest.DoRaw(t, browser, http.MethodGet, link, nil, nil)
		want := srv.Config.UIURLs().Verification + "?flow=" + f.Id + "&code=" + code
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != want {
			t.Fatalf("link: %d to %q, want 303 to %q", res.StatusCode, res.Header.Get("Location"), want)
		}
		// Another browser (no cookie) continues in a flow of its own.
		res, _ = servertest.DoRaw(t, srv.HTTPClient(false), http.MethodGet, link, nil, nil)
		if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || strings.Contains(loc, f.Id) || !strings.Contains(loc, "&code="+code) {
			t.Fatalf("link in another browser: %d to %q", res.StatusCode, loc)
		}
		if mustAddress(t, srv, id).Verified {
			t.Fatal("opening the link verified the address")
		}
		done, res, err := verifyCode(t, sdk, f.Id, code, csrf)
		mustStatus(t, res, err, http.StatusOK)
		if done.State != "passed_challenge" || !mustAddress(t, srv, id).Verified {
			t.Fatalf("state %v", done.State)
		}
		// A verification never signs anyone in.
		for _, c := range res.Cookies() {
			if c.Name == "ory_kratos_session" {
				t.Fatalf("verification set a session cookie")
			}
		}
	})
}

// TestVerificationLimits: guesses, expiry, a disabled flow, codes at rest.
func TestVerificationLimits(t *testing.T) {
	servertest.Each(t, servertest.Options{Env: verificationOn}, func(t *testing.T, srv *servertest.Server) {
		ctx := context.Background()
		sdk := srv.SDK(false)
		const email = "verify-limits@example.test"
		id := srv.MustCreateIdentity(t, email, "Verify-Passw0rd!").Id

		t.Run("SixthGuessReplacesTheFlow", func(t *testing.T) {
			f, res, err := sdk.FrontendAPI.CreateNativeVerificationFlow(ctx).Execute()
			mustStatus(t, res, err, http.StatusOK)
			_, res, err = verifyEmail(t, sdk, f.Id, email, "")
			mustStatus(t, res, err, http.StatusOK)
			code := srv.VerificationCode(t, email)
			rows, err := srv.DB.SQL.Query(`SELECT code_hash FROM verification_codes`)
			if err != nil {
				t.Fatal(err)
			}
			stored := 0
			for rows.Next() {
				var h string
				if err := rows.Scan(&h); err != nil {
					t.Fatal(err)
				}
				stored++
				if strings.Contains(h, code) {
					t.Fatalf("the code is stored in plain text: %q", h)
				}
			}
			rows.Close()
			if stored == 0 {
				t.Fatal("no code stored")
			}
			wrong := "000000"
			if code == wrong {
				wrong = "111111"
			}
			for i := 0; i < 5; i++ {
				_, res, err = verifyCode(t, sdk, f.Id, wrong, "")
				mustStatus(t, res, err, http.StatusOK)
			}
			// The sixth submission is refused even with the right code.
			_, res, _ = verifyCode(t, sdk, f.Id, code, "")
			if res.StatusCode == http.StatusOK {
				t.Fatalf("sixth submission: %d, want the flow replaced", res.StatusCode)
			}
			if mustAddress(t, srv, id).Verified {
				t.Fatal("verified after the guesses ran out")
			}
		})

		t.Run("ExpiredFlow", func(t *testing.T) {
			f, res, err := sdk.FrontendAPI.CreateNativeVerificationFlow(ctx).Execute()
			mustStatus(t, res, err, http.StatusOK)
			srv.Clock.Advance(2 * time.Hour)
			_, res, err = verifyEmail(t, sdk, f.Id, email, "")
			mustStatus(t, res, err, http.StatusGone)
			if e, _ := servertest.ErrorBody(t, err)["error"].(map[string]any); e["id"] != "self_service_flow_expired" {
				t.Fatalf("expired: %v", servertest.ErrorBody(t, err))
			}
		})

		t.Run("BadInput", func(t *testing.T) {
			f, res, err := sdk.FrontendAPI.CreateNativeVerificationFlow(ctx).Execute()
			mustStatus(t, res, err, http.StatusOK)
			for _, c := range []struct {
				body string
				want int
			}{
				{`{"method":"code","email":"not an email"}`, 400},
				{`{"method":"code"}`, 400},
				{`{"method":"carrier-pigeon","email":"a@example.test"}`, 400},
				{`{"method":`, 400},
			} {
				res, raw := servertest.DoRaw(t, srv.HTTPClient(false), http.MethodPost, srv.Public.URL+"/self-service/verification?flow="+f.Id,
					json.RawMessage(c.body), http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"}})
				if res.StatusCode != c.want {
					t.Errorf("%s: %d %s, want %d", c.body, res.StatusCode, raw, c.want)
				}
			}
			res, _ = servertest.DoRaw(t, srv.HTTPClient(false), http.MethodPost, srv.Public.URL+"/self-service/verification?flow=00000000-0000-0000-0000-000000000000",
				json.RawMessage(`{"method":"code","email":"a@example.test"}`), http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"}})
			if res.StatusCode != http.StatusNotFound {
				t.Errorf("unknown flow: %d", res.StatusCode)
			}
		})
	})

	servertest.Each(t, servertest.Options{}, func(t *testing.T, srv *servertest.Server) {
		_, res, err := srv.SDK(false).FrontendAPI.CreateNativeVerificationFlow(context.Background()).Execute()
		mustStatus(t, res, err, http.StatusBadRequest)
	})
}
