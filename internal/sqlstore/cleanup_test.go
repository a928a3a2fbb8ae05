package sqlstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/courier"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/recovery"
	"github.com/latchkey/latchkey/internal/social"
	"github.com/latchkey/latchkey/internal/sqlstore"
	"github.com/latchkey/latchkey/internal/sqlstore/sqltest"
	"github.com/latchkey/latchkey/internal/verification"
)

// cleanupNow is the frozen time the cleanup tests run at.
var cleanupNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

const (
	keepLast       = 24 * time.Hour
	auditRetention = 90 * 24 * time.Hour
)

// expiredAt is a time a row expired more than keep-last ago; within
// keep-last is a time it expired, but recently enough to be kept.
var (
	expiredAt    = cleanupNow.Add(-keepLast - time.Minute)
	withinKeep   = cleanupNow.Add(-keepLast + time.Minute)
	notExpiredAt = cleanupNow.Add(time.Hour)
)

// cleanupFixture builds rows of every kind the cleanup knows.
type cleanupFixture struct {
	t        *testing.T
	db       *sqlstore.DB
	identity uuid.UUID
}

func newCleanupFixture(t *testing.T, db *sqlstore.DB) *cleanupFixture {
	db.Now = func() time.Time { return cleanupNow }
	return &cleanupFixture{t: t, db: db, identity: mustSessionIdentity(t, db)}
}

func (f *cleanupFixture) mustFlow(expires time.Time) string {
	f.t.Helper()
	r := &flow.Record{ID: uuid.New(), Kind: recovery.FlowKind, Type: flow.TypeAPI, State: "sent_email", Data: json.RawMessage(`{}`), ExpiresAt: expires}
	if err := sqlstore.NewFlowStore(f.db).CreateFlow(context.Background(), r); err != nil {
		f.t.Fatal(err)
	}
	return r.ID.String()
}

// mustSecret stores a recovery code (or link token) of flowID.
func (f *cleanupFixture) mustSecret(token bool, flowID string, expires time.Time, used bool) string {
	f.t.Helper()
	ctx := context.Background()
	s := sqlstore.NewRecoveryStore(f.db)
	c := &recovery.Secret{ID: uuid.New(), FlowID: uuid.MustParse(flowID), IdentityID: f.identity, Hash: uuid.NewString(), Kind: recovery.KindSelf, ExpiresAt: expires, CreatedAt: expires.Add(-time.Hour)}
	create, use := s.CreateCode, s.UseCode
	if token {
		create, use = s.CreateToken, s.UseToken
	}
	if err := create(ctx, c); err != nil {
		f.t.Fatal(err)
	}
	if used {
		if ok, err := use(ctx, c.ID, expires.Add(-time.Minute)); !ok || err != nil {
			f.t.Fatalf("use: %v %v", ok, err)
		}
	}
	return c.ID.String()
}

// mustVerificationSecret stores a verification code (or link token) of
// flowID for a new verifiable address of the fixture's identity.
func (f *cleanupFixture) mustVerificationSecret(token bool, flowID string, expires time.Time) string {
	f.t.Helper()
	ctx := context.Background()
	addr := uuid.New()
	now := time.Now()
	if _, err := f.db.Exec(ctx, `INSERT INTO identity_verifiable_addresses (id, identity_id, via, value, verified, status, created_at, updated_at)
		VALUES (?, ?, 'email', ?, ?, 'sent', ?, ?)`, addr.String(), f.identity.String(), addr.String()+"@example.test", false, f.db.T(now), f.db.T(now)); err != nil {
		f.t.Fatal(err)
	}
	c := &verification.Secret{ID: uuid.New(), FlowID: uuid.MustParse(flowID), IdentityID: f.identity, AddressID: addr, Hash: uuid.NewString(), ExpiresAt: expires, CreatedAt: expires.Add(-time.Hour)}
	create := sqlstore.NewVerificationStore(f.db).CreateCode
	if token {
		create = sqlstore.NewVerificationStore(f.db).CreateToken
	}
	if err := create(ctx, c); err != nil {
		f.t.Fatal(err)
	}
	return c.ID.String()
}

