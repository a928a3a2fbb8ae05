package sqlstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/sqlstore"
	"github.com/latchkey/latchkey/internal/sqlstore/sqltest"
)

func TestAuditStore(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		store := sqlstore.NewAuditStore(db)
		t0 := sqlstore.Time(time.Now()).Add(-time.Hour)
		alice, bob := uuid.New(), uuid.New()
		flowID := uuid.New()
		rec := &audit.Recorder{Store: store, Now: func() time.Time { t0 = t0.Add(time.Second); return t0 }}

		t.Run("EventsRoundTripInOrder", func(t *testing.T) {
			for i, e := range []audit.Event{
				{Type: audit.RecoveryRequested, FlowID: &flowID, Method: "code", Details: map[string]any{"address": "a@example.com"}},
				{Type: audit.RecoverySent, IdentityID: &alice, FlowID: &flowID, Method: "code"},
				{Type: audit.RecoveryFailed, IdentityID: &alice, FlowID: &flowID, Method: "code", Result: "invalid_code"},
				{Type: audit.AdminRecoveryCodeCreated, IdentityID: &bob, Actor: audit.ActorAdmin, Reason: "ticket 42"},
				{Type: audit.RecoverySucceeded, IdentityID: &alice, FlowID: &flowID, Method: "code"},
			} {
				if err := rec.Record(ctx, e); err != nil {
					t.Fatalf("event %d: %v", i, err)
				}
			}
			all, next, err := store.ListEvents(ctx, audit.Filter{})
			if err != nil || next != "" {
				t.Fatalf("list: %v %q", err, next)
			}
			if len(all) != 5 {
				t.Fatalf("%d events", len(all))
			}
			want := []audit.Type{audit.RecoveryRequested, audit.RecoverySent, audit.RecoveryFailed, audit.AdminRecoveryCodeCreated, audit.RecoverySucceeded}
			for i, e := range all {
				if e.Type != want[i] {
					t.Errorf("event %d is %s, want %s", i, e.Type, want[i])
				}
			}
			first := all[0]
			if first.Actor != audit.ActorSystem || first.IdentityID != nil || *first.FlowID != flowID || first.Details["address"] != "a@example.com" || first.Result != audit.ResultSuccess {
				t.Errorf("first event: %+v", first)
			}
			if all[2].Result != "invalid_code" || all[3].Reason != "ticket 42" || all[3].Actor != audit.ActorAdmin {
				t.Errorf("failure or admin event: %+v %+v", all[2], all[3])
			}
			if !all[0].Time.Before(all[1].Time) {
				t.Errorf("times %v %v", all[0].Time, all[1].Time)
			}
		})

		t.Run("FiltersAndPages", func(t *testing.T) {
			got, _, _ := store.ListEvents(ctx, audit.Filter{IdentityID: &alice})
			if len(got) != 3 {
				t.Errorf("alice: %d events", len(got))
			}
			got, _, _ = store.ListEvents(ctx, audit.Filter{Types: []audit.Type{audit.RecoveryFailed, audit.AdminRecoveryCodeCreated}})
			if len(got) != 2 {
				t.Errorf("two types: %d events", len(got))
			}
			all, _, _ := store.ListEvents(ctx, audit.Filter{})
			got, _, _ = store.ListEvents(ctx, audit.Filter{Since: all[1].Time, Until: all[3].Time})
			if len(got) != 2 || got[0].ID != all[1].ID {
				t.Errorf("since/until: %d events", len(got))
			}
			var paged []audit.Event
			token := ""
			for pages := 0; pages < 10; pages++ {
				page, next, err := store.ListEvents(ctx, audit.Filter{PageSize: 2, PageToken: token})
				if err != nil {
					t.Fatal(err)
				}
				paged = append(paged, page...)
				if next == "" {
					break
				}
				token = next
			}
			if len(paged) != len(all) {
				t.Errorf("paged %d of %d", len(paged), len(all))
			}
			if _, _, err := store.ListEvents(ctx, audit.Filter{PageToken: "!!"}); !errors.Is(err, sqlstore.ErrBadPageToken) {
				t.Errorf("bad token: %v", err)
			}
		})

		t.Run("RolledBackChangeLeavesNoEvent", func(t *testing.T) {
			before, _, _ := store.ListEvents(ctx, audit.Filter{})
			boom := errors.New("boom")
			err := db.InTx(ctx, func(ctx context.Context) error {
				if err := rec.Record(ctx, audit.Event{Type: audit.PasswordChanged, IdentityID: &alice}); err != nil {
					return err
				}
				return boom
			})
			after, _, _ := store.ListEvents(ctx, audit.Filter{})
			if !errors.Is(err, boom) || len(after) != len(before) {
				t.Errorf("after rollback: %v, %d → %d events", err, len(before), len(after))
			}
		})
	})
}
