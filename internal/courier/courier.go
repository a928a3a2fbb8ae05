// Package courier owns outgoing email: the message queue kept in the
// database, the templates that render recovery and verification mails, the
// SMTP sender, the background dispatcher that delivers queued messages, and
// the admin API that lists them.
//
// # Life of a message
//
// A flow calls Queue.Enqueue inside its own transaction. The subject and the
// plaintext body are rendered at once, in the language chosen for the reader
// (language.go), and stored with the template data, which keeps that
// language for the HTML body and the Content-Language header (the
// Store encrypts all three at rest), an expiry (when the code or link dies)
// and a priority (PriorityOf: interactive for codes and links someone waits
// for, bulk for security notifications); the message is inserted with
// status "queued" and the dispatcher is woken when the transaction commits.
//
// The Dispatcher keeps up to Concurrency mails in flight and claims due
// messages whenever a slot is free, no more than there are free slots,
// interactive before bulk, oldest due first within a priority (flight.go).
// Several Latchkey instances may share one database: claims pick rows with
// FOR UPDATE SKIP LOCKED on PostgreSQL and MySQL; SQLite has one writer. All
// the messages a running dispatcher holds share one claim token, which a
// heartbeat renews while any is held; a slot that finishes a mail records
// its result and claims its next mail in one step (FinishAndClaim). The mail
// an internal message's preparation queues is inserted already claimed by
// the preparing flight and sent by the same slot once the preparation
// commits (prepare.go). The dispatcher renders the
// HTML body from the stored template data and hands the mail to a Sender;
// the SMTPSender sends it on a connection kept open from an earlier mail
// when it has one (smtpconn.go). Every attempt leaves a dispatch record. A
// failed attempt puts the message back to "queued", priority unchanged, with
// a capped exponential backoff until the message expires; then it is
// "abandoned", keeping the last error. A claim not renewed for the
// processing timeout (a killed process) is taken over. When a message
// becomes sent or abandoned its subject and body are replaced by their
// redacted forms and its template data dropped, in the same transaction. On
// shutdown the mails being sent finish and claimed ones not yet sent go back
// to the queue.
//
// # What the admin API shows
//
// Messages of the types that carry a live secret (recovery_code_valid,
// recovery_valid, verification_code_valid, verification_valid, and the
// security notifications with their lockdown link) are shown by
// GET /admin/courier/messages and GET /admin/courier/messages/{id} with the
// code or link replaced by "[redacted]" in subject and body, whatever their
// status. The dev mailbox (DevMailbox.Lister) shows the mails it delivered in
// full, from memory. Internal messages (prepare.go), which are work for the
// dispatcher rather than mail, are shown by neither.
//
// # What is logged
//
// Never bodies, codes or links. Delivery failures are logged with the
// message id and template type. Only the dev mailbox logs subject and
// recipient (a code mail's subject contains the code, which is the point of
// a development mailbox).
package courier

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/google/uuid"
)

// MessageStatus is where a message is in its life.
type MessageStatus string

// The statuses of a message, as Kratos names them.
const (
	StatusQueued     MessageStatus = "queued"
	StatusProcessing MessageStatus = "processing"
	StatusSent       MessageStatus = "sent"
	StatusAbandoned  MessageStatus = "abandoned"
)

// ParseMessageStatus checks s is one of the four statuses.
func ParseMessageStatus(s string) (MessageStatus, bool) {
	switch st := MessageStatus(s); st {
	case StatusQueued, StatusProcessing, StatusSent, StatusAbandoned:
		return st, true
	}
	return "", false
}

// MessageType is the channel kind of a message; Latchkey sends email only.
type MessageType string

// TypeEmail is the only message type Latchkey produces.
const TypeEmail MessageType = "email"

// DispatchStatus is the outcome of one delivery attempt.
type DispatchStatus string

// Outcomes of a delivery attempt.
const (
	DispatchSuccess DispatchStatus = "success"
	DispatchFailed  DispatchStatus = "failed"
)

