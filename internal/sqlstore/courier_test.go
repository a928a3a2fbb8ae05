package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/courier"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/sqlstore"
	"github.com/latchkey/latchkey/internal/sqlstore/sqltest"
)

func mustInsertMessage(t *testing.T, s *sqlstore.CourierStore, to string, at time.Time) courier.Message {
	t.Helper()
	m := courier.Message{
		ID: uuid.New(), Status: courier.StatusQueued, Type: courier.TypeEmail, Channel: "email", Recipient: to,
		Subject: "subject", Body: "body", TemplateType: courier.TemplateRecoveryCodeInvalid,
		TemplateData: []byte(`{"to":"` + to + `"}`), NextAttemptAt: at, CreatedAt: at, UpdatedAt: at,
	}
	if err := s.InsertMessage(context.Background(), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// claimedOnce checks that concurrent claimants took each of n messages
// exactly once (seen counts the claims of each).
func claimedOnce(t *testing.T, seen map[uuid.UUID]int, n int) {
	t.Helper()
	if len(seen) != n {
		t.Fatalf("claimed %d distinct messages, want %d", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Errorf("%s claimed %d times", id, c)
		}
	}
}

func TestCourierStore(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := sqltest.CourierStore(t, db)
		base := time.Date(2026, 5, 1, 8, 0, 0, 123456000, time.UTC)

		t.Run("ConcurrentClaimsAreDisjoint", func(t *testing.T) {
			const n = 60
			for i := range n {
				mustInsertMessage(t, s, fmt.Sprintf("c%02d@example.test", i), base)
			}
			var (
				mu   sync.Mutex
				seen = map[uuid.UUID]int{}
				wg   sync.WaitGroup
			)
			for w := range 8 {
				wg.Go(func() {
					for {
						got, err := s.ClaimMessages(ctx, courier.Claim{Token: fmt.Sprintf("w%d-%s", w, uuid.NewString()[:8]), Now: base.Add(time.Minute), StaleBefore: base.Add(-time.Hour), Limit: 5})
						if err != nil {
							t.Error(err)
							return
						}
						if len(got) == 0 {
							return
						}
						mu.Lock()
						for _, m := range got {
							seen[m.ID]++
							if m.Status != courier.StatusProcessing || m.SendCount != 1 {
								t.Errorf("claimed message: status %s send_count %d", m.Status, m.SendCount)
							}
						}
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			claimedOnce(t, seen, n)
		})

		// The courier's slots: each records its mail and claims the next in
		// one step, 16 at once. On MariaDB at REPEATABLE READ they deadlocked
		// on the claim index's gaps (mysqlconn.go).
		t.Run("SlotsRecordAndClaimConcurrently", func(t *testing.T) {
			db := sqltest.Open(t, db.Dialect)
			s := sqltest.CourierStore(t, db)
			const n, slots = 400, 16
			for i := range n {
				mustInsertMessage(t, s, fmt.Sprintf("slot%03d@example.test", i), base)
			}
			now := base.Add(time.Minute)
			var (
				mu   sync.Mutex
				seen = map[uuid.UUID]int{}
				wg   sync.WaitGroup
			)
			for w := range slots {
				wg.Go(func() {
					token := fmt.Sprintf("slot%d", w)
					got, err := s.ClaimMessages(ctx, courier.Claim{Token: token, Now: now, Limit: 1})
					for err == nil && len(got) == 1 {
						m := got[0]
						mu.Lock()
						seen[m.ID]++
						mu.Unlock()
						d := &courier.Dispatch{ID: uuid.New(), MessageID: m.ID, Status: courier.DispatchSuccess, CreatedAt: now, UpdatedAt: now}
						var recordErr error
						got, recordErr, err = s.FinishAndClaim(ctx, courier.Outcome{MessageID: m.ID, ClaimToken: token, Status: courier.StatusSent, Dispatch: d, Now: now},
							courier.Claim{Token: token, Now: now, Limit: 1})
						if recordErr != nil {
							t.Errorf("record %s: %v", m.ID, recordErr)
							return
						}
					}
					if err != nil {
						t.Errorf("claim: %v", err)
					}
				})
			}
			wg.Wait()
			claimedOnce(t, seen, n)
			if q, err := s.CountQueued(ctx); err != nil || q != 0 {
				t.Errorf("%d still queued (%v)", q, err)
			}
			if n := db.Counts().Deadlocks.Load(); n != 0 {
				t.Errorf("%d transactions deadlocked and ran again", n)
			}
		})

		t.Run("OutcomesNeedTheClaim", func(t *testing.T) {
			at := base.Add(time.Hour)
			m := mustInsertMessage(t, s, "outcome@example.test", at)
			got, err := s.ClaimMessages(ctx, courier.Claim{Token: "mine", Now: at, StaleBefore: at.Add(-time.Hour), Limit: 1})
			if err != nil || len(got) != 1 || got[0].ID != m.ID || !got[0].ClaimedAt.Equal(at) || got[0].ClaimedBy != "mine" {
				t.Fatalf("claim: %v %+v", err, got)
			}
			err = s.FinishMessage(ctx, courier.Outcome{MessageID: m.ID, ClaimToken: "theirs", Status: courier.StatusSent, Now: at})
			if !errors.Is(err, courier.ErrClaimLost) {
				t.Fatalf("foreign token: %v", err)
			}
			// Release: back to queued, the claim's send count taken back.
			if err := s.FinishMessage(ctx, courier.Outcome{MessageID: m.ID, ClaimToken: "mine", Status: courier.StatusQueued, NextAttemptAt: at, Release: true, Now: at}); err != nil {
				t.Fatal(err)
			}
			back, err := s.GetMessage(ctx, m.ID)
			if err != nil || back.Status != courier.StatusQueued || back.SendCount != 0 || back.ClaimedBy != "" {
				t.Fatalf("after release: %v %+v", err, back)
			}
			// A failure with backoff: not claimable before it is due.
			got, _ = s.ClaimMessages(ctx, courier.Claim{Token: "mine2", Now: at, StaleBefore: at.Add(-time.Hour), Limit: 1})
			due := at.Add(time.Minute)
			d := &courier.Dispatch{ID: uuid.New(), MessageID: m.ID, Status: courier.DispatchFailed, Error: []byte(`{"message":"451"}`), CreatedAt: at, UpdatedAt: at}
			if err := s.FinishMessage(ctx, courier.Outcome{MessageID: got[0].ID, ClaimToken: "mine2", Status: courier.StatusQueued, NextAttemptAt: due, LastError: "451", Dispatch: d, Now: at}); err != nil {
				t.Fatal(err)
			}
			if early, _ := s.ClaimMessages(ctx, courier.Claim{Token: "early", Now: due.Add(-time.Millisecond), StaleBefore: at.Add(-time.Hour), Limit: 10}); len(early) != 0 {
				t.Fatalf("claimed before due: %d", len(early))
			}
			onTime, _ := s.ClaimMessages(ctx, courier.Claim{Token: "ontime", Now: due, StaleBefore: at.Add(-time.Hour), Limit: 10})
			if len(onTime) != 1 || onTime[0].LastError != "451" || onTime[0].SendCount != 2 {
				t.Fatalf("on time: %+v", onTime)
			}
			final, _ := s.GetMessage(ctx, m.ID)
			if len(final.Dispatches) != 1 || string(final.Dispatches[0].Error) != `{"message":"451"}` || !final.CreatedAt.Equal(at) {
				t.Errorf("stored: %+v", final)
			}
		})

		t.Run("StaleProcessingIsReclaimed", func(t *testing.T) {
			at := base.Add(2 * time.Hour)
			m := mustInsertMessage(t, s, "stale@example.test", at)
			if got, _ := s.ClaimMessages(ctx, courier.Claim{Token: "dies", Now: at, StaleBefore: at.Add(-time.Hour), Limit: 1}); len(got) != 1 {
				t.Fatal("first claim")
			}
			// (Earlier subtests leave claims of their own behind: look for m only.)
			find := func(ms []courier.Message) *courier.Message {
				for i := range ms {
					if ms[i].ID == m.ID {
						return &ms[i]
					}
				}
				return nil
			}
			got, _ := s.ClaimMessages(ctx, courier.Claim{Token: "early", Now: at.Add(time.Minute), StaleBefore: at.Add(-time.Second), Limit: 100})
			if find(got) != nil {
				t.Fatal("reclaimed a live claim")
			}
			got, _ = s.ClaimMessages(ctx, courier.Claim{Token: "rescuer", Now: at.Add(3 * time.Minute), StaleBefore: at.Add(time.Minute), Limit: 100})
			if r := find(got); r == nil || r.SendCount != 2 || r.ClaimedBy != "rescuer" {
				t.Fatalf("reclaim: %+v", r)
			}
		})

		t.Run("HeartbeatKeepsAClaimFromGoingStale", func(t *testing.T) {
			at := base.Add(3 * time.Hour)
			live := mustInsertMessage(t, s, "live@example.test", at)
			dead := mustInsertMessage(t, s, "dead@example.test", at)
			find := func(ms []courier.Message, id uuid.UUID) bool {
				for _, m := range ms {
					if m.ID == id {
						return true
					}
				}
				return false
			}
			if got, _ := s.ClaimMessages(ctx, courier.Claim{Token: "alive", Now: at, StaleBefore: at.Add(-time.Hour), Limit: 100}); !find(got, live.ID) {
				t.Fatal("first claim")
			}
			// The dead claimant's message: claimed at the same time, no heartbeat.
			if _, err := db.Exec(ctx, `UPDATE courier_messages SET claimed_by = 'killed' WHERE id = ?`, dead.ID.String()); err != nil {
				t.Fatal(err)
			}
			// 20 s later the live dispatcher renews its claim.
			if err := s.ExtendClaim(ctx, "alive", at.Add(20*time.Second)); err != nil {
				t.Fatal(err)
			}
			// At 40 s, with a 30 s threshold: the renewed claim holds, the other is taken over.
			got, err := s.ClaimMessages(ctx, courier.Claim{Token: "rescuer", Now: at.Add(40 * time.Second), StaleBefore: at.Add(10 * time.Second), Limit: 100})
			if err != nil || find(got, live.ID) || !find(got, dead.ID) {
				t.Fatalf("live taken: %v, dead taken: %v (%v)", find(got, live.ID), find(got, dead.ID), err)
			}
			if m, _ := s.GetMessage(ctx, live.ID); m.ClaimedBy != "alive" || !m.ClaimedAt.Equal(at.Add(20*time.Second)) {
				t.Errorf("live claim: %s at %s", m.ClaimedBy, m.ClaimedAt)
			}
		})

		t.Run("OldestPendingSince", func(t *testing.T) {
			empty := sqltest.CourierStore(t, sqltest.Open(t, db.Dialect))
			if at, err := empty.OldestPendingSince(ctx); err != nil || !at.IsZero() {
				t.Fatalf("empty queue: %v %v", at, err)
			}
			old := base.Add(-24 * time.Hour)
			m := mustInsertMessage(t, s, "oldest@example.test", old)
			if at, err := s.OldestPendingSince(ctx); err != nil || !at.Equal(old) {
				t.Fatalf("oldest = %v, %v; want %v", at, err, old)
			}
			// Sent messages are not pending.
			if _, err := s.ClaimMessages(ctx, courier.Claim{Token: "o", Now: old, StaleBefore: old.Add(-time.Hour), Limit: 1}); err != nil {
				t.Fatal(err)
			}
			// Being sent, it is still pending.
			if at, err := s.OldestPendingSince(ctx); err != nil || !at.Equal(old) {
				t.Fatalf("oldest while processing = %v, %v; want %v", at, err, old)
			}
			if err := s.FinishMessage(ctx, courier.Outcome{MessageID: m.ID, ClaimToken: "o", Status: courier.StatusSent, Now: old}); err != nil {
				t.Fatal(err)
			}
			if at, _ := s.OldestPendingSince(ctx); !at.After(old) {
				t.Errorf("a sent message still counts as pending: %v", at)
			}
		})

		t.Run("ContentIsSealedAtRestAndWipedWhenSent", func(t *testing.T) {
			at := base.Add(4 * time.Hour)
			const code, link = "482913", "http://pub.example.test/self-service/recovery?flow=f&token=Zq8pX2mN4vB7"
			m := courier.Message{
				ID: uuid.New(), Status: courier.StatusQueued, Type: courier.TypeEmail, Channel: "email", Recipient: "sealed@example.test",
				Subject: "Use code " + code, Body: "Code " + code + " or " + link, TemplateType: courier.TemplateRecoveryCodeValid,
				TemplateData:  []byte(`{"to":"sealed@example.test","recovery_code":"` + code + `","recovery_url":"` + link + `"}`),
				NextAttemptAt: at, CreatedAt: at, UpdatedAt: at, ExpiresAt: at.Add(15 * time.Minute),
			}
			if err := s.InsertMessage(ctx, &m); err != nil {
				t.Fatal(err)
			}
			raw := func() (subject, body, data string) {
				t.Helper()
				if err := db.QueryRow(ctx, `SELECT subject, body, template_data FROM courier_messages WHERE id = ?`, m.ID.String()).Scan(&subject, &body, &data); err != nil {
					t.Fatal(err)
				}
				return
			}
			subject, body, data := raw()
			for _, v := range []string{subject, body, data} {
				if !secret.IsSealed(v) || strings.Contains(v, code) || strings.Contains(v, "Zq8pX2mN4vB7") || strings.Contains(v, "sealed@") {
					t.Errorf("stored in clear: %q", v)
				}
			}
			back, err := s.GetMessage(ctx, m.ID)
			if err != nil || back.Subject != m.Subject || back.Body != m.Body || string(back.TemplateData) != string(m.TemplateData) ||
				!back.ExpiresAt.Equal(m.ExpiresAt) || back.ContentError != nil {
				t.Fatalf("read back: %v %+v", err, back)
			}

			got, _ := s.ClaimMessages(ctx, courier.Claim{Token: "w", Now: at, StaleBefore: at.Add(-time.Hour), Limit: 100})
			if len(got) == 0 {
				t.Fatal("not claimed")
			}
			if err := s.FinishMessage(ctx, courier.Outcome{MessageID: m.ID, ClaimToken: "w", Status: courier.StatusSent, Now: at,
				KeptSubject: "Use code [redacted]", KeptBody: "Code [redacted] or [redacted]"}); err != nil {
				t.Fatal(err)
			}
			sent, _ := s.GetMessage(ctx, m.ID)
			if sent.Subject != "Use code [redacted]" || sent.Body != "Code [redacted] or [redacted]" || string(sent.TemplateData) != "{}" {
				t.Errorf("after sending: %q %q %s", sent.Subject, sent.Body, sent.TemplateData)
			}
			subject2, body2, data2 := raw()
			if subject2 == subject || body2 == body || data2 == data || !secret.IsSealed(subject2) {
				t.Error("sent message not rewritten")
			}
		})

		t.Run("SealedValueOpensOnlyInItsOwnRow", func(t *testing.T) {
			at := base.Add(5 * time.Hour)
			a := mustInsertMessage(t, s, "a@example.test", at)
			b := mustInsertMessage(t, s, "b@example.test", at)
			// Someone with write access copies a's body into b.
			var body string
			if err := db.QueryRow(ctx, `SELECT body FROM courier_messages WHERE id = ?`, a.ID.String()).Scan(&body); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(ctx, `UPDATE courier_messages SET body = ? WHERE id = ?`, body, b.ID.String()); err != nil {
				t.Fatal(err)
			}
			got, err := s.GetMessage(ctx, b.ID)
			if err != nil || got.ContentError == nil || got.Body != "" || got.Recipient != "b@example.test" {
				t.Errorf("moved value: %v %+v", err, got)
			}
			// Another key cannot read the queue either.
			other, _ := secret.NewCipher([][]byte{[]byte("another-secret-entirely-0123")})
			if got, err := sqlstore.NewCourierStore(db, other).GetMessage(ctx, a.ID); err != nil || got.ContentError == nil || got.Subject != "" {
				t.Errorf("other key: %v %+v", err, got)
			}
		})

		t.Run("InteractiveMailIsClaimedBeforeBulk", func(t *testing.T) {
			s := sqltest.CourierStore(t, sqltest.Open(t, db.Dialect))
			at := base
			insert := func(to string, tt courier.TemplateType, due time.Time) courier.Message {
				t.Helper()
				m := courier.Message{
					ID: uuid.New(), Status: courier.StatusQueued, Type: courier.TypeEmail, Channel: "email", Recipient: to,
					Subject: "subject", Body: "body", TemplateType: tt, TemplateData: []byte(`{}`),
					NextAttemptAt: due, CreatedAt: due, UpdatedAt: due, Priority: courier.PriorityOf(tt),
				}
				if err := s.InsertMessage(ctx, &m); err != nil {
					t.Fatal(err)
				}
				return m
			}
			claim := func(token string, now time.Time, limit int) []string {
				t.Helper()
				got, err := s.ClaimMessages(ctx, courier.Claim{Token: token, Now: now, StaleBefore: now.Add(-time.Minute), Limit: limit})
				if err != nil {
					t.Fatal(err)
				}
				var to []string
				for _, m := range got {
					to = append(to, m.Recipient)
				}
				return to
			}
			// An admin issued codes in bulk: 30 notifications, then one
			// person asks for a recovery code.
			for i := range 30 {
				insert(fmt.Sprintf("n%02d@example.test", i), courier.TemplateSecurityAdminRecovery, at.Add(time.Duration(i)*time.Millisecond))
			}
			code := insert("code@example.test", courier.TemplateRecoveryCodeValid, at.Add(time.Second))
			now := at.Add(2 * time.Second)
			if got := claim("first", now, 1); !slices.Equal(got, []string{"code@example.test"}) {
				t.Fatalf("first claim = %v, want the code mail", got)
			}
			// Within a priority the order is unchanged: oldest due first.
			if got := claim("next", now, 3); !slices.Equal(got, []string{"n00@example.test", "n01@example.test", "n02@example.test"}) {
				t.Fatalf("next claim = %v", got)
			}
			if m, _ := s.GetMessage(ctx, code.ID); m.Priority != courier.PriorityInteractive {
				t.Errorf("stored priority = %d", m.Priority)
			}

			// A retried code keeps its priority.
			d := &courier.Dispatch{ID: uuid.New(), MessageID: code.ID, Status: courier.DispatchFailed, Error: []byte(`{"message":"451"}`), CreatedAt: now, UpdatedAt: now}
			if err := s.FinishMessage(ctx, courier.Outcome{MessageID: code.ID, ClaimToken: "first", Status: courier.StatusQueued,
				NextAttemptAt: now.Add(time.Second), LastError: "451", Dispatch: d, Now: now}); err != nil {
				t.Fatal(err)
			}
			now = now.Add(time.Second)
			if got := claim("retry", now, 1); !slices.Equal(got, []string{"code@example.test"}) {
				t.Fatalf("retry claim = %v, want the code mail", got)
			}

			// The dispatchers holding the code and three notifications die.
			// Their code, once stale, goes before the due notifications
			// (within a priority, due before stale, as before priorities).
			late := insert("late-code@example.test", courier.TemplateRecoveryCodeValid, now)
			now = now.Add(time.Hour)
			if got := claim("rescuer", now, 3); !slices.Equal(got, []string{"late-code@example.test", "code@example.test", "n03@example.test"}) {
				t.Fatalf("rescue claim = %v, want the due code, the stale code, the oldest due notification", got)
			}
			if m, _ := s.GetMessage(ctx, code.ID); m.SendCount != 3 || m.ClaimedBy != "rescuer" {
				t.Errorf("stale code: send_count %d, claimed by %q", m.SendCount, m.ClaimedBy)
			}
			if m, _ := s.GetMessage(ctx, late.ID); m.SendCount != 1 || m.ClaimedBy != "rescuer" {
				t.Errorf("late code: send_count %d, claimed by %q", m.SendCount, m.ClaimedBy)
			}
		})

		t.Run("ClaimAndRecordInFewStatements", func(t *testing.T) {
			db := sqltest.Open(t, db.Dialect)
			s := sqltest.CourierStore(t, db)
			at := base
			for i := range 3 {
				mustInsertMessage(t, s, fmt.Sprintf("few%d@example.test", i), at)
			}
			statements := func() uint64 { return db.Counts().Statements.Load() }
			before := statements()
			got, err := s.ClaimMessages(ctx, courier.Claim{Token: "few", Now: at, Limit: 2})
			if err != nil || len(got) != 2 || got[0].Status != courier.StatusProcessing || got[0].SendCount != 1 || got[0].ClaimedBy != "few" || got[0].Body != "body" {
				t.Fatalf("claim: %v %+v", err, got)
			}
			// SQLite and PostgreSQL: one UPDATE … RETURNING (on SQLite in a
			// transaction of its own). MySQL: SELECT … FOR UPDATE SKIP
			// LOCKED and UPDATE, in a transaction.
			claim := map[sqlstore.Dialect]uint64{sqlstore.SQLite: 3, sqlstore.Postgres: 1, sqlstore.MySQL: 4}
			if n := statements() - before; n != claim[db.Dialect] {
				t.Errorf("claim: %d statements, want %d", n, claim[db.Dialect])
			}
			before = statements()
			d := &courier.Dispatch{ID: uuid.New(), MessageID: got[0].ID, Status: courier.DispatchSuccess, CreatedAt: at, UpdatedAt: at}
			if err := s.FinishMessage(ctx, courier.Outcome{MessageID: got[0].ID, ClaimToken: "few", Status: courier.StatusSent, Dispatch: d, Now: at}); err != nil {
				t.Fatal(err)
			}
			// PostgreSQL: the update and the dispatch's insert are one
			// statement; elsewhere two, in a transaction.
			finish := map[sqlstore.Dialect]uint64{sqlstore.SQLite: 4, sqlstore.Postgres: 1, sqlstore.MySQL: 4}
			if n := statements() - before; n != finish[db.Dialect] {
				t.Errorf("record: %d statements, want %d", n, finish[db.Dialect])
			}
			if m, _ := s.GetMessage(ctx, got[0].ID); m.Status != courier.StatusSent || len(m.Dispatches) != 1 || m.Dispatches[0].ID != d.ID {
				t.Errorf("recorded: %+v", m)
			}
			// A result whose claim was lost changes nothing, and records no attempt.
			lost := &courier.Dispatch{ID: uuid.New(), MessageID: got[1].ID, Status: courier.DispatchSuccess, CreatedAt: at, UpdatedAt: at}
			err = s.FinishMessage(ctx, courier.Outcome{MessageID: got[1].ID, ClaimToken: "someone-else", Status: courier.StatusSent, Dispatch: lost, Now: at})
			if !errors.Is(err, courier.ErrClaimLost) {
				t.Fatalf("foreign claim: %v", err)
			}
			if m, _ := s.GetMessage(ctx, got[1].ID); m.Status != courier.StatusProcessing || len(m.Dispatches) != 0 {
				t.Errorf("after a lost claim: %s, %d dispatches", m.Status, len(m.Dispatches))
			}
		})

		t.Run("RecordAndClaimTheNext", func(t *testing.T) {
			db := sqltest.Open(t, db.Dialect)
			s := sqltest.CourierStore(t, db)
			at := base
			first := mustInsertMessage(t, s, "next0@example.test", at)
			second := mustInsertMessage(t, s, "next1@example.test", at.Add(time.Millisecond))
			third := mustInsertMessage(t, s, "next2@example.test", at.Add(2*time.Millisecond))
			if got, _ := s.ClaimMessages(ctx, courier.Claim{Token: "slot", Now: at, Limit: 1}); len(got) != 1 || got[0].ID != first.ID {
				t.Fatalf("first claim: %+v", got)
			}
			statements := func() uint64 { return db.Counts().Statements.Load() }
			before := statements()
			d := &courier.Dispatch{ID: uuid.New(), MessageID: first.ID, Status: courier.DispatchSuccess, CreatedAt: at, UpdatedAt: at}
			got, recordErr, claimErr := s.FinishAndClaim(ctx, courier.Outcome{MessageID: first.ID, ClaimToken: "slot", Status: courier.StatusSent, Dispatch: d, Now: at},
				courier.Claim{Token: "slot", Now: at.Add(time.Second), Limit: 1})
			if recordErr != nil || claimErr != nil || len(got) != 1 || got[0].ID != second.ID || got[0].ClaimedBy != "slot" || got[0].Body != "body" {
				t.Fatalf("record and claim: %v %v %+v", recordErr, claimErr, got)
			}
			// SQLite and MySQL: one transaction (BEGIN, the record's UPDATE
			// and INSERT, the claim, COMMIT); PostgreSQL: one statement.
			want := map[sqlstore.Dialect]uint64{sqlstore.SQLite: 5, sqlstore.Postgres: 1, sqlstore.MySQL: 6}
			if n := statements() - before; n != want[db.Dialect] {
				t.Errorf("%d statements, want %d", n, want[db.Dialect])
			}
			if m, _ := s.GetMessage(ctx, first.ID); m.Status != courier.StatusSent || len(m.Dispatches) != 1 {
				t.Errorf("recorded: %s, %d dispatches", m.Status, len(m.Dispatches))
			}
			// A result whose claim was lost is not recorded; the claim is made.
			got, recordErr, claimErr = s.FinishAndClaim(ctx, courier.Outcome{MessageID: second.ID, ClaimToken: "not-the-slot", Status: courier.StatusSent, Now: at},
				courier.Claim{Token: "slot", Now: at.Add(time.Second), Limit: 1})
			if !errors.Is(recordErr, courier.ErrClaimLost) || claimErr != nil || len(got) != 1 || got[0].ID != third.ID {
				t.Fatalf("lost claim: %v %v %+v", recordErr, claimErr, got)
			}
			if m, _ := s.GetMessage(ctx, second.ID); m.Status != courier.StatusProcessing {
				t.Errorf("second: %s", m.Status)
			}
		})

		t.Run("StaleClaimsOnlyWhenAskedFor", func(t *testing.T) {
			s := sqltest.CourierStore(t, sqltest.Open(t, db.Dialect))
			at := base
			m := mustInsertMessage(t, s, "dead-claim@example.test", at)
			if got, _ := s.ClaimMessages(ctx, courier.Claim{Token: "dies", Now: at, Limit: 1}); len(got) != 1 {
				t.Fatal("first claim")
			}
			later := at.Add(time.Hour)
			if got, err := s.ClaimMessages(ctx, courier.Claim{Token: "due-only", Now: later, Limit: 10}); err != nil || len(got) != 0 {
				t.Fatalf("a claim without StaleBefore took %d (%v)", len(got), err)
			}
			got, err := s.ClaimMessages(ctx, courier.Claim{Token: "rescuer", Now: later, StaleBefore: later.Add(-30 * time.Second), Limit: 10})
			if err != nil || len(got) != 1 || got[0].ID != m.ID || got[0].SendCount != 2 || got[0].ClaimedBy != "rescuer" || got[0].Body != "body" {
				t.Fatalf("rescue: %v %+v", err, got)
			}
		})

		t.Run("PreparedInsertRunsAgainAfterARollback", func(t *testing.T) {
			at := base.Add(6 * time.Hour)
			m := courier.Message{
				ID: uuid.New(), Status: courier.StatusQueued, Type: courier.TypeEmail, Channel: "email", Recipient: "again@example.test",
				Subject: "Use code 271828", Body: "Code 271828", TemplateType: courier.TemplateRecoveryCodeValid,
				TemplateData: []byte(`{"recovery_code":"271828"}`), NextAttemptAt: at, CreatedAt: at, UpdatedAt: at,
			}
			insert := s.PrepareInsert(&m)
			rollback := errors.New("the transaction's connection was lost")
			if err := db.InTx(ctx, func(ctx context.Context) error {
				if err := insert(ctx); err != nil {
					return err
				}
				return rollback
			}); !errors.Is(err, rollback) {
				t.Fatal(err)
			}
			if err := db.InTx(ctx, insert); err != nil {
				t.Fatal(err)
			}
			got, err := s.GetMessage(ctx, m.ID)
			if err != nil || got.Subject != m.Subject || got.Body != m.Body || string(got.TemplateData) != string(m.TemplateData) || got.ContentError != nil {
				t.Fatalf("stored: %v %+v", err, got)
			}
		})

		t.Run("UnknownMessageIsNotFound", func(t *testing.T) {
			_, err := s.GetMessage(ctx, uuid.New())
			if !errors.Is(err, courier.ErrMessageNotFound) || !errors.Is(err, sqlstore.ErrNotFound) {
				t.Fatalf("err = %v", err)
			}
		})
	})
}
