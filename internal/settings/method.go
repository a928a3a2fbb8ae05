package settings

import (
	"context"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/identity"
)

// Method is a settings method with a group of its own beyond password and
// profile: totp and lookup_secret (and, later, webauthn and passkey). Each
// lives in its own file of this package.
type Method interface {
	flow.Method
	// Nodes are the method's group on a new flow for f.Identity, for the
	// state the identity is in (enrol or unlink, say). Secret material it
	// offers is sealed into f.Pending; img and text nodes are stored
	// empty and filled in by Show.
	Nodes(ctx context.Context, f *Flow) ([]flow.Node, error)
	// Show fills in the method's img and text nodes (from f.Pending or
	// f.Identity) before f is answered.
	Show(f *Flow)
	// Update applies a submission whose method field names this method,
	// with the service's checks (checkOrigin, checkPrivileged, reject,
	// succeed) at hand.
	Update(ctx context.Context, s *Service, f *Flow, sub submission) (*flow.Result, error)
}

// FactorCredentials is what the second-factor methods (totp,
// lookup_secret) need of identity.Service.
type FactorCredentials interface {
	Get(ctx context.Context, id uuid.UUID) (*identity.Identity, error)
	PutCredential(ctx context.Context, id uuid.UUID, c identity.Credential) error
	DeleteCredential(ctx context.Context, id uuid.UUID, ct identity.CredentialType) error
}