// Message is one queued or delivered email. Its JSON form is the Kratos
// admin API message object; the fields tagged "-" are internal.
type Message struct {
	ID           uuid.UUID     `json:"id"`
	Status       MessageStatus `json:"status"`
	Type         MessageType   `json:"type"`
	Recipient    string        `json:"recipient"`
	Body         string        `json:"body"` // the plaintext body
	Subject      string        `json:"subject"`
	TemplateType TemplateType  `json:"template_type"`
	Channel      string        `json:"channel"`
	SendCount    int           `json:"send_count"`
	Dispatches   []Dispatch    `json:"dispatches,omitempty"`
	CreatedAt    time.Time     `json:"created_at"`
	UpdatedAt    time.Time     `json:"updated_at"`

	// TemplateData is the TemplateData the message was rendered from, as
	// JSON; the HTML body is rendered from it at delivery time.
	TemplateData json.RawMessage `json:"-"`
	// LastError is the error of the latest failed attempt.
	LastError string `json:"-"`
	// NextAttemptAt is when a queued message becomes due.
	NextAttemptAt time.Time `json:"-"`
	// ClaimedAt and ClaimedBy identify the dispatcher claim of a
	// processing message.
	ClaimedAt time.Time `json:"-"`
	ClaimedBy string    `json:"-"`
	// ExpiresAt is when the message stops being useful (its code or link
	// expires): failed deliveries are retried until then, not after.
	ExpiresAt time.Time `json:"-"`
	// Priority orders the claims (PriorityOf its template type).
	Priority Priority `json:"-"`
	// ContentError is set by a Store that could not decrypt the stored
	// subject, body and template data (a secrets.cipher key was removed);
	// they are then empty and the message cannot be delivered.
	ContentError error `json:"-"`
}

