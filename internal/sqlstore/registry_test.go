package sqlstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/sqlstore"
	"github.com/latchkey/latchkey/internal/sqlstore/sqltest"
)

// A change waits for the other instances through the registry: only for
// those that are live and have not applied it, and at most a lease for
// one that stays behind (it was killed without withdrawing its row).
func TestChangesWaitForLiveInstancesOnly(t *testing.T) {
	for _, d := range serverDialects {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			dsn := sqltest.DSN(t, d)
			a, b := sqltest.OpenDSN(t, dsn), sqltest.OpenDSN(t, dsn)
			onA, onB := sqlstore.NewSessionStore(a), sqlstore.NewSessionStore(b)
			identityID := mustSessionIdentity(t, a)

			// revoke makes a session on A, revokes it there, and returns how
			// A's wait for the other instances ended.
			revoke := func(t *testing.T) (applied, lease uint64) {
				t.Helper()
				s := newTestSession(identityID, time.Now())
				if err := onA.CreateSession(ctx, s, fmt.Sprintf("%064x", s.ID[:])); err != nil {
					t.Fatal(err)
				}
				applied0, lease0 := a.ChangeWaits()
				if err := onA.RevokeSession(ctx, uuid.Nil, s.ID, time.Now()); err != nil {
					t.Fatal(err)
				}
				applied1, lease1 := a.ChangeWaits()
				return applied1 - applied0, lease1 - lease0
			}

			// B serves whoami (its feed starts) and joins the registry.
			if _, _, err := onB.SessionForWhoami(ctx, []string{"no-such-token"}, whoamiFactors); err == nil {
				t.Fatal("an unknown token was found")
			}
			waitFor(t, "B's registry row", func() bool { return registered(t, a) == 1 })

			if applied, lease := revoke(t); applied != 1 || lease != 0 {
				t.Fatalf("with B running: %d applied, %d lease waits; want the change applied by B", applied, lease)
			}
			var bApplied, last int64
			if err := a.QueryRow(ctx, `SELECT applied_through FROM session_cache_instances`).Scan(&bApplied); err != nil {
				t.Fatal(err)
			}
			if err := a.QueryRow(ctx, `SELECT last_seq FROM session_cache_counter WHERE id = 1`).Scan(&last); err != nil {
				t.Fatal(err)
			}
			if bApplied < last {
				t.Fatalf("A answered while B had applied %d of %d", bApplied, last)
			}

			// A killed instance's row, still live: the change waits out the
			// lease (and still answers).
			killed := uuid.NewString()
			if _, err := a.Exec(ctx, `INSERT INTO session_cache_instances (instance_id, applied_through, valid_until) VALUES (?, 0, ?)`,
				killed, time.Now().Add(time.Hour).UnixMilli()); err != nil {
				t.Fatal(err)
			}
			if applied, lease := revoke(t); applied != 0 || lease != 1 {
				t.Fatalf("with a killed instance live: %d applied, %d lease waits; want the lease", applied, lease)
			}
			// Once its row has expired, it is not waited for.
			if _, err := a.Exec(ctx, `UPDATE session_cache_instances SET valid_until = ? WHERE instance_id = ?`,
				time.Now().Add(-time.Second).UnixMilli(), killed); err != nil {
				t.Fatal(err)
			}
			if applied, lease := revoke(t); applied != 1 || lease != 0 {
				t.Fatalf("with the killed instance expired: %d applied, %d lease waits", applied, lease)
			}

			// B stops: it withdraws its row, and A, alone, waits for nobody.
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			if n := registered(t, a); n != 1 { // the expired row of the killed one
				t.Fatalf("%d rows after B stopped, want only the killed instance's", n)
			}
			if applied, lease := revoke(t); applied != 1 || lease != 0 {
				t.Fatalf("alone: %d applied, %d lease waits", applied, lease)
			}

			// The next instance to start sweeps rows expired long ago.
			if _, err := a.Exec(ctx, `UPDATE session_cache_instances SET valid_until = ? WHERE instance_id = ?`,
				time.Now().Add(-2*time.Hour).UnixMilli(), killed); err != nil {
				t.Fatal(err)
			}
			c := sqltest.OpenDSN(t, dsn)
			if _, _, err := sqlstore.NewSessionStore(c).SessionForWhoami(ctx, []string{"no-such-token"}, whoamiFactors); err == nil {
				t.Fatal("an unknown token was found")
			}
			waitFor(t, "the killed instance's row swept and C's written", func() bool {
				var killedRows int
				if err := a.QueryRow(ctx, `SELECT COUNT(*) FROM session_cache_instances WHERE instance_id = ?`, killed).Scan(&killedRows); err != nil {
					t.Fatal(err)
				}
				return killedRows == 0 && registered(t, a) == 1
			})
		})
	}
}

// An instance's row is written on the database's clock: live rows say
// they are valid for seconds from the database's now, not the test's.
func TestRegistryRowsUseTheDatabaseClock(t *testing.T) {
	for _, d := range serverDialects {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			db := sqltest.OpenDSN(t, sqltest.DSN(t, d))
			if _, _, err := sqlstore.NewSessionStore(db).SessionForWhoami(ctx, []string{"no-such-token"}, whoamiFactors); err == nil {
				t.Fatal("an unknown token was found")
			}
			waitFor(t, "the registry row", func() bool { return registered(t, db) == 1 })
			var validUntil int64
			if err := db.QueryRow(ctx, `SELECT valid_until FROM session_cache_instances`).Scan(&validUntil); err != nil {
				t.Fatal(err)
			}
			// The database runs on this machine: its clock is this one.
			left := time.Until(time.UnixMilli(validUntil))
			if left < time.Second || left > 10*time.Second {
				t.Fatalf("the row is valid for %s more, want a few seconds", left)
			}
		})
	}
}

// registered counts the registry's rows.
func registered(t *testing.T, db *sqlstore.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), `SELECT COUNT(*) FROM session_cache_instances`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitFor polls cond for up to five seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}
