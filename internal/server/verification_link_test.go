package server_test

import (
	"context"
	"html"
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

// The verification flow with the link method (docs/verification.md).

var verificationLinkOn = append([]string{
	"SELFSERVICE_FLOWS_VERIFICATION_USE=link", "SELFSERVICE_METHODS_LINK_ENABLED=true",
}, verificationOn...)

func verifyEmailLink(t *testing.T, sdk *ory.APIClient, flowID, email, csrf string) (*ory.VerificationFlow, *http.Response, error) {
	t.Helper()
	body := &ory.UpdateVerificationFlowWithLinkMethod{Method: "link", Email: email}
	if csrf != "" {
		body.CsrfToken = ory.PtrString(csrf)
	}
	return sdk.FrontendAPI.UpdateVerificationFlow(context.Background()).Flow(flowID).
		UpdateVerificationFlowBody(ory.UpdateVerificationFlowWithLinkMethodAsUpdateVerificationFlowBody(body)).Execute()
}

var hiddenInputRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// confirmForm opens a link in browser and returns the confirm page's form
// action and hidden fields.
func confirmForm(t *testing.T, browser *http.Client, link string) (string, url.Values) {
	t.Helper()
	res, raw := servertest.DoRaw(t, browser, http.MethodGet, link, nil, http.Header{"Accept": {"text/html"}})
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("link: %d %s %s", res.StatusCode, res.Header.Get("Location"), raw)
	}
	page := string(raw)
	if !strings.Contains(page, "Verify your email address") || res.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("confirm page %s", page)
	}
	action := regexp.MustCompile(`<form [^>]*action="([^"]+)"`).FindStringSubmatch(page)
	if action == nil {
		t.Fatalf("no form in %s", page)
	}
	fields := url.Values{}
	for _, m := range hiddenInputRE.FindAllStringSubmatch(page, -1) {
		fields.Set(m[1], html.UnescapeString(m[2]))
	}
	fields.Set("method", "link")
	return html.UnescapeString(action[1]), fields
}

// flowAt fetches the flow a browser was sent to by res (a 303 to the UI).
func flowAt(t *testing.T, srv *servertest.Server, browser *http.Client, res *http.Response) *ory.VerificationFlow {
	t.Helper()
	to, err := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusSeeOther || err != nil || !strings.HasPrefix(to.String(), srv.Config.UIURLs().Verification+"?flow=") {
		t.Fatalf("answer %d to %q, want 303 to the verification page", res.StatusCode, res.Header.Get("Location"))
	}
	f, r, err := srv.SDKWith(browser).FrontendAPI.GetVerificationFlow(context.Background()).Id(to.Query().Get("flow")).Execute()
	mustStatus(t, r, err, http.StatusOK)
	return f
}

