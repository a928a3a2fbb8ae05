// Package lookup owns backup codes (Kratos's lookup_secret credential):
// making a set of twelve single-use codes, keeping them sealed in the
// identity's credential in Kratos's config shape, and spending one so
// that of two concurrent uses of a code exactly one wins.
//
// The settings, login and recovery flows use it (settings/lookup.go,
// login/lookup.go, recovery/lookup.go); none of them sees a code in clear
// except the one being typed or the set being shown to its owner.
package lookup

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/secret"
)

// Kratos's format: twelve codes of eight characters of [a-z0-9].
const (
	Count  = 12
	Length = 8
)

// Code is one backup code as Kratos's credential config stores it.
type Code struct {
	Code string `json:"code"`
	// UsedAt is when the code was spent; null while it is unused.
	UsedAt *time.Time `json:"used_at"`
}

// Set is the config of a lookup_secret credential:
// {"recovery_codes":[{"code":"…","used_at":null}]}.
type Set struct {
	RecoveryCodes []Code `json:"recovery_codes"`
}

// Generate makes a new set of Count distinct unused codes from crypto/rand.
func Generate() Set {
	seen := make(map[string]bool, Count)
	s := Set{RecoveryCodes: make([]Code, 0, Count)}
	for len(s.RecoveryCodes) < Count {
		c := secret.RandomLowerAlphanumeric(Length)
		if seen[c] {
			continue // 36^8 makes this all but impossible; distinct is the promise
		}
		seen[c] = true
		s.RecoveryCodes = append(s.RecoveryCodes, Code{Code: c})
	}
	return s
}

// Unused counts the codes not spent yet.
func (s Set) Unused() int {
	n := 0
	for _, c := range s.RecoveryCodes {
		if c.UsedAt == nil {
			n++
		}
	}
	return n
}

// Match is what comparing a typed code with a set found.
type Match int

// Outcomes of Set.Find and Spend.
const (
	// Invalid: no code of the set is the typed one.
	Invalid Match = iota
	// Used: the typed code was spent before.
	Used
	// Unused: the typed code may be spent.
	Unused
)

// Find compares typed with every code of the set in constant time (the
// whole set is compared whatever matched, so the time says nothing about
// which code or whether any did) and returns the index of the match.
func (s Set) Find(typed string) (int, Match) {
	idx, m := -1, Invalid
	for i, c := range s.RecoveryCodes {
		if secret.Equal(c.Code, typed) && idx < 0 {
			idx, m = i, Unused
			if c.UsedAt != nil {
				m = Used
			}
		}
	}
	return idx, m
}

// ErrNoCodes: the identity has no backup codes.
var ErrNoCodes = errors.New("lookup: identity has no backup codes")

// Seal is the stored config of a lookup_secret credential holding set,
// sealed to the identity.
func Seal(sealer identity.Sealer, identityID uuid.UUID, set Set) (json.RawMessage, error) {
	config, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("encode backup codes: %w", err)
	}
	return identity.SealConfig(sealer, identityID, identity.CredentialLookupSecret, config, nil)
}

// Open reads the set sealed in ident's lookup_secret credential and
// returns it with the stored config (the "old" of a compare-and-swap).
// ErrNoCodes when the identity has none.
func Open(sealer identity.Sealer, ident *identity.Identity) (Set, json.RawMessage, error) {
	cred, ok := ident.Credentials[identity.CredentialLookupSecret]
	if !ok || len(cred.Config) == 0 {
		return Set{}, nil, ErrNoCodes
	}
	config, _, err := identity.OpenConfig(sealer, ident.ID, identity.CredentialLookupSecret, cred.Config)
	if err != nil {
		return Set{}, nil, err
	}
	var set Set
	if err := json.Unmarshal(config, &set); err != nil {
		return Set{}, nil, fmt.Errorf("decode backup codes of identity %s: %w", ident.ID, err)
	}
	if len(set.RecoveryCodes) == 0 {
		return Set{}, nil, ErrNoCodes
	}
	return set, cred.Config, nil
}

// Credential is the lookup_secret credential of identityID holding set:
// its one identifier is the identity id, as in Kratos.
func Credential(sealer identity.Sealer, identityID uuid.UUID, set Set) (identity.Credential, error) {
	config, err := Seal(sealer, identityID, set)
	if err != nil {
		return identity.Credential{}, err
	}
	return identity.Credential{Type: identity.CredentialLookupSecret, Identifiers: []string{identityID.String()}, Config: config}, nil
}