// Dispatch records one delivery attempt of a message.
type Dispatch struct {
	ID        uuid.UUID      `json:"id"`
	MessageID uuid.UUID      `json:"message_id"`
	Status    DispatchStatus `json:"status"`
	// Error is a JSON object {"message": "..."} on failed attempts.
	Error     json.RawMessage `json:"error,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// dispatchError is the JSON stored in Dispatch.Error.
func dispatchError(err error) json.RawMessage {
	b, _ := json.Marshal(map[string]string{"message": err.Error()})
	return b
}

// Errors of the courier.
var (
	// ErrMessageNotFound is returned by a Store for an unknown message id.
	ErrMessageNotFound = errors.New("courier: message not found")
	// ErrClaimLost is returned by Store.FinishMessage when the message is no
	// longer held by the claim (another dispatcher reclaimed it).
	ErrClaimLost = errors.New("courier: message claim lost")
	// ErrSMTPNotConfigured is the delivery error when no SMTP server is
	// configured and the dev mailbox is off (Kratos's wording).
	ErrSMTPNotConfigured = errors.New("Courier tried to deliver an email but courier.smtp.connection_uri is not set!")
)

// Claim asks a Store for a batch of messages to deliver.
type Claim struct {
	// Token identifies this claim; it is stored in claimed_by and must be
	// presented again to FinishMessage.
	Token string
	// Now is the claim time: queued messages with next_attempt_at <= Now are due.
	Now time.Time
	// StaleBefore: processing messages claimed before this time belong to a
	// dispatcher that died and are claimed again. Zero: the claim takes
	// due queued messages only (a running dispatcher looks for stale
	// claims once per PullWait, not at every claim).
	StaleBefore time.Time
	// Limit caps the number of messages claimed.
	Limit int
}

// Outcome is what a dispatcher reports about a claimed message.
type Outcome struct {
	MessageID  uuid.UUID
	ClaimToken string
	// Status is the new status: sent, queued (retry later) or abandoned.
	Status MessageStatus
	// NextAttemptAt is when a re-queued message becomes due.
	NextAttemptAt time.Time
	// LastError replaces the stored last error when not empty.
	LastError string
	// Dispatch is the attempt to record; nil when nothing was attempted.
	Dispatch *Dispatch
	// Release gives an unattempted message back: the send count the claim
	// added is taken back.
	Release bool
	// KeptSubject and KeptBody are what a sent or abandoned message keeps:
	// the Store replaces subject and body with them ("[redacted]" when
	// empty) and drops the template data, in the same transaction as the
	// status change, so no code or link outlives its delivery.
	KeptSubject, KeptBody string
	// Now stamps updated_at.
	Now time.Time
}

// MessageFilter selects messages for the admin list and the dev mailbox.
// Results are newest first (created_at, then id, descending). Internal
// messages (see InternalTemplateTypes) are never listed.
type MessageFilter struct {
	Status    MessageStatus // empty: any
	Recipient string        // empty: any; otherwise exact match
	// After continues a listing: only messages older than this position.
	After *Cursor
	// Limit caps the number of messages; 0 means no cap.
	Limit int
	// WithDispatches loads each message's dispatch records.
	WithDispatches bool
}

// Cursor is a position in the newest-first message order.
type Cursor struct {
	CreatedAt time.Time
	ID        uuid.UUID
}

// MailboxLister is what the built-in dev mailbox page needs: messages newest
// first, unredacted, with recipient, subject, plaintext body and creation time.
type MailboxLister interface {
	ListMessages(ctx context.Context, f MessageFilter) ([]Message, error)
}

// Store keeps messages and their dispatch records. sqlstore implements it.
// Every method joins the transaction carried by ctx, if any.
type Store interface {
	MailboxLister
	// InsertMessage stores a new message: queued, or already claimed
	// (status processing, with ClaimedAt, ClaimedBy and SendCount set as
	// a claim sets them: the mail a preparation enqueues, prepare.go).
	InsertMessage(ctx context.Context, m *Message) error
	// PrepareInsert is InsertMessage in two steps: the costly part
	// (sealing the content) now, the insert when the returned function is
	// called, in the transaction its ctx carries. It writes the same row
	// each time it is called (a transaction may be run again).
	PrepareInsert(m *Message) func(ctx context.Context) error
	// PrepareTakeover is PrepareInsert for a mail that replaces the
	// message whose row has its id: claimed by m.ClaimedBy on its first
	// claim (an internal message being prepared, so without dispatches).
	// The row becomes m, or the call fails with ErrClaimLost.
	PrepareTakeover(m *Message) func(ctx context.Context) error
	// ClaimMessages marks up to c.Limit due messages as processing under
	// c.Token, adds one to their send count and returns them, lowest
	// Priority first, then due queued messages (oldest due first) before
	// ones whose claim went stale (when c.StaleBefore is set). A message
	// is returned to at most one concurrent claimant.
	ClaimMessages(ctx context.Context, c Claim) ([]Message, error)
	// FinishMessage applies an outcome to a message still held by
	// o.ClaimToken, or returns ErrClaimLost.
	FinishMessage(ctx context.Context, o Outcome) error
	// FinishAndClaim is FinishMessage(o), then ClaimMessages(c): a
	// sending slot records its mail's result and takes its next mail.
	// recordErr is FinishMessage's error; unless it is nil or
	// ErrClaimLost nothing was claimed, and claimErr is the claim's. A
	// Store may run both in one transaction, where a failed claim undoes
	// the record (both errors are then the claim's).
	FinishAndClaim(ctx context.Context, o Outcome, c Claim) (msgs []Message, recordErr, claimErr error)
	// GetMessage returns a message with its dispatches, or ErrMessageNotFound.
	GetMessage(ctx context.Context, id uuid.UUID) (Message, error)
	// ExtendClaim moves claimed_at of the processing messages held by
	// token to now: the dispatcher's heartbeat, which keeps a live claim
	// from being taken for a stale one.
	ExtendClaim(ctx context.Context, token string, now time.Time) error
	// CountQueued counts messages waiting for delivery.
	CountQueued(ctx context.Context) (int, error)
	// OldestPendingSince is the creation time of the oldest queued or
	// processing message, or the zero time when there is none.
	OldestPendingSince(ctx context.Context) (time.Time, error)
	// AfterCommit runs fn once the transaction in ctx commits (at once
	// without a transaction).
	AfterCommit(ctx context.Context, fn func())
	// InTx runs fn in a transaction carried by the context fn gets (joining
	// the one in ctx, if any).
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
	// DeleteMessage removes message m if still held by claimToken, with
	// its dispatches, or returns ErrClaimLost (internal messages, once
	// prepared). m is the message as claimed: on its first claim
	// (SendCount 1) it has no dispatches to look for.
	DeleteMessage(ctx context.Context, m Message, claimToken string) error
}
