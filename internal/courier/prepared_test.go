package courier_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/courier"
	"github.com/latchkey/latchkey/internal/courier/smtptest"
	"github.com/latchkey/latchkey/internal/rowid"
	"github.com/latchkey/latchkey/internal/sqlstore"
	"github.com/latchkey/latchkey/internal/sqlstore/sqltest"
)

// The mail a preparation enqueues is inserted claimed by the preparing
// flight and sent by the same slot once the preparation commits.

// preparing is a dispatcher whose recovery requests are prepared by a
// preparer that queues the code mail of the request (none when its To is
// empty) and then runs after, if set (failing the preparation when after
// fails).
func preparing(t *testing.T, cfg courier.DispatcherConfig, store courier.Store, after func() error) (*courier.Dispatcher, *courier.Queue, *atomic.Int32) {
	t.Helper()
	d, err := courier.NewDispatcher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	q := courier.NewQueue(store, cfg.Templates, d.Wake)
	var calls atomic.Int32
	d.SetPreparer(courier.TemplateRecoveryRequest, func(ctx context.Context, m courier.Message) error {
		calls.Add(1)
		var r request
		if err := json.Unmarshal(m.TemplateData, &r); err != nil {
			return err
		}
		if r.To != "" {
			if _, err := q.Enqueue(ctx, courier.Email{To: r.To, Template: courier.TemplateRecoveryCodeValid,
				Data: courier.TemplateData{RecoveryCode: r.Code, ExpiresInMinutes: 60}}); err != nil {
				return err
			}
		}
		if after != nil {
			return after()
		}
		return nil
	})
	return d, q, &calls
}

// mailTo is the one mail queued to addr, with its dispatches.
func mailTo(t *testing.T, store courier.Store, addr string) courier.Message {
	t.Helper()
	msgs, err := store.ListMessages(context.Background(), courier.MessageFilter{Recipient: addr, WithDispatches: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 {
		t.Fatalf("%d mails to %s, want 1", len(msgs), addr)
	}
	return msgs[0]
}

// countWhere counts the courier_messages rows matching where.
func countWhere(t *testing.T, db *sqlstore.DB, where string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), `SELECT COUNT(*) FROM courier_messages WHERE `+where, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPreparedMailIsSentWithoutAClaim(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		store := newStore(t, db)
		srv := smtptest.Start(t)
		counting := &countingStore{Store: store}
		cfg := fastConfig(t, counting, MustSMTPSender(t, srv.URI()))
		cfg.HeartbeatInterval = time.Hour // no renewal among the counted statements
		d, q, _ := preparing(t, cfg, store, nil)
		statements := func(fn func()) uint64 {
			before := db.Counts().Statements.Load()
			fn()
			return db.Counts().Statements.Load() - before
		}
		batch := func() {
			if n, _, err := d.DispatchBatch(ctx); n != 1 || err != nil {
				t.Fatalf("DispatchBatch: claimed %d, %v", n, err)
			}
		}

		// A preparation that queues nothing, then one that queues a mail:
		// the difference is what the mail costs.
		if _, err := q.EnqueueInternal(ctx, courier.TemplateRecoveryRequest, request{}); err != nil {
			t.Fatal(err)
		}
		without := statements(batch)
		internal, err := q.EnqueueInternal(ctx, courier.TemplateRecoveryRequest, request{To: "direct@example.test", Code: "112358"})
		if err != nil {
			t.Fatal(err)
		}
		with := statements(batch)

		// The batch that prepared the mail sent it: one claim each.
		if m := srv.WaitFor(t, "direct@example.test", time.Second); !strings.Contains(m.Text, "112358") {
			t.Fatalf("mail: %q", m.Text)
		}
		m := mailTo(t, store, "direct@example.test")
		if m.Status != courier.StatusSent || m.SendCount != 1 || len(m.Dispatches) != 1 || m.Dispatches[0].Status != courier.DispatchSuccess {
			t.Fatalf("mail status %s, send count %d, dispatches %+v", m.Status, m.SendCount, m.Dispatches)
		}
		if m.ID != internal {
			t.Fatalf("mail %s, want it in the row of internal message %s", m.ID, internal)
		}
		if c, fc := counting.claims.Load(), counting.finishAndClaims.Load(); c != 2 || fc != 0 {
			t.Fatalf("%d claims and %d records with a claim for two internal messages, want 2 and 0", c, fc)
		}

		// What recording a sent mail costs on its own.
		id, err := q.Enqueue(ctx, courier.Email{To: "by-hand@example.test", Template: courier.TemplateRecoveryCodeValid,
			Data: courier.TemplateData{RecoveryCode: "000000", ExpiresInMinutes: 60}})
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		if got, err := store.ClaimMessages(ctx, courier.Claim{Token: "by-hand", Now: now, Limit: 1}); err != nil || len(got) != 1 || got[0].ID != id {
			t.Fatalf("claim by hand: %v %d", err, len(got))
		}
		record := statements(func() {
			if err := store.FinishMessage(ctx, courier.Outcome{MessageID: id, ClaimToken: "by-hand", Status: courier.StatusSent, Now: now,
				Dispatch: &courier.Dispatch{ID: rowid.New(), MessageID: id, Status: courier.DispatchSuccess, CreatedAt: now, UpdatedAt: now}}); err != nil {
				t.Fatal(err)
			}
		})
		// The mail cost its record: no claim, no read, and no insert (it
		// took over the internal message's row, one UPDATE where the
		// preparation without a mail DELETEs it).
		if with-without != record {
			t.Fatalf("the prepared mail cost %d statements, want %d (its record)", with-without, record)
		}
	})
}

