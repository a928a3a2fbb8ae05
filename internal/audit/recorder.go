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

// Record appends e to the log in the transaction ctx carries, so the
// event commits or rolls back with the change it records, then lets the
// observers react in the same transaction. The actor, client IP and user
// agent are taken from the request ctx belongs to unless set.
func (r *Recorder) Record(ctx context.Context, e Event) error {
	if r == nil {
		return nil
	}
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
	fillFlow(ctx, &e)
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
	if err := r.Store.AppendEvent(ctx, &e); err != nil {
		return fmt.Errorf("audit: %s: %w", e.Type, err)
	}
	for _, o := range r.Observers {
		if err := o.Observe(ctx, &e); err != nil {
			return err
		}
	}
	if r.Counter != nil {
		r.Store.AfterCommit(ctx, func() { r.Counter.Count(&e) })
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
