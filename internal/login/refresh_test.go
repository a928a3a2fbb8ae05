package login_test

import (
	"context"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	ory "github.com/ory/client-go"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

func TestLoginRefresh(t *testing.T) {
	servertest.Each(t, servertest.EntryOptions(), func(t *testing.T, srv *servertest.Server) {
		ctx := context.Background()
		sdk := srv.SDK(false)
		srv.MustCreateIdentity(t, "dave@example.test", pw)
		srv.MustCreateIdentity(t, "erin@example.test", pw)

		t.Run("NativeRefreshKeepsTheSessionAndRenewsAuthenticatedAt", func(t *testing.T) {
			token, first := mustNativeLogin(t, srv, "dave@example.test", pw)
			srv.Clock.Advance(2 * time.Hour) // past the settings privileged window
			if privileged(t, srv, token) {
				t.Fatal("a two-hour-old session is still privileged")
			}

			f, _, err := sdk.FrontendAPI.CreateNativeLoginFlow(ctx).Refresh(true).XSessionToken(token).Execute()
			if err != nil {
				t.Fatalf("%v %s", err, errBody(err))
			}
			id := servertest.Input(f.Ui.Nodes, "identifier")
			if !f.GetRefresh() || id == nil || id.Type != "hidden" || id.Value != "dave@example.test" ||
				!reflect.DeepEqual(servertest.MessageIDs(f.Ui.Messages), []int64{1010003}) {
				t.Fatalf("refresh flow: %+v", f.Ui)
			}
			for _, n := range f.Ui.Nodes {
				if a := n.Attributes.UiNodeInputAttributes; a != nil && a.Name == "method" && (n.Meta.Label == nil || n.Meta.Label.Id != 1010001) {
					t.Fatalf("submit label %+v, want 1010001 Sign in", n.Meta.Label)
				}
			}

			ok, _, err := sdk.FrontendAPI.UpdateLoginFlow(ctx).Flow(f.Id).XSessionToken(token).
				UpdateLoginFlowBody(passwordBody("dave@example.test", pw)).Execute()
			if err != nil {
				t.Fatalf("%v %s", err, errBody(err))
			}
			if ok.Session.Id != first.Id || ok.GetSessionToken() != token {
				t.Fatalf("session %s token %q, want %s and the same token", ok.Session.Id, ok.GetSessionToken(), first.Id)
			}
			if !ok.Session.AuthenticatedAt.After(*first.AuthenticatedAt) || ok.Session.AuthenticatedAt.Sub(srv.Clock.Now()).Abs() > time.Second {
				t.Fatalf("authenticated_at %v, first %v, now %v", ok.Session.AuthenticatedAt, first.AuthenticatedAt, srv.Clock.Now())
			}
			who, _, err := sdk.FrontendAPI.ToSession(ctx).XSessionToken(token).Execute()
			if err != nil || who.Id != first.Id || !who.AuthenticatedAt.Equal(*ok.Session.AuthenticatedAt) || len(who.AuthenticationMethods) != 2 {
				t.Fatalf("whoami %+v %v", who, err)
			}
			if !privileged(t, srv, token) {
				t.Fatal("the refreshed session should be privileged again")
			}
		})

		t.Run("RefreshCannotSignInAnotherIdentity", func(t *testing.T) {
			token, _ := mustNativeLogin(t, srv, "dave@example.test", pw)
			f, _, _ := sdk.FrontendAPI.CreateNativeLoginFlow(ctx).Refresh(true).XSessionToken(token).Execute()
			_, _, err := sdk.FrontendAPI.UpdateLoginFlow(ctx).Flow(f.Id).XSessionToken(token).
				UpdateLoginFlowBody(passwordBody("erin@example.test", pw)).Execute()
			lf := rejectedFlow(t, err)
			if !reflect.DeepEqual(servertest.MessageIDs(lf.Ui.Messages), []int64{4000006}) {
				t.Fatalf("messages %v", servertest.MessageIDs(lf.Ui.Messages))
			}
		})

		t.Run("BrowserRefreshKeepsTheCookieSession", func(t *testing.T) {
			b := srv.HTTPClient(true)
			id, csrf := startFormFlow(t, srv, b, "")
			res, _ := servertest.Do(t, b, "POST", srv.Config.PublicURL("self-service/login?flow="+id),
				formLogin("dave@example.test", pw, csrf), htmlAccept)
			if res.StatusCode != 303 {
				t.Fatalf("login %d", res.StatusCode)
			}
			_, before := servertest.Do(t, b, "GET", srv.Config.PublicURL("sessions/whoami"), nil, nil)
			srv.Clock.Advance(90 * time.Minute)

			id, csrf = startFormFlow(t, srv, b, "?refresh=true")
			res, _ = servertest.Do(t, b, "POST", srv.Config.PublicURL("self-service/login?flow="+id),
				formLogin("dave@example.test", pw, csrf), htmlAccept)
			if res.StatusCode != 303 || res.Header.Get("Location") != servertest.EntryDefaultReturn {
				t.Fatalf("refresh %d %q", res.StatusCode, res.Header.Get("Location"))
			}
			_, after := servertest.Do(t, b, "GET", srv.Config.PublicURL("sessions/whoami"), nil, nil)
			if after["id"] != before["id"] || after["authenticated_at"] == before["authenticated_at"] {
				t.Fatalf("before %v\nafter %v", before, after)
			}
		})

		t.Run("RefreshWithoutSessionIsAFirstFactorLogin", func(t *testing.T) {
			f, _, err := sdk.FrontendAPI.CreateNativeLoginFlow(ctx).Refresh(true).Execute()
			if err != nil {
				t.Fatal(err)
			}
			if a := servertest.Input(f.Ui.Nodes, "identifier"); a == nil || a.Type != "text" {
				t.Fatalf("nodes %+v", f.Ui.Nodes)
			}
			if _, _, err := sdk.FrontendAPI.UpdateLoginFlow(ctx).Flow(f.Id).UpdateLoginFlowBody(passwordBody("erin@example.test", pw)).Execute(); err != nil {
				t.Fatalf("%v %s", err, errBody(err))
			}
		})
	})
}

func formLogin(identifier, password, csrf string) url.Values {
	return url.Values{"method": {"password"}, "identifier": {identifier}, "password": {password}, "csrf_token": {csrf}}
}

// privileged reports whether the session of token may change its
// password now (settings.privileged_session_max_age, one hour by
// default). The settings flow refuses a session past that window with
// session_refresh_required before it looks at the password; inside the
// window, submitting the current password (pw) is refused by the policy
// instead (4000039), so the probe changes nothing.
func privileged(t *testing.T, srv *servertest.Server, token string) bool {
	t.Helper()
	ctx := context.Background()
	sdk := srv.SDK(false)
	f, _, err := sdk.FrontendAPI.CreateNativeSettingsFlow(ctx).XSessionToken(token).Execute()
	if err != nil {
		t.Fatalf("settings flow: %v %s", err, errBody(err))
	}
	_, res, err := sdk.FrontendAPI.UpdateSettingsFlow(ctx).Flow(f.Id).XSessionToken(token).UpdateSettingsFlowBody(
		ory.UpdateSettingsFlowWithPasswordMethodAsUpdateSettingsFlowBody(ory.NewUpdateSettingsFlowWithPasswordMethod("password", pw))).Execute()
	switch {
	case res != nil && res.StatusCode == http.StatusForbidden && servertest.ErrorBody(t, err)["error"].(map[string]any)["id"] == "session_refresh_required":
		return false
	case res != nil && res.StatusCode == http.StatusBadRequest && strings.Contains(errBody(err), `"id":4000039`):
		return true
	}
	t.Fatalf("settings probe: %v %s", err, errBody(err))
	return false
}

// TestLoginRehash: a hash made with other parameters than the configured
// ones is replaced on the next successful login, and only then.
func TestLoginRehash(t *testing.T) {
	servertest.Each(t, servertest.EntryOptions(), func(t *testing.T, srv *servertest.Server) {
		ctx := context.Background()
		// Identities are created at cost 4; the instance people sign in
		// through hashes at cost 5.
		frank := srv.MustCreateIdentity(t, "frank@example.test", pw)
		if h := srv.HashedPassword(t, frank.Id); !strings.HasPrefix(h, "$2a$04$") {
			t.Fatalf("setup hash %q", h)
		}
		cost5 := servertest.Start(t, servertest.Options{DSN: srv.Config.DSN, NoSMTP: true, Env: []string{"HASHERS_BCRYPT_COST=5"}})

		t.Run("WrongPasswordDoesNotRehash", func(t *testing.T) {
			sdk := cost5.SDK(false)
			f, _, _ := sdk.FrontendAPI.CreateNativeLoginFlow(ctx).Execute()
			_, _, err := sdk.FrontendAPI.UpdateLoginFlow(ctx).Flow(f.Id).UpdateLoginFlowBody(passwordBody("frank@example.test", "nope-nope-nope")).Execute()
			rejectedFlow(t, err)
			if h := srv.HashedPassword(t, frank.Id); !strings.HasPrefix(h, "$2a$04$") {
				t.Fatalf("hash %q", h)
			}
		})

		t.Run("LoginUpgradesTheHashToTheConfiguredCost", func(t *testing.T) {
			mustNativeLogin(t, cost5, "frank@example.test", pw)
			got := srv.HashedPassword(t, frank.Id)
			if !strings.HasPrefix(got, "$2a$05$") {
				t.Fatalf("hash after login %q, want cost 5", got)
			}
			// The new hash still signs in, and is not replaced again.
			mustNativeLogin(t, cost5, "frank@example.test", pw)
			if again := srv.HashedPassword(t, frank.Id); again != got {
				t.Fatal("hash replaced although it was current")
			}
		})
	})
}

// TestLoginDoesTheSameWorkForUnknownIdentifiers: a wrong password, an
// unknown identifier and an identity without a password are refused
// alike. (Each costs one password comparison, a dummy one when there is
// no hash to compare with; the server offers no way to count them.)
func TestLoginDoesTheSameWorkForUnknownIdentifiers(t *testing.T) {
	srv := servertest.Start(t, servertest.EntryOptions())
	ctx := context.Background()
	sdk := srv.SDK(false)
	srv.MustCreateIdentity(t, "gina@example.test", pw)
	noPassword := srv.MustCreateIdentity(t, "nopw@example.test", "")
	if h := srv.HashedPassword(t, noPassword.Id); h != "" {
		t.Fatalf("setup: identity without password has hash %q", h)
	}

	for _, c := range []struct {
		name, identifier string
	}{
		{"WrongPassword", "gina@example.test"},
		{"UnknownIdentifier", "nobody@example.test"},
		{"IdentityWithoutPassword", "nopw@example.test"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, _, _ := sdk.FrontendAPI.CreateNativeLoginFlow(ctx).Execute()
			_, _, err := sdk.FrontendAPI.UpdateLoginFlow(ctx).Flow(f.Id).UpdateLoginFlowBody(passwordBody(c.identifier, "some-wrong-password")).Execute()
			lf := rejectedFlow(t, err)
			if !reflect.DeepEqual(servertest.MessageIDs(lf.Ui.Messages), []int64{4000006}) {
				t.Fatalf("messages %v", servertest.MessageIDs(lf.Ui.Messages))
			}
		})
	}
}