func TestRolledBackPreparationHoldsNothing(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		store := newStore(t, db)
		srv := smtptest.Start(t)
		cfg := fastConfig(t, store, MustSMTPSender(t, srv.URI()))
		cfg.BackoffBase, cfg.BackoffMax = time.Hour, time.Hour // retried later, not in this test
		d, q, calls := preparing(t, cfg, store, func() error { return errors.New("preparer: database went away") })
		id, err := q.EnqueueInternal(ctx, courier.TemplateRecoveryRequest, request{To: "rolled-back@example.test", Code: "141421"})
		if err != nil {
			t.Fatal(err)
		}
		if n, _, err := d.DispatchBatch(ctx); n != 1 || err != nil || calls.Load() != 1 {
			t.Fatalf("DispatchBatch: claimed %d, %v, %d preparations", n, err, calls.Load())
		}
		if n := srv.Count(); n != 0 {
			t.Fatalf("%d mails sent from a preparation that rolled back", n)
		}
		if n := countWhere(t, db, `template_type = ?`, string(courier.TemplateRecoveryCodeValid)); n != 0 {
			t.Fatalf("%d code mails left by a rolled-back preparation", n)
		}
		if n := countWhere(t, db, `status = 'processing'`); n != 0 {
			t.Fatalf("%d messages left claimed", n)
		}
		// The internal message waits for its retry.
		if n := countWhere(t, db, `id = ? AND status = 'queued'`, id.String()); n != 1 {
			t.Fatal("the internal message is not queued again")
		}
	})
}

