package sqlstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/recovery"
	"github.com/latchkey/latchkey/internal/sqlstore"
	"github.com/latchkey/latchkey/internal/sqlstore/sqltest"
)

// mustRecoveryFlow stores an identity and a recovery flow for it.
func mustRecoveryFlow(t *testing.T, db *sqlstore.DB) (identityID, flowID uuid.UUID) {
	t.Helper()
	ctx := context.Background()
	i := &identity.Identity{ID: uuid.New(), SchemaID: "default", State: identity.StateActive, Traits: json.RawMessage(`{}`)}
	if err := sqlstore.NewIdentityStore(db).CreateIdentity(ctx, i); err != nil {
		t.Fatal(err)
	}
	f := &flow.Record{ID: uuid.New(), Kind: recovery.FlowKind, Type: flow.TypeAPI, State: "sent_email", Data: json.RawMessage(`{}`), ExpiresAt: time.Now().Add(time.Hour)}
	if err := sqlstore.NewFlowStore(db).CreateFlow(ctx, f); err != nil {
		t.Fatal(err)
	}
	return i.ID, f.ID
}

func TestRecoveryStore(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := sqlstore.NewRecoveryStore(db)
		identityID, flowID := mustRecoveryFlow(t, db)
		now := sqlstore.Time(time.Now())

		t.Run("CodesRoundTripAndAreUsedOnce", func(t *testing.T) {
			c := &recovery.Secret{ID: uuid.New(), FlowID: flowID, IdentityID: identityID, Hash: "h1", Kind: recovery.KindAdmin, ExpiresAt: now.Add(time.Hour), CreatedAt: now}
			if err := s.CreateCode(ctx, c); err != nil {
				t.Fatal(err)
			}
			got, err := s.FlowCodes(ctx, flowID)
			if err != nil || len(got) != 1 || got[0].Hash != "h1" || got[0].AddressID != nil || !got[0].ExpiresAt.Equal(c.ExpiresAt) || got[0].UsedAt != nil {
				t.Fatalf("FlowCodes = %+v, %v", got, err)
			}
			var wg sync.WaitGroup
			wins := make(chan bool, 8)
			for i := 0; i < 8; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var ok bool
					err := db.InTx(ctx, func(ctx context.Context) error {
						var err error
						ok, err = s.UseCode(ctx, c.ID, now)
						return err
					})
					if err != nil {
						t.Error(err)
					}
					wins <- ok
				}()
			}
			wg.Wait()
			close(wins)
			n := 0
			for ok := range wins {
				if ok {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("%d concurrent uses succeeded", n)
			}
			if err := s.DeleteFlowCodes(ctx, flowID); err != nil {
				t.Fatal(err)
			}
			if got, _ := s.FlowCodes(ctx, flowID); len(got) != 0 {
				t.Fatalf("codes left after delete: %d", len(got))
			}
		})

		t.Run("TokensAreUsedOnce", func(t *testing.T) {
			tok := &recovery.Secret{ID: uuid.New(), FlowID: flowID, IdentityID: identityID, Hash: "t1", Kind: recovery.KindSelf, ExpiresAt: now.Add(time.Hour)}
			if err := s.CreateToken(ctx, tok); err != nil {
				t.Fatal(err)
			}
			if ok, err := s.UseToken(ctx, tok.ID, now); !ok || err != nil {
				t.Fatalf("first use: %v %v", ok, err)
			}
			if ok, _ := s.UseToken(ctx, tok.ID, now); ok {
				t.Fatal("second use succeeded")
			}
			got, _ := s.FlowTokens(ctx, flowID)
			if len(got) != 1 || got[0].UsedAt == nil {
				t.Fatalf("FlowTokens = %+v", got)
			}
		})

		t.Run("SecretsAsOfAnIdentityReadEarlier", func(t *testing.T) {
			ids := sqlstore.NewIdentityStore(db)
			read, err := ids.GetIdentity(ctx, identityID, false)
			if err != nil {
				t.Fatal(err)
			}
			code := &recovery.Secret{ID: uuid.New(), FlowID: flowID, IdentityID: identityID, Hash: "as-of-1", Kind: recovery.KindAdmin, ExpiresAt: now.Add(time.Hour), CreatedAt: now}
			if ok, err := s.CreateCodeAsOf(ctx, code, read.UpdatedAt); !ok || err != nil {
				t.Fatalf("unchanged identity: %v %v", ok, err)
			}
			// The identity changes: a secret prepared from the earlier read
			// is not written.
			read.Traits = json.RawMessage(`{"changed":true}`)
			read.UpdatedAt = read.UpdatedAt.Add(time.Second)
			if err := ids.UpdateIdentity(ctx, read); err != nil {
				t.Fatal(err)
			}
			stale := &recovery.Secret{ID: uuid.New(), FlowID: flowID, IdentityID: identityID, Hash: "as-of-2", Kind: recovery.KindAdmin, ExpiresAt: now.Add(time.Hour), CreatedAt: now}
			if ok, err := s.CreateCodeAsOf(ctx, stale, read.UpdatedAt.Add(-time.Second)); ok || err != nil {
				t.Fatalf("changed identity: %v %v", ok, err)
			}
			tok := &recovery.Secret{ID: uuid.New(), FlowID: flowID, IdentityID: uuid.New(), Hash: "as-of-3", Kind: recovery.KindAdmin, ExpiresAt: now.Add(time.Hour), CreatedAt: now}
			if ok, err := s.CreateTokenAsOf(ctx, tok, read.UpdatedAt); ok || err != nil {
				t.Fatalf("unknown identity: %v %v", ok, err)
			}
			codes, _ := s.FlowCodes(ctx, flowID)
			tokens, _ := s.FlowTokens(ctx, flowID)
			for _, c := range append(codes, tokens...) {
				if c.Hash == "as-of-2" || c.Hash == "as-of-3" {
					t.Errorf("%s written", c.Hash)
				}
			}
			if len(codes) != 1 || codes[0].Hash != "as-of-1" {
				t.Errorf("codes = %+v", codes)
			}
		})

		t.Run("DeletingTheFlowDeletesItsSecrets", func(t *testing.T) {
			if _, err := db.Exec(ctx, `DELETE FROM selfservice_flows WHERE id = ?`, flowID.String()); err != nil {
				t.Fatal(err)
			}
			if got, _ := s.FlowTokens(ctx, flowID); len(got) != 0 {
				t.Fatalf("tokens survived their flow: %d", len(got))
			}
		})
	})
}

