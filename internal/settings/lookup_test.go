package settings_test

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	ory "github.com/ory/client-go"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

// lookupNodes is the lookup_secret group of a flow: "name" for an input,
// "#id" for a text node, each with its label id.
func lookupNodes(f *ory.SettingsFlow) []string {
	var out []string
	for _, n := range f.Ui.Nodes {
		if n.Group != "lookup_secret" {
			continue
		}
		label := int64(0)
		if n.Meta.Label != nil {
			label = n.Meta.Label.Id
		}
		switch {
		case n.Attributes.UiNodeInputAttributes != nil:
			a := n.Attributes.UiNodeInputAttributes
			if a.Type != "submit" || a.Value != "true" {
				out = append(out, "bad:"+a.Name)
				continue
			}
			out = append(out, a.Name+":"+itoa(label))
		case n.Attributes.UiNodeTextAttributes != nil:
			out = append(out, "#"+n.Attributes.UiNodeTextAttributes.Id+":"+itoa(label))
		}
	}
	return out
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func wantNodes(t *testing.T, what string, f *ory.SettingsFlow, want ...string) {
	t.Helper()
	if got := lookupNodes(f); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("%s: lookup_secret nodes %v, want %v", what, got, want)
	}
}

// lookupClient drives one native settings flow of a session token.
type lookupClient struct {
	t     *testing.T
	srv   *servertest.Server
	token string
	flow  *ory.SettingsFlow
}

func newLookupClient(t *testing.T, srv *servertest.Server, token string) *lookupClient {
	t.Helper()
	f, _, err := srv.SDK(false).FrontendAPI.CreateNativeSettingsFlow(context.Background()).XSessionToken(token).Execute()
	if err != nil {
		t.Fatalf("create settings flow: %v %s", err, servertest.ErrorText(err))
	}
	return &lookupClient{t: t, srv: srv, token: token, flow: f}
}

// submit sends one lookup_secret action ("regenerate", "confirm",
// "reveal", "disable") and returns the flow and status.
func (c *lookupClient) submit(action string) (*ory.SettingsFlow, int) {
	c.t.Helper()
	b := ory.NewUpdateSettingsFlowWithLookupMethod("lookup_secret")
	switch action {
	case "regenerate":
		b.SetLookupSecretRegenerate(true)
	case "confirm":
		b.SetLookupSecretConfirm(true)
	case "reveal":
		b.SetLookupSecretReveal(true)
	case "disable":
		b.SetLookupSecretDisable(true)
	}
	f, resp, err := c.srv.SDK(false).FrontendAPI.UpdateSettingsFlow(context.Background()).Flow(c.flow.Id).XSessionToken(c.token).
		UpdateSettingsFlowBody(ory.UpdateSettingsFlowWithLookupMethodAsUpdateSettingsFlowBody(b)).Execute()
	if resp == nil {
		c.t.Fatalf("%s: %v", action, err)
	}
	if err != nil {
		if resp.StatusCode != http.StatusBadRequest {
			c.t.Fatalf("%s: %d %s", action, resp.StatusCode, servertest.ErrorText(err))
		}
		return flowOf(c.t, err), resp.StatusCode
	}
	return f, resp.StatusCode
}

// hasBackupCodes reports whether the identity has a lookup_secret credential.
func hasBackupCodes(t *testing.T, srv *servertest.Server, id string) bool {
	t.Helper()
	_, ok := srv.MustGetIdentity(t, id).GetCredentials()["lookup_secret"]
	return ok
}

