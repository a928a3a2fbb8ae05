package courier

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
)

// A flight is the mail a dispatcher has claimed and not finished: every
// message in it was claimed under the flight's one token, so a single
// heartbeat (ExtendClaim of that token) renews the claim of each of them,
// whenever it was claimed and however long its send takes.
type flight struct {
	d     *Dispatcher
	token string
	// bg outlives the caller's context: results are recorded, and the
	// claim renewed, even after shutdown began (a mail that went out must
	// be marked sent).
	bg context.Context
	// chain: a slot that finished a mail claims its next one as it
	// records the result (Run; a batch claims once).
	chain bool
	// slots lets Concurrency messages be delivered at once.
	slots chan struct{}
	// landed gets a value (if it has room) each time a slot is freed.
	landed        chan struct{}
	wg            sync.WaitGroup
	stopHeartbeat func()

	mu   sync.Mutex
	held map[uuid.UUID]bool // claimed, not finished
	// retryAt is the earliest next attempt of a message of ours that
	// failed since the last claim (zero: none).
	retryAt time.Time
	// staleLook is when a claim last looked for stale claims (wall
	// clock, as PullWait is).
	staleLook time.Time
}

// newFlight starts an empty flight with its heartbeat.
func (d *Dispatcher) newFlight(ctx context.Context, chain bool) *flight {
	f := &flight{
		d:      d,
		token:  uuid.NewString(),
		bg:     context.WithoutCancel(ctx),
		chain:  chain,
		slots:  make(chan struct{}, d.cfg.Concurrency),
		landed: make(chan struct{}, 1),
		held:   map[uuid.UUID]bool{},
	}
	f.stopHeartbeat = d.startHeartbeat(f.bg, f.token, func() bool { return f.size() > 0 })
	return f
}

// newClaim is a claim of up to limit messages under the flight's token.
// It looks for stale claims (a dead dispatcher's) at the flight's first
// claim and then at most once per PullWait: a claim goes stale only after
// ProcessingTimeout, so looking at every claim, about once per mail sent,
// would cost a query each for nothing.
func (f *flight) newClaim(limit int) Claim {
	d := f.d
	now := d.cfg.Now().UTC()
	c := Claim{Token: f.token, Now: now, Limit: limit}
	f.mu.Lock()
	if wall := time.Now(); wall.Sub(f.staleLook) >= d.cfg.PullWait {
		f.staleLook = wall
		c.StaleBefore = now.Add(-d.cfg.ProcessingTimeout)
	}
	f.mu.Unlock()
	return c
}

// claimed notes that a claim at now looked for due mail: a retry of ours
// due by then was its to take.
func (f *flight) claimed(now time.Time) {
	f.mu.Lock()
	if !f.retryAt.After(now) {
		f.retryAt = time.Time{}
	}
	f.mu.Unlock()
}

// claim claims up to limit due messages and starts delivering them. It
// returns how many it claimed.
func (f *flight) claim(ctx context.Context, limit int) (int, error) {
	c := f.newClaim(limit)
	msgs, err := f.d.cfg.Store.ClaimMessages(ctx, c)
	if err != nil {
		return 0, fmt.Errorf("claim messages: %w", err)
	}
	f.claimed(c.Now)
	for _, m := range msgs {
		f.start(ctx, m)
	}
	return len(msgs), nil
}

// hold adds m to the flight, unless it holds m already: our own claim of
// it looked stale (the heartbeat could not reach the database for
// ProcessingTimeout) and a claim took it again under the same token. It
// is being sent already, and that send's result still matches the claim.
func (f *flight) hold(m Message) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.held[m.ID] {
		return false
	}
	f.held[m.ID] = true
	return true
}

// start delivers m in the background once a slot is free, then the mails
// its preparation enqueued (an internal message: prepare.go), then, while
// the flight chains, the messages its slot claims as it records each
// result. If ctx is done by then, a message goes back to the queue
// unattempted.
func (f *flight) start(ctx context.Context, m Message) {
	if !f.hold(m) {
		return
	}
	f.wg.Go(func() {
		f.slots <- struct{}{}
		next := []Message{m}
		for len(next) > 0 {
			m := next[0]
			next = next[1:]
			var r result
			if ctx.Err() != nil {
				r = f.d.release(m, f.token)
			} else {
				r = f.d.deliver(f.bg, m, f.token)
			}
			// Held before m is let go, so the heartbeat never skips them. A
			// mail that took over m's row keeps m's hold.
			tookOver := false
			for _, p := range r.prepared {
				if p.ID == m.ID {
					tookOver = true
					next = append(next, p)
				} else if f.hold(p) {
					next = append(next, p)
				}
			}
			// The slot claims its next mail only when it has none left.
			claimed, ok := f.record(ctx, r, len(next) == 0)
			f.mu.Lock()
			if !tookOver {
				delete(f.held, m.ID)
			}
			if !r.due.IsZero() && (f.retryAt.IsZero() || r.due.Before(f.retryAt)) {
				f.retryAt = r.due
			}
			f.mu.Unlock()
			if ok {
				next = append(next, claimed)
			}
		}
		<-f.slots
		select {
		case f.landed <- struct{}{}:
		default:
		}
	})
}

// record records r's outcome. While the flight chains, ctx is live, the
// slot wants another mail (want) and mail may be due (dueState), it claims
// the slot's next message in the same step (Store.FinishAndClaim: on
// SQLite and MySQL one transaction, one commit, where the claim after the
// slot landed would be another) and returns it, already held.
func (f *flight) record(ctx context.Context, r result, want bool) (Message, bool) {
	if r.out == nil {
		return Message{}, false
	}
	gen, mayBeDue := f.d.due.mayBeDue()
	if !f.chain || !want || !mayBeDue || ctx.Err() != nil {
		f.d.finish(f.bg, r.log, *r.out, nil)
		return Message{}, false
	}
	c := f.newClaim(1)
	fctx, cancel := context.WithTimeout(f.bg, 30*time.Second)
	msgs, recordErr, claimErr := f.d.cfg.Store.FinishAndClaim(fctx, *r.out, c)
	cancel()
	switch {
	case errors.Is(recordErr, ErrClaimLost):
		r.log.Warn("courier: claim taken over before the result was recorded", "status", r.out.Status)
	case recordErr != nil:
		// Nothing was recorded, nor claimed: record it on its own, with
		// the retries that deserves.
		f.d.finish(f.bg, r.log, *r.out, recordErr)
		return Message{}, false
	}
	if claimErr != nil {
		f.d.log.Error("courier: dispatch failed", "error", fmt.Errorf("claim messages: %w", claimErr))
		return Message{}, false
	}
	f.claimed(c.Now)
	f.d.due.found(gen, len(msgs), 1)
	for _, m := range msgs {
		if f.hold(m) {
			return m, true
		}
	}
	return Message{}, false
}

// size is how many messages the flight holds.
func (f *flight) size() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.held)
}

// nextRetry is the earliest next attempt of a message that failed since
// the last claim (zero: none).
func (f *flight) nextRetry() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.retryAt
}

// wait waits for every message of the flight to be finished (sent,
// re-queued, abandoned or released) and stops the heartbeat.
func (f *flight) wait() {
	f.wg.Wait()
	f.stopHeartbeat()
}
