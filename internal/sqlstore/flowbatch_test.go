package sqlstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/sqlstore"
	"github.com/latchkey/latchkey/internal/sqlstore/sqltest"
)

func newFlowRecord(i int) *flow.Record {
	return &flow.Record{
		ID: uuid.New(), Kind: "recovery", Type: flow.TypeAPI, State: "choose_method", CSRF: fmt.Sprintf("fp-%d", i),
		Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i)), ExpiresAt: sqlstore.Time(time.Now().Add(time.Hour)),
	}
}

// createConcurrently creates flows from one goroutine each; with a
// held batcher it returns once all of them wait in its queue, and
// wait collects their errors.
func createConcurrently(t *testing.T, s *sqlstore.FlowStore, ctx context.Context, recs []*flow.Record, held bool) (wait func() []error) {
	t.Helper()
	errs := make([]error, len(recs))
	var wg sync.WaitGroup
	for i, r := range recs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.CreateFlow(ctx, r)
		}()
	}
	if held {
		for deadline := time.Now().Add(10 * time.Second); sqlstore.QueuedFlows(s) < len(recs); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d flows queued", sqlstore.QueuedFlows(s), len(recs))
			}
		}
	}
	return func() []error { wg.Wait(); return errs }
}

func mustStored(t *testing.T, s *sqlstore.FlowStore, want *flow.Record) {
	t.Helper()
	got, err := s.GetFlow(context.Background(), want.Kind, want.ID)
	if err != nil {
		t.Fatalf("flow %s: %v", want.ID, err)
	}
	if got.CSRF != want.CSRF || string(got.Data) != string(want.Data) || got.State != want.State || got.Type != want.Type ||
		!got.ExpiresAt.Equal(want.ExpiresAt) || !got.CreatedAt.Equal(want.CreatedAt) {
		t.Fatalf("flow %s stored as %+v, created as %+v", want.ID, got, want)
	}
}

func mustNotStored(t *testing.T, s *sqlstore.FlowStore, r *flow.Record) {
	t.Helper()
	if _, err := s.GetFlow(context.Background(), r.Kind, r.ID); !errors.Is(err, sqlstore.ErrNotFound) {
		t.Fatalf("flow %s: %v, want not found", r.ID, err)
	}
}

// Flows created at the same time are all stored, on every database (on
// PostgreSQL and MySQL through the batcher).
func TestCreateFlowConcurrently(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		s := sqlstore.NewFlowStore(db)
		recs := make([]*flow.Record, 100)
		for i := range recs {
			recs[i] = newFlowRecord(i)
		}
		for i, err := range createConcurrently(t, s, context.Background(), recs, false)() {
			if err != nil {
				t.Fatalf("flow %d: %v", i, err)
			}
		}
		for _, r := range recs {
			mustStored(t, s, r)
		}
	})
}

// heldStore is the flow store of db with its batcher held, or skips the
// test on SQLite, which has no batcher.
func heldStore(t *testing.T, db *sqlstore.DB) (*sqlstore.FlowStore, func()) {
	s := sqlstore.NewFlowStore(db)
	release, ok := sqlstore.HoldFlowBatches(s)
	if !ok {
		t.Skip("no flow batches on " + string(db.Dialect))
	}
	return s, release
}

// The flows that wait while a batch is written go in one statement.
func TestFlowBatchIsOneStatement(t *testing.T) {
	for _, d := range []sqlstore.Dialect{sqlstore.Postgres, sqlstore.MySQL} {
		t.Run(string(d), func(t *testing.T) {
			// Without a session cache no invalidation feed polls the
			// database while the statements are counted.
			db := sqltest.OpenDSN(t, sqltest.DSN(t, d), "session_cache_ttl=0s")
			testFlowBatchIsOneStatement(t, db)
		})
	}
}

