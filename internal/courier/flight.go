package courier

import (
	"context"
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
	// slots lets Concurrency messages be delivered at once.
	slots chan struct{}
	// landed gets a value (if it has room) each time a message finishes.
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
func (d *Dispatcher) newFlight(ctx context.Context) *flight {
	f := &flight{
		d:      d,
		token:  uuid.NewString(),
		bg:     context.WithoutCancel(ctx),
		slots:  make(chan struct{}, d.cfg.Concurrency),
		landed: make(chan struct{}, 1),
		held:   map[uuid.UUID]bool{},
	}
	f.stopHeartbeat = d.startHeartbeat(f.bg, f.token, func() bool { return f.size() > 0 })
	return f
}

// claim claims up to limit due messages and starts delivering them. It
// returns how many it claimed.
//
// It looks for stale claims (a dead dispatcher's) at its first claim and
// then at most once per PullWait: a claim goes stale only after
// ProcessingTimeout, so looking at every claim, about once per mail sent,
// would cost a query each for nothing.
func (f *flight) claim(ctx context.Context, limit int) (int, error) {
	d := f.d
	now := d.cfg.Now().UTC()
	c := Claim{Token: f.token, Now: now, Limit: limit}
	if wall := time.Now(); wall.Sub(f.staleLook) >= d.cfg.PullWait {
		f.staleLook = wall
		c.StaleBefore = now.Add(-d.cfg.ProcessingTimeout)
	}
	msgs, err := d.cfg.Store.ClaimMessages(ctx, c)
	if err != nil {
		return 0, fmt.Errorf("claim messages: %w", err)
	}
	f.mu.Lock()
	if !f.retryAt.After(now) {
		f.retryAt = time.Time{} // this claim looked for it
	}
	f.mu.Unlock()
	for _, m := range msgs {
		f.start(ctx, m)
	}
	return len(msgs), nil
}

// start delivers m in the background once a slot is free. If ctx is done
// by then, m goes back to the queue unattempted.
func (f *flight) start(ctx context.Context, m Message) {
	f.mu.Lock()
	if f.held[m.ID] {
		// Our own claim of it looked stale (the heartbeat could not reach
		// the database for ProcessingTimeout) and this claim took it again
		// under the same token: it is being sent already, and that send's
		// result still matches the claim.
		f.mu.Unlock()
		return
	}
	f.held[m.ID] = true
	f.mu.Unlock()
	f.wg.Go(func() {
		f.slots <- struct{}{}
		var due time.Time
		if ctx.Err() != nil {
			f.d.release(f.bg, m, f.token)
		} else {
			due = f.d.deliver(f.bg, m, f.token)
		}
		<-f.slots
		f.mu.Lock()
		delete(f.held, m.ID)
		if !due.IsZero() && (f.retryAt.IsZero() || due.Before(f.retryAt)) {
			f.retryAt = due
		}
		f.mu.Unlock()
		select {
		case f.landed <- struct{}{}:
		default:
		}
	})
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
