package verification

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// Secret is a verification code or link token as stored: only its keyed
// hash, bound to one flow and one verifiable address.
type Secret struct {
	ID         uuid.UUID
	FlowID     uuid.UUID
	IdentityID uuid.UUID
	AddressID  uuid.UUID
	Hash       string
	ExpiresAt  time.Time
	UsedAt     *time.Time
	CreatedAt  time.Time
}

// Address is a verifiable address as verification sees it.
type Address struct {
	ID         uuid.UUID
	IdentityID uuid.UUID
	Via        string
	Value      string
	Status     string
}

// Store persists verification codes and link tokens and moves addresses
// through their statuses. Every method joins the transaction carried by
// ctx; sqlstore.VerificationStore implements it.
type Store interface {
	CreateCode(ctx context.Context, c *Secret) error
	// FlowCodes returns every code of a flow (used or not).
	FlowCodes(ctx context.Context, flowID uuid.UUID) ([]Secret, error)
	// DeleteFlowCodes removes a flow's codes (a resend supersedes them).
	DeleteFlowCodes(ctx context.Context, flowID uuid.UUID) error
	// CopyCodes gives flow to the unused codes of flow from (a link
	// opened in another browser continues in a flow of its own).
	CopyCodes(ctx context.Context, from, to uuid.UUID) error
	// UseCode marks a code used unless it already was; false means another
	// submission used it first.
	UseCode(ctx context.Context, id uuid.UUID, at time.Time) (bool, error)

	CreateToken(ctx context.Context, t *Secret) error
	// FlowTokens returns every link token of a flow (used or not).
	FlowTokens(ctx context.Context, flowID uuid.UUID) ([]Secret, error)
	// UseToken is UseCode for link tokens.
	UseToken(ctx context.Context, id uuid.UUID, at time.Time) (bool, error)

	// FindAddress looks a verifiable address up by channel and normalised
	// value; storeerr.ErrNotFound when there is none.
	FindAddress(ctx context.Context, via, value string) (*Address, error)
	// MarkSent moves a pending address to "sent" (others keep their status).
	MarkSent(ctx context.Context, a *Address, at time.Time) error
	// MarkVerified sets the address verified, status completed, verified_at at.
	MarkVerified(ctx context.Context, a *Address, at time.Time) error
}
