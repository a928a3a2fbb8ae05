package login_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/login"
	"github.com/latchkey/latchkey/internal/login/logintest"
	"github.com/latchkey/latchkey/internal/password"
	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/internal/sqlstore"
	"github.com/latchkey/latchkey/internal/sqlstore/sqltest"
)

func TestLoginRefresh(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		env := logintest.New(t, db, logintest.Options{})
		ctx := context.Background()
		sdk := env.SDK(nil)
		env.MustCreateIdentity(t, "dave@example.test", pw)
		env.MustCreateIdentity(t, "erin@example.test", pw)

		t.Run("NativeRefreshKeepsTheSessionAndRenewsAuthenticatedAt", func(t *testing.T) {
			token, first := mustNativeLogin(t, env, "dave@example.test", pw)
			env.Clock.Advance(2 * time.Hour) // past the settings privileged window

			f, _, err := sdk.FrontendAPI.CreateNativeLoginFlow(ctx).Refresh(true).XSessionToken(token).Execute()
			if err != nil {
				t.Fatalf("%v %s", err, errBody(err))
			}
			id := logintest.Input(f.Ui.Nodes, "identifier")
			if !f.GetRefresh() || id == nil || id.Type != "hidden" || id.Value != "dave@example.test" ||
				!reflect.DeepEqual(logintest.MessageIDs(f.Ui.Messages), []int64{1010003}) {
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
			if !ok.Session.AuthenticatedAt.After(*first.AuthenticatedAt) || ok.Session.AuthenticatedAt.Sub(env.Clock.Now()).Abs() > time.Second {
				t.Fatalf("authenticated_at %v, first %v, now %v", ok.Session.AuthenticatedAt, first.AuthenticatedAt, env.Clock.Now())
			}
			who, _, err := sdk.FrontendAPI.ToSession(ctx).XSessionToken(token).Execute()
			if err != nil || who.Id != first.Id || !who.AuthenticatedAt.Equal(*ok.Session.AuthenticatedAt) || len(who.AuthenticationMethods) != 2 {
				t.Fatalf("whoami %+v %v", who, err)
			}
			if !env.Sessions.Privileged(mustSession(t, env, token), time.Hour) {
				t.Fatal("the refreshed session should be privileged again")
			}
		})

		t.Run("RefreshCannotSignInAnotherIdentity", func(t *testing.T) {
			token, _ := mustNativeLogin(t, env, "dave@example.test", pw)
			f, _, _ := sdk.FrontendAPI.CreateNativeLoginFlow(ctx).Refresh(true).XSessionToken(token).Execute()
			_, _, err := sdk.FrontendAPI.UpdateLoginFlow(ctx).Flow(f.Id).XSessionToken(token).
				UpdateLoginFlowBody(passwordBody("erin@example.test", pw)).Execute()
			lf := rejectedFlow(t, err)
			if !reflect.DeepEqual(logintest.MessageIDs(lf.Ui.Messages), []int64{4000006}) {
				t.Fatalf("messages %v", logintest.MessageIDs(lf.Ui.Messages))
			}
		})

		t.Run("BrowserRefreshKeepsTheCookieSession", func(t *testing.T) {
			b := env.Browser()
			id, csrf := startFormFlow(t, env, b, "")
			res, _ := logintest.Do(t, b, "POST", env.URL("self-service/login?flow="+id),
				formLogin("dave@example.test", pw, csrf), htmlAccept)
			if res.StatusCode != 303 {
				t.Fatalf("login %d", res.StatusCode)
			}
			_, before := logintest.Do(t, b, "GET", env.URL("sessions/whoami"), nil, nil)
			env.Clock.Advance(90 * time.Minute)

			id, csrf = startFormFlow(t, env, b, "?refresh=true")
			res, _ = logintest.Do(t, b, "POST", env.URL("self-service/login?flow="+id),
				formLogin("dave@example.test", pw, csrf), htmlAccept)
			if res.StatusCode != 303 || res.Header.Get("Location") != logintest.DefaultReturn {
				t.Fatalf("refresh %d %q", res.StatusCode, res.Header.Get("Location"))
			}
			_, after := logintest.Do(t, b, "GET", env.URL("sessions/whoami"), nil, nil)
			if after["id"] != before["id"] || after["authenticated_at"] == before["authenticated_at"] {
				t.Fatalf("before %v\nafter %v", before, after)
			}
		})

		t.Run("RefreshWithoutSessionIsAFirstFactorLogin", func(t *testing.T) {
			f, _, err := sdk.FrontendAPI.CreateNativeLoginFlow(ctx).Refresh(true).Execute()
			if err != nil {
				t.Fatal(err)
			}
			if a := logintest.Input(f.Ui.Nodes, "identifier"); a == nil || a.Type != "text" {
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

func mustSession(t *testing.T, env *logintest.Env, token string) *session.Session {
	t.Helper()
	req, _ := http.NewRequest("GET", "/", nil)
	req.Header.Set("X-Session-Token", token)
	s, err := env.Sessions.FromRequest(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLoginRehash(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		// Identities are created at cost 4; the login service hashes at cost 5.
		cost5, err := password.NewHasher(password.HashConfig{BcryptCost: 5}, 0)
		if err != nil {
			t.Fatal(err)
		}
		env := logintest.New(t, db, logintest.Options{BcryptCost: 4, Passwords: func(login.Passwords) login.Passwords { return cost5 }})
		frank := env.MustCreateIdentity(t, "frank@example.test", pw)
		if h := frank.HashedPassword(); !strings.HasPrefix(h, "$2a$04$") {
			t.Fatalf("setup hash %q", h)
		}

		t.Run("WrongPasswordDoesNotRehash", func(t *testing.T) {
			f, _, _ := env.SDK(nil).FrontendAPI.CreateNativeLoginFlow(ctx).Execute()
			_, _, err := env.SDK(nil).FrontendAPI.UpdateLoginFlow(ctx).Flow(f.Id).UpdateLoginFlowBody(passwordBody("frank@example.test", "nope-nope-nope")).Execute()
			rejectedFlow(t, err)
			if got, _ := env.Identities.Get(ctx, frank.ID); !strings.HasPrefix(got.HashedPassword(), "$2a$04$") {
				t.Fatalf("hash %q", got.HashedPassword())
			}
		})

		t.Run("LoginUpgradesTheHashToTheConfiguredCost", func(t *testing.T) {
			mustNativeLogin(t, env, "frank@example.test", pw)
			got, err := env.Identities.Get(ctx, frank.ID)
			if err != nil {
				t.Fatal(err)
			}
			if h := got.HashedPassword(); !strings.HasPrefix(h, "$2a$05$") {
				t.Fatalf("hash after login %q, want cost 5", h)
			}
			// The new hash still signs in, and is not replaced again.
			mustNativeLogin(t, env, "frank@example.test", pw)
			again, _ := env.Identities.Get(ctx, frank.ID)
			if again.HashedPassword() != got.HashedPassword() {
				t.Fatal("hash replaced although it was current")
			}
		})
	})
}

// countingPasswords counts the comparisons the login service makes.
type countingPasswords struct {
	login.Passwords
	compares, dummies atomic.Int64
}

func (c *countingPasswords) Compare(ctx context.Context, plain []byte, encoded string) (bool, error) {
	c.compares.Add(1)
	return c.Passwords.Compare(ctx, plain, encoded)
}

func (c *countingPasswords) CompareDummy(ctx context.Context, plain []byte) (bool, error) {
	c.dummies.Add(1)
	return c.Passwords.CompareDummy(ctx, plain)
}

func TestLoginDoesTheSameWorkForUnknownIdentifiers(t *testing.T) {
	db := sqltest.OpenSQLite(t)
	counter := &countingPasswords{}
	env := logintest.New(t, db, logintest.Options{Passwords: func(p login.Passwords) login.Passwords {
		counter.Passwords = p
		return counter
	}})
	ctx := context.Background()
	sdk := env.SDK(nil)
	env.MustCreateIdentity(t, "gina@example.test", pw)
	noPassword, err := env.Identities.Create(ctx, mustCreateInput(`{"email":"nopw@example.test"}`))
	if err != nil || noPassword.HashedPassword() != "" {
		t.Fatalf("setup: %v", err)
	}

	for _, c := range []struct {
		name, identifier  string
		compares, dummies int64
	}{
		{"WrongPassword", "gina@example.test", 1, 0},
		{"UnknownIdentifier", "nobody@example.test", 0, 1},
		{"IdentityWithoutPassword", "nopw@example.test", 0, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			counter.compares.Store(0)
			counter.dummies.Store(0)
			f, _, _ := sdk.FrontendAPI.CreateNativeLoginFlow(ctx).Execute()
			_, _, err := sdk.FrontendAPI.UpdateLoginFlow(ctx).Flow(f.Id).UpdateLoginFlowBody(passwordBody(c.identifier, "some-wrong-password")).Execute()
			lf := rejectedFlow(t, err)
			if !reflect.DeepEqual(logintest.MessageIDs(lf.Ui.Messages), []int64{4000006}) {
				t.Fatalf("messages %v", logintest.MessageIDs(lf.Ui.Messages))
			}
			if counter.compares.Load() != c.compares || counter.dummies.Load() != c.dummies {
				t.Fatalf("compares %d dummies %d, want %d and %d", counter.compares.Load(), counter.dummies.Load(), c.compares, c.dummies)
			}
		})
	}
}

func mustCreateInput(traits string) identity.CreateInput {
	return identity.CreateInput{Traits: json.RawMessage(traits)}
}