func TestBackupCodesInSettings(t *testing.T) {
	servertest.Each(t, options(servertest.LookupEnabled, "SELFSERVICE_FLOWS_SETTINGS_PRIVILEGED_SESSION_MAX_AGE=15m"), func(t *testing.T, srv *servertest.Server) {
		ctx := context.Background()
		start := func(t *testing.T, email string) (string, *lookupClient) {
			ident := mustIdentity(t, srv, email)
			rec := srv.MustRecover(t, ident.Id, "api", "")
			return ident.Id, newLookupClient(t, srv, rec.Token)
		}

		t.Run("BeforeAnyCodesOnlyRegenerateIsOffered", func(t *testing.T) {
			_, c := start(t, "offer@example.com")
			wantNodes(t, "new flow", c.flow, "lookup_secret_regenerate:1050008")
		})

		t.Run("ConfirmBeforeRegenerateIsRefusedAndStoresNothing", func(t *testing.T) {
			id, c := start(t, "confirm-first@example.com")
			f, status := c.submit("confirm")
			if status != http.StatusBadRequest {
				t.Fatalf("status %d", status)
			}
			wantIDs(t, "confirm first", f.Ui.Messages, 4000001)
			if f.Ui.Messages[0].Text != "You must (re-)generate recovery backup codes before you can save them." {
				t.Fatalf("text %q", f.Ui.Messages[0].Text)
			}
			if hasBackupCodes(t, srv, id) {
				t.Fatal("a credential was stored")
			}
		})

		t.Run("RevealWithoutCodesIsRefused", func(t *testing.T) {
			_, c := start(t, "reveal-none@example.com")
			f, status := c.submit("reveal")
			if status != http.StatusBadRequest {
				t.Fatalf("status %d", status)
			}
			wantIDs(t, "reveal without codes", f.Ui.Messages, 4000001)
			if f.Ui.Messages[0].Text != "Can not reveal lookup codes because you have none." {
				t.Fatalf("text %q", f.Ui.Messages[0].Text)
			}
		})

		t.Run("RegenerateShowsTwelveCodesAndStoresNothingUntilConfirm", func(t *testing.T) {
			id, c := start(t, "regen@example.com")
			f, status := c.submit("regenerate")
			if status != http.StatusOK || f.State != "show_form" {
				t.Fatalf("status %d state %v", status, f.State)
			}
			wantNodes(t, "regenerated", f, "#lookup_secret_codes:1050010", "lookup_secret_confirm:1050011")
			codes := servertest.BackupCodes(f.Ui.Nodes)
			format := regexp.MustCompile(`^[a-z0-9]{8}$`)
			seen := map[string]bool{}
			for _, code := range codes {
				if !format.MatchString(code) || seen[code] {
					t.Fatalf("codes %v", codes)
				}
				seen[code] = true
			}
			if len(codes) != 12 {
				t.Fatalf("%d codes", len(codes))
			}
			text := textNode(t, f, "lookup_secret_codes")
			if text.Id != 1050015 || text.Text != strings.Join(codes, ", ") {
				t.Fatalf("codes text %+v", text)
			}
			for _, s := range text.Context["secrets"].([]any) {
				if m := s.(map[string]any); m["id"].(float64) != 1050009 || m["type"] != "info" {
					t.Fatalf("secret message %v", m)
				}
			}
			if hasBackupCodes(t, srv, id) {
				t.Fatal("regenerate stored a credential")
			}
			// Fetching the flow shows the same pending codes.
			again, _, err := srv.SDK(false).FrontendAPI.GetSettingsFlow(ctx).Id(f.Id).XSessionToken(c.token).Execute()
			if err != nil || strings.Join(servertest.BackupCodes(again.Ui.Nodes), ",") != strings.Join(codes, ",") {
				t.Fatalf("fetched flow: %v %v", err, servertest.BackupCodes(again.Ui.Nodes))
			}

			done, status := c.submit("confirm")
			if status != http.StatusOK || done.State != "success" {
				t.Fatalf("confirm: %d %v", status, done.State)
			}
			wantIDs(t, "confirm", done.Ui.Messages, 1050001)
			wantNodes(t, "after confirm", done, "lookup_secret_reveal:1050007", "lookup_secret_disable:1050016")
			if !hasBackupCodes(t, srv, id) {
				t.Fatal("confirm stored no credential")
			}
			who, _, err := srv.SDK(false).FrontendAPI.ToSession(ctx).XSessionToken(c.token).Execute()
			if err != nil {
				t.Fatalf("whoami: %v %s", err, servertest.ErrorText(err))
			}
			methods := []string{}
			for _, m := range who.AuthenticationMethods {
				methods = append(methods, m.GetMethod()+"/"+string(m.GetAal()))
			}
			if who.GetAuthenticatorAssuranceLevel() != "aal2" || strings.Join(methods, ",") != "code_recovery/aal1,lookup_secret/aal2" {
				t.Fatalf("session aal %v methods %v", who.GetAuthenticatorAssuranceLevel(), methods)
			}

			// A later flow reveals the same codes.
			later := newLookupClient(t, srv, c.token)
			wantNodes(t, "later flow", later.flow, "lookup_secret_reveal:1050007", "lookup_secret_disable:1050016")
			shown, status := later.submit("reveal")
			if status != http.StatusOK || shown.State != "show_form" {
				t.Fatalf("reveal: %d %v", status, shown.State)
			}
			wantNodes(t, "revealed", shown, "#lookup_secret_codes:1050010", "lookup_secret_disable:1050016", "lookup_secret_regenerate:1050008")
			if got := servertest.BackupCodes(shown.Ui.Nodes); strings.Join(got, ",") != strings.Join(codes, ",") {
				t.Fatalf("revealed %v, want %v", got, codes)
			}

			// Regenerate + confirm replaces every code.
			if _, status := later.submit("regenerate"); status != http.StatusOK {
				t.Fatalf("regenerate again: %d", status)
			}
			if _, status := later.submit("confirm"); status != http.StatusOK {
				t.Fatalf("confirm again: %d", status)
			}
			newer, _ := newLookupClient(t, srv, c.token).submit("reveal")
			for _, code := range servertest.BackupCodes(newer.Ui.Nodes) {
				if seen[code] {
					t.Fatalf("old code %s survived regeneration", code)
				}
			}

			// Disable removes them.
			off, status := newLookupClient(t, srv, c.token).submit("disable")
			if status != http.StatusOK || off.State != "success" {
				t.Fatalf("disable: %d %v", status, off.State)
			}
			wantNodes(t, "disabled", off, "lookup_secret_regenerate:1050008")
			if hasBackupCodes(t, srv, id) {
				t.Fatal("disable left the credential")
			}
		})

		t.Run("ButtonWithoutMethodFieldIsTheMethods", func(t *testing.T) {
			_, c := start(t, "nomethod@example.com")
			res, body := servertest.Do(t, srv.HTTPClient(false), http.MethodPost, srv.Public.URL+"/self-service/settings?flow="+c.flow.Id,
				map[string]any{"lookup_secret_regenerate": true}, http.Header{"X-Session-Token": {c.token}})
			if res.StatusCode != http.StatusOK || body["state"] != "show_form" {
				t.Fatalf("%d %v", res.StatusCode, body)
			}
		})

		t.Run("OldSessionMustReauthenticate", func(t *testing.T) {
			id, c := start(t, "old-session@example.com")
			srv.Clock.Advance(16 * time.Minute)
			b := ory.NewUpdateSettingsFlowWithLookupMethod("lookup_secret")
			b.SetLookupSecretRegenerate(true)
			_, resp, err := srv.SDK(false).FrontendAPI.UpdateSettingsFlow(ctx).Flow(c.flow.Id).XSessionToken(c.token).
				UpdateSettingsFlowBody(ory.UpdateSettingsFlowWithLookupMethodAsUpdateSettingsFlowBody(b)).Execute()
			if resp == nil || resp.StatusCode != http.StatusForbidden || errorID(apiError(t, err)) != "session_refresh_required" {
				t.Fatalf("old session: %v %v", resp, err)
			}
			if hasBackupCodes(t, srv, id) {
				t.Fatal("stored")
			}
		})

		t.Run("BrowserFlowNeedsCSRFToken", func(t *testing.T) {
			ident := mustIdentity(t, srv, "csrf@example.com")
			b := newBrowser(t, srv, mustSession(t, srv, ident.Id))
			f, _, err := b.SDK().FrontendAPI.CreateBrowserSettingsFlow(ctx).Execute()
			if err != nil {
				t.Fatal(err)
			}
			body := ory.NewUpdateSettingsFlowWithLookupMethod("lookup_secret")
			body.SetLookupSecretRegenerate(true)
			_, resp, err := b.SDK().FrontendAPI.UpdateSettingsFlow(ctx).Flow(f.Id).
				UpdateSettingsFlowBody(ory.UpdateSettingsFlowWithLookupMethodAsUpdateSettingsFlowBody(body)).Execute()
			if resp == nil || resp.StatusCode != http.StatusForbidden || errorID(apiError(t, err)) != "security_csrf_violation" {
				t.Fatalf("no csrf: %v %v", resp, err)
			}
			body.SetCsrfToken(csrfOf(t, f))
			shown, resp, err := b.SDK().FrontendAPI.UpdateSettingsFlow(ctx).Flow(f.Id).
				UpdateSettingsFlowBody(ory.UpdateSettingsFlowWithLookupMethodAsUpdateSettingsFlowBody(body)).Execute()
			if err != nil || len(servertest.BackupCodes(shown.Ui.Nodes)) != 12 {
				t.Fatalf("with csrf: %v %s", resp, servertest.ErrorText(err))
			}
		})
	})
}

