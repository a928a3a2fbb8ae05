package courier_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
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

// TestNoMailLost: retries last as long as the message is useful, results
// are recorded despite database errors, and claims are neither stolen
// from a live dispatcher nor left behind by a dead one.
func TestNoMailLost(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()

		// The scenario: 200 recovery mails during a five-minute
		// SMTP outage. The production backoff (1 s doubling, capped at
		// 5 min) runs on a test clock that the test moves one second at a
		// time, draining every due message at each step.
		t.Run("FiveMinuteOutageUnderLoadLosesNothing", func(t *testing.T) {
			store := newStore(t, db)
			srv := smtptest.Start(t)
			clock := &testClock{now: time.Now().UTC().Truncate(time.Second)}
			cfg := fastConfig(t, store, MustSMTPSender(t, srv.URI()))
			cfg.BackoffBase, cfg.BackoffMax = courier.DefaultBackoffBase, courier.DefaultBackoffMax
			cfg.Now, cfg.Logger = clock.Now, slog.New(slog.DiscardHandler)
			d, err := courier.NewDispatcher(cfg)
			if err != nil {
				t.Fatal(err)
			}
			q := courier.NewQueue(store, cfg.Templates, nil)
			q.SetClock(clock.Now)
			drain := func() {
				for {
					n, _, err := d.DispatchBatch(ctx)
					if err != nil {
						t.Fatal(err)
					}
					if n == 0 {
						return
					}
				}
			}

			const n = 200
			start := clock.Now()
			srv.RejectAll(true)
			var ids []uuid.UUID
			// The load: ten mails every three seconds during the first minute.
			for clock.Now().Sub(start) < 5*time.Minute {
				if s := int(clock.Now().Sub(start) / time.Second); s%3 == 0 && len(ids) < n {
					for range 10 {
						ids = append(ids, MustEnqueueRecoveryCode(t, q, fmt.Sprintf("outage-%03d@example.test", len(ids)), fmt.Sprintf("%06d", 300000+len(ids))))
					}
				}
				drain()
				clock.Advance(time.Second)
			}
			failedDuringOutage := srv.Attempts()

			// During the outage the admin API lists the waiting mail with its errors.
			queued, err := store.ListMessages(ctx, courier.MessageFilter{Status: courier.StatusQueued, WithDispatches: true})
			if err != nil || len(queued) != n {
				t.Fatalf("queued during the outage: %d, %v", len(queued), err)
			}
			if d := queued[0].Dispatches; len(d) == 0 || !strings.Contains(string(d[len(d)-1].Error), "451") {
				t.Errorf("dispatch errors of a waiting message: %+v", d)
			}

			srv.RejectAll(false)
			end := clock.Now()
			var lastDelivery time.Duration
			for srv.Count() < n && clock.Now().Sub(end) < time.Hour {
				drain()
				lastDelivery = clock.Now().Sub(end)
				clock.Advance(time.Second)
			}
			for _, id := range ids {
				m, err := store.GetMessage(ctx, id)
				if err != nil || m.Status != courier.StatusSent {
					t.Fatalf("message %s: %v %s", id, err, m.Status)
				}
			}
			for i := range n {
				if c := srv.CountTo(fmt.Sprintf("outage-%03d@example.test", i)); c != 1 {
					t.Errorf("outage-%03d received %d mails", i, c)
				}
			}
			t.Logf("%d mails, 5 min outage: %d failed attempts during the outage, all %d delivered once within %s of the end of the outage; 0 abandoned",
				n, failedDuringOutage, srv.Count(), lastDelivery)
		})

		t.Run("ExpiredMessageIsAbandonedWithItsLastErrorAndWiped", func(t *testing.T) {
			store := newStore(t, db)
			srv := smtptest.Start(t)
			srv.RejectAll(true)
			clock := &testClock{now: time.Now().UTC()}
			cfg := fastConfig(t, store, MustSMTPSender(t, srv.URI()))
			cfg.BackoffBase, cfg.BackoffMax = courier.DefaultBackoffBase, courier.DefaultBackoffMax
			cfg.Now = clock.Now
			d, err := courier.NewDispatcher(cfg)
			if err != nil {
				t.Fatal(err)
			}
			q := courier.NewQueue(store, cfg.Templates, nil)
			q.SetClock(clock.Now)
			id, err := q.Enqueue(ctx, courier.Email{To: "expiring@example.test", Template: courier.TemplateRecoveryCodeValid,
				Data: courier.TemplateData{RecoveryCode: "515151", ExpiresInMinutes: 2}})
			if err != nil {
				t.Fatal(err)
			}
			for range 180 { // three minutes, one second at a time
				if _, _, err := d.DispatchBatch(ctx); err != nil {
					t.Fatal(err)
				}
				clock.Advance(time.Second)
			}
			m, err := store.GetMessage(ctx, id)
			if err != nil || m.Status != courier.StatusAbandoned || !strings.Contains(m.LastError, "451") {
				t.Fatalf("after expiry: %v %s %q", err, m.Status, m.LastError)
			}
			if last := m.Dispatches[len(m.Dispatches)-1]; last.CreatedAt.After(m.ExpiresAt) {
				t.Errorf("attempt at %s after expiry %s", last.CreatedAt, m.ExpiresAt)
			}
			if strings.Contains(m.Subject+m.Body+string(m.TemplateData), "515151") {
				t.Errorf("abandoned message keeps its code: %q %q %s", m.Subject, m.Body, m.TemplateData)
			}
			t.Logf("%d attempts in the code's 2 minutes", len(m.Dispatches))
		})

		t.Run("RecordingTheResultIsRetried", func(t *testing.T) {
			store := newStore(t, db)
			srv := smtptest.Start(t)
			flaky := &flakyFinish{Store: store, failures: 2}
			cfg := fastConfig(t, flaky, MustSMTPSender(t, srv.URI()))
			cfg.RecordRetryBase = time.Millisecond
			cfg.ProcessingTimeout = 200 * time.Millisecond
			d := RunDispatcher(t, cfg)
			q := courier.NewQueue(store, cfg.Templates, d.Wake)
			id := MustEnqueueRecoveryCode(t, q, "flaky-db@example.test", "616161")
			m := WaitForStatus(t, store, id, courier.StatusSent, 5*time.Second)
			time.Sleep(500 * time.Millisecond) // past the stale threshold: a lost result would mean a second mail
			if c := srv.CountTo("flaky-db@example.test"); c != 1 || m.SendCount != 1 || flaky.calls() != 3 {
				t.Errorf("delivered %d times, send_count %d, %d tries to record", c, m.SendCount, flaky.calls())
			}
		})

		t.Run("UnrecordedSendIsRepeatedWithTheSameMessageID", func(t *testing.T) {
			store := newStore(t, db)
			srv := smtptest.Start(t)
			// The database is unreachable for longer than the record retries.
			flaky := &flakyFinish{Store: store, failures: 2}
			cfg := fastConfig(t, flaky, MustSMTPSender(t, srv.URI()))
			cfg.RecordRetries, cfg.RecordRetryBase = 1, time.Millisecond
			cfg.ProcessingTimeout = 200 * time.Millisecond
			d := RunDispatcher(t, cfg)
			q := courier.NewQueue(store, cfg.Templates, d.Wake)
			id := MustEnqueueRecoveryCode(t, q, "twice@example.test", "717171")
			first := srv.WaitFor(t, "twice@example.test", 5*time.Second)
			second := srv.WaitFor(t, "twice@example.test", 5*time.Second)
			WaitForStatus(t, store, id, courier.StatusSent, 5*time.Second)
			want := "<" + id.String() + "@latchkey.example.test>"
			if a, b := first.Header.Get("Message-Id"), second.Header.Get("Message-Id"); a != want || b != want {
				t.Errorf("Message-IDs %q and %q, want %q for both", a, b, want)
			}
		})

		t.Run("LiveClaimIsNotTakenOver", func(t *testing.T) {
			store := newStore(t, db)
			srv := smtptest.Start(t)
			slowCfg := fastConfig(t, store, slowSender{Sender: MustSMTPSender(t, srv.URI()), delay: 2500 * time.Millisecond})
			slowCfg.Concurrency = 1
			slowCfg.ProcessingTimeout, slowCfg.HeartbeatInterval = time.Second, 100*time.Millisecond
			slow, err := courier.NewDispatcher(slowCfg)
			if err != nil {
				t.Fatal(err)
			}
			q := courier.NewQueue(store, slowCfg.Templates, nil)
			a := MustEnqueueRecoveryCode(t, q, "slow-a@example.test", "818181")
			b := MustEnqueueRecoveryCode(t, q, "slow-b@example.test", "818182")
			batchDone := make(chan struct{})
			go func() {
				defer close(batchDone)
				if n, _, err := slow.DispatchBatch(ctx); n != 2 || err != nil {
					t.Errorf("slow batch: %d, %v", n, err)
				}
			}()
			WaitForStatus(t, store, b, courier.StatusProcessing, 5*time.Second)

			// A second dispatcher polls all the while the first one holds
			// the claim for more than twice the stale threshold.
			otherCfg := fastConfig(t, store, MustSMTPSender(t, srv.URI()))
			otherCfg.ProcessingTimeout = time.Second
			RunDispatcher(t, otherCfg)
			<-batchDone
			WaitForStatus(t, store, a, courier.StatusSent, 5*time.Second)
			WaitForStatus(t, store, b, courier.StatusSent, 5*time.Second)
			for _, to := range []string{"slow-a@example.test", "slow-b@example.test"} {
				if c := srv.CountTo(to); c != 1 {
					t.Errorf("%s received %d mails", to, c)
				}
			}
		})

		t.Run("RunningDispatcherKeepsEveryClaimAlive", func(t *testing.T) {
			store := newStore(t, sqltest.Open(t, db.Dialect))
			srv := smtptest.Start(t)
			cfg := fastConfig(t, store, patientSMTPSender(t, srv.URI()))
			cfg.ProcessingTimeout, cfg.HeartbeatInterval = time.Second, 100*time.Millisecond
			d := RunDispatcher(t, cfg)
			releaseA, releaseB := srv.Hold(t, "held-a@example.test"), srv.Hold(t, "held-b@example.test")
			q := courier.NewQueue(store, cfg.Templates, d.Wake)
			// Two slow mails, claimed half a stale threshold apart.
			a := MustEnqueueRecoveryCode(t, q, "held-a@example.test", "828282")
			srv.WaitHeld(t, "held-a@example.test", 5*time.Second)
			time.Sleep(500 * time.Millisecond)
			b := MustEnqueueRecoveryCode(t, q, "held-b@example.test", "828283")
			srv.WaitHeld(t, "held-b@example.test", 5*time.Second)

			// A second dispatcher polls for more than twice the stale
			// threshold while both are being sent.
			otherCfg := fastConfig(t, store, MustSMTPSender(t, srv.URI()))
			otherCfg.ProcessingTimeout = time.Second
			RunDispatcher(t, otherCfg)
			time.Sleep(2500 * time.Millisecond)
			releaseA()
			releaseB()
			WaitForStatus(t, store, a, courier.StatusSent, 5*time.Second)
			WaitForStatus(t, store, b, courier.StatusSent, 5*time.Second)
			for _, to := range []string{"held-a@example.test", "held-b@example.test"} {
				if c := srv.CountTo(to); c != 1 {
					t.Errorf("%s received %d mails", to, c)
				}
			}
		})

		t.Run("LostReplyAfterDataIsRetriedWithTheSameMessageID", func(t *testing.T) {
			store := newStore(t, db)
			srv := smtptest.Start(t)
			// The server takes the mail, then the connection breaks before
			// its answer: the sender cannot know, so it reports a failure
			// and the dispatcher retries as after any failure.
			srv.LoseReplyNext(1)
			d := RunDispatcher(t, fastConfig(t, store, MustSMTPSender(t, srv.URI())))
			q := courier.NewQueue(store, MustTemplates(t), d.Wake)
			id := MustEnqueueRecoveryCode(t, q, "lost-reply@example.test", "929292")
			first := srv.WaitFor(t, "lost-reply@example.test", 5*time.Second)
			second := srv.WaitFor(t, "lost-reply@example.test", 5*time.Second)
			m := WaitForStatus(t, store, id, courier.StatusSent, 5*time.Second)
			if len(m.Dispatches) != 2 || m.Dispatches[0].Status != courier.DispatchFailed || m.Dispatches[1].Status != courier.DispatchSuccess {
				t.Errorf("dispatches %+v, want failed then success", m.Dispatches)
			}
			want := "<" + id.String() + "@latchkey.example.test>"
			if a, b := first.Header.Get("Message-Id"), second.Header.Get("Message-Id"); a != want || b != want {
				t.Errorf("Message-IDs %q and %q, want %q for both", a, b, want)
			}
		})

		t.Run("ClaimOfAKilledProcessIsRetakenAfterThirtySeconds", func(t *testing.T) {
			store := newStore(t, db)
			srv := smtptest.Start(t)
			q := courier.NewQueue(store, MustTemplates(t), nil)
			q.SetClock(func() time.Time { return time.Now().Add(-time.Minute) })
			killedAt := time.Now().Add(-31 * time.Second)
			recent := time.Now().Add(-10 * time.Second)
			stale := MustEnqueueRecoveryCode(t, q, "killed@example.test", "919191")
			if _, err := store.ClaimMessages(ctx, courier.Claim{Token: "killed", Now: killedAt, StaleBefore: killedAt.Add(-time.Hour), Limit: 1}); err != nil {
				t.Fatal(err)
			}
			fresh := MustEnqueueRecoveryCode(t, q, "busy@example.test", "919192")
			if _, err := store.ClaimMessages(ctx, courier.Claim{Token: "busy", Now: recent, StaleBefore: recent.Add(-time.Hour), Limit: 1}); err != nil {
				t.Fatal(err)
			}
			cfg := fastConfig(t, store, MustSMTPSender(t, srv.URI())) // default 30 s threshold
			d, err := courier.NewDispatcher(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := d.DispatchBatch(ctx); err != nil {
				t.Fatal(err)
			}
			if m, _ := store.GetMessage(ctx, stale); m.Status != courier.StatusSent || srv.CountTo("killed@example.test") != 1 {
				t.Errorf("31 s old claim: %s, %d mails", m.Status, srv.CountTo("killed@example.test"))
			}
			if m, _ := store.GetMessage(ctx, fresh); m.Status != courier.StatusProcessing || m.ClaimedBy != "busy" || srv.CountTo("busy@example.test") != 0 {
				t.Errorf("10 s old claim: %s by %s", m.Status, m.ClaimedBy)
			}
		})

		t.Run("StuckQueueIsLoggedAndMeasured", func(t *testing.T) {
			store := newStore(t, sqltest.Open(t, db.Dialect))
			srv := smtptest.Start(t)
			srv.RejectAll(true)
			q := courier.NewQueue(store, MustTemplates(t), nil)
			q.SetClock(func() time.Time { return time.Now().Add(-10 * time.Minute) })
			MustEnqueueRecoveryCode(t, q, "stuck@example.test", "121212")

			reg := prometheus.NewRegistry()
			metrics, err := courier.NewMetrics(reg, store, nil)
			if err != nil {
				t.Fatal(err)
			}
			if age := gather(t, reg, "latchkey_courier_oldest_pending_seconds"); age < 600 || age > 3600 {
				t.Errorf("oldest pending age = %v s, want about 600", age)
			}
			var logs servertest.LogBuffer
			cfg := fastConfig(t, store, MustSMTPSender(t, srv.URI()))
			cfg.Logger, cfg.Metrics = slog.New(slog.NewTextHandler(&logs, nil)), metrics
			RunDispatcher(t, cfg)
			deadline := time.Now().Add(5 * time.Second)
			for !strings.Contains(logs.String(), "queue is stuck") && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if out := logs.String(); !strings.Contains(out, "queue is stuck") || !strings.Contains(out, "oldest_pending_age=10m") {
				t.Errorf("no stuck-queue warning: %s", out)
			}
		})
	})
}

