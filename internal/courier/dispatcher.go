package courier

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/latchkey/latchkey/internal/rowid"
)

// DispatcherConfig configures a Dispatcher. Zero values take the defaults.
type DispatcherConfig struct {
	Store     Store
	Templates *Templates
	Sender    Sender
	Logger    *slog.Logger
	Metrics   *Metrics // may be nil

	// MaxAttempts caps the delivery attempts of a message; 0 (the default)
	// means no cap: a failing message is retried until it expires
	// (Message.ExpiresAt), which is what keeps mail from being lost in an
	// SMTP outage. courier.message_retries: n, when configured, is n+1
	// attempts, as in Kratos.
	MaxAttempts int
	// PullCount is courier.worker.pull_count: the most messages one claim
	// takes (default 10). Run claims no more than it has free slots
	// (Concurrency).
	PullCount int
	// PullWait is courier.worker.pull_wait: how often the queue is polled
	// for messages enqueued by other instances and for retries (default 1s).
	// Messages enqueued through a Queue wired to Wake go out at once.
	PullWait time.Duration
	// Concurrency is how many mails are sent at once (default 16). Under
	// load a mail's round trips (SMTP's and the database's) wait for a
	// busy CPU, and four slots, the old default, could not carry a
	// notification per code: the notifications piled up behind the codes
	// (docs/benchmarks-history.md, fourth round).
	Concurrency int
	// ProcessingTimeout is how old a claim may grow without a heartbeat
	// before any dispatcher takes it over (default 30s): a process killed
	// mid-batch delays its mail by about this much.
	ProcessingTimeout time.Duration
	// HeartbeatInterval is how often a dispatcher renews the claim of the
	// messages it holds (default a third of ProcessingTimeout), so a live
	// claim never looks stale however long the SMTP server takes.
	HeartbeatInterval time.Duration
	// SendTimeout cuts off one delivery attempt (default 1m).
	SendTimeout time.Duration
	// BackoffBase and BackoffMax shape the retry delay after the n-th failed
	// attempt: BackoffBase·2^(n-1), capped at BackoffMax, jittered down by up
	// to half (defaults 1s and 5m).
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// RecordRetries is how many times recording a delivery result is
	// retried after a database error (default 6), waiting RecordRetryBase
	// (default 100ms), doubling, at most 5s, between tries. A result that
	// cannot be recorded leaves the claim to go stale and the mail to be
	// sent again, so it is worth a few seconds of trying.
	RecordRetries   int
	RecordRetryBase time.Duration
	// StuckAfter is the age of the oldest pending message above which the
	// dispatcher logs a warning, at most once a minute (default 5m).
	StuckAfter time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Defaults of DispatcherConfig.
const (
	DefaultPullCount         = 10
	DefaultPullWait          = time.Second
	DefaultConcurrency       = 16
	DefaultProcessingTimeout = 30 * time.Second
	DefaultSendTimeout       = time.Minute
	DefaultBackoffBase       = time.Second
	DefaultBackoffMax        = 5 * time.Minute
	DefaultRecordRetries     = 6
	DefaultRecordRetryBase   = 100 * time.Millisecond
	DefaultStuckAfter        = 5 * time.Minute
)

// Dispatcher delivers queued messages. Any number of dispatchers, in one or
// several processes, may work on the same database: each message is claimed
// by one of them at a time.
type Dispatcher struct {
	cfg  DispatcherConfig
	log  *slog.Logger
	wake chan struct{}
	// due says whether a claim may find mail (due.go).
	due dueState
	// preparers handle internal messages by template type (prepare.go).
	preparers map[TemplateType]Preparer
}

// NewDispatcher checks cfg and fills in defaults.
func NewDispatcher(cfg DispatcherConfig) (*Dispatcher, error) {
	if cfg.Store == nil || cfg.Templates == nil || cfg.Sender == nil {
		return nil, errors.New("courier: dispatcher needs a store, templates and a sender")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	defInt := func(i *int, v int) {
		if *i <= 0 {
			*i = v
		}
	}
	defInt(&cfg.PullCount, DefaultPullCount)
	defInt(&cfg.Concurrency, DefaultConcurrency)
	defInt(&cfg.RecordRetries, DefaultRecordRetries)
	def(&cfg.PullWait, DefaultPullWait)
	def(&cfg.ProcessingTimeout, DefaultProcessingTimeout)
	def(&cfg.HeartbeatInterval, cfg.ProcessingTimeout/3)
	def(&cfg.SendTimeout, DefaultSendTimeout)
	def(&cfg.BackoffBase, DefaultBackoffBase)
	def(&cfg.BackoffMax, DefaultBackoffMax)
	def(&cfg.RecordRetryBase, DefaultRecordRetryBase)
	def(&cfg.StuckAfter, DefaultStuckAfter)
	if cfg.MaxAttempts < 0 {
		cfg.MaxAttempts = 0
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Dispatcher{cfg: cfg, log: log, wake: make(chan struct{}, 1)}, nil
}

// Wake makes a running dispatcher look at the queue now. It never blocks.
func (d *Dispatcher) Wake() {
	d.due.poke()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run delivers messages until ctx is cancelled, keeping up to Concurrency
// of them in flight: as soon as one is finished and the queue may hold due
// mail, it claims more. On cancellation it finishes the mails being sent,
// gives back the ones claimed but not yet handed to the SMTP server and
// returns.
//
// The queue may hold due mail after a claim that got all it asked for,
// after Wake, every PullWait (mail of other instances), and when a retry
// of ours falls due. A claim that got less than it asked for emptied the
// queue of due mail: a slot freed after it waits for one of those, and
// so does a slot recording a result (flight.record), which claims with
// it only while mail may be due.
func (d *Dispatcher) Run(ctx context.Context) {
	f := d.newFlight(ctx, true)
	defer f.wait()
	// Since Go 1.23 Reset discards a pending tick, so no draining is needed.
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var lastStuckCheck, nextPoll time.Time
	for ctx.Err() == nil {
		gen, mayBeDue := d.due.mayBeDue()
		if free := d.cfg.Concurrency - f.size(); mayBeDue && free > 0 {
			// Claim no more than there are free slots, so a claimed message
			// starts sending at once. Claiming ahead would hold mail back
			// behind our slowest send while another instance, or a slot
			// freed a moment later, could send it — the batch barrier again
			// — and would fix the order early: a code enqueued after the
			// claim could not overtake the notifications claimed ahead of
			// it. PullCount still caps one claim (one transaction, its rows
			// locked until commit). The price is more and smaller claims
			// under load: at most one per finished mail, next to the write
			// that records each mail's result.
			want := min(free, d.cfg.PullCount)
			n, err := f.claim(ctx, want)
			nextPoll = time.Now().Add(d.cfg.PullWait)
			switch {
			case err != nil && ctx.Err() != nil:
				return
			case err != nil:
				d.log.Error("courier: dispatch failed", "error", err)
				d.due.found(gen, 0, want) // try again at the next poll
			default:
				d.due.found(gen, n, want)
			}
		}
		if now := d.cfg.Now(); now.Sub(lastStuckCheck) >= stuckCheckInterval {
			lastStuckCheck = now
			d.warnIfStuck(ctx)
		}
		free := d.cfg.Concurrency - f.size()
		_, mayBeDue = d.due.mayBeDue()
		if mayBeDue && free > 0 {
			continue
		}
		// With mail due but no free slot only a finished send matters; the
		// poll timer runs while nothing is known to be due.
		var tick <-chan time.Time
		if !mayBeDue {
			wait := max(time.Until(nextPoll), 0)
			if due := f.nextRetry(); !due.IsZero() {
				// A retry of ours falls due before the next poll.
				if w := due.Sub(d.cfg.Now()) + time.Millisecond; w < wait {
					wait = max(w, 0)
				}
			}
			timer.Reset(wait)
			tick = timer.C
		}
		select {
		case <-ctx.Done():
		case <-d.wake: // Wake started a new generation already
		case <-tick:
			d.due.poke()
		case <-f.landed:
		}
	}
}

// DispatchBatch claims up to PullCount due messages at once and delivers
// them, Concurrency at a time, returning when every one is finished. It
// returns how many messages it claimed and the earliest time one of them
// is due again after a failure (zero if none). Run does not use it (it
// keeps its slots busy without waiting for a batch); it drives a
// dispatcher one step at a time, as tests on a test clock do. If ctx is
// cancelled meanwhile, the mails being sent are finished and the rest are
// given back to the queue.
func (d *Dispatcher) DispatchBatch(ctx context.Context) (claimed int, nextDue time.Time, err error) {
	f := d.newFlight(ctx, false)
	claimed, err = f.claim(ctx, d.cfg.PullCount)
	f.wait()
	return claimed, f.nextRetry(), err
}

// result is what delivering a claimed message leaves to record.
type result struct {
	log *slog.Logger
	// out is the outcome to record; nil when there is none (an internal
	// message, prepared in its own transaction).
	out *Outcome
	// due is when a re-queued message is due again (zero: not re-queued).
	due time.Time
	// prepared are the mails a preparation inserted claimed by the
	// flight (prepare.go), committed, for the slot to send next.
	prepared []Message
}

// deliver sends one claimed message and returns the outcome to record.
func (d *Dispatcher) deliver(ctx context.Context, m Message, token string) result {
	log := d.log.With("message_id", m.ID, "template_type", m.TemplateType, "send_count", m.SendCount)
	if reason := d.undeliverable(m, d.cfg.Now().UTC()); reason != "" {
		return d.abandon(log, m, Outcome{MessageID: m.ID, ClaimToken: token, LastError: cmp.Or(m.LastError, reason), Now: d.cfg.Now().UTC()}, reason)
	}
	if m.TemplateType.Internal() {
		return d.prepare(ctx, log, m, token)
	}

	out := OutgoingEmail{MessageID: m.ID, To: m.Recipient, Subject: m.Subject, Text: m.Body}
	var data TemplateData
	dataErr := json.Unmarshal(m.TemplateData, &data)
	if dataErr != nil {
		log.Error("courier: stored template data unreadable; sending the plaintext part only", "error", dataErr)
	} else {
		out.Language = d.cfg.Templates.languageOf(data).String()
		var err error
		if out.HTML, err = d.cfg.Templates.RenderHTML(m.TemplateType, data); err != nil {
			log.Error("courier: HTML body failed to render; sending the plaintext part only", "error", err)
		}
	}

	sendCtx, cancel := context.WithTimeout(ctx, d.cfg.SendTimeout)
	sendErr := d.cfg.Sender.Send(sendCtx, out)
	cancel()

	now := d.cfg.Now().UTC()
	var kept Message
	if dataErr == nil {
		kept = redactedBy(m, &data) // the data decoded once
	} else {
		kept = redacted(m) // shows nothing: the secret cannot be located
	}
	dispatch := &Dispatch{ID: rowid.New(), MessageID: m.ID, Status: DispatchSuccess, CreatedAt: now, UpdatedAt: now}
	if sendErr == nil {
		d.cfg.Metrics.incSent()
		return result{log: log, out: &Outcome{MessageID: m.ID, ClaimToken: token, Status: StatusSent, Dispatch: dispatch, Now: now,
			KeptSubject: kept.Subject, KeptBody: kept.Body}}
	}
	return d.failed(log, m, token, sendErr)
}

// failed is the outcome of a failed attempt at a claimed message: it is
// re-queued with a backoff, or abandoned after its last attempt.
func (d *Dispatcher) failed(log *slog.Logger, m Message, token string, sendErr error) result {
	d.cfg.Metrics.incFailed()
	now := d.cfg.Now().UTC()
	dispatch := &Dispatch{ID: rowid.New(), MessageID: m.ID, Status: DispatchFailed, Error: dispatchError(sendErr), CreatedAt: now, UpdatedAt: now}
	o := Outcome{MessageID: m.ID, ClaimToken: token, Dispatch: dispatch, LastError: sendErr.Error(), Now: now}
	next := now.Add(d.backoff(m.SendCount))
	switch {
	case d.cfg.MaxAttempts > 0 && m.SendCount >= d.cfg.MaxAttempts:
		return d.abandon(log, m, o, "no attempts left (courier.message_retries)", "error", sendErr)
	case !next.Before(m.ExpiresAt):
		// The code or link would be dead before the next attempt.
		return d.abandon(log, m, o, "the message expires before the next attempt", "error", sendErr, "expires_at", m.ExpiresAt)
	}
	o.Status, o.NextAttemptAt = StatusQueued, next
	log.Warn("courier: delivery failed; will retry", "error", sendErr, "retry_at", o.NextAttemptAt)
	return result{log: log, out: &o, due: next}
}

// undeliverable says why a claimed message must be abandoned without an
// attempt, or "" when it may be sent.
func (d *Dispatcher) undeliverable(m Message, now time.Time) string {
	switch {
	case m.ContentError != nil:
		return m.ContentError.Error()
	case !now.Before(m.ExpiresAt):
		return "courier: message expired before it could be delivered"
	case d.cfg.MaxAttempts > 0 && m.SendCount > d.cfg.MaxAttempts:
		// Claimed again and again without a recorded result (a process
		// dying mid-send): stop trying.
		return fmt.Sprintf("courier: message was claimed %d times without a delivery result", m.SendCount-1)
	}
	return ""
}

// abandon makes o the outcome of an abandoned message, wiped like a sent
// one.
func (d *Dispatcher) abandon(log *slog.Logger, m Message, o Outcome, why string, attrs ...any) result {
	kept := redacted(m)
	o.Status, o.KeptSubject, o.KeptBody = StatusAbandoned, kept.Subject, kept.Body
	d.cfg.Metrics.incAbandoned()
	log.Warn("courier: message abandoned: "+why, attrs...)
	return result{log: log, out: &o}
}

// release is the outcome that gives a claimed, unattempted message back
// to the queue.
func (d *Dispatcher) release(m Message, token string) result {
	now := d.cfg.Now().UTC()
	return result{log: d.log.With("message_id", m.ID),
		out: &Outcome{MessageID: m.ID, ClaimToken: token, Status: StatusQueued, NextAttemptAt: now, Release: true, Now: now}}
}

// finish records an outcome, retrying database errors: a result that is
// not recorded means the mail is sent again once the claim goes stale.
// tried is the error of a first attempt already made (by
// Store.FinishAndClaim), nil when none was.
func (d *Dispatcher) finish(ctx context.Context, log *slog.Logger, o Outcome, tried error) {
	wait := d.cfg.RecordRetryBase
	for attempt := 0; ; attempt++ {
		err := tried
		if attempt > 0 || tried == nil {
			fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			err = d.cfg.Store.FinishMessage(fctx, o)
			cancel()
		}
		switch {
		case err == nil:
			return
		case errors.Is(err, ErrClaimLost) && attempt > 0:
			// Most likely the earlier try committed and only its answer was lost.
			log.Warn("courier: claim gone when retrying to record the delivery result; an earlier try probably recorded it", "status", o.Status)
			return
		case errors.Is(err, ErrClaimLost):
			log.Warn("courier: claim taken over before the result was recorded", "status", o.Status)
			return
		case attempt >= d.cfg.RecordRetries:
			log.Error("courier: record delivery result failed; the message will be tried again once its claim goes stale", "status", o.Status, "error", err)
			return
		}
		log.Warn("courier: record delivery result failed; retrying", "status", o.Status, "error", err, "retry_in", wait)
		time.Sleep(wait)
		wait = min(wait*2, 5*time.Second)
	}
}

// backoff is the delay after the n-th failed attempt.
func (d *Dispatcher) backoff(n int) time.Duration {
	delay := d.cfg.BackoffMax
	if n-1 < 32 {
		if b := d.cfg.BackoffBase << (n - 1); b > 0 && b < delay {
			delay = b
		}
	}
	half := delay / 2
	return half + rand.N(half+1)
}
