package audit

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/httpx"
)

// Store appends to and reads the audit log. sqlstore.AuditStore
// implements it; every method joins the transaction ctx carries.
type Store interface {
	AppendEvent(ctx context.Context, e *Event) error
	ListEvents(ctx context.Context, f Filter) (events []Event, nextPageToken string, err error)
	// AfterCommit runs fn once ctx's transaction has committed (at once
	// outside a transaction).
	AfterCommit(ctx context.Context, fn func())
}

// Filter narrows a listing. Events come oldest first.
type Filter struct {
	IdentityID *uuid.UUID
	Types      []Type
	// Since and Until bound the event time (inclusive, exclusive); zero
	// means unbounded.
	Since, Until time.Time
	PageSize     int
	PageToken    string
}

// Observer reacts to recorded events inside the same transaction (the
// security notifications do): its error rolls the change back with the
// event.
type Observer interface {
	Observe(ctx context.Context, e *Event) error
}

// Counter counts committed events (the Prometheus metric).
type Counter interface {
	Count(e *Event)
}

// Recorder writes events. A nil *Recorder records nothing, so packages
// can be tested without one.
type Recorder struct {
	Store Store
	// Now is the clock (time.Now when nil).
	Now       func() time.Time
	Counter   Counter
	Observers []Observer
}

// Preparer is an Observer that can do the costly part of its work for
// an event (rendering and sealing a mail, hashing a token) before the
// event's transaction: Prepare returns the writes (nil: none), which
// Pending.Record runs in the transaction, so that the transaction holds
// its locks, and SQLite's one writer, for the inserts only. The writes
// must write the same each time they run: a transaction may be run again.
type Preparer interface {
	Observer
	// Prepare prepares the work of Observe for e. subject is the identity
	// e concerns as the caller read it (an *identity.Identity, public
	// view), or nil: the observer may use it rather than read it again.
	Prepare(ctx context.Context, e *Event, subject any) (func(ctx context.Context) error, error)
}

// Pending is an event prepared ahead of its transaction (Recorder.Prepare).
type Pending struct {
	r *Recorder
	e Event
	// writes has one entry per observer: what a Preparer prepared (nil:
	// nothing), or, for other observers, nil and Observe at Record.
	writes   []func(ctx context.Context) error
	prepared []bool
}

// Record appends e to the log in the transaction ctx carries, so the
// event commits or rolls back with the change it records, then lets the
// observers react in the same transaction. The actor, client IP and user
// agent are taken from the request ctx belongs to unless set.
func (r *Recorder) Record(ctx context.Context, e Event) error {
	if r == nil {
		return nil
	}
	if err := r.complete(ctx, &e); err != nil {
		return err
	}
	return r.write(ctx, &e, func(ctx context.Context, _ int, o Observer) error { return o.Observe(ctx, &e) })
}

// Prepare is the part of Record that can be done before the transaction:
// it completes e as Record does and lets the observers that are
// Preparers do their costly work now. Pending.Record writes the event,
// and what they prepared, in the transaction. Record and Prepare give the
// observers the same event.
func (r *Recorder) Prepare(ctx context.Context, e Event, subject any) (*Pending, error) {
	if r == nil {
		return &Pending{}, nil
	}
	if err := r.complete(ctx, &e); err != nil {
		return nil, err
	}
	p := &Pending{r: r, e: e, writes: make([]func(context.Context) error, len(r.Observers)), prepared: make([]bool, len(r.Observers))}
	for i, o := range r.Observers {
		if pr, ok := o.(Preparer); ok {
			w, err := pr.Prepare(ctx, &p.e, subject)
			if err != nil {
				return nil, err
			}
			p.writes[i], p.prepared[i] = w, true
		}
	}
	return p, nil
}

// Record writes the prepared event, and what its observers prepared, in
// the transaction ctx carries; observers that prepared nothing observe
// it now, as with Recorder.Record. It may run more than once (a
// transaction run again) and writes the same each time.
func (p *Pending) Record(ctx context.Context) error {
	if p.r == nil {
		return nil
	}
	e := p.e // the store and observers get their own copy each run
	return p.r.write(ctx, &e, func(ctx context.Context, i int, o Observer) error {
		switch {
		case !p.prepared[i]:
			return o.Observe(ctx, &e)
		case p.writes[i] != nil:
			return p.writes[i](ctx)
		}
		return nil
	})
}

// complete fills in what e leaves to the recorder: id, time, flow,
// actor, client, and the cut of over-long text.
func (r *Recorder) complete(ctx context.Context, e *Event) error {
	if e.ID == uuid.Nil {
		id, err := uuid.NewV7()
		if err != nil {
			return fmt.Errorf("audit: event id: %w", err)
		}
		e.ID = id
	}
	if e.Time.IsZero() {
		e.Time = r.now()
	}
	fillFlow(ctx, e)
	o := httpx.OriginOf(ctx)
	if e.Actor == "" {
		switch {
		case !o.Known:
			e.Actor = ActorSystem
		case o.Admin:
			e.Actor = ActorAdmin
		default:
			e.Actor = ActorSelf
		}
	}
	if e.ClientIP == "" {
		e.ClientIP = o.IP
	}
	if e.UserAgent == "" {
		e.UserAgent = o.UserAgent
	}
	e.UserAgent = truncate(e.UserAgent, MaxUserAgent)
	e.Reason = truncate(e.Reason, MaxReason)
	if e.Result == "" {
		e.Result = ResultSuccess
	}
	return nil
}

// write appends the completed e and runs each observer's part through
// observe, in the transaction ctx carries.
func (r *Recorder) write(ctx context.Context, e *Event, observe func(ctx context.Context, i int, o Observer) error) error {
	if err := r.Store.AppendEvent(ctx, e); err != nil {
		return fmt.Errorf("audit: %s: %w", e.Type, err)
	}
	for i, o := range r.Observers {
		if err := observe(ctx, i, o); err != nil {
			return err
		}
	}
	if r.Counter != nil {
		r.Store.AfterCommit(ctx, func() { r.Counter.Count(e) })
	}
	return nil
}

func (r *Recorder) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