func (f *cleanupFixture) mustError(created time.Time) string {
	f.t.Helper()
	id := uuid.New()
	if err := sqlstore.NewFlowStore(f.db).CreateError(context.Background(), id, json.RawMessage(`{"id":"x"}`), created); err != nil {
		f.t.Fatal(err)
	}
	return id.String()
}

func (f *cleanupFixture) mustSession(expires time.Time, active bool) string {
	f.t.Helper()
	s := newTestSession(f.identity, expires.Add(-24*time.Hour))
	s.Active = active
	if err := sqlstore.NewSessionStore(f.db).CreateSession(context.Background(), s, uuid.NewString()); err != nil {
		f.t.Fatal(err)
	}
	return s.ID.String()
}

// mustCounter counts one send in the window starting at start; the key
// names the counter in the test.
func (f *cleanupFixture) mustCounter(start time.Time) string {
	f.t.Helper()
	key := uuid.NewString()
	if _, err := sqlstore.NewRateLimitStore(f.db).Increment(context.Background(), "address", key, start); err != nil {
		f.t.Fatal(err)
	}
	return key
}

// mustMessage stores a message created at `at` and brings it to status
// through the courier store's own claim and finish, recording a dispatch
// for sent and abandoned ones.
func (f *cleanupFixture) mustMessage(status courier.MessageStatus, at time.Time) string {
	f.t.Helper()
	ctx := context.Background()
	s := sqltest.CourierStore(f.t, f.db)
	m := mustInsertMessage(f.t, s, "user@example.test", at)
	if status == courier.StatusQueued {
		return m.ID.String()
	}
	token := uuid.NewString()
	claimed, err := s.ClaimMessages(ctx, courier.Claim{Token: token, Now: at, StaleBefore: cleanupNow.Add(-1000 * time.Hour), Limit: 1})
	if err != nil || len(claimed) != 1 || claimed[0].ID != m.ID {
		f.t.Fatalf("claim %s: %v %v", m.ID, claimed, err)
	}
	if status == courier.StatusProcessing {
		return m.ID.String()
	}
	d := &courier.Dispatch{ID: uuid.New(), MessageID: m.ID, Status: courier.DispatchSuccess, CreatedAt: at, UpdatedAt: at}
	if err := s.FinishMessage(ctx, courier.Outcome{MessageID: m.ID, ClaimToken: token, Status: status, Dispatch: d, Now: at}); err != nil {
		f.t.Fatal(err)
	}
	return m.ID.String()
}

// mustEvent appends an audit event written at `at`.
func (f *cleanupFixture) mustEvent(at time.Time) string {
	f.t.Helper()
	e := &audit.Event{ID: uuid.New(), Time: at, Type: audit.PasswordChanged, IdentityID: &f.identity, Actor: audit.ActorSelf, Result: audit.ResultSuccess}
	if err := sqlstore.NewAuditStore(f.db).AppendEvent(context.Background(), e); err != nil {
		f.t.Fatal(err)
	}
	return e.ID.String()
}

// mustLockdownToken stores a lockdown link token of the kind mailed
// before tokens were derived, expiring at expires.
func (f *cleanupFixture) mustLockdownToken(expires time.Time, used bool) string {
	f.t.Helper()
	ctx := context.Background()
	id := uuid.New()
	if _, err := f.db.Exec(ctx, `INSERT INTO lockdown_tokens (id, identity_id, token_hash, event_id, event_type, event_time, expires_at, used_at, created_at)
		VALUES (?, ?, ?, ?, 'recovery.succeeded', ?, ?, NULL, ?)`, id.String(), f.identity.String(), uuid.NewString(), uuid.NewString(),
		f.db.T(expires.Add(-time.Hour)), f.db.T(expires), f.db.T(expires.Add(-time.Hour))); err != nil {
		f.t.Fatal(err)
	}
	if used {
		if ok, err := sqlstore.NewLockdownStore(f.db).UseLegacyToken(ctx, id, expires.Add(-time.Minute)); err != nil || !ok {
			f.t.Fatalf("use lockdown token: %v %v", ok, err)
		}
	}
	return id.String()
}

