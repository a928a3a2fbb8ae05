package courier_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/courier"
	"github.com/latchkey/latchkey/internal/courier/smtptest"
	"github.com/latchkey/latchkey/internal/sqlstore"
	"github.com/latchkey/latchkey/internal/sqlstore/sqltest"
)

// request is the data of the internal messages these tests queue.
type request struct {
	To   string `json:"to"`
	Code string `json:"code"`
}

// mailPreparer is a preparer that queues a recovery code mail to the
// request's address through q, as recovery's does; fail, when set, makes
// it fail after queueing (so a rollback must take the mail back).
func mailPreparer(q *courier.Queue, calls *atomic.Int32, fail func() bool) courier.Preparer {
	return func(ctx context.Context, m courier.Message) error {
		calls.Add(1)
		var r request
		if err := json.Unmarshal(m.TemplateData, &r); err != nil {
			return err
		}
		if _, err := q.Enqueue(ctx, courier.Email{To: r.To, Template: courier.TemplateRecoveryCodeValid,
			Data: courier.TemplateData{RecoveryCode: r.Code, ExpiresInMinutes: 60}}); err != nil {
			return err
		}
		if fail != nil && fail() {
			return errors.New("preparer: database went away")
		}
		return nil
	}
}

// countInternal counts the internal messages left in the store.
func countInternal(t *testing.T, db *sqlstore.DB) int {
	t.Helper()
	return countWhere(t, db, `template_type = ?`, string(courier.TemplateRecoveryRequest))
}

