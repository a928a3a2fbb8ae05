package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/internal/sqlstore"
	"github.com/latchkey/latchkey/internal/sqlstore/sqltest"
)

// replicas opens two instances' stores on one fresh database of d.
func replicas(t *testing.T, d sqlstore.Dialect) (a, b *sqlstore.DB) {
	t.Helper()
	dsn := sqltest.DSN(t, d)
	return sqltest.OpenDSN(t, dsn), sqltest.OpenDSN(t, dsn)
}

// serverDialects are the databases several instances share.
var serverDialects = []sqlstore.Dialect{sqlstore.Postgres, sqlstore.MySQL}

// A change made through one instance's stores is seen by the next whoami
// lookup on another instance, although that instance had the lookup
// cached: the write returns only once the other instance's cache has
// dropped it (or stopped serving).
func TestInvalidationFeed(t *testing.T) {
	for _, d := range serverDialects {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			a, b := replicas(t, d)
			onA, onB := sqlstore.NewSessionStore(a), sqlstore.NewSessionStore(b)
			idsOnA := sqlstore.NewIdentityStore(a)

			// cachedOnB makes a session on A and waits until B serves its
			// lookup from the cache (the same shared value twice).
			cachedOnB := func(t *testing.T) (*identity.Identity, *session.Session, string) {
				t.Helper()
				i := newTestIdentity("feed-"+uuid.NewString()[:8]+"@example.test", identityT0)
				if err := idsOnA.CreateIdentity(ctx, i); err != nil {
					t.Fatal(err)
				}
				s := newTestSession(i.ID, time.Now())
				hash := fmt.Sprintf("%064x", s.ID[:])
				if err := onA.CreateSession(ctx, s, hash); err != nil {
					t.Fatal(err)
				}
				for try := 0; try < 200; try++ {
					first, _, err := onB.SessionForWhoami(ctx, []string{hash}, whoamiFactors)
					if err != nil {
						t.Fatal(err)
					}
					if again, _, _ := onB.SessionForWhoami(ctx, []string{hash}, whoamiFactors); again == first {
						return i, s, hash
					}
					time.Sleep(10 * time.Millisecond) // the feed's first read
				}
				t.Fatal("B never served the lookup from its cache")
				return nil, nil, ""
			}

			changes := map[string]struct {
				change func(i *identity.Identity, s *session.Session) error
				seen   func(s *session.Session, err error) bool
			}{
				"RevokeSession": {
					func(i *identity.Identity, s *session.Session) error {
						return onA.RevokeSession(ctx, uuid.Nil, s.ID, time.Now())
					},
					func(s *session.Session, err error) bool { return err == nil && !s.Active }},
				"RevokeIdentitySessions": {
					func(i *identity.Identity, s *session.Session) error {
						_, err := onA.RevokeIdentitySessions(ctx, i.ID, uuid.Nil, time.Now())
						return err
					},
					func(s *session.Session, err error) bool { return err == nil && !s.Active }},
				"DeleteIdentitySessions": {
					func(i *identity.Identity, s *session.Session) error {
						_, err := onA.DeleteIdentitySessions(ctx, i.ID)
						return err
					},
					func(s *session.Session, err error) bool { return errors.Is(err, sqlstore.ErrNotFound) }},
				"DeleteIdentity": {
					func(i *identity.Identity, s *session.Session) error { return idsOnA.DeleteIdentity(ctx, i.ID) },
					func(s *session.Session, err error) bool { return errors.Is(err, sqlstore.ErrNotFound) }},
				"DeactivateIdentity": {
					func(i *identity.Identity, s *session.Session) error {
						i.State = identity.StateInactive
						return idsOnA.UpdateIdentity(ctx, i)
					},
					func(s *session.Session, err error) bool {
						return err == nil && s.Identity.State == identity.StateInactive
					}},
				"UpdateSession": {
					func(i *identity.Identity, s *session.Session) error {
						s.Active = false
						return onA.UpdateSession(ctx, s)
					},
					func(s *session.Session, err error) bool { return err == nil && !s.Active }},
			}
			for name, c := range changes {
				t.Run(name, func(t *testing.T) {
					for round := 0; round < 5; round++ {
						i, s, hash := cachedOnB(t)
						if err := c.change(i, s); err != nil {
							t.Fatal(err)
						}
						got, _, err := onB.SessionForWhoami(ctx, []string{hash}, whoamiFactors)
						if !c.seen(got, err) {
							t.Fatalf("round %d: B answered %+v, %v after the change returned", round, got, err)
						}
					}
				})
			}

			// Transactions that change sessions take consecutive numbers,
			// on every instance at once, and a rolled-back one gives its
			// number back: the feed's readers never wait for a number that
			// will not come.
			t.Run("NumbersHaveNoHoles", func(t *testing.T) {
				i := newTestIdentity("numbers-"+uuid.NewString()[:8]+"@example.test", identityT0)
				if err := idsOnA.CreateIdentity(ctx, i); err != nil {
					t.Fatal(err)
				}
				before := lastSeq(t, a)
				boom := errors.New("boom")
				if err := a.InTx(ctx, func(ctx context.Context) error {
					if _, err := onA.DeleteIdentitySessions(ctx, i.ID); err != nil {
						return err
					}
					return boom
				}); !errors.Is(err, boom) {
					t.Fatal(err)
				}
				var wg sync.WaitGroup
				const writers = 16
				for w := 0; w < writers; w++ {
					wg.Add(1)
					go func(st *sqlstore.SessionStore) {
						defer wg.Done()
						if _, err := st.DeleteIdentitySessions(ctx, i.ID); err != nil {
							t.Error(err)
						}
					}([]*sqlstore.SessionStore{onA, onB}[w%2])
				}
				wg.Wait()
				if got := lastSeq(t, a); got != before+writers {
					t.Fatalf("counter went from %d to %d after %d commits", before, got, writers)
				}
				rows, err := a.Query(ctx, `SELECT seq, target_id FROM session_cache_invalidations WHERE seq > ? ORDER BY seq`, before)
				if err != nil {
					t.Fatal(err)
				}
				defer rows.Close()
				next := before + 1
				for rows.Next() {
					var (
						seq    int64
						target string
					)
					if err := rows.Scan(&seq, &target); err != nil {
						t.Fatal(err)
					}
					if seq != next || target != i.ID.String() {
						t.Fatalf("row %d %s, want %d %s", seq, target, next, i.ID)
					}
					next++
				}
				if next != before+writers+1 {
					t.Fatalf("rows up to %d, want %d", next-1, before+writers)
				}
			})

			t.Run("CleanupPrunesOldRows", func(t *testing.T) {
				i := newTestIdentity("prune-"+uuid.NewString()[:8]+"@example.test", identityT0)
				if err := idsOnA.CreateIdentity(ctx, i); err != nil {
					t.Fatal(err)
				}
				if _, err := onA.DeleteIdentitySessions(ctx, i.ID); err != nil {
					t.Fatal(err)
				}
				total := countInvalidations(t, a)
				prune := func(keepLast time.Duration) int64 {
					t.Helper()
					counts, err := a.Cleanup(ctx, sqlstore.CleanupOptions{KeepLast: keepLast, BatchSize: 1})
					if err != nil {
						t.Fatal(err)
					}
					for _, c := range counts {
						if c.Table == "session_cache_invalidations" {
							return c.Deleted
						}
					}
					t.Fatal("the cleanup has no rule for session_cache_invalidations")
					return 0
				}
				if n := prune(0); n != 0 {
					t.Fatalf("pruned %d rows younger than a minute", n)
				}
				// A keep-last in the future makes every row old enough.
				if n := prune(-2 * time.Minute); n != int64(total) {
					t.Fatalf("pruned %d of %d", n, total)
				}
				// A change after pruning still reaches the other instance.
				i2, s, hash := cachedOnB(t)
				if err := onA.RevokeSession(ctx, i2.ID, s.ID, time.Now()); err != nil {
					t.Fatal(err)
				}
				if got, _, err := onB.SessionForWhoami(ctx, []string{hash}, whoamiFactors); err != nil || got.Active {
					t.Fatalf("after pruning: %+v, %v", got, err)
				}
			})
		})
	}
}