// TestVerificationLinkMethod: a native app asks for the link; it is read
// in a browser, whose opening only shows the confirm page; the button
// verifies the address, the app's flow passes too, and the link is spent.
func TestVerificationLinkMethod(t *testing.T) {
	servertest.Each(t, servertest.Options{Env: verificationLinkOn}, func(t *testing.T, srv *servertest.Server) {
		ctx := context.Background()
		sdk := srv.SDK(false)
		const email = "link-verify@example.test"
		id := srv.MustCreateIdentity(t, email, "Verify-Passw0rd!").Id

		f, res, err := sdk.FrontendAPI.CreateNativeVerificationFlow(ctx).Execute()
		mustStatus(t, res, err, http.StatusOK)
		if f.State != "choose_method" || f.GetActive() != "link" || !slices.Equal(nodeNames(f.Ui.Nodes), []string{"email/email", "method/submit"}) || f.Ui.Nodes[0].Group != "link" {
			t.Fatalf("new flow: state %v active %q nodes %v", f.State, f.GetActive(), nodeNames(f.Ui.Nodes))
		}
		sent, res, err := verifyEmailLink(t, sdk, f.Id, email, "")
		mustStatus(t, res, err, http.StatusOK)
		if sent.State != "sent_email" || !slices.Equal(servertest.MessageIDs(sent.Ui.Messages), []int64{1080001}) ||
			sent.Ui.Nodes[0].Attributes.UiNodeInputAttributes.Value != email {
			t.Fatalf("after email: state %v messages %v nodes %+v", sent.State, servertest.MessageIDs(sent.Ui.Messages), sent.Ui.Nodes)
		}

		link := srv.VerificationTokenLink(t, email)
		u, _ := url.Parse(link)
		if u.Query().Get("flow") != f.Id || !regexp.MustCompile(`^[A-Za-z0-9]{32}$`).MatchString(u.Query().Get("token")) {
			t.Fatalf("link %s", link)
		}
		if a := mustAddress(t, srv, id); a.Status != "sent" || a.Verified {
			t.Fatalf("address after the mail %+v", a)
		}
		var stored int
		if err := srv.DB.QueryRow(ctx, `SELECT COUNT(*) FROM verification_tokens WHERE token_hash = ?`, u.Query().Get("token")).Scan(&stored); err != nil || stored != 0 {
			t.Fatalf("the token is stored as it is (%d, %v)", stored, err)
		}

		// A mail scanner opens the link: nothing is spent.
		browser := srv.HTTPClient(true)
		action, fields := confirmForm(t, browser, link)
		confirmForm(t, srv.HTTPClient(true), link)
		if mustAddress(t, srv, id).Verified {
			t.Fatal("opening the link verified the address")
		}
		if fields.Get("token") != u.Query().Get("token") || fields.Get("csrf_token") == "" {
			t.Fatalf("confirm fields %v", fields)
		}

		res, _ = servertest.DoRaw(t, browser, http.MethodPost, action, fields, nil)
		shown := flowAt(t, srv, browser, res)
		if shown.Type != "browser" || shown.State != "passed_challenge" || !slices.Equal(servertest.MessageIDs(shown.Ui.Messages), []int64{1080002}) {
			t.Fatalf("shown flow: %s %v %v", shown.Type, shown.State, servertest.MessageIDs(shown.Ui.Messages))
		}
		a := mustAddress(t, srv, id)
		if !a.Verified || a.Status != "completed" || a.VerifiedAt == nil {
			t.Fatalf("address after the link %+v", a)
		}
		// The app polling its own flow sees it passed.
		app, res, err := sdk.FrontendAPI.GetVerificationFlow(ctx).Id(f.Id).Execute()
		mustStatus(t, res, err, http.StatusOK)
		if app.State != "passed_challenge" {
			t.Fatalf("the app's flow: %v", app.State)
		}

		// The spent link, opened again, explains itself on a new flow.
		res, _ = servertest.DoRaw(t, browser, http.MethodGet, link, nil, http.Header{"Accept": {"text/html"}})
		if again := flowAt(t, srv, browser, res); again.Id == f.Id || !slices.Equal(servertest.MessageIDs(again.Ui.Messages), []int64{4070001}) {
			t.Fatalf("spent link: %v", servertest.MessageIDs(again.Ui.Messages))
		}
		res, _ = servertest.DoRaw(t, browser, http.MethodPost, action, fields, nil)
		if again := flowAt(t, srv, browser, res); !slices.Equal(servertest.MessageIDs(again.Ui.Messages), []int64{4070001}) {
			t.Fatalf("spent token posted again: %v", servertest.MessageIDs(again.Ui.Messages))
		}
	})
}