// mustLockdownUse spends a (derived) lockdown link expiring at expires;
// it returns the link's event id.
func (f *cleanupFixture) mustLockdownUse(expires time.Time) string {
	f.t.Helper()
	event := uuid.New()
	if ok, err := sqlstore.NewLockdownStore(f.db).UseLink(context.Background(), event, 0, expires.Add(-time.Minute), expires); err != nil || !ok {
		f.t.Fatalf("use lockdown link: %v %v", ok, err)
	}
	return event.String()
}

// mustSocial stores a social sign-in round trip and a session token
// exchange of flow, expiring at expires; it returns their ids.
func (f *cleanupFixture) mustSocial(flowID string, expires time.Time) (trip, exchange string) {
	f.t.Helper()
	ctx := context.Background()
	s := sqlstore.NewSocialStore(f.db)
	rt := &social.RoundTrip{ID: uuid.New(), StateHash: uuid.NewString(), FlowID: uuid.MustParse(flowID), FlowKind: "login", Provider: "mock", Browser: uuid.NewString(),
		Sealed: "sealed", ExpiresAt: expires, CreatedAt: expires.Add(-time.Hour)}
	if err := s.CreateRoundTrip(ctx, rt); err != nil {
		f.t.Fatal(err)
	}
	e := &social.Exchange{ID: uuid.New(), FlowID: rt.FlowID, InitCodeHash: uuid.NewString(), ExpiresAt: expires, CreatedAt: expires.Add(-time.Hour)}
	if err := s.CreateExchange(ctx, e); err != nil {
		f.t.Fatal(err)
	}
	return rt.ID.String(), e.ID.String()
}

