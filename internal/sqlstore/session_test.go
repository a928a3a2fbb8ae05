package sqlstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/internal/sqlstore"
	"github.com/latchkey/latchkey/internal/sqlstore/sqltest"
)

// mustSessionIdentity inserts a bare identity row for sessions to belong to.
func mustSessionIdentity(t *testing.T, db *sqlstore.DB) uuid.UUID {
	t.Helper()
	id := uuid.New()
	now := time.Now()
	if _, err := db.Exec(context.Background(), `INSERT INTO identities (id, schema_id, state, traits, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
		id.String(), "default", "active", "{}", db.T(now), db.T(now)); err != nil {
		t.Fatal(err)
	}
	return id
}

// newTestSession builds a session created at `at`.
func newTestSession(identityID uuid.UUID, at time.Time) *session.Session {
	at = sqlstore.Time(at)
	ip, ua, loc := "127.0.0.1:1234", "curl/8", ""
	return &session.Session{
		ID: uuid.New(), IdentityID: identityID, Active: true, AAL: "aal1",
		AuthenticationMethods: []session.AuthMethod{{Method: "password", AAL: "aal1", CompletedAt: at}},
		Devices:               []session.Device{{ID: uuid.New(), IPAddress: &ip, UserAgent: &ua, Location: &loc}},
		AuthenticatedAt:       at, IssuedAt: at, ExpiresAt: at.Add(24 * time.Hour), CreatedAt: at, UpdatedAt: at,
	}
}

func TestSessionStore(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		st := sqlstore.NewSessionStore(db)
		base := time.Date(2026, 11, 22, 10, 0, 0, 123456789, time.UTC)
		ident := mustSessionIdentity(t, db)

		create := func(t *testing.T, identityID uuid.UUID, at time.Time) (*session.Session, string) {
			t.Helper()
			s := newTestSession(identityID, at)
			hash := fmt.Sprintf("%064x", s.ID[:])
			if err := st.CreateSession(ctx, s, hash); err != nil {
				t.Fatal(err)
			}
			return s, hash
		}

		t.Run("RoundTripByHashAndID", func(t *testing.T) {
			s, hash := create(t, ident, base)
			for name, get := range map[string]func() (*session.Session, error){
				"OneHash":  func() (*session.Session, error) { return st.SessionByTokenHash(ctx, []string{hash}) },
				"HashList": func() (*session.Session, error) { return st.SessionByTokenHash(ctx, []string{"nope", hash, "other"}) },
				"ID":       func() (*session.Session, error) { return st.GetSession(ctx, s.ID) },
			} {
				got, err := get()
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if got.ID != s.ID || got.IdentityID != ident || !got.Active || got.AAL != "aal1" ||
					!got.ExpiresAt.Equal(s.ExpiresAt) || !got.AuthenticatedAt.Equal(s.AuthenticatedAt) ||
					!got.CreatedAt.Equal(s.CreatedAt) || got.ExpiresAt.Location() != time.UTC ||
					len(got.AuthenticationMethods) != 1 || !got.AuthenticationMethods[0].CompletedAt.Equal(s.AuthenticatedAt) ||
					len(got.Devices) != 1 || *got.Devices[0].IPAddress != "127.0.0.1:1234" || *got.Devices[0].Location != "" {
					t.Fatalf("%s: got %+v, want %+v", name, got, s)
				}
			}
		})

		t.Run("MissingIsNotFound", func(t *testing.T) {
			if _, err := st.SessionByTokenHash(ctx, []string{"unknown"}); !errors.Is(err, sqlstore.ErrNotFound) {
				t.Fatalf("by hash: %v", err)
			}
			if _, err := st.SessionByTokenHash(ctx, nil); !errors.Is(err, sqlstore.ErrNotFound) {
				t.Fatalf("no hashes: %v", err)
			}
			if _, err := st.GetSession(ctx, uuid.New()); !errors.Is(err, sqlstore.ErrNotFound) {
				t.Fatalf("by id: %v", err)
			}
			if err := st.UpdateSession(ctx, newTestSession(ident, base)); !errors.Is(err, sqlstore.ErrNotFound) {
				t.Fatalf("update: %v", err)
			}
			if err := st.RevokeSession(ctx, uuid.Nil, uuid.New(), base); !errors.Is(err, sqlstore.ErrNotFound) {
				t.Fatalf("revoke: %v", err)
			}
		})

		t.Run("TokenHashIsUnique", func(t *testing.T) {
			_, hash := create(t, ident, base)
			if err := st.CreateSession(ctx, newTestSession(ident, base), hash); !errors.Is(err, sqlstore.ErrConflict) {
				t.Fatalf("duplicate hash: %v", err)
			}
		})

		t.Run("UpdateAndRevokeAreIdempotent", func(t *testing.T) {
			s, _ := create(t, ident, base)
			s.ExpiresAt = s.ExpiresAt.Add(time.Hour)
			s.AuthenticationMethods = append(s.AuthenticationMethods, session.AuthMethod{Method: "totp", AAL: "aal2", CompletedAt: base})
			s.AAL = "aal2"
			// Saving the same values twice must not look like a missing row
			// (MySQL reports unchanged rows as not affected).
			for i := 0; i < 2; i++ {
				if err := st.UpdateSession(ctx, s); err != nil {
					t.Fatalf("update %d: %v", i, err)
				}
			}
			got, _ := st.GetSession(ctx, s.ID)
			if got.AAL != "aal2" || len(got.AuthenticationMethods) != 2 || !got.ExpiresAt.Equal(s.ExpiresAt) {
				t.Fatalf("update not saved: %+v", got)
			}
			for i := 0; i < 2; i++ {
				if err := st.RevokeSession(ctx, uuid.Nil, s.ID, base); err != nil {
					t.Fatalf("revoke %d: %v", i, err)
				}
			}
			if got, _ := st.GetSession(ctx, s.ID); got.Active {
				t.Fatal("still active after revoke")
			}
		})

		t.Run("RevokeScopedToIdentity", func(t *testing.T) {
			s, _ := create(t, ident, base)
			if err := st.RevokeSession(ctx, uuid.New(), s.ID, base); !errors.Is(err, sqlstore.ErrNotFound) {
				t.Fatalf("revoke through another identity: %v", err)
			}
			if err := st.RevokeSession(ctx, ident, s.ID, base); err != nil {
				t.Fatal(err)
			}
		})

		t.Run("RevokeIdentitySessionsCountsOnlyNewlyRevoked", func(t *testing.T) {
			owner := mustSessionIdentity(t, db)
			stranger := mustSessionIdentity(t, db)
			keep, _ := create(t, owner, base)
			create(t, owner, base)
			done, _ := create(t, owner, base)
			other, _ := create(t, stranger, base)
			if err := st.RevokeSession(ctx, uuid.Nil, done.ID, base); err != nil {
				t.Fatal(err)
			}
			n, err := st.RevokeIdentitySessions(ctx, owner, keep.ID, base)
			if err != nil || n != 1 {
				t.Fatalf("revoked %d, %v; want 1", n, err)
			}
			if got, _ := st.GetSession(ctx, keep.ID); !got.Active {
				t.Fatal("kept session revoked")
			}
			if got, _ := st.GetSession(ctx, other.ID); !got.Active {
				t.Fatal("another identity's session revoked")
			}
			if n, _ := st.RevokeIdentitySessions(ctx, owner, uuid.Nil, base); n != 1 {
				t.Fatalf("revoke all: %d", n)
			}
		})

		t.Run("ListIdentitySessions", func(t *testing.T) {
			owner := mustSessionIdentity(t, db)
			var all []*session.Session
			for i := 0; i < 5; i++ {
				s, _ := create(t, owner, base.Add(time.Duration(i)*time.Minute))
				all = append(all, s)
			}
			if err := st.RevokeSession(ctx, uuid.Nil, all[1].ID, base); err != nil {
				t.Fatal(err)
			}
			yes, no := true, false
			now := base.Add(time.Hour)
			cases := []struct {
				name  string
				q     session.IdentityQuery
				want  []*session.Session
				total int
			}{
				{"All", session.IdentityQuery{IdentityID: owner, Now: now, Limit: 10}, []*session.Session{all[4], all[3], all[2], all[1], all[0]}, 5},
				{"Active", session.IdentityQuery{IdentityID: owner, Active: &yes, Now: now, Limit: 10}, []*session.Session{all[4], all[3], all[2], all[0]}, 4},
				{"Inactive", session.IdentityQuery{IdentityID: owner, Active: &no, Now: now, Limit: 10}, []*session.Session{all[1]}, 1},
				{"ExpiredIsInactive", session.IdentityQuery{IdentityID: owner, Active: &no, Now: base.Add(24*time.Hour + 90*time.Second), Limit: 10}, []*session.Session{all[1], all[0]}, 2},
				{"Except", session.IdentityQuery{IdentityID: owner, Except: all[4].ID, Active: &yes, Now: now, Limit: 10}, []*session.Session{all[3], all[2], all[0]}, 3},
				{"Page", session.IdentityQuery{IdentityID: owner, Now: now, Offset: 2, Limit: 2}, []*session.Session{all[2], all[1]}, 5},
				{"UnknownIdentity", session.IdentityQuery{IdentityID: uuid.New(), Now: now, Limit: 10}, nil, 0},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					got, total, err := st.ListIdentitySessions(ctx, c.q)
					if err != nil {
						t.Fatal(err)
					}
					if total != c.total || len(got) != len(c.want) {
						t.Fatalf("got %d (total %d), want %d (total %d)", len(got), total, len(c.want), c.total)
					}
					for i := range got {
						if got[i].ID != c.want[i].ID {
							t.Fatalf("item %d: %s, want %s", i, got[i].ID, c.want[i].ID)
						}
					}
					if got == nil {
						t.Fatal("nil list: handlers would write null")
					}
				})
			}
		})

		t.Run("ListSessionsKeysetWithTies", func(t *testing.T) {
			if _, err := db.Exec(ctx, `DELETE FROM sessions`); err != nil {
				t.Fatal(err)
			}
			owner := mustSessionIdentity(t, db)
			// Seven sessions share two timestamps, so the id breaks ties.
			for i := 0; i < 7; i++ {
				create(t, owner, base.Add(time.Duration(i%2)*time.Second))
			}
			seen := map[uuid.UUID]bool{}
			var after *session.Cursor
			var prev *session.Session
			for pages := 0; ; pages++ {
				page, err := st.ListSessions(ctx, session.ListQuery{Now: base, After: after, Limit: 3})
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range page {
					if seen[s.ID] {
						t.Fatalf("%s listed twice", s.ID)
					}
					seen[s.ID] = true
					// Ties are ordered by id in the database's collation,
					// which Go need not share; only the time order is checked.
					if prev != nil && s.CreatedAt.After(prev.CreatedAt) {
						t.Fatalf("not newest first: %v after %v", s.CreatedAt, prev.CreatedAt)
					}
					prev = s
				}
				if len(page) < 3 {
					break
				}
				last := page[len(page)-1]
				after = &session.Cursor{CreatedAt: last.CreatedAt, ID: last.ID}
			}
			if len(seen) != 7 {
				t.Fatalf("walked %d sessions, want 7", len(seen))
			}
		})

		t.Run("DeleteAndCascade", func(t *testing.T) {
			owner := mustSessionIdentity(t, db)
			create(t, owner, base)
			create(t, owner, base)
			if n, err := st.DeleteIdentitySessions(ctx, owner); err != nil || n != 2 {
				t.Fatalf("deleted %d, %v", n, err)
			}
			if n, _ := st.DeleteIdentitySessions(ctx, owner); n != 0 {
				t.Fatalf("deleted %d the second time", n)
			}
			s, _ := create(t, owner, base)
			if _, err := db.Exec(ctx, `DELETE FROM identities WHERE id = ?`, owner.String()); err != nil {
				t.Fatal(err)
			}
			if _, err := st.GetSession(ctx, s.ID); !errors.Is(err, sqlstore.ErrNotFound) {
				t.Fatalf("session survived its identity: %v", err)
			}
		})

		t.Run("JoinsTheCallersTransaction", func(t *testing.T) {
			boom := errors.New("boom")
			s := newTestSession(ident, base)
			err := db.InTx(ctx, func(ctx context.Context) error {
				if err := st.CreateSession(ctx, s, "tx-hash"); err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatal(err)
			}
			if _, err := st.GetSession(ctx, s.ID); !errors.Is(err, sqlstore.ErrNotFound) {
				t.Fatalf("rolled back session exists: %v", err)
			}
		})

		if db.Dialect == sqlstore.SQLite {
			t.Run("WhoamiLookupUsesTheUniqueIndex", func(t *testing.T) {
				rows, err := db.Query(ctx, `EXPLAIN QUERY PLAN SELECT id FROM sessions WHERE token_hash IN (?, ?)`, "a", "b")
				if err != nil {
					t.Fatal(err)
				}
				defer rows.Close()
				var plan []string
				for rows.Next() {
					var id, parent, unused int
					var detail string
					if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
						t.Fatal(err)
					}
					plan = append(plan, detail)
				}
				if p := strings.Join(plan, "; "); !strings.Contains(p, "USING INDEX") || strings.Contains(p, "SCAN sessions") {
					t.Fatalf("plan %q does not use the token_hash index", p)
				}
			})
		}
	})
}

// whoamiFactors are the second-factor credential types session passes.
var whoamiFactors = []identity.CredentialType{"totp", "webauthn", "lookup_secret"}

func publicJSON(t *testing.T, i *identity.Identity) string {
	t.Helper()
	b, err := json.Marshal(i.JSON(identity.PublicView, ""))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSessionForWhoami(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		st := sqlstore.NewSessionStore(db)
		ids := sqlstore.NewIdentityStore(db)
		now := time.Now()

		// mustWhoami makes an identity with addresses and a session, and
		// looks the session up once so that the cache holds it.
		mustWhoami := func(t *testing.T) (*identity.Identity, *session.Session, string) {
			t.Helper()
			i := newTestIdentity("who-"+uuid.NewString()[:8]+"@example.test", identityT0)
			i.VerifiableAddresses[0].Verified, i.VerifiableAddresses[0].Status, i.VerifiableAddresses[0].VerifiedAt = false, "pending", nil
			i.RecoveryAddresses = append(i.RecoveryAddresses, identity.RecoveryAddress{ID: uuid.New(), Via: "email",
				Value: "second-" + uuid.NewString()[:8] + "@example.test", CreatedAt: identityT0.Add(time.Second), UpdatedAt: identityT0})
			if err := ids.CreateIdentity(ctx, i); err != nil {
				t.Fatal(err)
			}
			s := newTestSession(i.ID, now)
			hash := fmt.Sprintf("%064x", s.ID[:])
			if err := st.CreateSession(ctx, s, hash); err != nil {
				t.Fatal(err)
			}
			if _, _, err := st.SessionForWhoami(ctx, []string{hash}, whoamiFactors); err != nil {
				t.Fatal(err)
			}
			return i, s, hash
		}
		lookup := func(t *testing.T, hash string) (*session.Session, bool) {
			t.Helper()
			got, secondFactor, err := st.SessionForWhoami(ctx, []string{hash}, whoamiFactors)
			if err != nil {
				t.Fatal(err)
			}
			return got, secondFactor
		}

		t.Run("SessionWithThePublicIdentity", func(t *testing.T) {
			i, s, hash := mustWhoami(t)
			for name, hashes := range map[string][]string{"OneHash": {hash}, "HashList": {"nope", hash}} {
				got, secondFactor, err := st.SessionForWhoami(ctx, hashes, whoamiFactors)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if got.ID != s.ID || !got.Active || !got.ExpiresAt.Equal(s.ExpiresAt) || len(got.Devices) != 1 || secondFactor {
					t.Fatalf("%s: got %+v (second factor %v)", name, got, secondFactor)
				}
				want, err := ids.GetIdentity(ctx, i.ID, false)
				if err != nil {
					t.Fatal(err)
				}
				if a, b := publicJSON(t, want), publicJSON(t, got.Identity); a != b {
					t.Fatalf("%s: identity\n got %s\nwant %s", name, b, a)
				}
				if got.Identity.Credentials != nil {
					t.Fatalf("%s: credentials loaded", name)
				}
			}
		})

		t.Run("MissingIsNotFound", func(t *testing.T) {
			for _, hashes := range [][]string{nil, {"unknown"}, {"unknown", "other"}} {
				if _, _, err := st.SessionForWhoami(ctx, hashes, whoamiFactors); !errors.Is(err, sqlstore.ErrNotFound) {
					t.Fatalf("%v: %v", hashes, err)
				}
			}
		})

		// Every write of the stores is seen by the next lookup, although
		// the lookup before it was cached.
		changes := map[string]struct {
			change func(t *testing.T, i *identity.Identity, s *session.Session) error
			seen   func(s *session.Session, secondFactor bool) bool
		}{
			"RevokeSession": {
				func(t *testing.T, i *identity.Identity, s *session.Session) error {
					return st.RevokeSession(ctx, uuid.Nil, s.ID, now)
				},
				func(s *session.Session, _ bool) bool { return !s.Active }},
			"RevokeIdentitySessions": {
				func(t *testing.T, i *identity.Identity, s *session.Session) error {
					_, err := st.RevokeIdentitySessions(ctx, i.ID, uuid.Nil, now)
					return err
				},
				func(s *session.Session, _ bool) bool { return !s.Active }},
			"UpdateSession": {
				func(t *testing.T, i *identity.Identity, s *session.Session) error {
					s.AAL = "aal2"
					return st.UpdateSession(ctx, s)
				},
				func(s *session.Session, _ bool) bool { return s.AAL == "aal2" }},
			"UpdateIdentity": {
				func(t *testing.T, i *identity.Identity, s *session.Session) error {
					i.State = identity.StateInactive
					return ids.UpdateIdentity(ctx, i)
				},
				func(s *session.Session, _ bool) bool { return s.Identity.State == identity.StateInactive }},
			"MarkAddressVerified": {
				func(t *testing.T, i *identity.Identity, s *session.Session) error {
					return ids.MarkAddressVerified(ctx, i.ID, "email", i.VerifiableAddresses[0].Value, now)
				},
				func(s *session.Session, _ bool) bool { return s.Identity.VerifiableAddresses[0].Verified }},
			"SetCredentialConfig": {
				func(t *testing.T, i *identity.Identity, s *session.Session) error {
					return ids.SetCredentialConfig(ctx, i.ID, "totp", json.RawMessage(`{}`), now)
				},
				func(_ *session.Session, secondFactor bool) bool { return secondFactor }},
			"InATransaction": {
				func(t *testing.T, i *identity.Identity, s *session.Session) error {
					return db.InTx(ctx, func(ctx context.Context) error {
						return st.RevokeSession(ctx, uuid.Nil, s.ID, now)
					})
				},
				func(s *session.Session, _ bool) bool { return !s.Active }},
		}
		for name, c := range changes {
			t.Run("SeesAtOnce"+name, func(t *testing.T) {
				i, s, hash := mustWhoami(t)
				if err := c.change(t, i, s); err != nil {
					t.Fatal(err)
				}
				if got, secondFactor := lookup(t, hash); !c.seen(got, secondFactor) {
					t.Fatalf("change not seen: %+v (second factor %v)", got, secondFactor)
				}
			})
		}

		t.Run("GoneAtOnce", func(t *testing.T) {
			for name, remove := range map[string]func(i *identity.Identity) error{
				"DeleteIdentitySessions": func(i *identity.Identity) error { _, err := st.DeleteIdentitySessions(ctx, i.ID); return err },
				"DeleteIdentity":         func(i *identity.Identity) error { return ids.DeleteIdentity(ctx, i.ID) },
			} {
				i, _, hash := mustWhoami(t)
				if err := remove(i); err != nil {
					t.Fatal(err)
				}
				if _, _, err := st.SessionForWhoami(ctx, []string{hash}, whoamiFactors); !errors.Is(err, sqlstore.ErrNotFound) {
					t.Fatalf("%s: lookup after delete: %v", name, err)
				}
			}
		})

		t.Run("RolledBackChangeIsNotSeen", func(t *testing.T) {
			_, s, hash := mustWhoami(t)
			boom := errors.New("boom")
			err := db.InTx(ctx, func(ctx context.Context) error {
				if err := st.RevokeSession(ctx, uuid.Nil, s.ID, now); err != nil {
					return err
				}
				// Inside the transaction the lookup sees its own write.
				got, _, err := st.SessionForWhoami(ctx, []string{hash}, whoamiFactors)
				if err != nil || got.Active {
					t.Errorf("lookup in the transaction: %+v, %v", got, err)
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatal(err)
			}
			if got, _ := lookup(t, hash); !got.Active {
				t.Fatal("rolled back revocation seen")
			}
		})
	})
}

// A write the stores do not make (by hand, or by another instance) is
// seen once the cache entry expires; session_cache_ttl=0s turns the cache
// off.
func TestSessionCacheTTL(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		ttl  string
		wait time.Duration
	}{{"0s", 0}, {"10ms", 20 * time.Millisecond}} {
		t.Run(c.ttl, func(t *testing.T) {
			db := sqltest.OpenDSN(t, sqltest.DSN(t, sqlstore.SQLite), "session_cache_ttl="+c.ttl)
			st := sqlstore.NewSessionStore(db)
			s := newTestSession(mustSessionIdentity(t, db), time.Now())
			if err := st.CreateSession(ctx, s, "ttl-hash"); err != nil {
				t.Fatal(err)
			}
			if _, _, err := st.SessionForWhoami(ctx, []string{"ttl-hash"}, whoamiFactors); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(ctx, `UPDATE sessions SET active = ? WHERE id = ?`, false, s.ID.String()); err != nil {
				t.Fatal(err)
			}
			time.Sleep(c.wait)
			got, _, err := st.SessionForWhoami(ctx, []string{"ttl-hash"}, whoamiFactors)
			if err != nil || got.Active {
				t.Fatalf("after the TTL: %+v, %v", got, err)
			}
		})
	}
}
