package sqlstore_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/sqlstore"
	"github.com/latchkey/latchkey/internal/sqlstore/sqltest"
)

// A killed database connection (an operator, a restart, a failover) costs
// no request: reads and transactions go through on a fresh connection,
// and nothing is written twice.
func TestLostConnection(t *testing.T) {
	for _, d := range serverDialects {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			dsn := sqltest.DSN(t, d)
			db := sqltest.OpenDSN(t, dsn)
			identities := func(t *testing.T, id uuid.UUID) int {
				t.Helper()
				var n int
				if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM identities WHERE id = ?`, id.String()).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			// fillPool leaves several idle connections in the pool.
			fillPool := func(t *testing.T) {
				t.Helper()
				err := db.InTx(ctx, func(ctx context.Context) error {
					for i := 0; i < 3; i++ {
						rows, err := db.Query(context.Background(), `SELECT id FROM identities`)
						if err != nil {
							return err
						}
						defer rows.Close()
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
			}

			t.Run("IdleConnectionsKilled", func(t *testing.T) {
				for name, use := range map[string]func(t *testing.T) error{
					"QueryRow": func(t *testing.T) error {
						var n int
						return db.QueryRow(ctx, `SELECT COUNT(*) FROM identities`).Scan(&n)
					},
					"Query": func(t *testing.T) error {
						rows, err := db.Query(ctx, `SELECT id FROM identities`)
						if err == nil {
							rows.Close()
						}
						return err
					},
					"Exec": func(t *testing.T) error {
						id := uuid.New()
						mustInsertIdentity(ctx, db, id)
						if n := identities(t, id); n != 1 {
							t.Fatalf("%d rows written", n)
						}
						return nil
					},
					"InTx": func(t *testing.T) error {
						id := uuid.New()
						err := db.InTx(ctx, func(ctx context.Context) error { return insertIdentity(ctx, db, id) })
						if n := identities(t, id); err == nil && n != 1 {
							t.Fatalf("%d rows written", n)
						}
						return err
					},
				} {
					fillPool(t)
					if n := sqltest.KillConnections(t, dsn); n < 2 {
						t.Fatalf("%s: killed %d connections; the pool should hold several", name, n)
					}
					if err := use(t); err != nil {
						t.Fatalf("%s after the connections were killed: %v", name, err)
					}
				}
			})

			// The connection dies in the middle of a transaction: the
			// transaction runs again from the start, once, and its write
			// is there once.
			t.Run("KilledInsideATransaction", func(t *testing.T) {
				id := uuid.New()
				attempts := 0
				err := db.InTx(ctx, func(ctx context.Context) error {
					attempts++
					if attempts == 1 {
						if err := insertIdentity(ctx, db, id); err != nil {
							return err
						}
						sqltest.KillConnections(t, dsn)
					}
					return insertIdentity(ctx, db, uuid.New()) // fails the first time: the connection is gone
				})
				if err != nil {
					t.Fatalf("transaction: %v", err)
				}
				if attempts != 2 {
					t.Fatalf("%d attempts", attempts)
				}
				if n := identities(t, id); n != 0 {
					t.Fatalf("the first attempt's write is there %d times", n)
				}
			})

			// Only once: a connection that keeps failing fails the call.
			t.Run("RetriedOnlyOnce", func(t *testing.T) {
				attempts := 0
				err := db.InTx(ctx, func(ctx context.Context) error {
					attempts++
					sqltest.KillConnections(t, dsn)
					return insertIdentity(ctx, db, uuid.New())
				})
				if err == nil || attempts != 2 {
					t.Fatalf("%d attempts, %v", attempts, err)
				}
			})
		})
	}
}

func insertIdentity(ctx context.Context, db *sqlstore.DB, id uuid.UUID) error {
	_, err := db.Exec(ctx, `INSERT INTO identities (id, schema_id, state, traits, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
		id.String(), "default", "active", "{}", db.NowUTC(), db.NowUTC())
	return err
}

func mustInsertIdentity(ctx context.Context, db *sqlstore.DB, id uuid.UUID) {
	if err := insertIdentity(ctx, db, id); err != nil {
		panic(err)
	}
}
