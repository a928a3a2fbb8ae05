package flow

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// Record is a persisted self-service flow. Each flow package keeps its own
// typed flow in Data (as JSON) and the columns it needs to query or update
// atomically beside it.
type Record struct {
	ID         uuid.UUID
	Kind       string // "login", "registration", "recovery", "settings"
	Type       Type
	State      string
	IdentityID *uuid.UUID
	// CSRF is the fingerprint of the CSRF token the flow was rendered with
	// (empty for API flows and for flows the admin API created).
	CSRF        string
	Data        json.RawMessage
	Submissions int
	ExpiresAt   time.Time
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Stored is what every self-service flow keeps in Record.Data; a flow
// that keeps more embeds it (its keys stay first, in this order).
type Stored struct {
	IssuedAt   time.Time `json:"issued_at"`
	RequestURL string    `json:"request_url"`
	ReturnTo   string    `json:"return_to,omitempty"`
	UI         Container `json:"ui"`
}

// Store persists flows and browser errors.
type Store interface {
	CreateFlow(ctx context.Context, r *Record) error
	// GetFlow returns the flow of this kind, or sqlstore.ErrNotFound.
	GetFlow(ctx context.Context, kind string, id uuid.UUID) (*Record, error)
	// GetFlowStatus returns the state and expiry of the flow of this kind,
	// or sqlstore.ErrNotFound: a flow's status without decoding its data.
	GetFlowStatus(ctx context.Context, kind string, id uuid.UUID) (state string, expiresAt time.Time, err error)
	// UpdateFlow saves State, IdentityID, CSRF, Data and ExpiresAt.
	UpdateFlow(ctx context.Context, r *Record) error
	// IncrementSubmissions atomically counts one more submission and returns
	// the new count (safe under concurrent submissions).
	IncrementSubmissions(ctx context.Context, id uuid.UUID) (int, error)

	CreateError(ctx context.Context, id uuid.UUID, body json.RawMessage, at time.Time) error
	GetError(ctx context.Context, id uuid.UUID) (body json.RawMessage, createdAt time.Time, err error)
}

// Transactor runs fn in one database transaction carried by ctx; nested
// calls join it (sqlstore.DB implements it). Everything one submission
// changes commits together: flow, codes, mail, identity, session.
type Transactor interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
}
