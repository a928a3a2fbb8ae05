package lookup

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/storeerr"
)

// Identities is what spending a code needs of identity.Service.
type Identities interface {
	// Get loads an identity with its credentials.
	Get(ctx context.Context, id uuid.UUID) (*identity.Identity, error)
	// SwapCredentialConfig replaces a credential's config only if it is
	// still old (storeerr.ErrConflict otherwise).
	SwapCredentialConfig(ctx context.Context, id uuid.UUID, ct identity.CredentialType, old, next json.RawMessage) error
}

// Spender spends backup codes.
type Spender struct {
	Sealer     identity.Sealer
	Identities Identities
}

// maxSwaps bounds the retries when other codes of the same set are spent
// concurrently: each lost swap means another code was spent meanwhile,
// and a set has only Count of them.
const maxSwaps = Count + 1

// ErrChanged: the set changed between reading and writing it (another
// code was spent or the set replaced meanwhile).
var ErrChanged = errors.New("lookup: backup codes changed meanwhile")

// Spend marks typed as used at now in ident's backup codes, if it is one
// of them and unused. When another request changed the set first, the
// set is read again and typed checked again, so of two concurrent uses of
// one code exactly one is Unused (and spent) and the other Used.
// ErrNoCodes when ident has no codes.
func (s *Spender) Spend(ctx context.Context, ident *identity.Identity, typed string, now time.Time) (Match, error) {
	for range maxSwaps {
		m, err := s.SpendOnce(ctx, ident, typed, now)
		if !errors.Is(err, ErrChanged) {
			return m, err
		}
		if ident, err = s.Identities.Get(ctx, ident.ID); err != nil {
			return Invalid, err
		}
	}
	return Invalid, errors.New("lookup: backup codes kept changing while spending one")
}

// SpendOnce is one attempt of Spend against the set as ident holds it:
// ErrChanged when the stored set is no longer that one. Inside a
// transaction (where reading again may see the same snapshot) it is the
// one to use.
func (s *Spender) SpendOnce(ctx context.Context, ident *identity.Identity, typed string, now time.Time) (Match, error) {
	set, old, err := Open(s.Sealer, ident)
	if err != nil {
		return Invalid, err
	}
	i, m := set.Find(typed)
	if m != Unused {
		return m, nil
	}
	// Kratos stores the time to the second.
	at := now.UTC().Round(time.Second)
	set.RecoveryCodes[i].UsedAt = &at
	next, err := Seal(s.Sealer, ident.ID, set)
	if err != nil {
		return Invalid, err
	}
	err = s.Identities.SwapCredentialConfig(ctx, ident.ID, identity.CredentialLookupSecret, old, next)
	switch {
	case err == nil:
		return Unused, nil
	// identity's errors match storeerr's with errors.Is.
	case errors.Is(err, storeerr.ErrNotFound):
		return Invalid, ErrNoCodes // disabled meanwhile
	case errors.Is(err, storeerr.ErrConflict):
		return Invalid, ErrChanged
	}
	return Invalid, err
}