func TestInternalMessages(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		store := newStore(t, db)

		t.Run("PreparedOnceAndNeverSentOrListed", func(t *testing.T) {
			srv := smtptest.Start(t)
			cfg := fastConfig(t, store, MustSMTPSender(t, srv.URI()))
			d, err := courier.NewDispatcher(cfg)
			if err != nil {
				t.Fatal(err)
			}
			q := courier.NewQueue(store, cfg.Templates, d.Wake)
			var calls atomic.Int32
			d.SetPreparer(courier.TemplateRecoveryRequest, mailPreparer(q, &calls, nil))
			id, err := q.EnqueueInternal(ctx, courier.TemplateRecoveryRequest, request{To: "prep@example.test", Code: "271828"})
			if err != nil {
				t.Fatal(err)
			}

			// Before delivery, neither the admin API nor the mailbox lists it,
			// and fetching it by id finds nothing.
			list, err := store.ListMessages(ctx, courier.MessageFilter{})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range list {
				if m.ID == id {
					t.Fatal("the internal message is listed")
				}
			}
			rec := httptest.NewRecorder()
			mux := http.NewServeMux()
			courier.NewHandler(store).Register(mux)
			mux.ServeHTTP(rec, httptest.NewRequest("GET", "/admin/courier/messages/"+id.String(), nil))
			if rec.Code != http.StatusNotFound {
				t.Fatalf("GET the internal message by id: %d %s", rec.Code, rec.Body)
			}

			ctxRun, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { d.Run(ctxRun); close(done) }()
			defer func() { cancel(); <-done }()

			m := srv.WaitFor(t, "prep@example.test", 5*time.Second)
			if !strings.Contains(m.Text, "271828") {
				t.Fatalf("prepared mail: %q", m.Text)
			}
			time.Sleep(100 * time.Millisecond) // several poll intervals
			if n := srv.Count(); n != 1 {
				t.Errorf("%d mails sent, want only the prepared one", n)
			}
			if n := calls.Load(); n != 1 {
				t.Errorf("prepared %d times", n)
			}
			if n := countInternal(t, db); n != 0 {
				t.Errorf("%d internal messages left", n)
			}
		})

		t.Run("FailedPreparationRollsBackAndIsRetriedOnce", func(t *testing.T) {
			srv := smtptest.Start(t)
			cfg := fastConfig(t, store, MustSMTPSender(t, srv.URI()))
			d, err := courier.NewDispatcher(cfg)
			if err != nil {
				t.Fatal(err)
			}
			q := courier.NewQueue(store, cfg.Templates, d.Wake)
			var calls atomic.Int32
			d.SetPreparer(courier.TemplateRecoveryRequest, mailPreparer(q, &calls, func() bool { return calls.Load() == 1 }))
			if _, err := q.EnqueueInternal(ctx, courier.TemplateRecoveryRequest, request{To: "retry-prep@example.test", Code: "314159"}); err != nil {
				t.Fatal(err)
			}
			ctxRun, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { d.Run(ctxRun); close(done) }()
			defer func() { cancel(); <-done }()

			srv.WaitFor(t, "retry-prep@example.test", 5*time.Second)
			time.Sleep(200 * time.Millisecond) // several backoffs and polls
			if n := srv.CountTo("retry-prep@example.test"); n != 1 {
				t.Errorf("%d mails, want 1: the failed attempt's mail must have rolled back", n)
			}
			if n := calls.Load(); n != 2 {
				t.Errorf("prepared %d times, want 2 (one failure, one success)", n)
			}
			if n := countInternal(t, db); n != 0 {
				t.Errorf("%d internal messages left", n)
			}
		})

		t.Run("ClaimOfAKilledProcessIsPreparedOnceAfterRestart", func(t *testing.T) {
			srv := smtptest.Start(t)
			past := time.Now().Add(-10 * time.Minute)
			old := courier.NewQueue(store, MustTemplates(t), nil)
			old.SetClock(func() time.Time { return past })
			id, err := old.EnqueueInternal(ctx, courier.TemplateRecoveryRequest, request{To: "killed-prep@example.test", Code: "161803"})
			if err != nil {
				t.Fatal(err)
			}
			claimed, err := store.ClaimMessages(ctx, courier.Claim{Token: "dead-instance", Now: past.Add(time.Second), StaleBefore: past.Add(-time.Hour), Limit: 100})
			if err != nil || len(claimed) != 1 || claimed[0].ID != id {
				t.Fatalf("claim: %v %+v", err, claimed)
			}

			cfg := fastConfig(t, store, MustSMTPSender(t, srv.URI()))
			d, err := courier.NewDispatcher(cfg)
			if err != nil {
				t.Fatal(err)
			}
			q := courier.NewQueue(store, cfg.Templates, d.Wake)
			var calls atomic.Int32
			d.SetPreparer(courier.TemplateRecoveryRequest, mailPreparer(q, &calls, nil))
			ctxRun, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { d.Run(ctxRun); close(done) }()
			defer func() { cancel(); <-done }()

			srv.WaitFor(t, "killed-prep@example.test", 5*time.Second)
			// The dead instance's claim is gone with the message: its late
			// removal finds nothing to remove.
			if err := store.DeleteMessage(ctx, claimed[0], "dead-instance"); !isClaimLost(err) {
				t.Errorf("stale claim removed the message: %v", err)
			}
			time.Sleep(100 * time.Millisecond)
			if n := srv.CountTo("killed-prep@example.test"); n != 1 || calls.Load() != 1 {
				t.Errorf("%d mails, %d preparations; want 1 and 1", n, calls.Load())
			}
		})

		t.Run("WithoutAPreparerItIsRetriedNotSent", func(t *testing.T) {
			srv := smtptest.Start(t)
			cfg := fastConfig(t, store, MustSMTPSender(t, srv.URI()))
			cfg.MaxAttempts = 2
			d := RunDispatcher(t, cfg)
			q := courier.NewQueue(store, cfg.Templates, d.Wake)
			id, err := q.EnqueueInternal(ctx, courier.TemplateRecoveryRequest, request{To: "nobody-prepares@example.test"})
			if err != nil {
				t.Fatal(err)
			}
			m := WaitForStatus(t, store, id, courier.StatusAbandoned, 5*time.Second)
			if !strings.Contains(m.LastError, "no preparer") {
				t.Errorf("last error %q", m.LastError)
			}
			if n := srv.Count(); n != 0 {
				t.Errorf("%d mails sent", n)
			}
		})

		t.Run("OnlyInternalTypesGoThroughEnqueueInternal", func(t *testing.T) {
			q := courier.NewQueue(store, MustTemplates(t), nil)
			if _, err := q.EnqueueInternal(ctx, courier.TemplateRecoveryCodeValid, request{}); err == nil {
				t.Fatal("a mail template was queued as internal")
			}
		})
	})
}
