package sqlstore_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/sqlstore"
	"github.com/latchkey/latchkey/internal/sqlstore/sqltest"
)

// Within a transaction an identity read twice is read from the database
// once, until the transaction changes an identity; copies are handed out,
// so one reader's changes never reach the next.
func TestTransactionKeepsIdentitiesItRead(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := sqlstore.NewIdentityStore(db)
		i := newTestIdentity("kept@example.test", identityT0)
		if err := s.CreateIdentity(ctx, i); err != nil {
			t.Fatal(err)
		}
		other := newTestIdentity("other@example.test", identityT0)
		if err := s.CreateIdentity(ctx, other); err != nil {
			t.Fatal(err)
		}
		// Round trips: on PostgreSQL the UPDATE carries the transaction's
		// BEGIN (its reads ran before it, see pipeline.go).
		statements := func() uint64 { return db.Counts().Statements.Load() - db.Counts().Pipelined.Load() }
		err := db.InTx(ctx, func(ctx context.Context) error {
			first, err := s.GetIdentity(ctx, i.ID, true)
			if err != nil {
				return err
			}
			first.Traits = json.RawMessage(`{"email":"changed-by-a-reader@example.test"}`)

			before := statements()
			again, err := s.GetIdentity(ctx, i.ID, true)
			if err != nil {
				return err
			}
			public, err := s.GetIdentity(ctx, i.ID, false)
			if err != nil {
				return err
			}
			if n := statements() - before; n != 0 {
				t.Errorf("reading a kept identity ran %d statements", n)
			}
			if string(again.Traits) != `{"email":"kept@example.test"}` {
				t.Errorf("a reader's change reached the next reader: %s", again.Traits)
			}
			if public.Credentials != nil || len(again.Credentials) != 1 {
				t.Errorf("credentials: public %v, full %v", public.Credentials, again.Credentials)
			}

			// A write elsewhere keeps them; a write to an identity table
			// (another identity's, even) forgets them.
			if _, err := db.Exec(ctx, `DELETE FROM selfservice_flows WHERE id = ?`, "00000000-0000-4000-8000-000000000000"); err != nil {
				return err
			}
			before = statements()
			if _, err := s.GetIdentity(ctx, i.ID, false); err != nil {
				return err
			}
			if n := statements() - before; n != 0 {
				t.Errorf("a write to another table made the identity be read again (%d statements)", n)
			}
			other.Traits = json.RawMessage(`{"email":"other@example.test","x":1}`)
			other.UpdatedAt = identityT0.Add(time.Minute)
			if err := s.UpdateIdentity(ctx, other); err != nil {
				return err
			}
			again.Traits = json.RawMessage(`{"email":"kept@example.test","changed":true}`)
			if err := s.UpdateIdentity(ctx, again); err != nil {
				return err
			}
			before = statements()
			after, err := s.GetIdentity(ctx, i.ID, true)
			if err != nil {
				return err
			}
			if statements() == before {
				t.Error("the identity was not read again after it changed")
			}
			if string(after.Traits) != `{"email":"kept@example.test","changed":true}` {
				t.Errorf("read after the change: %s", after.Traits)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// Outside a transaction nothing is kept.
		if _, err := s.GetIdentity(ctx, i.ID, false); err != nil {
			t.Fatal(err)
		}
		before := statements()
		if _, err := s.GetIdentity(ctx, i.ID, false); err != nil {
			t.Fatal(err)
		}
		if statements() == before {
			t.Error("an identity was kept outside a transaction")
		}
	})
}

// Verifying an address of an identity the transaction read already
// writes the address and reads nothing; one verified already costs no
// statement at all. Afterwards the address is verified in the database.
func TestVerifyingAKeptIdentitysAddress(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := sqlstore.NewIdentityStore(db)
		i := newTestIdentity("verify-kept@example.test", identityT0)
		i.VerifiableAddresses[0].Verified, i.VerifiableAddresses[0].Status, i.VerifiableAddresses[0].VerifiedAt = false, "pending", nil
		if err := s.CreateIdentity(ctx, i); err != nil {
			t.Fatal(err)
		}
		addr := i.VerifiableAddresses[0]
		at := identityT0.Add(time.Hour)
		// Round trips: on PostgreSQL the UPDATE carries the transaction's
		// BEGIN (its reads ran before it, see pipeline.go).
		statements := func() uint64 { return db.Counts().Statements.Load() - db.Counts().Pipelined.Load() }
		err := db.InTx(ctx, func(ctx context.Context) error {
			if _, err := s.GetIdentity(ctx, i.ID, false); err != nil {
				return err
			}
			before := statements()
			if err := s.MarkAddressVerified(ctx, i.ID, addr.Via, addr.Value, at); err != nil {
				return err
			}
			if n := statements() - before; n != 1 {
				t.Errorf("verifying a kept identity's address ran %d statements, want the UPDATE only", n)
			}
			// The write forgot the kept identity; read it again, verified.
			again, err := s.GetIdentity(ctx, i.ID, false)
			if err != nil {
				return err
			}
			if !again.VerifiableAddresses[0].Verified {
				t.Error("the transaction does not see the address verified")
			}
			before = statements()
			if err := s.MarkAddressVerified(ctx, i.ID, addr.Via, addr.Value, at.Add(time.Hour)); err != nil {
				return err
			}
			if n := statements() - before; n != 0 {
				t.Errorf("verifying a verified address ran %d statements", n)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.GetIdentity(ctx, i.ID, false)
		if err != nil {
			t.Fatal(err)
		}
		va := got.VerifiableAddresses[0]
		if !va.Verified || va.Status != "completed" || va.VerifiedAt == nil || !va.VerifiedAt.Equal(at) {
			t.Fatalf("after the transaction: %+v", va)
		}
	})
}
