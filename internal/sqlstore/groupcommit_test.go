package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/sqlstore"
	"github.com/latchkey/latchkey/internal/sqlstore/sqltest"
)

// groupBench opens a SQLite file with a table of its own and returns
// holdUntilQueued: it holds the writer in a transaction and returns
// release, which lets it go once n other writers queue behind it, so that
// they run as one group, deterministically.
func groupBench(t *testing.T) (db *sqlstore.DB, holdUntilQueued func(n int) (release func() error)) {
	t.Helper()
	db = sqltest.OpenSQLite(t)
	ctx := context.Background()
	if _, err := db.Exec(ctx, `CREATE TABLE group_rows (id TEXT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	holdUntilQueued = func(n int) func() error {
		holding, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
		go func() {
			done <- db.InTx(ctx, func(ctx context.Context) error {
				if _, err := db.Exec(ctx, `INSERT INTO group_rows (id) VALUES ('holder')`); err != nil {
					return err
				}
				close(holding)
				<-release
				return nil
			})
		}()
		<-holding
		return func() error {
			waitQueued(t, db, n)
			close(release)
			return <-done
		}
	}
	return db, holdUntilQueued
}

// waitQueued waits until exactly n writers wait for the writer.
func waitQueued(t *testing.T, db *sqlstore.DB, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); sqlstore.QueuedWriters(db) != n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d writers queued, want %d", sqlstore.QueuedWriters(db), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func insertRow(ctx context.Context, db *sqlstore.DB, id string) error {
	_, err := db.Exec(ctx, `INSERT INTO group_rows (id) VALUES (?)`, id)
	return err
}

func rowExists(t *testing.T, db *sqlstore.DB, id string) bool {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), `SELECT COUNT(*) FROM group_rows WHERE id = ?`, id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

// Transactions queued behind each other commit with one COMMIT, and each
// caller is answered only once its own rows can be read by everybody.
func TestGroupCommitSharesOneCommit(t *testing.T) {
	db, holdUntilQueued := groupBench(t)
	ctx := context.Background()
	const n = 20
	release := holdUntilQueued(n)
	before := db.Counts().Commits.Load()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			id := fmt.Sprint("tx-", i)
			errs[i] = db.InTx(ctx, func(ctx context.Context) error {
				if err := insertRow(ctx, db, id); err != nil {
					return err
				}
				return insertRow(ctx, db, id+"-second")
			})
			// Answered: the rows must be visible outside the transaction
			// (the read pool is another connection).
			if errs[i] == nil && (!rowExists(t, db, id) || !rowExists(t, db, id+"-second")) {
				errs[i] = fmt.Errorf("%s answered before its rows were committed", id)
			}
		})
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	// The holder and the n transactions queued behind it: one group.
	if commits := db.Counts().Commits.Load() - before; commits != 1 {
		t.Fatalf("%d commits for %d transactions", commits, n+1)
	}
}

// A transaction that fails, panics or meets a unique key undoes only its
// own writes; the rest of its group commits.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	db, holdUntilQueued := groupBench(t)
	ctx := context.Background()
	if err := insertRow(ctx, db, "taken"); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	var afterCommit sync.Map
	cases := map[string]func(ctx context.Context) error{
		"ok-1": func(ctx context.Context) error { return insertRow(ctx, db, "ok-1") },
		"fails": func(ctx context.Context) error {
			db.AfterCommit(ctx, func() { afterCommit.Store("fails", true) })
			if err := insertRow(ctx, db, "fails"); err != nil {
				return err
			}
			return boom
		},
		"ok-2": func(ctx context.Context) error {
			db.AfterCommit(ctx, func() { afterCommit.Store("ok-2", true) })
			return insertRow(ctx, db, "ok-2")
		},
		"panics": func(ctx context.Context) error {
			if err := insertRow(ctx, db, "panics"); err != nil {
				return err
			}
			panic("a bug")
		},
		"ok-3": func(ctx context.Context) error { return insertRow(ctx, db, "ok-3") },
	}
	release := holdUntilQueued(len(cases) + 1)
	results := make(map[string]error)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, fn := range cases {
		wg.Go(func() {
			defer func() {
				if p := recover(); p != nil {
					mu.Lock()
					results[name] = fmt.Errorf("panic: %v", p)
					mu.Unlock()
				}
			}()
			err := db.InTx(ctx, fn)
			mu.Lock()
			results[name] = err
			mu.Unlock()
		})
	}
	// A single statement outside a transaction that meets a unique key.
	wg.Go(func() {
		err := insertRow(ctx, db, "taken")
		mu.Lock()
		results["conflict"] = err
		mu.Unlock()
	})
	if err := release(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	want := map[string]func(error) bool{
		"ok-1":     func(err error) bool { return err == nil },
		"ok-2":     func(err error) bool { return err == nil },
		"ok-3":     func(err error) bool { return err == nil },
		"fails":    func(err error) bool { return errors.Is(err, boom) },
		"panics":   func(err error) bool { return err != nil && err.Error() == "panic: a bug" },
		"conflict": func(err error) bool { return errors.Is(err, sqlstore.ErrConflict) },
	}
	for name, ok := range want {
		if !ok(results[name]) {
			t.Errorf("%s: %v", name, results[name])
		}
	}
	for id, kept := range map[string]bool{"holder": true, "ok-1": true, "ok-2": true, "ok-3": true, "fails": false, "panics": false} {
		if rowExists(t, db, id) != kept {
			t.Errorf("row %s kept = %v, want %v", id, !kept, kept)
		}
	}
	if _, ran := afterCommit.Load("fails"); ran {
		t.Error("the failed transaction's after-commit work ran")
	}
	if _, ran := afterCommit.Load("ok-2"); !ran {
		t.Error("a committed transaction's after-commit work did not run")
	}
}

// A writer whose request ends while it waits in the queue gives up its
// place without writing; the group goes on.
func TestGroupCommitCancelledWaiter(t *testing.T) {
	db, holdUntilQueued := groupBench(t)
	ctx := context.Background()
	cancelled, cancel := context.WithCancel(ctx)
	release := holdUntilQueued(1)
	var wg sync.WaitGroup
	var cancelledErr, okErr error
	wg.Go(func() { cancelledErr = insertRow(cancelled, db, "cancelled") })
	wg.Go(func() { okErr = insertRow(ctx, db, "ok") })
	waitQueued(t, db, 2)
	cancel()
	if err := release(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if !errors.Is(cancelledErr, context.Canceled) || okErr != nil {
		t.Fatalf("cancelled: %v; ok: %v", cancelledErr, okErr)
	}
	if rowExists(t, db, "cancelled") || !rowExists(t, db, "ok") {
		t.Fatal("the cancelled writer wrote, or the other did not")
	}
}

// A group stops growing at its limit: the writers behind it start the
// next group.
func TestGroupCommitLimit(t *testing.T) {
	db, holdUntilQueued := groupBench(t)
	ctx := context.Background()
	const n = 40 // the holder and 40 more: a full group of 32, then 9
	release := holdUntilQueued(n)
	before := db.Counts().Commits.Load()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = insertRow(ctx, db, fmt.Sprint("row-", i)) })
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if commits := db.Counts().Commits.Load() - before; commits != 2 {
		t.Fatalf("%d commits for %d transactions", commits, n+1)
	}
}
