package identity

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// Store persists identities. Writes of one identity (row, credentials,
// identifiers, addresses) are atomic; InTx lets the service group a read
// and a write, and joins a transaction already carried by ctx. Missing rows
// are storeerr.ErrNotFound, unique violations storeerr.ErrConflict.
type Store interface {
	// InTx runs fn in one transaction (joining the one in ctx, if any).
	InTx(ctx context.Context, fn func(ctx context.Context) error) error

	// CreateIdentity inserts the identity with its credentials, identifiers
	// and addresses, using the ids and timestamps it carries.
	CreateIdentity(ctx context.Context, i *Identity) error
	// CreateIdentitiesSkippingConflicts inserts the identities in one
	// transaction, leaving out each one that conflicts with a stored
	// identity or an earlier one of the list: conflicts[n] is
	// storeerr.ErrConflict for such a list[n], nil when it was written.
	// err is any other failure, which writes nothing.
	CreateIdentitiesSkippingConflicts(ctx context.Context, list []*Identity) (conflicts []error, err error)
	// UpdateIdentity saves the identity row and brings credentials,
	// identifiers and addresses in line with i: rows whose id is kept are
	// updated in place, others are deleted or inserted.
	UpdateIdentity(ctx context.Context, i *Identity) error
	// GetIdentity loads an identity; withCredentials=false skips the
	// credential queries (sessions only need the public view).
	GetIdentity(ctx context.Context, id uuid.UUID, withCredentials bool) (*Identity, error)
	// DeleteIdentity deletes the identity; everything that references it
	// goes with it (ON DELETE CASCADE).
	DeleteIdentity(ctx context.Context, id uuid.UUID) error
	// ListIdentities returns up to q.Limit identities ordered by
	// (created_at, id), each fully loaded.
	ListIdentities(ctx context.Context, q ListQuery) ([]*Identity, error)

	// FindIdentityByIdentifier loads the identity (with credentials) owning
	// a credential identifier (already normalised).
	FindIdentityByIdentifier(ctx context.Context, ct CredentialType, identifier string) (*Identity, error)
	// FindRecoveryAddress finds a recovery address by channel and
	// (normalised) value, returning it with the identity owning it
	// (credentials included).
	FindRecoveryAddress(ctx context.Context, via, value string) (*RecoveryAddress, *Identity, error)
	// MarkAddressVerified sets the identity's verifiable address (via,
	// value) to verified/completed at the given time.
	MarkAddressVerified(ctx context.Context, identityID uuid.UUID, via, value string, at time.Time) error
	// SetCredentialConfig replaces (or creates) the config of one credential
	// of the identity, keeping its identifiers, and bumps updated_at.
	SetCredentialConfig(ctx context.Context, identityID uuid.UUID, ct CredentialType, config json.RawMessage, at time.Time) error
	// PutCredential creates the identity's credential of c.Type or
	// replaces its config and identifiers (c.UpdatedAt is the time).
	PutCredential(ctx context.Context, identityID uuid.UUID, c Credential) error
	// SwapCredentialConfig sets the config of the credential of type ct to
	// next only if it is still old: storeerr.ErrConflict when it changed
	// meanwhile (a single-use secret was spent concurrently),
	// storeerr.ErrNotFound when there is no such credential.
	SwapCredentialConfig(ctx context.Context, identityID uuid.UUID, ct CredentialType, old, next json.RawMessage, at time.Time) error
	// DeleteCredential removes the credential of type ct and its
	// identifiers; storeerr.ErrNotFound when there is none.
	DeleteCredential(ctx context.Context, identityID uuid.UUID, ct CredentialType, at time.Time) error
}

// ListQuery selects a page of identities for Store.ListIdentities.
type ListQuery struct {
	// Limit is the maximum number of identities returned.
	Limit int
	// After is the keyset cursor: only identities strictly after it in
	// (created_at, id) order. Nil starts at the beginning.
	After *Cursor
	// Identifier keeps identities owning this credential identifier
	// (exact, already normalised); "" for all.
	Identifier string
	// IDs keeps only these identities; nil for all.
	IDs []uuid.UUID
	// WithCredentials loads credentials too.
	WithCredentials bool
}

// Cursor is a position in the (created_at, id) order of identities.
type Cursor struct {
	CreatedAt time.Time
	ID        uuid.UUID
}
