package settings_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	ory "github.com/ory/client-go"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

// TestProfile: trait updates are validated against the identity schema,
// addresses and identifiers follow the traits, and only a change of a
// protected trait (identifier, recovery or verification address) needs
// the privileged window.
func TestProfile(t *testing.T) {
	servertest.Each(t, options(
		"SELFSERVICE_FLOWS_SETTINGS_PRIVILEGED_SESSION_MAX_AGE=15m",
		"SELFSERVICE_FLOWS_SETTINGS_LIFESPAN=2h",
	), func(t *testing.T, srv *servertest.Server) {
		ctx := context.Background()

		t.Run("SchemaViolations", func(t *testing.T) {
			ident := mustIdentity(t, srv, "schema@example.test")
			tok := mustSession(t, srv, ident.Id).Token
			c := srv.SDK(false)
			f, _, err := c.FrontendAPI.CreateNativeSettingsFlow(ctx).XSessionToken(tok).Execute()
			if err != nil {
				t.Fatal(err)
			}
			cases := []struct {
				name   string
				traits map[string]any
				node   string // "" = flow message
				id     int64
			}{
				{"InvalidEmail", map[string]any{"email": "not-an-email"}, "traits.email", 4000040},
				{"MissingEmail", map[string]any{"name": "No Mail"}, "traits.email", 4000002},
				{"WrongType", map[string]any{"email": "schema@example.test", "name": 42}, "traits.name", 4000026},
				{"UnknownTrait", map[string]any{"email": "schema@example.test", "shoe_size": "44"}, "", 4000001},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					_, resp, err := c.FrontendAPI.UpdateSettingsFlow(ctx).Flow(f.Id).XSessionToken(tok).
						UpdateSettingsFlowBody(profileBody(tc.traits, "")).Execute()
					if resp == nil || resp.StatusCode != http.StatusBadRequest {
						t.Fatalf("status %v err %v", resp, err)
					}
					got := flowOf(t, err)
					if tc.node == "" {
						wantIDs(t, "flow", got.Ui.Messages, tc.id)
						return
					}
					a, msgs := node(t, got, "profile", tc.node)
					wantIDs(t, tc.node, msgs, tc.id)
					if tc.id == 4000040 && a.Value != "not-an-email" {
						t.Fatalf("submitted value not shown again: %v", a.Value)
					}
				})
			}
			if traits := traitsOf(t, srv, ident.Id); traits != `{"email":"schema@example.test"}` {
				t.Fatalf("traits changed: %s", traits)
			}
		})

		t.Run("NoChanges", func(t *testing.T) {
			sess := mustSession(t, srv, mustIdentity(t, srv, "empty@example.test").Id)
			tok := sess.Token
			f := createFlow(t, srv, "api", sess)
			for _, b := range []string{`{"method":"profile"}`, `{"method":"profile","traits":{}}`} {
				r := do(t, srv, http.MethodPost, "/self-service/settings?flow="+f, b, "X-Session-Token", tok)
				if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), `{"id":4000001,"text":"Did not receive any value changes.","type":"error","context":{"reason":"Did not receive any value changes."}}`) {
					t.Fatalf("%s = %d %s", b, r.Status, r.Body)
				}
			}
		})

		t.Run("ProtectedChangeInsideWindow", func(t *testing.T) {
			ident := mustIdentity(t, srv, "before@example.test")
			sess := mustSession(t, srv, ident.Id)
			tok := sess.Token
			f := createFlow(t, srv, "api", sess)
			r := do(t, srv, http.MethodPost, "/self-service/settings?flow="+f, `{"method":"profile","traits":{"email":"after@example.test","name":"After"}}`, "X-Session-Token", tok)
			if r.Status != http.StatusOK {
				t.Fatalf("update = %d %s", r.Status, r.Body)
			}
			if !strings.Contains(mustJSON(r.JSON(t)["ui"]), `"value":"after@example.test"`) {
				t.Fatalf("success form does not show the new email: %s", r.Body)
			}
			i := srv.MustGetIdentity(t, ident.Id)
			identifiers := (*i.Credentials)["password"].Identifiers
			if len(i.RecoveryAddresses) != 1 || i.RecoveryAddresses[0].Value != "after@example.test" ||
				len(i.VerifiableAddresses) != 1 || i.VerifiableAddresses[0].Value != "after@example.test" ||
				strings.Join(identifiers, ",") != "after@example.test" {
				t.Fatalf("addresses not re-derived: %+v %+v %v", i.RecoveryAddresses, i.VerifiableAddresses, identifiers)
			}
			if found, _, err := srv.SDK(false).IdentityAPI.ListIdentities(ctx).CredentialsIdentifier("after@example.test").Execute(); err != nil || len(found) != 1 || found[0].Id != ident.Id {
				t.Fatalf("new identifier not found: %v", err)
			}
		})

		t.Run("Duplicate", func(t *testing.T) {
			mustIdentity(t, srv, "taken@example.test")
			sess := mustSession(t, srv, mustIdentity(t, srv, "wants-taken@example.test").Id)
			tok := sess.Token
			f := createFlow(t, srv, "api", sess)
			r := do(t, srv, http.MethodPost, "/self-service/settings?flow="+f, `{"method":"profile","traits":{"email":"taken@example.test"}}`, "X-Session-Token", tok)
			if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), `"id":4000007`) {
				t.Fatalf("duplicate = %d %s", r.Status, r.Body)
			}
		})

		t.Run("OutsideWindow", func(t *testing.T) {
			ident := mustIdentity(t, srv, "old-session@example.test")
			sess := mustSession(t, srv, ident.Id)
			tok := sess.Token
			f := createFlow(t, srv, "api", sess)
			srv.Clock.Advance(20 * time.Minute)

			// A harmless trait (name) may change: Latchkey departs from
			// Kratos here, which would answer 403.
			r := do(t, srv, http.MethodPost, "/self-service/settings?flow="+f, `{"method":"profile","traits":{"email":"old-session@example.test","name":"Renamed"}}`, "X-Session-Token", tok)
			if r.Status != http.StatusOK {
				t.Fatalf("harmless change = %d %s", r.Status, r.Body)
			}
			if traits := traitsOf(t, srv, ident.Id); !strings.Contains(traits, `"name":"Renamed"`) {
				t.Fatalf("traits = %s", traits)
			}

			// The email is identifier, recovery and verification address.
			r = do(t, srv, http.MethodPost, "/self-service/settings?flow="+f, `{"method":"profile","traits":{"email":"attacker@example.test","name":"Renamed"}}`, "X-Session-Token", tok)
			if r.Status != http.StatusForbidden || errorID(r.JSON(t)) != "session_refresh_required" {
				t.Fatalf("protected change = %d %s", r.Status, r.Body)
			}
			// Dropping it counts as a change too.
			r = do(t, srv, http.MethodPost, "/self-service/settings?flow="+f, `{"method":"profile","traits":{"name":"Renamed"}}`, "X-Session-Token", tok)
			if r.Status != http.StatusForbidden {
				t.Fatalf("removing the email = %d %s", r.Status, r.Body)
			}
			if i := srv.MustGetIdentity(t, ident.Id); i.RecoveryAddresses[0].Value != "old-session@example.test" {
				t.Fatalf("recovery address changed: %+v", i.RecoveryAddresses)
			}
		})

		t.Run("BrowserForm", func(t *testing.T) {
			ident := mustIdentity(t, srv, "form-profile@example.test")
			b := newBrowser(t, srv, mustSession(t, srv, ident.Id))
			m := b.Do(http.MethodGet, "/self-service/settings/browser", nil, "Accept", acceptJSON).JSON(t)
			id, csrf := m["id"].(string), csrfValue(t, m)

			r := b.Do(http.MethodPost, "/self-service/settings?flow="+id,
				url.Values{"method": {"profile"}, "traits.email": {"form-profile@example.test"}, "traits.name": {"Form Name"}}, "Accept", acceptHTML)
			if r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), errorUI) {
				t.Fatalf("profile without csrf = %d %s", r.Status, r.Header.Get("Location"))
			}
			r = b.Do(http.MethodPost, "/self-service/settings?flow="+id,
				url.Values{"method": {"profile"}, "traits.email": {"form-profile@example.test"}, "traits.name": {"Form Name"}, "csrf_token": {csrf}}, "Accept", acceptHTML)
			wantRedirect(t, r, http.StatusSeeOther, settingsUI+"?flow="+id)
			if traits := traitsOf(t, srv, ident.Id); traits != `{"email":"form-profile@example.test","name":"Form Name"}` {
				t.Fatalf("traits = %s", traits)
			}
		})

		t.Run("FormValuesTakeSchemaTypes", func(t *testing.T) {
			i := srv.MustCreateIdentityBody(t, ory.CreateIdentityBody{SchemaId: "no-identifier", Traits: map[string]any{"nickname": "nick"}})
			b := newBrowser(t, srv, mustSession(t, srv, i.Id))
			init := b.Do(http.MethodGet, "/self-service/settings/browser", nil, "Accept", acceptJSON)
			m, nodes := init.JSON(t), string(init.Body)
			for _, want := range []string{
				`"name":"traits.age","type":"number"`,
				`"name":"traits.newsletter","type":"checkbox"`,
				`"name":"traits.nickname","type":"text","value":"nick"`,
			} {
				if !strings.Contains(nodes, want) {
					t.Fatalf("nodes lack %s: %s", want, nodes)
				}
			}
			r := b.Do(http.MethodPost, "/self-service/settings?flow="+m["id"].(string),
				url.Values{"method": {"profile"}, "traits.nickname": {"nick2"}, "traits.age": {"42"}, "traits.newsletter": {"false", "true"}, "csrf_token": {csrfValue(t, m)}}, "Accept", acceptHTML)
			if r.Status != http.StatusSeeOther || strings.HasPrefix(r.Header.Get("Location"), errorUI) {
				t.Fatalf("update = %d %s", r.Status, r.Header.Get("Location"))
			}
			var traits map[string]any
			_ = json.Unmarshal([]byte(traitsOf(t, srv, i.Id)), &traits)
			if traits["age"] != float64(42) || traits["newsletter"] != true || traits["nickname"] != "nick2" {
				t.Fatalf("traits = %v", traits)
			}
		})
	})
}
