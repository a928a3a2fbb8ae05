package settings_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/sqlstore"
	"github.com/latchkey/latchkey/internal/sqlstore/sqltest"
)

// TestProfile: trait updates are validated against the identity schema,
// addresses and identifiers follow the traits, and only a change of a
// protected trait (identifier, recovery or verification address) needs
// the privileged window.
func TestProfile(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		h := newHarness(t, db, func(c *settingsConfig) {
			c.PrivilegedSessionMaxAge = 15 * time.Minute
			c.FlowLifespan = 2 * time.Hour
		})
		ctx := context.Background()

		t.Run("SchemaViolations", func(t *testing.T) {
			ident := h.MustIdentity("schema@example.test")
			_, tok := h.MustSession(ident)
			c := h.Native()
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
			if i, _ := h.identities.Get(ctx, ident.ID); string(i.Traits) != `{"email":"schema@example.test"}` {
				t.Fatalf("traits changed: %s", i.Traits)
			}
		})

		t.Run("NoChanges", func(t *testing.T) {
			_, tok := h.MustSession(h.MustIdentity("empty@example.test"))
			f := createFlow(t, h, "api", tok)
			for _, b := range []string{`{"method":"profile"}`, `{"method":"profile","traits":{}}`} {
				r := h.Do(http.MethodPost, "/self-service/settings?flow="+f, b, "X-Session-Token", tok)
				if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), `{"id":4000001,"text":"Did not receive any value changes.","type":"error","context":{"reason":"Did not receive any value changes."}}`) {
					t.Fatalf("%s = %d %s", b, r.Status, r.Body)
				}
			}
		})

		t.Run("ProtectedChangeInsideWindow", func(t *testing.T) {
			ident := h.MustIdentity("before@example.test")
			_, tok := h.MustSession(ident)
			f := createFlow(t, h, "api", tok)
			r := h.Do(http.MethodPost, "/self-service/settings?flow="+f, `{"method":"profile","traits":{"email":"after@example.test","name":"After"}}`, "X-Session-Token", tok)
			if r.Status != http.StatusOK {
				t.Fatalf("update = %d %s", r.Status, r.Body)
			}
			if !strings.Contains(mustJSON(r.JSON(t)["ui"]), `"value":"after@example.test"`) {
				t.Fatalf("success form does not show the new email: %s", r.Body)
			}
			i, err := h.identities.Get(ctx, ident.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(i.RecoveryAddresses) != 1 || i.RecoveryAddresses[0].Value != "after@example.test" ||
				len(i.VerifiableAddresses) != 1 || i.VerifiableAddresses[0].Value != "after@example.test" ||
				strings.Join(i.PasswordIdentifiers(), ",") != "after@example.test" {
				t.Fatalf("addresses not re-derived: %+v %+v %v", i.RecoveryAddresses, i.VerifiableAddresses, i.PasswordIdentifiers())
			}
			if found, err := h.identities.FindByIdentifier(ctx, identity.CredentialPassword, "after@example.test"); err != nil || found.ID != ident.ID {
				t.Fatalf("new identifier not found: %v", err)
			}
		})

		t.Run("Duplicate", func(t *testing.T) {
			h.MustIdentity("taken@example.test")
			_, tok := h.MustSession(h.MustIdentity("wants-taken@example.test"))
			f := createFlow(t, h, "api", tok)
			r := h.Do(http.MethodPost, "/self-service/settings?flow="+f, `{"method":"profile","traits":{"email":"taken@example.test"}}`, "X-Session-Token", tok)
			if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), `"id":4000007`) {
				t.Fatalf("duplicate = %d %s", r.Status, r.Body)
			}
		})

		t.Run("OutsideWindow", func(t *testing.T) {
			ident := h.MustIdentity("old-session@example.test")
			_, tok := h.MustSession(ident)
			f := createFlow(t, h, "api", tok)
			h.clock.Advance(20 * time.Minute)

			// A harmless trait (name) may change: Latchkey departs from
			// Kratos here, which would answer 403.
			r := h.Do(http.MethodPost, "/self-service/settings?flow="+f, `{"method":"profile","traits":{"email":"old-session@example.test","name":"Renamed"}}`, "X-Session-Token", tok)
			if r.Status != http.StatusOK {
				t.Fatalf("harmless change = %d %s", r.Status, r.Body)
			}
			if i, _ := h.identities.Get(ctx, ident.ID); !strings.Contains(string(i.Traits), `"name":"Renamed"`) {
				t.Fatalf("traits = %s", i.Traits)
			}

			// The email is identifier, recovery and verification address.
			r = h.Do(http.MethodPost, "/self-service/settings?flow="+f, `{"method":"profile","traits":{"email":"attacker@example.test","name":"Renamed"}}`, "X-Session-Token", tok)
			if r.Status != http.StatusForbidden || errorID(r.JSON(t)) != "session_refresh_required" {
				t.Fatalf("protected change = %d %s", r.Status, r.Body)
			}
			// Dropping it counts as a change too.
			r = h.Do(http.MethodPost, "/self-service/settings?flow="+f, `{"method":"profile","traits":{"name":"Renamed"}}`, "X-Session-Token", tok)
			if r.Status != http.StatusForbidden {
				t.Fatalf("removing the email = %d %s", r.Status, r.Body)
			}
			if i, _ := h.identities.Get(ctx, ident.ID); i.RecoveryAddresses[0].Value != "old-session@example.test" {
				t.Fatalf("recovery address changed: %+v", i.RecoveryAddresses)
			}
		})

		t.Run("BrowserForm", func(t *testing.T) {
			ident := h.MustIdentity("form-profile@example.test")
			_, tok := h.MustSession(ident)
			b := h.NewBrowser(tok)
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
			if i, _ := h.identities.Get(ctx, ident.ID); string(i.Traits) != `{"email":"form-profile@example.test","name":"Form Name"}` {
				t.Fatalf("traits = %s", i.Traits)
			}
		})

		t.Run("FormValuesTakeSchemaTypes", func(t *testing.T) {
			i, err := h.identities.Create(ctx, identity.CreateInput{SchemaID: "no-identifier", Traits: json.RawMessage(`{"nickname":"nick"}`)})
			if err != nil {
				t.Fatal(err)
			}
			_, tok := h.MustSession(i)
			b := h.NewBrowser(tok)
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
			got, _ := h.identities.Get(ctx, i.ID)
			var traits map[string]any
			_ = json.Unmarshal(got.Traits, &traits)
			if traits["age"] != float64(42) || traits["newsletter"] != true || traits["nickname"] != "nick2" {
				t.Fatalf("traits = %s", got.Traits)
			}
		})
	})
}