func TestBackupCodesOffByDefault(t *testing.T) {
	srv := servertest.Start(t, options())
	ident := mustIdentity(t, srv, "off@example.com")
	c := newLookupClient(t, srv, srv.MustRecover(t, ident.Id, "api", "").Token)
	wantNodes(t, "disabled method", c.flow)
	res, body := servertest.Do(t, srv.HTTPClient(false), http.MethodPost, srv.Public.URL+"/self-service/settings?flow="+c.flow.Id,
		map[string]any{"method": "lookup_secret", "lookup_secret_regenerate": true}, http.Header{"X-Session-Token": {c.token}})
	// As every disabled settings method: 404 "This endpoint was disabled".
	if res.StatusCode != http.StatusNotFound || errorField(body, "reason") != "This endpoint was disabled by system administrator. Please check your url or contact the system administrator to enable it." {
		t.Fatalf("%d %v", res.StatusCode, body)
	}
	if hasBackupCodes(t, srv, ident.Id) {
		t.Fatal("stored")
	}
}

// textNode is the text of a flow's text node id.
func textNode(t *testing.T, f *ory.SettingsFlow, id string) ory.UiText {
	t.Helper()
	for _, n := range f.Ui.Nodes {
		if a := n.Attributes.UiNodeTextAttributes; a != nil && a.Id == id {
			return a.Text
		}
	}
	t.Fatalf("no text node %s", id)
	return ory.UiText{}
}
