package courier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/rowid"
)

// Email is a mail a flow wants sent.
type Email struct {
	// To is the recipient address; Data.To defaults to it.
	To       string
	Template TemplateType
	Data     TemplateData
}

// DefaultMessageLifespan is how long a message is worth delivering when its
// template data does not say when its code or link expires.
const DefaultMessageLifespan = time.Hour

// ErrInvalidRecipient is returned by Enqueue for a missing or malformed
// recipient address.
var ErrInvalidRecipient = errors.New("courier: invalid recipient address")

// Queue is what flows call to send mail. It never talks to an SMTP server:
// it stores the message in the caller's transaction and wakes the
// dispatcher once that transaction commits.
type Queue struct {
	store     Store
	templates *Templates
	wake      func()
	now       func() time.Time
}

// NewQueue returns a queue writing to store. wake is called after the
// enqueuing transaction commits (usually Dispatcher.Wake); it may be nil
// when the dispatcher runs in another process.
func NewQueue(store Store, templates *Templates, wake func()) *Queue {
	return &Queue{store: store, templates: templates, wake: wake, now: time.Now}
}

// SetClock replaces the clock stamping new messages (tests).
func (q *Queue) SetClock(now func() time.Time) { q.now = now }

// Enqueue renders the subject and plaintext body of e, and stores the
// message as queued within the transaction carried by ctx (if any). The
// mail is written in the language chosen for it (language.go), which is
// stored with it. A missing or malformed recipient is an error, so the
// caller's request fails.
func (q *Queue) Enqueue(ctx context.Context, e Email) (uuid.UUID, error) {
	p, err := q.Prepare(ctx, e)
	if err != nil {
		return uuid.Nil, err
	}
	return p.ID, p.Enqueue(ctx)
}

// Prepared is a mail rendered, and its content sealed, ahead of the
// transaction that queues it (Queue.Prepare), so that the transaction
// holds the writer for one insert only.
type Prepared struct {
	// ID is the message's id.
	ID     uuid.UUID
	insert func(ctx context.Context) error
	q      *Queue
	// prep, when set, is the preparation m was claimed under (prepare.go):
	// once written, m is the preparing flight's to send. takeover: m
	// takes over the row of the internal message being prepared.
	prep     *preparation
	takeover bool
	m        Message
}

// Prepare does the work of Enqueue but the insert: it checks the
// recipient, renders the subject and plaintext body in the mail's
// language (chosen from ctx and e, as Enqueue does) and seals them.
func (q *Queue) Prepare(ctx context.Context, e Email) (*Prepared, error) {
	to := strings.TrimSpace(e.To)
	addr, err := mail.ParseAddress(to)
	if to == "" || err != nil || addr.Address != to {
		return nil, fmt.Errorf("%w: %q", ErrInvalidRecipient, to)
	}
	if e.Data.To == "" {
		e.Data.To = to
	}
	e.Data.localize(q.templates.words(q.templates.language(ctx, e.Data)))
	r, err := q.templates.renderStored(e.Template, e.Data)
	if err != nil {
		return nil, err
	}
	data, err := json.Marshal(e.Data)
	if err != nil {
		return nil, fmt.Errorf("courier: encode template data: %w", err)
	}
	now := q.now().UTC()
	lifespan := DefaultMessageLifespan
	if e.Data.ExpiresInMinutes > 0 {
		lifespan = time.Duration(e.Data.ExpiresInMinutes) * time.Minute
	}
	m := &Message{
		ID:            rowid.New(),
		Status:        StatusQueued,
		Type:          TypeEmail,
		Channel:       string(TypeEmail),
		Recipient:     to,
		Subject:       r.Subject,
		Body:          r.Text,
		TemplateType:  e.Template,
		TemplateData:  data,
		NextAttemptAt: now,
		ExpiresAt:     now.Add(lifespan),
		Priority:      PriorityOf(e.Template),
		CreatedAt:     now,
		UpdatedAt:     now,
	}
	p := &Prepared{q: q, prep: claimFor(ctx, e.Template)}
	if p.prep != nil && p.prep.claim(m) {
		p.takeover, p.insert = true, q.store.PrepareTakeover(m)
	} else {
		p.insert = q.store.PrepareInsert(m)
	}
	p.ID, p.m = m.ID, *m
	return p, nil
}

// Enqueue stores the prepared mail as queued in the transaction ctx
// carries and wakes the dispatcher once it commits. Run again (a
// transaction run again after a lost connection), it writes the same
// message. A mail prepared by a dispatcher's preparation is stored
// claimed instead, and the preparing slot sends it after the commit:
// nobody is woken.
func (p *Prepared) Enqueue(ctx context.Context) error {
	if err := p.insert(ctx); err != nil {
		return fmt.Errorf("courier: queue message: %w", err)
	}
	if p.prep != nil {
		p.prep.mails = append(p.prep.mails, p.m)
		p.prep.took = p.prep.took || p.takeover
		return nil
	}
	if p.q.wake != nil {
		p.q.store.AfterCommit(ctx, p.q.wake)
	}
	return nil
}

// IdentityData turns an identity (any value with the identity JSON shape,
// credentials left out by the caller) into the map templates expect, so
// {{ .Identity.traits.email }} uses the JSON field names.
func IdentityData(identity any) (map[string]any, error) {
	b, err := json.Marshal(identity)
	if err != nil {
		return nil, fmt.Errorf("courier: encode identity: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("courier: identity is not a JSON object: %w", err)
	}
	return m, nil
}
