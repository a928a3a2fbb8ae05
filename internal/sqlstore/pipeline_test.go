package sqlstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/sqlstore"
	"github.com/latchkey/latchkey/internal/sqlstore/sqltest"
)

// TestPipelinedTransactions: writes sent later (ExecLater) land with their
// transaction, vanish with its rollback or its savepoint's, fail it when
// they fail, and on PostgreSQL share round trips (BEGIN with the first
// statement, COMMIT with the last writes). On SQLite and MySQL ExecLater
// is Exec; the same behaviour holds.
func TestPipelinedTransactions(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		boom := errors.New("boom")
		insert := func(ctx context.Context, id uuid.UUID) error {
			return db.ExecLater(ctx, `INSERT INTO selfservice_errors (id, body, created_at) VALUES (?, ?, ?)`, id.String(), `{}`, db.NowUTC())
		}
		exists := func(t *testing.T, id uuid.UUID) bool {
			t.Helper()
			var n int
			if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM selfservice_errors WHERE id = ?`, id.String()).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n == 1
		}
		// roundTrips runs fn and returns the round trips it cost.
		roundTrips := func(fn func()) uint64 {
			c := db.Counts()
			before := c.Statements.Load() - c.Pipelined.Load()
			fn()
			return c.Statements.Load() - c.Pipelined.Load() - before
		}

		// Two writes sent later, after a read or not: on PostgreSQL BEGIN
		// goes with them (or after the read), COMMIT with them.
		for _, c := range []struct {
			name      string
			readFirst bool
			want      uint64
		}{
			{"OnlyWritesIsOneRoundTrip", false, 1},
			{"AReadThenWritesIsTwoRoundTrips", true, 2},
		} {
			t.Run(c.name, func(t *testing.T) {
				a, b := uuid.New(), uuid.New()
				var err error
				trips := roundTrips(func() {
					err = db.InTx(ctx, func(ctx context.Context) error {
						if c.readFirst && exists(t, a) {
							t.Error("a row exists before it is written")
						}
						if err := insert(ctx, a); err != nil {
							return err
						}
						return insert(ctx, b)
					})
				})
				if err != nil {
					t.Fatal(err)
				}
				if !exists(t, a) || !exists(t, b) {
					t.Fatal("a write sent later is missing after the commit")
				}
				if db.Dialect == sqlstore.Postgres && trips != c.want {
					t.Fatalf("took %d round trips, want %d", trips, c.want)
				}
			})
		}

		t.Run("RollbackDropsThem", func(t *testing.T) {
			a := uuid.New()
			var err error
			trips := roundTrips(func() {
				err = db.InTx(ctx, func(ctx context.Context) error {
					if err := insert(ctx, a); err != nil {
						return err
					}
					return boom
				})
			})
			if !errors.Is(err, boom) {
				t.Fatalf("err = %v, want boom", err)
			}
			if exists(t, a) {
				t.Fatal("a write of a rolled-back transaction was committed")
			}
			if db.Dialect == sqlstore.Postgres && trips != 0 {
				t.Fatalf("a transaction that only queued writes and failed took %d round trips, want 0", trips)
			}
		})

		t.Run("AQueryAfterThemSeesThem", func(t *testing.T) {
			a := uuid.New()
			err := db.InTx(ctx, func(ctx context.Context) error {
				if err := insert(ctx, a); err != nil {
					return err
				}
				var n int
				if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM selfservice_errors WHERE id = ?`, a.String()).Scan(&n); err != nil {
					return err
				}
				if n != 1 {
					t.Errorf("the transaction's query saw %d rows of its own earlier write", n)
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("err = %v", err)
			}
		})

		t.Run("TheirErrorFailsTheTransaction", func(t *testing.T) {
			dup, c := uuid.New(), uuid.New()
			if err := db.InTx(ctx, func(ctx context.Context) error { return insert(ctx, dup) }); err != nil {
				t.Fatal(err)
			}
			// At COMMIT.
			err := db.InTx(ctx, func(ctx context.Context) error {
				if err := insert(ctx, dup); err != nil {
					return err
				}
				return insert(ctx, c)
			})
			if !errors.Is(err, sqlstore.ErrConflict) {
				t.Fatalf("err = %v, want ErrConflict", err)
			}
			if exists(t, c) {
				t.Fatal("a write of a failed transaction was committed")
			}
			// At the next query, whose Scan reports it.
			err = db.InTx(ctx, func(ctx context.Context) error {
				if err := insert(ctx, dup); err != nil {
					return err
				}
				var n int
				return db.QueryRow(ctx, `SELECT COUNT(*) FROM selfservice_errors`).Scan(&n)
			})
			if !errors.Is(err, sqlstore.ErrConflict) {
				t.Fatalf("err = %v, want ErrConflict", err)
			}
			// The failed transactions left no connection inside a
			// transaction: every pooled connection still works.
			for range 25 {
				if err := db.InTx(ctx, func(ctx context.Context) error { return insert(ctx, uuid.New()) }); err != nil {
					t.Fatal(err)
				}
			}
		})

		t.Run("ASavepointRolledBackDropsItsOwn", func(t *testing.T) {
			a, b, c := uuid.New(), uuid.New(), uuid.New()
			err := db.InTx(ctx, func(ctx context.Context) error {
				if err := insert(ctx, a); err != nil {
					return err
				}
				if err := db.Savepoint(ctx, func(ctx context.Context) error {
					if err := insert(ctx, b); err != nil {
						return err
					}
					// Not sent on PostgreSQL (it would fail: a is taken),
					// since the savepoint undoes it; elsewhere it fails here.
					if err := insert(ctx, a); err != nil {
						return errors.Join(boom, err)
					}
					return boom
				}); !errors.Is(err, boom) {
					t.Errorf("savepoint err = %v, want boom", err)
				}
				return insert(ctx, c)
			})
			if err != nil {
				t.Fatal(err)
			}
			if !exists(t, a) || exists(t, b) || !exists(t, c) {
				t.Fatalf("after a savepoint rolled back: a %v, b %v, c %v; want true, false, true", exists(t, a), exists(t, b), exists(t, c))
			}
		})

		t.Run("AReadOnlyTransactionSendsNoBeginOrCommit", func(t *testing.T) {
			a := uuid.New()
			if err := insert(ctx, a); err != nil {
				t.Fatal(err)
			}
			var err error
			trips := roundTrips(func() {
				err = db.InTx(ctx, func(ctx context.Context) error {
					var n int
					return db.QueryRow(ctx, `SELECT COUNT(*) FROM selfservice_errors WHERE id = ?`, a.String()).Scan(&n)
				})
			})
			if err != nil {
				t.Fatal(err)
			}
			if db.Dialect == sqlstore.Postgres && trips != 1 {
				t.Fatalf("a transaction of one read took %d round trips, want 1", trips)
			}
		})

		t.Run("AWriteThatMustChangeARowAndDoesNot", func(t *testing.T) {
			missing, c := uuid.New(), uuid.New()
			update := func(ctx context.Context, id uuid.UUID) error {
				return db.ExecLaterChanging(ctx, sqlstore.ErrNotFound, `UPDATE selfservice_errors SET body = ? WHERE id = ?`, `{"a":1}`, id.String())
			}
			err := db.InTx(ctx, func(ctx context.Context) error {
				if err := update(ctx, missing); err != nil {
					return err
				}
				return insert(ctx, c)
			})
			if !errors.Is(err, sqlstore.ErrNotFound) {
				t.Fatalf("err = %v, want ErrNotFound", err)
			}
			if exists(t, c) {
				t.Fatal("a write of the failed transaction was committed")
			}
			if err := update(ctx, missing); !errors.Is(err, sqlstore.ErrNotFound) {
				t.Fatalf("outside a transaction: err = %v, want ErrNotFound", err)
			}
			if err := db.InTx(ctx, func(ctx context.Context) error { return update(ctx, c) }); !errors.Is(err, sqlstore.ErrNotFound) {
				t.Fatalf("err = %v, want ErrNotFound", err)
			}
			if err := insert(ctx, c); err != nil {
				t.Fatal(err)
			}
			if err := db.InTx(ctx, func(ctx context.Context) error { return update(ctx, c) }); err != nil {
				t.Fatalf("updating a row that exists: %v", err)
			}
			// Checked with COMMIT, in the transaction's one round trip, on
			// PostgreSQL: the write's guard fails the transaction when it
			// changes nothing, so nothing is committed.
			d := uuid.New()
			for _, tc := range []struct {
				name   string
				target uuid.UUID
				want   error
			}{{"changes a row", c, nil}, {"changes none", missing, sqlstore.ErrNotFound}} {
				var err error
				trips := roundTrips(func() {
					err = db.InTx(ctx, func(ctx context.Context) error {
						if err := insert(ctx, d); err != nil {
							return err
						}
						return update(ctx, tc.target)
					})
				})
				if !errors.Is(err, tc.want) {
					t.Fatalf("%s: err = %v, want %v", tc.name, err, tc.want)
				}
				if got := exists(t, d); got != (tc.want == nil) {
					t.Fatalf("%s: the other write committed = %v", tc.name, got)
				}
				wantTrips := uint64(1) // BEGIN, the writes and COMMIT
				if tc.want != nil {
					wantTrips = 2 // and the ROLLBACK
				}
				if db.Dialect == sqlstore.Postgres && trips != wantTrips {
					t.Fatalf("%s: %d round trips, want %d", tc.name, trips, wantTrips)
				}
				if tc.want == nil {
					if _, err := db.Exec(ctx, `DELETE FROM selfservice_errors WHERE id = ?`, d.String()); err != nil {
						t.Fatal(err)
					}
				}
			}
		})

		t.Run("ARowReturnedWithThePendingWrites", func(t *testing.T) {
			a := uuid.New()
			var n int64
			var missing string
			var err error
			trips := roundTrips(func() {
				err = db.InTx(ctx, func(ctx context.Context) error {
					if err := insert(ctx, a); err != nil {
						return err
					}
					if err := db.ReturningRow(ctx, `SELECT COUNT(*) FROM selfservice_errors WHERE id = ?`, a.String()).Scan(&n); err != nil {
						return err
					}
					if err := sqlstore.ScanErr(db.ReturningRow(ctx, `SELECT body FROM selfservice_errors WHERE id = ?`, uuid.NewString()).Scan(&missing)); !errors.Is(err, sqlstore.ErrNotFound) {
						t.Errorf("no row: err = %v, want ErrNotFound", err)
					}
					return nil
				})
			})
			if err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				t.Fatalf("the row returned counted %d of the transaction's own pending write, want 1", n)
			}
			if db.Dialect == sqlstore.Postgres && trips != 3 {
				t.Fatalf("BEGIN + insert + a returned row, a second row, COMMIT took %d round trips, want 3", trips)
			}
		})

		t.Run("OutsideATransactionItIsExec", func(t *testing.T) {
			a := uuid.New()
			if err := insert(ctx, a); err != nil {
				t.Fatal(err)
			}
			if !exists(t, a) {
				t.Fatal("ExecLater outside a transaction did not write")
			}
		})
	})
}