// TestMessageIDIsStablePerMessage: every attempt of one message carries
// the same Message-ID, derived from the message id; another message gets
// another one.
func TestMessageIDIsStablePerMessage(t *testing.T) {
	srv := smtptest.Start(t)
	s := MustSMTPSender(t, srv.URI())
	id := uuid.New()
	for _, m := range []courier.OutgoingEmail{
		{MessageID: id, To: "mid@example.test", Subject: "s", Text: "first attempt"},
		{MessageID: id, To: "mid@example.test", Subject: "s", Text: "second attempt"},
		{MessageID: uuid.New(), To: "mid@example.test", Subject: "s", Text: "another message"},
	} {
		if err := s.Send(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	mails := srv.Mails()
	a, b, c := mails[0].Header.Get("Message-Id"), mails[1].Header.Get("Message-Id"), mails[2].Header.Get("Message-Id")
	if want := "<" + id.String() + "@latchkey.example.test>"; a != want || b != want {
		t.Errorf("attempts carry %q and %q, want %q", a, b, want)
	}
	if c == a || c == "" {
		t.Errorf("another message has Message-ID %q", c)
	}
}

// testClock is a clock the test moves by hand.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// flakyFinish is a store whose first FinishMessage calls fail, as when the
// database connection drops right after a mail went out.
type flakyFinish struct {
	courier.Store
	mu       sync.Mutex
	failures int
	n        int
}

// fail counts a call and reports whether it is one of the failures.
func (f *flakyFinish) fail() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	if f.failures > 0 {
		f.failures--
		return true
	}
	return false
}

func (f *flakyFinish) FinishMessage(ctx context.Context, o courier.Outcome) error {
	if f.fail() {
		return errors.New("driver: bad connection (test)")
	}
	return f.Store.FinishMessage(ctx, o)
}

// FinishAndClaim fails as FinishMessage does, recording and claiming
// nothing.
func (f *flakyFinish) FinishAndClaim(ctx context.Context, o courier.Outcome, c courier.Claim) ([]courier.Message, error, error) {
	if f.fail() {
		err := errors.New("driver: bad connection (test)")
		return nil, err, err
	}
	return f.Store.FinishAndClaim(ctx, o, c)
}

func (f *flakyFinish) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

// slowSender takes its time before each delivery, like a slow SMTP server.
type slowSender struct {
	courier.Sender
	delay time.Duration
}

func (s slowSender) Send(ctx context.Context, m courier.OutgoingEmail) error {
	time.Sleep(s.delay)
	return s.Sender.Send(ctx, m)
}
