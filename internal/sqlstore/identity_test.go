package sqlstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/sqlstore"
	"github.com/latchkey/latchkey/internal/sqlstore/sqltest"
)

var identityT0 = time.Date(2026, 5, 6, 7, 8, 9, 123456000, time.UTC)

// newTestIdentity builds an identity with one of everything, as the
// identity service would.
func newTestIdentity(email string, at time.Time) *identity.Identity {
	verifiedAt := at.Add(-time.Hour)
	return &identity.Identity{
		ID: uuid.New(), SchemaID: "default", State: identity.StateActive, StateChangedAt: &at,
		Traits:         json.RawMessage(`{"email":"` + email + `"}`),
		MetadataPublic: json.RawMessage(`{"plan":"pro"}`),
		Credentials: map[identity.CredentialType]identity.Credential{
			identity.CredentialPassword: {ID: uuid.New(), Type: identity.CredentialPassword, Identifiers: []string{email},
				Config: json.RawMessage(`{"hashed_password":"$2a$04$x"}`), CreatedAt: at, UpdatedAt: at},
		},
		RecoveryAddresses: []identity.RecoveryAddress{{ID: uuid.New(), Via: "email", Value: email, CreatedAt: at, UpdatedAt: at}},
		VerifiableAddresses: []identity.VerifiableAddress{{ID: uuid.New(), Via: "email", Value: email, Verified: true,
			Status: "completed", VerifiedAt: &verifiedAt, CreatedAt: at, UpdatedAt: at}},
		CreatedAt: at, UpdatedAt: at,
	}
}

