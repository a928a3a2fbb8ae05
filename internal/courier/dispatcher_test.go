package courier_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/latchkey/latchkey/internal/courier"
	"github.com/latchkey/latchkey/internal/courier/smtptest"
	"github.com/latchkey/latchkey/internal/server/servertest"
	"github.com/latchkey/latchkey/internal/sqlstore"
	"github.com/latchkey/latchkey/internal/sqlstore/sqltest"
)

func TestDelivery(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		store := newStore(t, db)

		t.Run("RecoveryMailArrivesWithoutWaitingForAPoll", func(t *testing.T) {
			srv := smtptest.Start(t)
			cfg := fastConfig(t, store, MustSMTPSender(t, srv.URI()))
			cfg.PullWait = time.Hour // only Wake can make this mail go out in time
			d := RunDispatcher(t, cfg)
			q := courier.NewQueue(store, cfg.Templates, d.Wake)
			// Let the dispatcher's first (empty) poll pass.
			time.Sleep(50 * time.Millisecond)

			// Enqueued inside a flow's transaction that takes a while to
			// commit: a wake before the commit would find nothing and leave
			// the mail for the next poll, an hour later.
			var id uuid.UUID
			if err := db.InTx(ctx, func(ctx context.Context) error {
				var err error
				identity, err := courier.IdentityData(struct {
					ID     string         `json:"id"`
					Traits map[string]any `json:"traits"`
				}{uuid.NewString(), map[string]any{"email": "alice@example.test"}})
				if err != nil {
					return err
				}
				id, err = q.Enqueue(ctx, courier.Email{To: "alice@example.test", Template: courier.TemplateRecoveryCodeValid,
					Data: courier.TemplateData{RecoveryCode: "628048", ExpiresInMinutes: 60, Identity: identity, RequestURL: "http://127.0.0.1:4433/self-service/recovery/api"}})
				time.Sleep(100 * time.Millisecond)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			m := srv.WaitFor(t, "alice@example.test", 5*time.Second)
			if m.Subject != "Use code 628048 to recover access to your account" {
				t.Errorf("subject = %q", m.Subject)
			}
			if len(m.To) != 1 || m.To[0] != "alice@example.test" {
				t.Errorf("recipients = %v", m.To)
			}
			if !strings.Contains(m.Text, "628048") || !strings.Contains(m.HTML, "628048") {
				t.Errorf("code missing from a part: text %q html %q", m.Text, m.HTML)
			}
			if !strings.Contains(m.Text, "expires in 1 hour") {
				t.Errorf("expiry missing: %q", m.Text)
			}
			if got := m.Header.Get("Content-Language"); got != "en" {
				t.Errorf("Content-Language = %q, want en", got)
			}

			msg := WaitForStatus(t, store, id, courier.StatusSent, 5*time.Second)
			if msg.SendCount != 1 || len(msg.Dispatches) != 1 || msg.Dispatches[0].Status != courier.DispatchSuccess {
				t.Errorf("send_count %d, dispatches %+v", msg.SendCount, msg.Dispatches)
			}
			// Delivered, the message keeps no code: template data dropped,
			// subject and body redacted.
			if string(msg.TemplateData) != "{}" || strings.Contains(msg.Subject+msg.Body, "628048") ||
				msg.Subject != "Use code [redacted] to recover access to your account" || !strings.Contains(msg.Body, "[redacted]") {
				t.Errorf("sent message keeps %q / %q / %s", msg.Subject, msg.Body, msg.TemplateData)
			}
		})

		t.Run("EnqueueJoinsTheCallersTransaction", func(t *testing.T) {
			q := courier.NewQueue(store, MustTemplates(t), nil)
			before, _ := store.CountQueued(ctx)
			boom := errors.New("flow update failed")
			var id uuid.UUID
			err := db.InTx(ctx, func(ctx context.Context) error {
				var err error
				if id, err = q.Enqueue(ctx, courier.Email{To: "rollback@example.test", Template: courier.TemplateRecoveryCodeInvalid}); err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatal(err)
			}
			if _, err := store.GetMessage(ctx, id); !errors.Is(err, courier.ErrMessageNotFound) {
				t.Fatalf("message survived the rollback: %v", err)
			}
			if after, _ := store.CountQueued(ctx); after != before {
				t.Fatalf("queued %d → %d", before, after)
			}
		})

		t.Run("InvalidRecipientFailsTheEnqueue", func(t *testing.T) {
			q := courier.NewQueue(store, MustTemplates(t), nil)
			for _, to := range []string{"", "not-an-address", "Name <a@example.test>"} {
				if _, err := q.Enqueue(ctx, courier.Email{To: to, Template: courier.TemplateRecoveryInvalid}); !errors.Is(err, courier.ErrInvalidRecipient) {
					t.Errorf("%q: err = %v", to, err)
				}
			}
		})

		t.Run("SMTPDownAtEnqueueIsSentOnceItComesUp", func(t *testing.T) {
			srv := smtptest.Start(t)
			cfg := fastConfig(t, store, MustSMTPSender(t, srv.URI()))
			srv.Stop()
			d := RunDispatcher(t, cfg)
			q := courier.NewQueue(store, cfg.Templates, d.Wake)

			id := MustEnqueueRecoveryCode(t, q, "down@example.test", "111111")
			WaitForMessage(t, store, id, 5*time.Second, "failed once", func(m courier.Message) bool { return len(m.Dispatches) > 0 })
			srv.Restart(t)

			srv.WaitFor(t, "down@example.test", 5*time.Second)
			m := WaitForStatus(t, store, id, courier.StatusSent, 5*time.Second)
			if got := srv.CountTo("down@example.test"); got != 1 {
				t.Errorf("delivered %d times", got)
			}
			last := m.Dispatches[len(m.Dispatches)-1]
			if last.Status != courier.DispatchSuccess || m.Dispatches[0].Status != courier.DispatchFailed {
				t.Errorf("dispatches %+v", m.Dispatches)
			}
		})

		t.Run("TemporaryRejectionIsRetriedAndSentOnce", func(t *testing.T) {
			srv := smtptest.Start(t)
			srv.RejectNext(2)
			cfg := fastConfig(t, store, MustSMTPSender(t, srv.URI()))
			d := RunDispatcher(t, cfg)
			q := courier.NewQueue(store, cfg.Templates, d.Wake)

			id := MustEnqueueRecoveryCode(t, q, "greylisted@example.test", "222222")
			srv.WaitFor(t, "greylisted@example.test", 5*time.Second)
			m := WaitForStatus(t, store, id, courier.StatusSent, 5*time.Second)
			if m.SendCount != 3 || len(m.Dispatches) != 3 {
				t.Fatalf("send_count %d dispatches %d, want 3 and 3", m.SendCount, len(m.Dispatches))
			}
			for i, want := range []courier.DispatchStatus{courier.DispatchFailed, courier.DispatchFailed, courier.DispatchSuccess} {
				if m.Dispatches[i].Status != want {
					t.Errorf("dispatch %d = %s, want %s", i, m.Dispatches[i].Status, want)
				}
			}
			if !strings.Contains(string(m.Dispatches[0].Error), "451") {
				t.Errorf("dispatch error = %s", m.Dispatches[0].Error)
			}
			if srv.Attempts() != 3 || srv.CountTo("greylisted@example.test") != 1 {
				t.Errorf("attempts %d, delivered %d", srv.Attempts(), srv.CountTo("greylisted@example.test"))
			}
		})

		t.Run("AlwaysFailingIsAbandonedWithTheErrorInTheAdminAPI", func(t *testing.T) {
			srv := smtptest.Start(t)
			srv.RejectAll(true)
			cfg := fastConfig(t, store, MustSMTPSender(t, srv.URI()))
			cfg.MaxAttempts = 3
			d := RunDispatcher(t, cfg)
			q := courier.NewQueue(store, cfg.Templates, d.Wake)

			id := MustEnqueueRecoveryCode(t, q, "bounce@example.test", "333333")
			m := WaitForStatus(t, store, id, courier.StatusAbandoned, 10*time.Second)
			if m.SendCount != 3 || len(m.Dispatches) != 3 || srv.Attempts() != 3 {
				t.Errorf("send_count %d dispatches %d attempts %d, want 3", m.SendCount, len(m.Dispatches), srv.Attempts())
			}
			if !strings.Contains(m.LastError, "451") {
				t.Errorf("last error = %q", m.LastError)
			}

			mux := http.NewServeMux()
			courier.NewHandler(store).Register(mux)
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest("GET", "/admin/courier/messages/"+id.String(), nil))
			var got struct {
				Status     string `json:"status"`
				Dispatches []struct {
					Status string `json:"status"`
					Error  struct {
						Message string `json:"message"`
					} `json:"error"`
				} `json:"dispatches"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != 200 {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
			if got.Status != "abandoned" || len(got.Dispatches) != 3 || got.Dispatches[2].Status != "failed" ||
				!strings.Contains(got.Dispatches[2].Error.Message, "451") {
				t.Errorf("admin API shows %s", rec.Body)
			}
		})

		t.Run("ProcessKilledBetweenClaimAndSendIsSentOnceAfterRestart", func(t *testing.T) {
			srv := smtptest.Start(t)
			tpl := MustTemplates(t)
			// An instance enqueued and claimed the message ten minutes ago, then died.
			past := time.Now().Add(-10 * time.Minute)
			q := courier.NewQueue(store, tpl, nil)
			q.SetClock(func() time.Time { return past })
			id := MustEnqueueRecoveryCode(t, q, "crash@example.test", "444444")
			claimed, err := store.ClaimMessages(ctx, courier.Claim{Token: "dead-instance", Now: past.Add(time.Second), StaleBefore: past.Add(-time.Hour), Limit: 100})
			if err != nil || len(claimed) != 1 || claimed[0].ID != id {
				t.Fatalf("claim: %v %+v", err, claimed)
			}
			if m, _ := store.GetMessage(ctx, id); m.Status != courier.StatusProcessing {
				t.Fatalf("status after claim = %s", m.Status)
			}

			// The restarted instance (default 2 minute processing timeout) picks it up.
			cfg := fastConfig(t, store, MustSMTPSender(t, srv.URI()))
			RunDispatcher(t, cfg)
			srv.WaitFor(t, "crash@example.test", 5*time.Second)
			m := WaitForStatus(t, store, id, courier.StatusSent, 5*time.Second)
			if m.SendCount != 2 {
				t.Errorf("send_count = %d, want 2 (one lost claim, one delivery)", m.SendCount)
			}
			// The dead instance's late result cannot undo or repeat anything.
			err = store.FinishMessage(ctx, courier.Outcome{MessageID: id, ClaimToken: "dead-instance", Status: courier.StatusQueued, Now: time.Now()})
			if !isClaimLost(err) {
				t.Errorf("stale claim finished: %v", err)
			}
			time.Sleep(100 * time.Millisecond) // several poll intervals
			if n := srv.CountTo("crash@example.test"); n != 1 {
				t.Errorf("delivered %d times", n)
			}
		})

		t.Run("CancelFinishesTheMailInFlightAndGivesTheRestBack", func(t *testing.T) {
			srv := smtptest.Start(t)
			q := courier.NewQueue(store, MustTemplates(t), nil)
			ids := []uuid.UUID{
				MustEnqueueRecoveryCode(t, q, "inflight-1@example.test", "555555"),
				MustEnqueueRecoveryCode(t, q, "inflight-2@example.test", "555556"),
			}
			// Shutdown arrives while the first mail of the batch is being sent.
			runCtx, cancel := context.WithCancel(ctx)
			cfg := fastConfig(t, store, cancelOnSend{Sender: MustSMTPSender(t, srv.URI()), cancel: cancel})
			cfg.Concurrency = 1
			d, err := courier.NewDispatcher(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := d.DispatchBatch(runCtx); err != nil {
				t.Fatal(err)
			}
			var sent, queued int
			for _, id := range ids {
				m, err := store.GetMessage(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				switch {
				case m.Status == courier.StatusSent && m.SendCount == 1:
					sent++
				case m.Status == courier.StatusQueued && m.SendCount == 0 && len(m.Dispatches) == 0:
					queued++
				default:
					t.Errorf("message %s: status %s send_count %d", id, m.Status, m.SendCount)
				}
			}
			if sent != 1 || queued != 1 || srv.Count() != 1 {
				t.Fatalf("sent %d, given back %d, SMTP received %d; want 1, 1, 1", sent, queued, srv.Count())
			}
			// The next dispatcher delivers the one given back.
			RunDispatcher(t, fastConfig(t, store, MustSMTPSender(t, srv.URI())))
			for _, id := range ids {
				WaitForStatus(t, store, id, courier.StatusSent, 5*time.Second)
			}
			if srv.Count() != 2 {
				t.Errorf("SMTP received %d, want 2", srv.Count())
			}
		})

		t.Run("ShutdownWaitsForTheMailBeingSent", func(t *testing.T) {
			store := newStore(t, sqltest.Open(t, db.Dialect))
			srv := smtptest.Start(t)
			d, err := courier.NewDispatcher(fastConfig(t, store, patientSMTPSender(t, srv.URI())))
			if err != nil {
				t.Fatal(err)
			}
			runCtx, cancel := context.WithCancel(ctx)
			defer cancel()
			done := make(chan struct{})
			go func() { d.Run(runCtx); close(done) }()
			release := srv.Hold(t, "shutdown@example.test")
			q := courier.NewQueue(store, MustTemplates(t), d.Wake)
			id := MustEnqueueRecoveryCode(t, q, "shutdown@example.test", "565656")
			srv.WaitHeld(t, "shutdown@example.test", 5*time.Second)

			cancel()
			select {
			case <-done:
				t.Fatal("Run returned while its mail was with the SMTP server")
			case <-time.After(100 * time.Millisecond):
			}
			release()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return once its mail was sent")
			}
			if m, err := store.GetMessage(ctx, id); err != nil || m.Status != courier.StatusSent || m.SendCount != 1 || srv.CountTo("shutdown@example.test") != 1 {
				t.Errorf("after shutdown: %v, status %s, send_count %d, delivered %d", err, m.Status, m.SendCount, srv.CountTo("shutdown@example.test"))
			}
		})

		t.Run("DevMailboxMarksSentAndLogsSubjectAndRecipientOnly", func(t *testing.T) {
			var logs servertest.LogBuffer
			logger := slog.New(slog.NewTextHandler(&logs, nil))
			sender, err := courier.NewSender(courier.SMTPConfig{}, true, logger)
			if err != nil {
				t.Fatal(err)
			}
			cfg := fastConfig(t, store, sender)
			cfg.Logger = logger
			d := RunDispatcher(t, cfg)
			q := courier.NewQueue(store, cfg.Templates, d.Wake)
			id := MustEnqueueRecoveryCode(t, q, "dev@example.test", "666666")
			WaitForStatus(t, store, id, courier.StatusSent, 5*time.Second)

			out := logs.String()
			if strings.Count(out, "\n") != 1 || !strings.Contains(out, "dev@example.test") ||
				!strings.Contains(out, `subject="Use code 666666 to recover access to your account"`) {
				t.Errorf("log = %q", out)
			}
			if strings.Contains(out, "Enter this code") {
				t.Errorf("log contains the body: %q", out)
			}
			// The database keeps the sent message wiped; the dev mailbox
			// shows it in full.
			list, err := store.ListMessages(ctx, courier.MessageFilter{Recipient: "dev@example.test", Limit: 10})
			if err != nil || len(list) != 1 || strings.Contains(list[0].Body, "666666") || strings.Contains(list[0].Subject, "666666") {
				t.Errorf("store list: %v %+v", err, list)
			}
			box := sender.(*courier.DevMailbox).Lister(store)
			list, err = box.ListMessages(ctx, courier.MessageFilter{Recipient: "dev@example.test", Limit: 10})
			if err != nil || len(list) != 1 || !strings.Contains(list[0].Body, "666666") ||
				list[0].Subject != "Use code 666666 to recover access to your account" || list[0].Status != courier.StatusSent {
				t.Errorf("mailbox list: %v %+v", err, list)
			}
		})

		t.Run("NoSMTPAndNoDevMailboxAbandonsWithKratosError", func(t *testing.T) {
			sender, err := courier.NewSender(courier.SMTPConfig{}, false, nil)
			if err != nil {
				t.Fatal(err)
			}
			cfg := fastConfig(t, store, sender)
			cfg.MaxAttempts = 2
			d := RunDispatcher(t, cfg)
			q := courier.NewQueue(store, cfg.Templates, d.Wake)
			id := MustEnqueueRecoveryCode(t, q, "nosmtp@example.test", "777777")
			m := WaitForStatus(t, store, id, courier.StatusAbandoned, 5*time.Second)
			want := "Courier tried to deliver an email but courier.smtp.connection_uri is not set!"
			if m.LastError != want || len(m.Dispatches) != 2 || !strings.Contains(string(m.Dispatches[1].Error), want) {
				t.Errorf("last error %q dispatches %+v", m.LastError, m.Dispatches)
			}
		})

		t.Run("ASlotRecordsAMailAndTakesTheNextInOneStep", func(t *testing.T) {
			store := &countingStore{Store: newStore(t, sqltest.Open(t, db.Dialect))}
			q := courier.NewQueue(store, MustTemplates(t), nil)
			q.SetClock(func() time.Time { return time.Now().Add(-time.Minute) })
			var ids []uuid.UUID
			for i := range 5 {
				ids = append(ids, MustEnqueueRecoveryCode(t, q, fmt.Sprintf("chain%d@example.test", i), fmt.Sprintf("31415%d", i)))
			}
			srv := smtptest.Start(t)
			cfg := fastConfig(t, store, MustSMTPSender(t, srv.URI()))
			cfg.Concurrency, cfg.PullWait = 1, time.Hour // no polls: the claims are the dispatcher's own
			RunDispatcher(t, cfg)
			for i, id := range ids {
				WaitForStatus(t, store, id, courier.StatusSent, 5*time.Second)
				if mails := srv.Mails(); len(mails) <= i || mails[i].To[0] != fmt.Sprintf("chain%d@example.test", i) {
					t.Fatalf("mail %d went out out of order: %+v", i, mails)
				}
			}
			// The first mail came with the dispatcher's claim, each next one
			// with the result of the one before; the last result's claim
			// found nothing, and so did the dispatcher's once the slot was
			// free.
			if n, c := store.finishAndClaims.Load(), store.claims.Load(); n != 5 || c > 2 {
				t.Errorf("%d results recorded with a claim (want 5), %d claims of their own (want at most 2)", n, c)
			}
		})

		t.Run("NoClaimAfterAClaimFoundTheQueueEmpty", func(t *testing.T) {
			store := &countingStore{Store: newStore(t, sqltest.Open(t, db.Dialect))}
			srv := smtptest.Start(t)
			cfg := fastConfig(t, store, MustSMTPSender(t, srv.URI()))
			cfg.Concurrency, cfg.PullWait = 4, time.Hour // no polls: every claim follows a wake
			d := RunDispatcher(t, cfg)
			q := courier.NewQueue(store, cfg.Templates, d.Wake)
			// A first mail, and a moment for the dispatcher to settle: its
			// start races with the first wake.
			WaitForStatus(t, store, MustEnqueueRecoveryCode(t, q, "trickle@example.test", "271820"), courier.StatusSent, 5*time.Second)
			time.Sleep(200 * time.Millisecond)
			store.claims.Store(0)
			store.finishAndClaims.Store(0)
			for i := range 3 {
				id := MustEnqueueRecoveryCode(t, q, fmt.Sprintf("trickle%d@example.test", i), fmt.Sprintf("27182%d", i+1))
				WaitForStatus(t, store, id, courier.StatusSent, 5*time.Second)
			}
			// Each mail came with the claim its wake caused, which got fewer
			// than the four free slots asked for, so recording it claimed
			// nothing more.
			if n, c := store.finishAndClaims.Load(), store.claims.Load(); n != 0 || c != 3 {
				t.Errorf("%d results recorded with a claim (want 0), %d claims of their own (want 3)", n, c)
			}
		})

		t.Run("MailQueuedDuringAClaimThatMissedItIsNotLeftForThePoll", func(t *testing.T) {
			store := &pausingChain{Store: newStore(t, sqltest.Open(t, db.Dialect)), reached: make(chan struct{}), resume: make(chan struct{})}
			srv := smtptest.Start(t)
			cfg := fastConfig(t, store, MustSMTPSender(t, srv.URI()))
			cfg.Concurrency, cfg.PullWait = 1, time.Hour // no polls: only the wake can bring the second mail
			d := RunDispatcher(t, cfg)
			q := courier.NewQueue(store, cfg.Templates, d.Wake)
			first := MustEnqueueRecoveryCode(t, q, "first@example.test", "161803")
			// The one slot got the one mail its claim asked for, so it claims
			// again as it records it; that claim finds nothing, and is held
			// here before it says so.
			select {
			case <-store.reached:
			case <-time.After(5 * time.Second):
				t.Fatal("the slot did not claim again as it recorded the first mail")
			}
			second := MustEnqueueRecoveryCode(t, q, "second@example.test", "161804")
			close(store.resume)
			WaitForStatus(t, store, first, courier.StatusSent, 5*time.Second)
			WaitForStatus(t, store, second, courier.StatusSent, 5*time.Second)
		})

		t.Run("MetricsCountOutcomesAndQueueDepth", func(t *testing.T) {
			reg := prometheus.NewRegistry()
			metrics, err := courier.NewMetrics(reg, store, nil)
			if err != nil {
				t.Fatal(err)
			}
			q := courier.NewQueue(store, MustTemplates(t), nil)
			base, _ := store.CountQueued(ctx)
			MustEnqueueRecoveryCode(t, q, "m1@example.test", "100001")
			MustEnqueueRecoveryCode(t, q, "m2@example.test", "100002")
			if got := gather(t, reg, "latchkey_courier_queue_depth"); got != float64(base+2) {
				t.Errorf("queue depth = %v, want %d", got, base+2)
			}

			srv := smtptest.Start(t)
			srv.RejectNext(1)
			cfg := fastConfig(t, store, MustSMTPSender(t, srv.URI()))
			cfg.Metrics = metrics
			RunDispatcher(t, cfg)
			srv.WaitFor(t, "m1@example.test", 5*time.Second)
			srv.WaitFor(t, "m2@example.test", 5*time.Second)
			deadline := time.Now().Add(5 * time.Second)
			for gather(t, reg, "latchkey_courier_messages_sent_total") < float64(base+2) && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if got := gather(t, reg, "latchkey_courier_messages_sent_total"); got != float64(base+2) {
				t.Errorf("sent = %v", got)
			}
			if got := gather(t, reg, "latchkey_courier_messages_failed_total"); got != 1 {
				t.Errorf("failed = %v", got)
			}
			if _, err := courier.NewMetrics(reg, store, nil); err == nil {
				t.Error("registering twice on one registry succeeded")
			}
		})
	})
}

// TestTwoDispatchersShareOneDatabase: 200 queued messages, two
// dispatchers with their own connection pools (as two instances would
// have), every message delivered exactly once.
func TestTwoDispatchersShareOneDatabase(t *testing.T) {
	for _, dialect := range []sqlstore.Dialect{sqlstore.SQLite, sqlstore.Postgres, sqlstore.MySQL} {
		t.Run(string(dialect), func(t *testing.T) {
			ctx := context.Background()
			dsn := sqltest.DSN(t, dialect)
			open := func() *sqlstore.DB {
				db, err := sqlstore.Open(ctx, dsn)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				return db
			}
			db1 := open()
			if _, err := db1.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			db2 := open()
			store1, store2 := newStore(t, db1), newStore(t, db2)

			const n = 200
			q := courier.NewQueue(store1, MustTemplates(t), nil)
			for i := range n {
				MustEnqueueRecoveryCode(t, q, fmt.Sprintf("user-%03d@example.test", i), fmt.Sprintf("%06d", i))
			}

			srv := smtptest.Start(t)
			for i, store := range []*sqlstore.CourierStore{store1, store2} {
				// Each instance has its own From address, to see who sent what.
				sender, err := courier.NewSMTPSender(courier.SMTPConfig{ConnectionURI: srv.URI(), FromAddress: fmt.Sprintf("instance-%d@example.test", i+1)})
				if err != nil {
					t.Fatal(err)
				}
				cfg := fastConfig(t, store, sender)
				cfg.Logger = slog.New(slog.DiscardHandler)
				cfg.PullCount = 10
				RunDispatcher(t, cfg)
			}

			deadline := time.Now().Add(30 * time.Second)
			for {
				sent, err := store1.ListMessages(ctx, courier.MessageFilter{Status: courier.StatusSent, Limit: n + 1})
				if err != nil {
					t.Fatal(err)
				}
				if len(sent) == n {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d of %d sent after 30s", len(sent), n)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if got := srv.Count(); got != n {
				t.Errorf("SMTP server received %d mails, want %d", got, n)
			}
			by := map[string]int{}
			for _, m := range srv.Mails() {
				by[m.From]++
			}
			t.Logf("mails per instance: %v", by)
			if len(by) != 2 {
				t.Errorf("one instance did all the work (%v): the claims were not concurrent", by)
			}
			for i := range n {
				if c := srv.CountTo(fmt.Sprintf("user-%03d@example.test", i)); c != 1 {
					t.Errorf("user-%03d received %d mails", i, c)
				}
			}
		})
	}
}

func gather(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		m := mf.GetMetric()[0]
		if c := m.GetCounter(); c != nil {
			return c.GetValue()
		}
		return m.GetGauge().GetValue()
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

// cancelOnSend cancels the dispatcher's context as a send starts, the way
// a shutdown signal can arrive mid-batch.
type cancelOnSend struct {
	courier.Sender
	cancel context.CancelFunc
}

func (c cancelOnSend) Send(ctx context.Context, m courier.OutgoingEmail) error {
	c.cancel()
	return c.Sender.Send(ctx, m)
}

// countingStore counts claims, and results recorded together with a
// claim.
type countingStore struct {
	courier.Store
	claims, finishAndClaims atomic.Int32
}

func (s *countingStore) ClaimMessages(ctx context.Context, c courier.Claim) ([]courier.Message, error) {
	s.claims.Add(1)
	return s.Store.ClaimMessages(ctx, c)
}

func (s *countingStore) FinishAndClaim(ctx context.Context, o courier.Outcome, c courier.Claim) ([]courier.Message, error, error) {
	s.finishAndClaims.Add(1)
	return s.Store.FinishAndClaim(ctx, o, c)
}

// pausingChain holds the first result recorded with a claim after it is
// committed, until resume is closed.
type pausingChain struct {
	courier.Store
	once            sync.Once
	reached, resume chan struct{}
}

func (s *pausingChain) FinishAndClaim(ctx context.Context, o courier.Outcome, c courier.Claim) ([]courier.Message, error, error) {
	msgs, recordErr, claimErr := s.Store.FinishAndClaim(ctx, o, c)
	s.once.Do(func() {
		close(s.reached)
		<-s.resume
	})
	return msgs, recordErr, claimErr
}

// TestConcurrencyBoundsMailsInFlight: a dispatcher sends Concurrency mails
// at once, each on its own connection, and no more; the rest wait for a
// slot and then go out on the kept connections. (The slot count is the
// same on every dialect.)
func TestConcurrencyBoundsMailsInFlight(t *testing.T) {
	store := newStore(t, sqltest.OpenSQLite(t))
	srv := smtptest.Start(t)
	release := srv.Hold(t, "held@example.test")
	cfg := fastConfig(t, store, MustSMTPSender(t, srv.URI()))
	cfg.Concurrency = 3
	d := RunDispatcher(t, cfg)
	q := courier.NewQueue(store, cfg.Templates, d.Wake)
	var ids []uuid.UUID
	for i := range 5 {
		ids = append(ids, MustEnqueueRecoveryCode(t, q, "held@example.test", fmt.Sprintf("70000%d", i)))
	}
	srv.WaitOpenConnections(t, 3, 5*time.Second)
	// Give a fourth slot, if there were one, the time to open its connection.
	time.Sleep(300 * time.Millisecond)
	if n := srv.OpenConnections(); n != 3 {
		t.Fatalf("%d connections open with 3 slots", n)
	}
	release()
	for _, id := range ids {
		WaitForStatus(t, store, id, courier.StatusSent, 5*time.Second)
	}
	if n := srv.Connections(); n != 3 {
		t.Errorf("%d connections opened for 5 mails on 3 slots, want 3 (kept between mails)", n)
	}
}