func lastSeq(t *testing.T, db *sqlstore.DB) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRow(context.Background(), `SELECT last_seq FROM session_cache_counter WHERE id = 1`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func countInvalidations(t *testing.T, db *sqlstore.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), `SELECT COUNT(*) FROM session_cache_invalidations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// SQLite is one process: its writes record nothing for other instances
// and do not wait for them.
func TestInvalidationFeedOffOnSQLite(t *testing.T) {
	ctx := context.Background()
	db := sqltest.Open(t, sqlstore.SQLite)
	st := sqlstore.NewSessionStore(db)
	s := newTestSession(mustSessionIdentity(t, db), time.Now())
	if err := st.CreateSession(ctx, s, "sqlite-hash"); err != nil {
		t.Fatal(err)
	}
	if err := st.RevokeSession(ctx, uuid.Nil, s.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if n := countInvalidations(t, db); n != 0 {
		t.Fatalf("%d invalidation rows on SQLite", n)
	}
}

// Without a cache (session_cache_ttl=0s) nothing is recorded for other
// instances, whose lookups then always read the database.
func TestInvalidationFeedOffWithoutCache(t *testing.T) {
	for _, d := range serverDialects {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			db := sqltest.OpenDSN(t, sqltest.DSN(t, d), "session_cache_ttl=0s")
			st := sqlstore.NewSessionStore(db)
			s := newTestSession(mustSessionIdentity(t, db), time.Now())
			if err := st.CreateSession(ctx, s, "no-cache-hash"); err != nil {
				t.Fatal(err)
			}
			if err := st.RevokeSession(ctx, uuid.Nil, s.ID, time.Now()); err != nil {
				t.Fatal(err)
			}
			if n := countInvalidations(t, db); n != 0 {
				t.Fatalf("%d invalidation rows without a cache", n)
			}
		})
	}
}

// The feed's timing comes from the DSN, and a lease no longer than the
// poll interval is refused (the cache would never serve).
func TestSessionCacheFeedDSN(t *testing.T) {
	ctx := context.Background()
	for _, q := range []string{"session_cache_poll=100ms&session_cache_lease=100ms", "session_cache_poll=0s", "session_cache_lease=soon"} {
		if db, err := sqlstore.Open(ctx, "postgres://nobody@127.0.0.1:1/none?"+q); err == nil {
			db.Close()
			t.Errorf("%s accepted", q)
		} else if !strings.Contains(err.Error(), "session_cache_") {
			t.Errorf("%s: %v", q, err)
		}
	}
}

// A write that changes nothing (no other session to revoke, an address
// verified already) tells no instance and so waits for none.
func TestUnchangedWritesRecordNoInvalidation(t *testing.T) {
	for _, d := range serverDialects {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			db, _ := replicas(t, d)
			ids, sessions := sqlstore.NewIdentityStore(db), sqlstore.NewSessionStore(db)
			i := newTestIdentity("unchanged@example.test", identityT0) // its address is verified
			if err := ids.CreateIdentity(ctx, i); err != nil {
				t.Fatal(err)
			}
			only := newTestSession(i.ID, time.Now())
			if err := sessions.CreateSession(ctx, only, fmt.Sprintf("%064x", only.ID[:])); err != nil {
				t.Fatal(err)
			}
			before := countInvalidations(t, db)
			if n, err := sessions.RevokeIdentitySessions(ctx, i.ID, only.ID, time.Now()); err != nil || n != 0 {
				t.Fatalf("revoked %d, %v", n, err)
			}
			addr := i.VerifiableAddresses[0]
			if err := ids.MarkAddressVerified(ctx, i.ID, addr.Via, addr.Value, time.Now()); err != nil {
				t.Fatal(err)
			}
			if n := countInvalidations(t, db); n != before {
				t.Fatalf("%d invalidations recorded for writes that changed nothing", n-before)
			}
			got, err := ids.GetIdentity(ctx, i.ID, false)
			if err != nil {
				t.Fatal(err)
			}
			if va := got.VerifiableAddresses[0]; !va.Verified || va.VerifiedAt == nil || !va.VerifiedAt.Equal(*addr.VerifiedAt) {
				t.Fatalf("verifying again changed the address: %+v", va)
			}

			// A write that does change something is still recorded.
			other := newTestSession(i.ID, time.Now())
			if err := sessions.CreateSession(ctx, other, fmt.Sprintf("%064x", other.ID[:])); err != nil {
				t.Fatal(err)
			}
			if n, err := sessions.RevokeIdentitySessions(ctx, i.ID, only.ID, time.Now()); err != nil || n != 1 {
				t.Fatalf("revoked %d, %v", n, err)
			}
			if countInvalidations(t, db) == before {
				t.Fatal("revoking a session recorded no invalidation")
			}
		})
	}
}
