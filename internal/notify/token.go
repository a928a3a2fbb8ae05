package notify

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/audit"
)

// tokenLength is the length of a lockdown token: 32 alphanumeric
// characters, about 190 bits.
const tokenLength = 32

// Token is a lockdown link token as stored: only its keyed hash, with the
// event it answers.
type Token struct {
	ID         uuid.UUID
	IdentityID uuid.UUID
	Hash       string
	// EventID, EventType and EventTime name the audit event the
	// notification was about.
	EventID   uuid.UUID
	EventType audit.Type
	EventTime time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
	CreatedAt time.Time
}

// Store keeps lockdown tokens; every method joins the transaction ctx
// carries. sqlstore.LockdownStore implements it.
type Store interface {
	CreateLockdownToken(ctx context.Context, t *Token) error
	// LockdownTokenByHash finds the token whose hash is any of hashes
	// (one per secrets.default key), or storeerr.ErrNotFound.
	LockdownTokenByHash(ctx context.Context, hashes []string) (*Token, error)
	// UseLockdownToken marks a token used unless it already was; false
	// means another request used it first.
	UseLockdownToken(ctx context.Context, id uuid.UUID, at time.Time) (bool, error)
}

// RecoverySecrets spends what could still recover the account
// (sqlstore.RecoveryStore).
type RecoverySecrets interface {
	// InvalidateIdentitySecrets marks every unused, unexpired recovery
	// code and link token of the identity used, and returns how many.
	InvalidateIdentitySecrets(ctx context.Context, identityID uuid.UUID, at time.Time) (int, error)
}
