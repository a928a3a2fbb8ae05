package recovery

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// Kind says who issued a code or link token.
type Kind string

// Kinds of codes and link tokens.
const (
	// KindSelf: sent by email after a self-service email submission. Using
	// it proves control of the address, which is then marked verified.
	KindSelf Kind = "self"
	// KindAdmin: created by the admin API; proves nothing about an address.
	KindAdmin Kind = "admin"
)

// Secret is a recovery code or link token as stored: only its keyed hash,
// bound to one flow and one identity.
type Secret struct {
	ID         uuid.UUID
	FlowID     uuid.UUID
	IdentityID uuid.UUID
	// AddressID is the recovery address the secret was mailed to (nil for
	// admin-issued secrets, or once that address was removed).
	AddressID *uuid.UUID
	Hash      string
	Kind      Kind
	ExpiresAt time.Time
	UsedAt    *time.Time
	CreatedAt time.Time
}

// Store persists recovery codes and link tokens. Every
// method joins the transaction carried by ctx. sqlstore.RecoveryStore
// implements it.
type Store interface {
	CreateCode(ctx context.Context, c *Secret) error
	// CreateCodeAsOf inserts a code only while its identity is as the
	// caller read it outside the transaction: its updated_at, which every
	// change of its traits and recovery addresses moves, still asOf. False,
	// with nothing written, when it changed or was deleted since.
	CreateCodeAsOf(ctx context.Context, c *Secret, asOf time.Time) (bool, error)
	// FlowCodes returns every code of a flow (used or not).
	FlowCodes(ctx context.Context, flowID uuid.UUID) ([]Secret, error)
	// CountCodeSubmission counts one more submission of the flow, as
	// flow.Store's IncrementSubmissions does (the flow's row lock orders
	// concurrent submissions), and returns the new count with the flow's
	// codes, as FlowCodes; storeerr.ErrNotFound when the flow is gone.
	CountCodeSubmission(ctx context.Context, flowID uuid.UUID) (int, []Secret, error)
	// DeleteFlowCodes removes a flow's codes (a resend supersedes them).
	DeleteFlowCodes(ctx context.Context, flowID uuid.UUID) error
	// UseCode marks a code used unless it already was; false means another
	// submission used it first.
	UseCode(ctx context.Context, id uuid.UUID, at time.Time) (bool, error)

	CreateToken(ctx context.Context, t *Secret) error
	// CreateTokenAsOf is CreateCodeAsOf for a link token.
	CreateTokenAsOf(ctx context.Context, t *Secret, asOf time.Time) (bool, error)
	// FlowTokens returns every link token of a flow (used or not).
	FlowTokens(ctx context.Context, flowID uuid.UUID) ([]Secret, error)
	// UseToken marks a token used unless it already was.
	UseToken(ctx context.Context, id uuid.UUID, at time.Time) (bool, error)
}
