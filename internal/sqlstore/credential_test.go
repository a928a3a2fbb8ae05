package sqlstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/sqlstore"
	"github.com/latchkey/latchkey/internal/sqlstore/sqltest"
	"github.com/latchkey/latchkey/internal/storeerr"
)

// TestCredentialStore: the writes the second factors make to one
// credential of an identity, on every database.
func TestCredentialStore(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := sqlstore.NewIdentityStore(db)
		i := newTestIdentity("factors@example.test", identityT0)
		if err := s.CreateIdentity(ctx, i); err != nil {
			t.Fatal(err)
		}
		totp := func(config string) identity.Credential {
			return identity.Credential{Type: identity.CredentialTOTP, Identifiers: []string{i.ID.String()},
				Config: json.RawMessage(config), CreatedAt: identityT0, UpdatedAt: identityT0}
		}
		stored := func() map[identity.CredentialType]identity.Credential {
			t.Helper()
			got, err := s.GetIdentity(ctx, i.ID, true)
			if err != nil {
				t.Fatal(err)
			}
			return got.Credentials
		}

		t.Run("PutCreatesThenReplaces", func(t *testing.T) {
			if err := s.PutCredential(ctx, i.ID, totp(`{"sealed":"lk1:a"}`)); err != nil {
				t.Fatal(err)
			}
			first := stored()[identity.CredentialTOTP]
			if first.ID == uuid.Nil || string(first.Config) != `{"sealed":"lk1:a"}` || !slices.Equal(first.Identifiers, []string{i.ID.String()}) {
				t.Fatalf("created %+v", first)
			}
			later := totp(`{"sealed":"lk1:b"}`)
			later.UpdatedAt = identityT0.Add(1e9)
			if err := s.PutCredential(ctx, i.ID, later); err != nil {
				t.Fatal(err)
			}
			second := stored()[identity.CredentialTOTP]
			if second.ID != first.ID || !second.CreatedAt.Equal(first.CreatedAt) || !second.UpdatedAt.Equal(later.UpdatedAt) || string(second.Config) != `{"sealed":"lk1:b"}` {
				t.Fatalf("replaced %+v, was %+v", second, first)
			}
			if n := countRows(t, db, "identity_credentials"); n != 2 {
				t.Fatalf("%d credential rows, want password + totp", n)
			}
			if pw := stored()[identity.CredentialPassword]; !slices.Equal(pw.Identifiers, []string{"factors@example.test"}) {
				t.Fatalf("password identifiers %v", pw.Identifiers)
			}
		})

		t.Run("PutForUnknownIdentity", func(t *testing.T) {
			before := countRows(t, db, "identity_credentials")
			if err := s.PutCredential(ctx, uuid.New(), totp(`{}`)); !errors.Is(err, storeerr.ErrNotFound) {
				t.Fatalf("err = %v, want ErrNotFound", err)
			}
			if countRows(t, db, "identity_credentials") != before {
				t.Fatal("a credential was written for no identity")
			}
		})

		t.Run("SwapFromStaleConfigConflicts", func(t *testing.T) {
			if err := s.SwapCredentialConfig(ctx, i.ID, identity.CredentialTOTP, json.RawMessage(`{"sealed":"lk1:a"}`), json.RawMessage(`{"sealed":"lk1:x"}`), identityT0); !errors.Is(err, storeerr.ErrConflict) {
				t.Fatalf("stale swap = %v, want ErrConflict", err)
			}
			if got := string(stored()[identity.CredentialTOTP].Config); got != `{"sealed":"lk1:b"}` {
				t.Fatalf("config after a refused swap = %s", got)
			}
			if err := s.SwapCredentialConfig(ctx, i.ID, identity.CredentialLookupSecret, json.RawMessage(`{}`), json.RawMessage(`{}`), identityT0); !errors.Is(err, storeerr.ErrNotFound) {
				t.Fatalf("swap of a missing credential = %v, want ErrNotFound", err)
			}
		})

		t.Run("ConcurrentSwapsOneWins", func(t *testing.T) {
			old := json.RawMessage(`{"sealed":"lk1:b"}`)
			const n = 8
			errs := make([]error, n)
			var wg sync.WaitGroup
			for k := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[k] = s.SwapCredentialConfig(ctx, i.ID, identity.CredentialTOTP, old, json.RawMessage(fmt.Sprintf(`{"sealed":"lk1:%d"}`, k)), identityT0)
				}()
			}
			wg.Wait()
			winner := -1
			for k, err := range errs {
				switch {
				case err == nil && winner == -1:
					winner = k
				case err == nil:
					t.Fatalf("swaps %d and %d both won", winner, k)
				case !errors.Is(err, storeerr.ErrConflict):
					t.Fatalf("swap %d = %v, want ErrConflict", k, err)
				}
			}
			if winner == -1 {
				t.Fatal("no swap won")
			}
			if got := string(stored()[identity.CredentialTOTP].Config); got != fmt.Sprintf(`{"sealed":"lk1:%d"}`, winner) {
				t.Fatalf("config %s, want the winner's (%d)", got, winner)
			}
		})

		t.Run("SavingAStaleIdentityKeepsSecondFactors", func(t *testing.T) {
			stale, err := s.GetIdentity(ctx, i.ID, true)
			if err != nil {
				t.Fatal(err)
			}
			current := stored()[identity.CredentialTOTP].Config
			// Meanwhile a code is spent and backup codes are enrolled.
			if err := s.SwapCredentialConfig(ctx, i.ID, identity.CredentialTOTP, current, json.RawMessage(`{"sealed":"lk1:spent"}`), identityT0); err != nil {
				t.Fatal(err)
			}
			codes := identity.Credential{Type: identity.CredentialLookupSecret, Identifiers: []string{i.ID.String()},
				Config: json.RawMessage(`{"sealed":"lk1:codes"}`), CreatedAt: identityT0, UpdatedAt: identityT0}
			if err := s.PutCredential(ctx, i.ID, codes); err != nil {
				t.Fatal(err)
			}
			stale.Traits = json.RawMessage(`{"email":"factors@example.test","name":"renamed"}`)
			if err := s.UpdateIdentity(ctx, stale); err != nil {
				t.Fatal(err)
			}
			creds := stored()
			if string(creds[identity.CredentialTOTP].Config) != `{"sealed":"lk1:spent"}` {
				t.Fatalf("a stale save undid a spent code: %s", creds[identity.CredentialTOTP].Config)
			}
			if c, ok := creds[identity.CredentialLookupSecret]; !ok || !slices.Equal(c.Identifiers, []string{i.ID.String()}) {
				t.Fatalf("a stale save dropped the new backup codes: %+v", creds)
			}
			if err := s.DeleteCredential(ctx, i.ID, identity.CredentialLookupSecret, identityT0); err != nil {
				t.Fatal(err)
			}
		})

		t.Run("Delete", func(t *testing.T) {
			if err := s.DeleteCredential(ctx, i.ID, identity.CredentialTOTP, identityT0); err != nil {
				t.Fatal(err)
			}
			creds := stored()
			if _, ok := creds[identity.CredentialTOTP]; ok || len(creds) != 1 {
				t.Fatalf("credentials after delete %v", creds)
			}
			if n := countRows(t, db, "identity_credential_identifiers"); n != 1 {
				t.Fatalf("%d identifiers left, want the password's", n)
			}
			if err := s.DeleteCredential(ctx, i.ID, identity.CredentialTOTP, identityT0); !errors.Is(err, storeerr.ErrNotFound) {
				t.Fatalf("second delete = %v, want ErrNotFound", err)
			}
		})
	})
}