// TestCountCodeSubmission: the count and the codes in one call, the same
// on every database, in one statement on PostgreSQL.
func TestCountCodeSubmission(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := sqlstore.NewRecoveryStore(db)
		identityID, flowID := mustRecoveryFlow(t, db)
		now := sqlstore.Time(time.Now())

		count := func() (int, []recovery.Secret, uint64) {
			t.Helper()
			var (
				n     int
				codes []recovery.Secret
			)
			before := db.Counts().Statements.Load()
			err := db.InTx(ctx, func(ctx context.Context) error {
				var err error
				n, codes, err = s.CountCodeSubmission(ctx, flowID)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			return n, codes, db.Counts().Statements.Load() - before - 2 // BEGIN, COMMIT
		}

		// No code yet: counted all the same.
		if n, codes, stmts := count(); n != 1 || len(codes) != 0 {
			t.Fatalf("without codes: %d, %+v", n, codes)
		} else if db.Dialect == sqlstore.Postgres && stmts != 1 {
			t.Errorf("%d statements on PostgreSQL, want 1", stmts)
		}

		used := now.Add(time.Minute)
		first := recovery.Secret{ID: uuid.New(), FlowID: flowID, IdentityID: identityID, Hash: "first", Kind: recovery.KindSelf, ExpiresAt: now.Add(time.Hour), CreatedAt: now}
		second := recovery.Secret{ID: uuid.New(), FlowID: flowID, IdentityID: identityID, Hash: "second", Kind: recovery.KindAdmin, ExpiresAt: now.Add(2 * time.Hour), CreatedAt: now.Add(time.Second)}
		for _, c := range []*recovery.Secret{&second, &first} {
			if err := s.CreateCode(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.InTx(ctx, func(ctx context.Context) error {
			_, err := s.UseCode(ctx, first.ID, used)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		first.UsedAt = &used

		n, codes, _ := count()
		if n != 2 || len(codes) != 2 {
			t.Fatalf("with codes: %d, %+v", n, codes)
		}
		for i, want := range []recovery.Secret{first, second} { // oldest first
			got := codes[i]
			if got.ID != want.ID || got.FlowID != flowID || got.IdentityID != identityID || got.Hash != want.Hash || got.Kind != want.Kind ||
				!got.ExpiresAt.Equal(want.ExpiresAt) || !got.CreatedAt.Equal(want.CreatedAt) ||
				got.AddressID != nil ||
				(got.UsedAt == nil) != (want.UsedAt == nil) || (got.UsedAt != nil && !got.UsedAt.Equal(*want.UsedAt)) {
				t.Errorf("code %d = %+v, want %+v", i, got, want)
			}
		}

		// A flow that is gone.
		err := db.InTx(ctx, func(ctx context.Context) error {
			_, _, err := s.CountCodeSubmission(ctx, uuid.New())
			return err
		})
		if !errors.Is(err, sqlstore.ErrNotFound) {
			t.Fatalf("unknown flow: %v", err)
		}
	})
}