// TestVerificationLinkRefusals: bad, foreign and expired links, a
// browser flow's own link, and require_confirmation off.
func TestVerificationLinkRefusals(t *testing.T) {
	servertest.Each(t, servertest.Options{Env: verificationLinkOn}, func(t *testing.T, srv *servertest.Server) {
		ctx := context.Background()
		const email = "link-refusals@example.test"
		id := srv.MustCreateIdentity(t, email, "Verify-Passw0rd!").Id
		browser := srv.HTTPClient(true)
		bsdk := srv.SDKWith(browser)
		messages := func(t *testing.T, target string) []int64 {
			t.Helper()
			res, _ := servertest.DoRaw(t, browser, http.MethodGet, target, nil, nil)
			return servertest.MessageIDs(flowAt(t, srv, browser, res).Ui.Messages)
		}

		t.Run("Malformed", func(t *testing.T) {
			for _, q := range []string{"?token=x", "?flow=nope&token=x"} {
				res, body := servertest.Do(t, srv.HTTPClient(false), http.MethodGet, srv.Public.URL+"/self-service/verification"+q, nil, http.Header{"Accept": {"application/json"}})
				if res.StatusCode == http.StatusOK || res.StatusCode >= 500 {
					t.Errorf("%s: %d %v", q, res.StatusCode, body)
				}
			}
		})

		t.Run("UnknownTokenOrFlow", func(t *testing.T) {
			f, res, err := bsdk.FrontendAPI.CreateBrowserVerificationFlow(ctx).Execute()
			mustStatus(t, res, err, http.StatusOK)
			for _, target := range []string{
				srv.Public.URL + "/self-service/verification?flow=" + f.Id + "&token=" + strings.Repeat("a", 32),
				srv.Public.URL + "/self-service/verification?flow=4b1e7c39-56b5-4a53-9d4c-3c7e1c2f0a11&token=" + strings.Repeat("a", 32),
			} {
				if got := messages(t, target); !slices.Equal(got, []int64{4070001}) {
					t.Errorf("%s: messages %v", target, got)
				}
			}
		})

		t.Run("BrowserFlowAndExpiry", func(t *testing.T) {
			f, res, err := bsdk.FrontendAPI.CreateBrowserVerificationFlow(ctx).Execute()
			mustStatus(t, res, err, http.StatusOK)
			_, res, err = verifyEmailLink(t, bsdk, f.Id, email, servertest.CSRFToken(f.Ui.Nodes))
			mustStatus(t, res, err, http.StatusOK)
			link := srv.VerificationTokenLink(t, email)
			srv.Clock.Advance(2 * time.Hour)
			if got := messages(t, link); !slices.Equal(got, []int64{4070005}) {
				t.Errorf("expired link: messages %v", got)
			}
			if mustAddress(t, srv, id).Verified {
				t.Fatal("an expired link verified")
			}
		})

		t.Run("OwnBrowserFlowPasses", func(t *testing.T) {
			f, res, err := bsdk.FrontendAPI.CreateBrowserVerificationFlow(ctx).Execute()
			mustStatus(t, res, err, http.StatusOK)
			_, res, err = verifyEmailLink(t, bsdk, f.Id, email, servertest.CSRFToken(f.Ui.Nodes))
			mustStatus(t, res, err, http.StatusOK)
			action, fields := confirmForm(t, browser, srv.VerificationTokenLink(t, email))
			res, _ = servertest.DoRaw(t, browser, http.MethodPost, action, fields, nil)
			if shown := flowAt(t, srv, browser, res); shown.Id != f.Id || shown.State != "passed_challenge" {
				t.Fatalf("shown %s %v, want the browser's own flow %s passed", shown.Id, shown.State, f.Id)
			}
			if !mustAddress(t, srv, id).Verified {
				t.Fatal("not verified")
			}
		})
	})

	// Without confirmation, opening the link verifies (Kratos's way).
	env := append([]string{"SELFSERVICE_METHODS_LINK_CONFIG_REQUIRE_CONFIRMATION=false"}, verificationLinkOn...)
	servertest.Each(t, servertest.Options{Env: env}, func(t *testing.T, srv *servertest.Server) {
		const email = "link-direct@example.test"
		id := srv.MustCreateIdentity(t, email, "Verify-Passw0rd!").Id
		f, res, err := srv.SDK(false).FrontendAPI.CreateNativeVerificationFlow(context.Background()).Execute()
		mustStatus(t, res, err, http.StatusOK)
		_, res, err = verifyEmailLink(t, srv.SDK(false), f.Id, email, "")
		mustStatus(t, res, err, http.StatusOK)
		browser := srv.HTTPClient(true)
		res, _ = servertest.DoRaw(t, browser, http.MethodGet, srv.VerificationTokenLink(t, email), nil, nil)
		if shown := flowAt(t, srv, browser, res); shown.State != "passed_challenge" || !mustAddress(t, srv, id).Verified {
			t.Fatalf("direct link: %v", shown.State)
		}
	})
}

// TestVerificationLinkAfterRegistration: with use: link, a registration
// mails a link, and the link verifies the new address.
func TestVerificationLinkAfterRegistration(t *testing.T) {
	env := append([]string{`SELFSERVICE_FLOWS_REGISTRATION_AFTER_PASSWORD_HOOKS=[{"hook":"show_verification_ui"},{"hook":"session"}]`}, verificationLinkOn...)
	servertest.Each(t, servertest.Options{Env: env}, func(t *testing.T, srv *servertest.Server) {
		ctx := context.Background()
		sdk := srv.SDK(false)
		const email = "link-register@example.test"
		f, res, err := sdk.FrontendAPI.CreateNativeRegistrationFlow(ctx).Execute()
		mustStatus(t, res, err, http.StatusOK)
		done, res, err := sdk.FrontendAPI.UpdateRegistrationFlow(ctx).Flow(f.Id).UpdateRegistrationFlowBody(
			ory.UpdateRegistrationFlowWithPasswordMethodAsUpdateRegistrationFlowBody(&ory.UpdateRegistrationFlowWithPasswordMethod{
				Method: "password", Password: "Lantern-ferry-4821-x", Traits: map[string]any{"email": email},
			})).Execute()
		mustStatus(t, res, err, http.StatusOK)
		show := done.ContinueWith[0].ContinueWithVerificationUi
		if show == nil || show.Flow.VerifiableAddress != email {
			t.Fatalf("continue_with %+v", done.ContinueWith)
		}
		vf, res, err := sdk.FrontendAPI.GetVerificationFlow(ctx).Id(show.Flow.Id).Execute()
		mustStatus(t, res, err, http.StatusOK)
		if vf.State != "sent_email" || vf.GetActive() != "link" || !slices.Equal(servertest.MessageIDs(vf.Ui.Messages), []int64{1080001}) {
			t.Fatalf("flow of the registration: %v %q %v", vf.State, vf.GetActive(), servertest.MessageIDs(vf.Ui.Messages))
		}
		browser := srv.HTTPClient(true)
		action, fields := confirmForm(t, browser, srv.VerificationTokenLink(t, email))
		res, _ = servertest.DoRaw(t, browser, http.MethodPost, action, fields, nil)
		if shown := flowAt(t, srv, browser, res); shown.State != "passed_challenge" || !mustAddress(t, srv, done.Identity.Id).Verified {
			t.Fatalf("after the link: %v", shown.State)
		}
	})
}