// remaining lists the values of column in table, sorted.
func remaining(t *testing.T, db *sqlstore.DB, table, column string) []string {
	t.Helper()
	rows, err := db.Query(context.Background(), "SELECT "+column+" FROM "+table+" ORDER BY "+column)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func sorted(s ...string) []string {
	slices.Sort(s)
	return s
}

func deletedByKind(counts []sqlstore.CleanupCount) map[string]int64 {
	m := map[string]int64{}
	for _, c := range counts {
		m[c.Kind] += c.Deleted
	}
	return m
}

func TestCleanup(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		f := newCleanupFixture(t, db)

		t.Run("DeletesExactlyTheExpiredRows", func(t *testing.T) {
			expiredFlow := f.mustFlow(expiredAt)
			recentFlow := f.mustFlow(withinKeep)
			liveFlow := f.mustFlow(notExpiredAt)
			// Codes and tokens: one of the expired flow (goes with it), one
			// expired on the live flow, one used but unexpired (it must
			// still answer "already used"), one live.
			f.mustSecret(false, expiredFlow, expiredAt, false)
			f.mustSecret(false, liveFlow, expiredAt, true)
			usedCode := f.mustSecret(false, liveFlow, notExpiredAt, true)
			liveCode := f.mustSecret(false, liveFlow, notExpiredAt, false)
			f.mustSecret(true, expiredFlow, expiredAt, false)
			f.mustSecret(true, liveFlow, expiredAt, false)
			liveToken := f.mustSecret(true, liveFlow, notExpiredAt, false)
			f.mustVerificationSecret(false, expiredFlow, expiredAt)
			f.mustVerificationSecret(false, liveFlow, expiredAt)
			liveVerification := f.mustVerificationSecret(false, liveFlow, notExpiredAt)
			f.mustVerificationSecret(true, expiredFlow, expiredAt)
			liveVerificationToken := f.mustVerificationSecret(true, liveFlow, notExpiredAt)

			// Social sign-in rows: one expired on the live flow, one live
			// (those of the expired flow would go with it, uncounted).
			f.mustSocial(liveFlow, expiredAt)
			liveTrip, liveExchange := f.mustSocial(liveFlow, notExpiredAt)

			f.mustError(cleanupNow.Add(-keepLast - 2*time.Hour))
			recentError := f.mustError(cleanupNow.Add(-keepLast - 30*time.Minute))

			f.mustSession(expiredAt, true)
			f.mustSession(expiredAt, false)
			recentSession := f.mustSession(withinKeep, true)
			liveSession := f.mustSession(notExpiredAt, true)
			revokedLiveSession := f.mustSession(notExpiredAt, false)

			// Windows of one hour: a counter is needed until its window
			// ends, plus keep-last.
			f.mustCounter(cleanupNow.Add(-keepLast - time.Hour - time.Minute))
			endedRecently := f.mustCounter(cleanupNow.Add(-keepLast - time.Hour + time.Minute))
			current := f.mustCounter(cleanupNow.Add(-30 * time.Minute))

			old := cleanupNow.Add(-keepLast - time.Hour)
			f.mustMessage(courier.StatusSent, old)
			f.mustMessage(courier.StatusAbandoned, old)
			oldProcessing := f.mustMessage(courier.StatusProcessing, old)
			recentSent := f.mustMessage(courier.StatusSent, withinKeep)
			// Queued last: a queued message would be claimed by the others'.
			oldQueued := f.mustMessage(courier.StatusQueued, old)

			// Audit events are kept for the retention, plus keep-last.
			f.mustEvent(cleanupNow.Add(-keepLast - auditRetention - time.Minute))
			keptEvent := f.mustEvent(cleanupNow.Add(-keepLast - auditRetention + time.Minute))

			// Lockdown links: a used one still says "already used" until
			// it expires.
			f.mustLockdownToken(expiredAt, true)
			usedLockdown := f.mustLockdownToken(notExpiredAt, true)
			liveLockdown := f.mustLockdownToken(notExpiredAt, false)
			f.mustLockdownUse(expiredAt)
			usedLink := f.mustLockdownUse(notExpiredAt)

			counts, err := db.Cleanup(ctx, sqlstore.CleanupOptions{KeepLast: keepLast, BatchSize: 100, CounterWindow: time.Hour, AuditRetention: auditRetention})
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]int64{
				"recovery codes": 2, "recovery link tokens": 2, "self-service flows": 1, "self-service errors": 1,
				"sessions": 2, "rate-limit counters": 1, "courier messages": 2, "audit events": 1,
				"lockdown link tokens": 1, "lockdown link uses": 1, "verification codes": 2, "verification link tokens": 1,
				"session cache invalidations": 0, // fresh: the rule keeps a minute on top
				"social sign-in round trips":  1, "session token exchanges": 1,
			}
			if got := deletedByKind(counts); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("deleted %v, want %v", got, want)
			}
			for _, c := range []struct {
				table, column string
				want          []string
			}{
				{"selfservice_flows", "id", sorted(recentFlow, liveFlow)},
				{"recovery_codes", "id", sorted(usedCode, liveCode)},
				{"recovery_tokens", "id", sorted(liveToken)},
				{"verification_codes", "id", sorted(liveVerification)},
				{"verification_tokens", "id", sorted(liveVerificationToken)},
				{"selfservice_errors", "id", sorted(recentError)},
				{"sessions", "id", sorted(recentSession, liveSession, revokedLiveSession)},
				{"rate_limits", "key_hash", sorted(endedRecently, current)},
				{"courier_messages", "id", sorted(oldQueued, oldProcessing, recentSent)},
				// The deleted messages' dispatches went with them.
				{"courier_message_dispatches", "message_id", sorted(recentSent)},
				{"audit_events", "id", sorted(keptEvent)},
				{"lockdown_tokens", "id", sorted(usedLockdown, liveLockdown)},
				{"lockdown_uses", "event_id", sorted(usedLink)},
				{"social_round_trips", "id", sorted(liveTrip)},
				{"session_token_exchanges", "id", sorted(liveExchange)},
			} {
				if got := remaining(t, db, c.table, c.column); !slices.Equal(got, c.want) {
					t.Errorf("%s left %v, want %v", c.table, got, c.want)
				}
			}

			t.Run("ASecondRunDeletesNothing", func(t *testing.T) {
				counts, err := db.Cleanup(ctx, sqlstore.CleanupOptions{KeepLast: keepLast, CounterWindow: time.Hour, AuditRetention: auditRetention})
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range counts {
					if c.Deleted != 0 {
						t.Errorf("%s: deleted %d", c.Kind, c.Deleted)
					}
				}
			})
		})

		t.Run("AuditRetentionZeroKeepsEveryEvent", func(t *testing.T) {
			ancient := f.mustEvent(cleanupNow.Add(-10 * 365 * 24 * time.Hour))
			counts, err := db.Cleanup(ctx, sqlstore.CleanupOptions{KeepLast: 0, CounterWindow: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			if n := deletedByKind(counts)["audit events"]; n != 0 {
				t.Errorf("deleted %d audit events with retention 0", n)
			}
			if got := remaining(t, db, "audit_events", "id"); !slices.Contains(got, ancient) {
				t.Errorf("the ten-year-old event is gone: %v", got)
			}
			// The same event goes once a retention is set.
			counts, err = db.Cleanup(ctx, sqlstore.CleanupOptions{KeepLast: keepLast, CounterWindow: time.Hour, AuditRetention: auditRetention})
			if err != nil {
				t.Fatal(err)
			}
			if n := deletedByKind(counts)["audit events"]; n != 1 {
				t.Errorf("deleted %d audit events with a retention, want the ancient one", n)
			}
		})

		t.Run("BatchesUntilNothingExpiredIsLeft", func(t *testing.T) {
			for range 5 {
				f.mustSession(expiredAt.Add(-time.Hour), true)
			}
			before := len(remaining(t, db, "sessions", "id"))
			counts, err := db.Cleanup(ctx, sqlstore.CleanupOptions{KeepLast: keepLast, BatchSize: 2, CounterWindow: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			if n := deletedByKind(counts)["sessions"]; n != 5 {
				t.Errorf("deleted %d sessions, want 5", n)
			}
			if after := len(remaining(t, db, "sessions", "id")); after != before-5 {
				t.Errorf("%d sessions left, want %d", after, before-5)
			}
		})

		t.Run("StopsWhenCancelled", func(t *testing.T) {
			for range 3 {
				f.mustFlow(expiredAt)
			}
			ctx, cancel := context.WithCancel(ctx)
			cancel()
			if _, err := db.Cleanup(ctx, sqlstore.CleanupOptions{KeepLast: keepLast, BatchSize: 1}); err == nil {
				t.Fatal("a cancelled cleanup reported success")
			}
		})
	})
}

// TestCleanupConcurrent: two processes (two connection pools) cleaning
// the same database at once both succeed, and between them delete every
// expired row exactly once.
func TestCleanupConcurrent(t *testing.T) {
	for _, d := range []sqlstore.Dialect{sqlstore.SQLite, sqlstore.Postgres, sqlstore.MySQL} {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			dsn := sqltest.DSN(t, d)
			var dbs []*sqlstore.DB
			for range 2 {
				db := sqltest.OpenDSN(t, dsn)
				db.Now = func() time.Time { return cleanupNow }
				dbs = append(dbs, db)
			}
			f := newCleanupFixture(t, dbs[0])
			const n = 120
			for i := range n {
				flowID := f.mustFlow(expiredAt.Add(-time.Duration(i) * time.Second))
				f.mustSecret(false, flowID, expiredAt, false)
				f.mustSession(expiredAt.Add(-time.Duration(i)*time.Second), true)
			}
			live := f.mustFlow(notExpiredAt)

			var (
				wg     sync.WaitGroup
				totals [2]map[string]int64
				errs   [2]error
			)
			for i, db := range dbs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					counts, err := db.Cleanup(ctx, sqlstore.CleanupOptions{KeepLast: keepLast, BatchSize: 5})
					totals[i], errs[i] = deletedByKind(counts), err
				}()
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("cleanup %d: %v", i, err)
				}
			}
			for _, kind := range []string{"recovery codes", "self-service flows", "sessions"} {
				if sum := totals[0][kind] + totals[1][kind]; sum != n {
					t.Errorf("%s: deleted %d + %d, want %d in all", kind, totals[0][kind], totals[1][kind], n)
				}
			}
			t.Logf("split: %v / %v", totals[0], totals[1])
			if got := remaining(t, dbs[0], "selfservice_flows", "id"); !slices.Equal(got, []string{live}) {
				t.Errorf("flows left %v, want only the live one", got)
			}
			if got := remaining(t, dbs[0], "sessions", "id"); len(got) != 0 {
				t.Errorf("%d sessions left", len(got))
			}
		})
	}
}