func testFlowBatchIsOneStatement(t *testing.T, db *sqlstore.DB) {
	s, release := heldStore(t, db)
	recs := make([]*flow.Record, 20)
	for i := range recs {
		recs[i] = newFlowRecord(i)
	}
	wait := createConcurrently(t, s, context.Background(), recs, true)
	before := db.Counts().Statements.Load()
	release()
	for i, err := range wait() {
		if err != nil {
			t.Fatalf("flow %d: %v", i, err)
		}
	}
	if n := db.Counts().Statements.Load() - before; n != 1 {
		t.Fatalf("%d statements for a batch of %d", n, len(recs))
	}
	for _, r := range recs {
		mustStored(t, s, r)
	}
}

// A row the database refuses fails its own caller only: the batch is
// written again row by row.
func TestFlowBatchBadRowFailsAlone(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		existing := newFlowRecord(0)
		if err := sqlstore.NewFlowStore(db).CreateFlow(ctx, existing); err != nil {
			t.Fatal(err)
		}
		s, release := heldStore(t, db)
		recs := make([]*flow.Record, 6)
		for i := range recs {
			recs[i] = newFlowRecord(i + 1)
		}
		duplicate := newFlowRecord(10)
		duplicate.ID = existing.ID
		orphan := newFlowRecord(11) // its identity does not exist
		missing := uuid.New()
		orphan.IdentityID = &missing
		recs[2], recs[4] = duplicate, orphan
		wait := createConcurrently(t, s, ctx, recs, true)
		release()
		errs := wait()
		for i, r := range recs {
			switch {
			case r == duplicate:
				if !errors.Is(errs[i], sqlstore.ErrConflict) {
					t.Fatalf("duplicate id: %v, want a conflict", errs[i])
				}
			case r == orphan:
				if errs[i] == nil {
					t.Fatal("a flow of a missing identity was stored")
				}
				mustNotStored(t, s, r)
			default:
				if errs[i] != nil {
					t.Fatalf("flow %d failed with the bad rows: %v", i, errs[i])
				}
				mustStored(t, s, r)
			}
		}
		mustStored(t, s, existing)
	})
}

// A caller whose request ends while its flow waits for a batch gets the
// context's error, and its flow is not stored; the others' are.
func TestFlowBatchCancelledWhileQueued(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		s, release := heldStore(t, db)
		ctx, cancel := context.WithCancel(context.Background())
		gone, kept := newFlowRecord(1), newFlowRecord(2)
		waitGone := createConcurrently(t, s, ctx, []*flow.Record{gone}, true)
		waitKept := createConcurrently(t, s, context.Background(), []*flow.Record{kept}, false)
		for deadline := time.Now().Add(10 * time.Second); sqlstore.QueuedFlows(s) < 2; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the second flow was not queued")
			}
		}
		cancel()
		if err := waitGone()[0]; !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled caller: %v", err)
		}
		if n := sqlstore.QueuedFlows(s); n != 1 {
			t.Fatalf("%d flows queued after the cancelled one left, want 1", n)
		}
		release()
		if err := waitKept()[0]; err != nil {
			t.Fatal(err)
		}
		mustStored(t, s, kept)
		mustNotStored(t, s, gone)
	})
}

// A flow created in a transaction is the transaction's: it goes when the
// transaction rolls back (no batch writes it on its own).
func TestCreateFlowInTransaction(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		s := sqlstore.NewFlowStore(db)
		rolledBack, committed := newFlowRecord(1), newFlowRecord(2)
		errUndo := errors.New("undo")
		err := db.InTx(context.Background(), func(ctx context.Context) error {
			if err := s.CreateFlow(ctx, rolledBack); err != nil {
				return err
			}
			return errUndo
		})
		if !errors.Is(err, errUndo) {
			t.Fatal(err)
		}
		if err := db.InTx(context.Background(), func(ctx context.Context) error { return s.CreateFlow(ctx, committed) }); err != nil {
			t.Fatal(err)
		}
		mustNotStored(t, s, rolledBack)
		mustStored(t, s, committed)
	})
}
