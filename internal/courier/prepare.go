package courier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/rowid"
)

// Internal messages.
//
// A flow that must not reveal whether an address belongs to an account
// (recovery, verification) cannot decide on the request path which mail to send: the
// decision costs database work that only one of the answers needs, and an
// attacker can time it. Such a flow enqueues one internal message instead,
// identical for every address; the dispatcher hands it to the Preparer the
// flow registered, which does the lookup and enqueues the real mail.
//
// Internal messages are never sent, never listed by the admin API or the
// dev mailbox, and carry no secret: only what the request said. Their
// recipient column is empty, so the address lives only in the template
// data.

// TemplateRecoveryRequest is the internal message of a self-service
// recovery email submission. Its data is a recovery request (see
// internal/recovery); the recovery service prepares it.
const TemplateRecoveryRequest TemplateType = "recovery_request"

// TemplateVerificationRequest is the internal message of a verification
// email submission (see internal/verification), for the same reason.
const TemplateVerificationRequest TemplateType = "verification_request"

// InternalTemplateTypes are the template types of internal messages.
var InternalTemplateTypes = []TemplateType{TemplateRecoveryRequest, TemplateVerificationRequest}

// Internal reports whether messages of the type are internal: prepared by
// a flow at delivery time instead of being sent.
func (t TemplateType) Internal() bool {
	for _, it := range InternalTemplateTypes {
		if t == it {
			return true
		}
	}
	return false
}

// Preparer does the work an internal message stands for, in the
// transaction carried by ctx, usually by enqueueing the real mail through
// a Queue joined to that transaction. An error rolls the work back and the
// message is tried again later, as a failed send is.
type Preparer func(ctx context.Context, m Message) error

// SetPreparer registers p for the internal messages of template type tt.
// Call it before Run.
func (d *Dispatcher) SetPreparer(tt TemplateType, p Preparer) {
	if d.preparers == nil {
		d.preparers = map[TemplateType]Preparer{}
	}
	d.preparers[tt] = p
}

// prepare runs the preparer of a claimed internal message and removes the
// message in the same transaction, so it is prepared exactly once: if
// another dispatcher took over a stale claim, the removal finds the claim
// lost and the whole preparation rolls back.
//
// The interactive mail the preparer enqueues (the code someone waits
// for) is written already claimed by this flight (a preparation, below)
// and, once the transaction commits, returned in result.prepared for the
// same slot to send at once: no claim statement, no wake, no wait. The
// first such mail takes over the internal message's row, which is then
// one UPDATE instead of a DELETE and an INSERT.
func (d *Dispatcher) prepare(ctx context.Context, log *slog.Logger, m Message, token string) result {
	p := d.preparers[m.TemplateType]
	if p == nil {
		// Another instance may know the type (a rolling upgrade): retry.
		return d.failed(log, m, token, fmt.Errorf("courier: no preparer for internal message type %q", m.TemplateType))
	}
	prep := &preparation{token: token, now: d.cfg.Now().UTC()}
	err := d.cfg.Store.InTx(ctx, func(ctx context.Context) error {
		// A transaction run again enqueues again.
		prep.mails, prep.row, prep.took = nil, uuid.Nil, false
		if m.SendCount <= 1 {
			// Earlier attempts left dispatch records, which a mail must not inherit.
			prep.row = m.ID
		}
		if err := p(context.WithValue(ctx, preparationKey{}, prep), m); err != nil {
			return err
		}
		if prep.took {
			return nil
		}
		return d.cfg.Store.DeleteMessage(ctx, m, token)
	})
	switch {
	case err == nil:
		return result{log: log, prepared: prep.mails}
	case errors.Is(err, ErrClaimLost):
		log.Warn("courier: claim expired before the message was prepared; another dispatcher prepares it")
		return result{log: log}
	}
	return d.failed(log, m, token, err)
}

// A preparation is the claim of a flight preparing an internal message,
// carried by the context its Preparer gets. Queue.Prepare writes an
// interactive mail prepared under it as claimed by the flight (the row a
// claim would leave: processing, claimed_at, claimed_by, send count 1),
// and Prepared.Enqueue adds it to mails, which the flight holds and sends
// once the transaction commits. If it rolls back, the rows go with it and
// nothing is held. A flight dying after the commit leaves an ordinary
// claim, taken over once stale; bulk mail (notifications) is queued as
// usual, to wait its turn behind interactive mail.
type preparation struct {
	token string
	now   time.Time
	// row is the id of the internal message while its row is free for
	// the first mail to take over (uuid.Nil once given, or when it has
	// dispatch records); took: a mail enqueued has taken it.
	row  uuid.UUID
	took bool
	// mails are the messages written claimed, in the order enqueued.
	mails []Message
}

type preparationKey struct{}

// claimFor is the preparation carried by ctx when a mail of template
// type tt is to be inserted claimed under it; nil otherwise.
func claimFor(ctx context.Context, tt TemplateType) *preparation {
	prep, _ := ctx.Value(preparationKey{}).(*preparation)
	if prep == nil || PriorityOf(tt) != PriorityInteractive {
		return nil
	}
	return prep
}

// claim marks m as claimed by the preparation, as a claim would, and
// gives it the internal message's row if that is still free: it reports
// whether it did.
func (prep *preparation) claim(m *Message) (takeover bool) {
	m.Status, m.ClaimedAt, m.ClaimedBy, m.SendCount = StatusProcessing, prep.now, prep.token, 1
	if prep.row == uuid.Nil {
		return false
	}
	m.ID, prep.row = prep.row, uuid.Nil
	return true
}

// EnqueueInternal stores an internal message of type tt carrying data,
// within the transaction carried by ctx. It costs the same whatever data
// says: no rendering, one insert.
func (q *Queue) EnqueueInternal(ctx context.Context, tt TemplateType, data any) (uuid.UUID, error) {
	if !tt.Internal() {
		return uuid.Nil, fmt.Errorf("courier: %q is not an internal message type", tt)
	}
	b, err := json.Marshal(data)
	if err != nil {
		return uuid.Nil, fmt.Errorf("courier: encode internal message: %w", err)
	}
	now := q.now().UTC()
	m := &Message{
		ID: rowid.New(), Status: StatusQueued, Type: TypeEmail, Channel: string(TypeEmail),
		TemplateType: tt, TemplateData: b, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now,
		Priority: PriorityOf(tt),
	}
	if err := q.store.InsertMessage(ctx, m); err != nil {
		return uuid.Nil, fmt.Errorf("courier: queue message: %w", err)
	}
	if q.wake != nil {
		q.store.AfterCommit(ctx, func() {
			if !httpx.AfterResponse(ctx, q.wake) {
				time.AfterFunc(PrepareDelay, q.wake)
			}
		})
	}
	return m.ID, nil
}

// The dispatcher is woken for an internal message once the request that
// queued it has sent its answer, so that the preparation, whose work
// differs from one address to another, cannot delay that answer (measured
// with `latchkey bench --scenario enumeration`). Outside a request it is
// woken PrepareDelay after the commit.
const PrepareDelay = 50 * time.Millisecond