func TestRetriedPreparationWritesAMailOfItsOwn(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		store := newStore(t, db)
		srv := smtptest.Start(t)
		cfg := fastConfig(t, store, MustSMTPSender(t, srv.URI()))
		cfg.BackoffBase, cfg.BackoffMax = time.Millisecond, time.Millisecond
		failures := 1
		d, q, calls := preparing(t, cfg, store, func() error {
			if failures > 0 {
				failures--
				return errors.New("preparer: database went away")
			}
			return nil
		})
		id, err := q.EnqueueInternal(ctx, courier.TemplateRecoveryRequest, request{To: "retried@example.test", Code: "577215"})
		if err != nil {
			t.Fatal(err)
		}
		if n, _, err := d.DispatchBatch(ctx); n != 1 || err != nil {
			t.Fatalf("first DispatchBatch: claimed %d, %v", n, err)
		}
		time.Sleep(5 * time.Millisecond) // the retry is due
		if n, _, err := d.DispatchBatch(ctx); n != 1 || err != nil || calls.Load() != 2 {
			t.Fatalf("second DispatchBatch: claimed %d, %v, %d preparations", n, err, calls.Load())
		}
		if m := srv.WaitFor(t, "retried@example.test", time.Second); !strings.Contains(m.Text, "577215") {
			t.Fatalf("mail: %q", m.Text)
		}
		// The failed attempt left a dispatch record on the internal message:
		// the mail does not take its row, and the record goes with it.
		m := mailTo(t, store, "retried@example.test")
		m = WaitForStatus(t, store, m.ID, courier.StatusSent, 5*time.Second)
		if m.ID == id || m.SendCount != 1 || len(m.Dispatches) != 1 || m.Dispatches[0].Status != courier.DispatchSuccess {
			t.Fatalf("mail %s (internal %s): send count %d, dispatches %+v; want a row of its own, 1, one success",
				m.ID, id, m.SendCount, m.Dispatches)
		}
		if n := countWhere(t, db, `id = ?`, id.String()); n != 0 {
			t.Fatal("the retried internal message outlived its preparation")
		}
		var dispatches int
		if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM courier_message_dispatches WHERE message_id = ?`, id.String()).Scan(&dispatches); err != nil || dispatches != 0 {
			t.Fatalf("%d dispatch records of the internal message left (%v)", dispatches, err)
		}
	})
}

// blockingSender signals started and never returns until released: a
// process killed, or hung, after its preparation committed.
type blockingSender struct {
	started chan struct{}
	release chan struct{}
}

func (b blockingSender) Send(ctx context.Context, m courier.OutgoingEmail) error {
	close(b.started)
	<-b.release
	return errors.New("killed")
}

func TestPreparedMailOfAKilledProcessIsTakenOver(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		store := newStore(t, db)
		srv := smtptest.Start(t)

		// The first dispatcher prepares the mail and dies before sending
		// it: no heartbeat renews its claim from then on.
		dead := blockingSender{started: make(chan struct{}), release: make(chan struct{})}
		cfg1 := fastConfig(t, store, dead)
		cfg1.HeartbeatInterval = time.Hour
		d1, q, calls1 := preparing(t, cfg1, store, nil)
		if _, err := q.EnqueueInternal(ctx, courier.TemplateRecoveryRequest, request{To: "taken-over@example.test", Code: "173205"}); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { defer close(done); _, _, _ = d1.DispatchBatch(ctx) }()
		t.Cleanup(func() { close(dead.release); <-done })
		select {
		case <-dead.started:
		case <-time.After(10 * time.Second):
			t.Fatal("the dispatcher that prepared the mail did not start sending it")
		}
		if m := mailTo(t, store, "taken-over@example.test"); m.Status != courier.StatusProcessing || m.ClaimedBy == "" || m.SendCount != 1 {
			t.Fatalf("prepared mail: status %s, claimed by %q, send count %d; want processing, claimed, 1", m.Status, m.ClaimedBy, m.SendCount)
		}

		// Another dispatcher takes it over once the claim is stale.
		cfg2 := fastConfig(t, store, MustSMTPSender(t, srv.URI()))
		cfg2.ProcessingTimeout = 300 * time.Millisecond
		d2, _, calls2 := preparing(t, cfg2, store, nil)
		runCtx, cancel := context.WithCancel(ctx)
		stopped := make(chan struct{})
		go func() { defer close(stopped); d2.Run(runCtx) }()
		defer func() { cancel(); <-stopped }()

		if m := srv.WaitFor(t, "taken-over@example.test", 10*time.Second); !strings.Contains(m.Text, "173205") {
			t.Fatalf("mail: %q", m.Text)
		}
		m := mailTo(t, store, "taken-over@example.test")
		m = WaitForStatus(t, store, m.ID, courier.StatusSent, 5*time.Second)
		if m.SendCount != 2 {
			t.Errorf("send count %d, want 2 (the dead claim and the takeover)", m.SendCount)
		}
		if calls1.Load() != 1 || calls2.Load() != 0 {
			t.Errorf("prepared %d and %d times, want once, by the first dispatcher", calls1.Load(), calls2.Load())
		}
		if n := srv.CountTo("taken-over@example.test"); n != 1 {
			t.Errorf("%d mails, want 1", n)
		}
	})
}

func TestShutdownReleasesAPreparedMail(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		store := newStore(t, db)
		srv := smtptest.Start(t)
		cfg := fastConfig(t, store, MustSMTPSender(t, srv.URI()))
		// Shutdown begins while the preparation runs: after its commit
		// the mail is given back, not sent.
		runCtx, cancel := context.WithCancel(ctx)
		d, q, _ := preparing(t, cfg, store, func() error { cancel(); return nil })
		id, err := q.EnqueueInternal(ctx, courier.TemplateRecoveryRequest, request{To: "released@example.test", Code: "223606"})
		if err != nil {
			t.Fatal(err)
		}
		if n, _, err := d.DispatchBatch(runCtx); n != 1 || err != nil {
			t.Fatalf("DispatchBatch: claimed %d, %v", n, err)
		}
		if n := srv.Count(); n != 0 {
			t.Fatalf("%d mails sent after shutdown began", n)
		}
		m := mailTo(t, store, "released@example.test")
		if m.Status != courier.StatusQueued || m.ClaimedBy != "" || m.SendCount != 0 || len(m.Dispatches) != 0 {
			t.Fatalf("released mail: status %s, claimed by %q, send count %d, %d dispatches; want queued, unclaimed, 0, 0",
				m.Status, m.ClaimedBy, m.SendCount, len(m.Dispatches))
		}
		if m.ID != id {
			t.Fatalf("mail %s, want it in the row of internal message %s", m.ID, id)
		}
		if n := countWhere(t, db, `template_type = ?`, string(courier.TemplateRecoveryRequest)); n != 0 {
			t.Fatal("the internal message outlived its committed preparation")
		}
		// The row it took over holds the code sealed, never as it is.
		if n := countWhere(t, db, `id = ? AND (subject LIKE ? OR body LIKE ? OR template_data LIKE ?)`,
			id.String(), "%223606%", "%223606%", "%223606%"); n != 0 {
			t.Fatal("the code is readable in the row the mail took over")
		}

		// The next dispatcher sends it.
		if n, _, err := d.DispatchBatch(ctx); n != 1 || err != nil {
			t.Fatalf("DispatchBatch after restart: claimed %d, %v", n, err)
		}
		if m := srv.WaitFor(t, "released@example.test", time.Second); !strings.Contains(m.Text, "223606") {
			t.Fatalf("mail: %q", m.Text)
		}
		if m := mailTo(t, store, "released@example.test"); m.Status != courier.StatusSent || m.SendCount != 1 {
			t.Fatalf("status %s, send count %d", m.Status, m.SendCount)
		}
	})
}