func adminJSON(t *testing.T, i *identity.Identity) string {
	t.Helper()
	b, err := json.Marshal(i.JSON(identity.AdminViewWithCredentials, ""))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func countRows(t *testing.T, db *sqlstore.DB, table string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestIdentityStore(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := sqlstore.NewIdentityStore(db)

		t.Run("RoundTrip", func(t *testing.T) {
			i := newTestIdentity("round@example.test", identityT0)
			i.ExternalID = "ext-round"
			i.MetadataAdmin = json.RawMessage(`{"crm":1}`)
			if err := s.CreateIdentity(ctx, i); err != nil {
				t.Fatal(err)
			}
			got, err := s.GetIdentity(ctx, i.ID, true)
			if err != nil {
				t.Fatal(err)
			}
			if a, b := adminJSON(t, i), adminJSON(t, got); a != b {
				t.Fatalf("round trip:\nput %s\ngot %s", a, b)
			}
			pub, err := s.GetIdentity(ctx, i.ID, false)
			if err != nil || pub.Credentials != nil || len(pub.VerifiableAddresses) != 1 {
				t.Fatalf("without credentials: %+v, %v", pub, err)
			}
		})

		t.Run("ReadInOneStatement", func(t *testing.T) {
			i := newTestIdentity("one-statement@example.test", identityT0)
			bare := newTestIdentity("bare@example.test", identityT0)
			bare.Credentials, bare.RecoveryAddresses, bare.VerifiableAddresses, bare.MetadataPublic = nil, nil, nil, nil
			for _, x := range []*identity.Identity{i, bare} {
				if err := s.CreateIdentity(ctx, x); err != nil {
					t.Fatal(err)
				}
			}
			for _, tc := range []struct {
				name string
				id   uuid.UUID
				want *identity.Identity
			}{{"with everything", i.ID, i}, {"with nothing but its row", bare.ID, bare}, {"unknown", uuid.New(), nil}} {
				before := db.Counts().Statements.Load()
				got, err := s.GetIdentity(ctx, tc.id, true)
				if n := db.Counts().Statements.Load() - before; n != 1 {
					t.Errorf("%s: %d statements, want 1", tc.name, n)
				}
				if tc.want == nil {
					if !errors.Is(err, sqlstore.ErrNotFound) {
						t.Errorf("%s: err = %v, want ErrNotFound", tc.name, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				if a, b := adminJSON(t, tc.want), adminJSON(t, got); a != b {
					t.Errorf("%s:\nput %s\ngot %s", tc.name, a, b)
				}
			}
		})

		t.Run("UpdateSyncsOwnedRows", func(t *testing.T) {
			i := newTestIdentity("sync-a@example.test", identityT0)
			if err := s.CreateIdentity(ctx, i); err != nil {
				t.Fatal(err)
			}
			keptRecovery := i.RecoveryAddresses[0]
			later := identityT0.Add(time.Hour)
			i.Traits = json.RawMessage(`{"email":"sync-b@example.test"}`)
			i.State, i.StateChangedAt, i.UpdatedAt = identity.StateInactive, &later, later
			i.MetadataPublic = nil
			cred := i.Credentials[identity.CredentialPassword]
			cred.Identifiers, cred.UpdatedAt = []string{"sync-b@example.test"}, later
			i.Credentials[identity.CredentialPassword] = cred
			i.RecoveryAddresses = append(i.RecoveryAddresses,
				identity.RecoveryAddress{ID: uuid.New(), Via: "email", Value: "sync-b@example.test", CreatedAt: later, UpdatedAt: later})
			i.VerifiableAddresses = []identity.VerifiableAddress{{ID: uuid.New(), Via: "email", Value: "sync-b@example.test",
				Status: "pending", CreatedAt: later, UpdatedAt: later}}
			if err := s.UpdateIdentity(ctx, i); err != nil {
				t.Fatal(err)
			}
			got, err := s.GetIdentity(ctx, i.ID, true)
			if err != nil {
				t.Fatal(err)
			}
			if a, b := adminJSON(t, i), adminJSON(t, got); a != b {
				t.Fatalf("after update:\nput %s\ngot %s", a, b)
			}
			if got.RecoveryAddresses[0].ID != keptRecovery.ID {
				t.Errorf("kept recovery address got a new id")
			}
			if _, err := s.FindIdentityByIdentifier(ctx, identity.CredentialPassword, "sync-a@example.test"); !errors.Is(err, sqlstore.ErrNotFound) {
				t.Errorf("old identifier still found: %v", err)
			}
			// The freed identifier can be taken by another identity (the
			// kept recovery address still holds the old value).
			reuse := newTestIdentity("sync-a@example.test", identityT0)
			reuse.RecoveryAddresses = nil
			if err := s.CreateIdentity(ctx, reuse); err != nil {
				t.Errorf("reuse freed identifier: %v", err)
			}
			if err := s.UpdateIdentity(ctx, newTestIdentity("ghost@example.test", identityT0)); !errors.Is(err, sqlstore.ErrNotFound) {
				t.Errorf("update unknown identity: %v", err)
			}
		})

		t.Run("ConflictWritesNothing", func(t *testing.T) {
			if err := s.CreateIdentity(ctx, newTestIdentity("taken@example.test", identityT0)); err != nil {
				t.Fatal(err)
			}
			before := countRows(t, db, "identities")
			dup := newTestIdentity("taken@example.test", identityT0)
			if err := s.CreateIdentity(ctx, dup); !errors.Is(err, sqlstore.ErrConflict) {
				t.Fatalf("err = %v, want ErrConflict", err)
			}
			if n := countRows(t, db, "identities"); n != before {
				t.Fatalf("identities %d → %d: a failed create left rows", before, n)
			}
		})

		t.Run("CreateIdentitiesSkippingConflictsWritesAListWithoutConflicts", func(t *testing.T) {
			before := countRows(t, db, "identity_credential_identifiers")
			list := []*identity.Identity{newTestIdentity("clean-a@example.test", identityT0), newTestIdentity("clean-b@example.test", identityT0)}
			conflicts, err := s.CreateIdentitiesSkippingConflicts(ctx, list)
			if err != nil || len(conflicts) != 2 || conflicts[0] != nil || conflicts[1] != nil {
				t.Fatalf("conflicts %v, err %v", conflicts, err)
			}
			if n := countRows(t, db, "identity_credential_identifiers"); n != before+2 {
				t.Errorf("identifiers %d → %d", before, n)
			}
		})

		t.Run("CreateIdentitiesSkippingConflictsLeavesOutConflictsOnly", func(t *testing.T) {
			if err := s.CreateIdentity(ctx, newTestIdentity("batch-stored@example.test", identityT0)); err != nil {
				t.Fatal(err)
			}
			tables := []string{"identities", "identity_credentials", "identity_credential_identifiers",
				"identity_recovery_addresses", "identity_verifiable_addresses"}
			before := map[string]int{}
			for _, table := range tables {
				before[table] = countRows(t, db, table)
			}
			external := newTestIdentity("batch-ext-b@example.test", identityT0)
			external.ExternalID = "batch-ext"
			sameExternal := newTestIdentity("batch-ext-c@example.test", identityT0)
			sameExternal.ExternalID = "batch-ext"
			list := []*identity.Identity{
				newTestIdentity("batch-a@example.test", identityT0),
				newTestIdentity("batch-stored@example.test", identityT0), // conflicts with a stored identity
				newTestIdentity("batch-a@example.test", identityT0),      // conflicts with the first of the list
				external,
				sameExternal, // conflicts with the one before on external_id only
				newTestIdentity("batch-d@example.test", identityT0),
			}
			failed, err := s.CreateIdentitiesSkippingConflicts(ctx, list)
			if err != nil {
				t.Fatal(err)
			}
			for n, want := range []bool{false, true, true, false, true, false} {
				if got := errors.Is(failed[n], sqlstore.ErrConflict); got != want {
					t.Errorf("identity %d: failed = %v, want conflict %v", n, failed[n], want)
				}
			}
			// Three identities written, each with one row of every kind;
			// nothing of the three that conflicted.
			for _, table := range tables {
				if got := countRows(t, db, table); got != before[table]+3 {
					t.Errorf("%s: %d rows, want %d", table, got, before[table]+3)
				}
			}
			for n, i := range list {
				_, err := s.GetIdentity(ctx, i.ID, true)
				if (err == nil) != (failed[n] == nil) {
					t.Errorf("identity %d: get %v, failed %v", n, err, failed[n])
				}
			}
		})

		t.Run("FindRecoveryAddressAndMarkVerified", func(t *testing.T) {
			i := newTestIdentity("rec@example.test", identityT0)
			i.VerifiableAddresses[0].Verified, i.VerifiableAddresses[0].Status, i.VerifiableAddresses[0].VerifiedAt = false, "pending", nil
			if err := s.CreateIdentity(ctx, i); err != nil {
				t.Fatal(err)
			}
			before := db.Counts().Statements.Load()
			addr, owner, err := s.FindRecoveryAddress(ctx, "email", "rec@example.test")
			if err != nil || owner.ID != i.ID || addr.ID != i.RecoveryAddresses[0].ID {
				t.Fatalf("got %+v %+v %v", addr, owner, err)
			}
			if n := db.Counts().Statements.Load() - before; n != 1 {
				t.Errorf("%d statements, want 1", n)
			}
			if a, b := adminJSON(t, i), adminJSON(t, owner); a != b {
				t.Errorf("owner:\nput %s\ngot %s", a, b)
			}
			if _, _, err := s.FindRecoveryAddress(ctx, "sms", "rec@example.test"); !errors.Is(err, sqlstore.ErrNotFound) {
				t.Errorf("wrong channel: %v", err)
			}
			at := identityT0.Add(2 * time.Hour)
			if err := s.MarkAddressVerified(ctx, i.ID, "email", "rec@example.test", at); err != nil {
				t.Fatal(err)
			}
			got, _ := s.GetIdentity(ctx, i.ID, false)
			va := got.VerifiableAddresses[0]
			if !va.Verified || va.Status != "completed" || !va.VerifiedAt.Equal(at) || !va.UpdatedAt.Equal(at) {
				t.Errorf("after MarkAddressVerified: %+v", va)
			}
			if err := s.MarkAddressVerified(ctx, i.ID, "email", "nope@example.test", at); !errors.Is(err, sqlstore.ErrNotFound) {
				t.Errorf("unknown address: %v", err)
			}
		})

		t.Run("SetCredentialConfig", func(t *testing.T) {
			i := newTestIdentity("cfg@example.test", identityT0)
			i.Credentials = nil
			if err := s.CreateIdentity(ctx, i); err != nil {
				t.Fatal(err)
			}
			at := identityT0.Add(time.Minute)
			for _, hash := range []string{"$2a$04$first", "$2a$04$second"} {
				if err := s.SetCredentialConfig(ctx, i.ID, identity.CredentialPassword, json.RawMessage(`{"hashed_password":"`+hash+`"}`), at); err != nil {
					t.Fatal(err)
				}
				got, _ := s.GetIdentity(ctx, i.ID, true)
				if got.HashedPassword() != hash || !got.UpdatedAt.Equal(at) {
					t.Errorf("hash %q, updated_at %v", got.HashedPassword(), got.UpdatedAt)
				}
			}
			if err := s.SetCredentialConfig(ctx, uuid.New(), identity.CredentialPassword, json.RawMessage(`{}`), at); !errors.Is(err, sqlstore.ErrNotFound) {
				t.Errorf("unknown identity: %v", err)
			}
		})

		t.Run("DeleteCascades", func(t *testing.T) {
			i := newTestIdentity("delete@example.test", identityT0)
			if err := s.CreateIdentity(ctx, i); err != nil {
				t.Fatal(err)
			}
			if err := s.DeleteIdentity(ctx, i.ID); err != nil {
				t.Fatal(err)
			}
			for _, table := range []string{"identity_credentials", "identity_credential_identifiers", "identity_recovery_addresses", "identity_verifiable_addresses"} {
				var n int
				if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM `+table+` WHERE identity_id = ?`, i.ID.String()).Scan(&n); err != nil || n != 0 {
					t.Errorf("%s: %d rows left, %v", table, n, err)
				}
			}
			if err := s.DeleteIdentity(ctx, i.ID); !errors.Is(err, sqlstore.ErrNotFound) {
				t.Errorf("second delete: %v", err)
			}
		})

		t.Run("ListKeyset", func(t *testing.T) {
			db := sqltest.Open(t, db.Dialect) // an empty database
			s := sqlstore.NewIdentityStore(db)
			var want []uuid.UUID
			for n := range 5 {
				// Pairs share a timestamp, so ties are ordered by id.
				i := newTestIdentity("list"+string(rune('a'+n))+"@example.test", identityT0.Add(time.Duration(n/2)*time.Second))
				if err := s.CreateIdentity(ctx, i); err != nil {
					t.Fatal(err)
				}
				want = append(want, i.ID)
			}
			all, err := s.ListIdentities(ctx, identity.ListQuery{Limit: 10})
			if err != nil || len(all) != 5 {
				t.Fatalf("all: %d, %v", len(all), err)
			}
			for n := 1; n < len(all); n++ {
				a, b := all[n-1], all[n]
				if a.CreatedAt.After(b.CreatedAt) || (a.CreatedAt.Equal(b.CreatedAt) && a.ID.String() > b.ID.String()) {
					t.Fatalf("not in (created_at, id) order at %d", n)
				}
			}
			if all[0].Credentials != nil || len(all[0].RecoveryAddresses) != 1 {
				t.Errorf("list without credentials: %+v", all[0])
			}
			var paged []uuid.UUID
			var after *identity.Cursor
			for {
				page, err := s.ListIdentities(ctx, identity.ListQuery{Limit: 2, After: after, WithCredentials: true})
				if err != nil {
					t.Fatal(err)
				}
				for _, i := range page {
					paged = append(paged, i.ID)
					if len(i.PasswordIdentifiers()) != 1 {
						t.Errorf("identifiers not loaded: %+v", i.Credentials)
					}
				}
				if len(page) < 2 {
					break
				}
				last := page[len(page)-1]
				after = &identity.Cursor{CreatedAt: last.CreatedAt, ID: last.ID}
			}
			if len(paged) != 5 {
				t.Fatalf("paged %d identities", len(paged))
			}
			for n := range paged {
				if paged[n] != all[n].ID {
					t.Fatalf("page order differs from full order at %d", n)
				}
			}
			byIdent, err := s.ListIdentities(ctx, identity.ListQuery{Limit: 10, Identifier: "listc@example.test"})
			if err != nil || len(byIdent) != 1 || byIdent[0].ID != want[2] {
				t.Errorf("identifier filter: %v, %v", byIdent, err)
			}
			byIDs, err := s.ListIdentities(ctx, identity.ListQuery{Limit: 10, IDs: []uuid.UUID{want[0], want[4], uuid.New()}})
			if err != nil || len(byIDs) != 2 {
				t.Errorf("ids filter: %d, %v", len(byIDs), err)
			}
		})
	})
}
