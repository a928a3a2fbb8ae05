package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/courier"
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
			if len(seen) != n {
				t.Fatalf("claimed %d distinct messages, want %d", len(seen), n)
			}
			for id, c := range seen {
				if c != 1 {
					t.Errorf("%s claimed %d times", id, c)
				}
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

		t.Run("UnknownMessageIsNotFound", func(t *testing.T) {
			_, err := s.GetMessage(ctx, uuid.New())
			if !errors.Is(err, courier.ErrMessageNotFound) || !errors.Is(err, sqlstore.ErrNotFound) {
				t.Fatalf("err = %v", err)
			}
		})
	})
}
