package totp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/storeerr"
)

// config is the totp credential config in Kratos's shape; it is stored
// sealed (identity.SealConfig), so the admin API and a Kratos import see
// the same JSON.
type config struct {
	TOTPURL string `json:"totp_url"`
}

// state is what the credential keeps readable beside the sealed config:
// the last time step a code was accepted for, which reveals nothing
// usable.
type state struct {
	LastStep int64 `json:"last_step"`
}

// Credential is the stored totp credential of identityID for key, whose
// code for step was just accepted (enrolling proves the app works), with
// the identity id as its identifier, as in Kratos.
func Credential(s identity.Sealer, identityID uuid.UUID, key Key, step int64) (identity.Credential, error) {
	stored, err := seal(s, identityID, key, step)
	if err != nil {
		return identity.Credential{}, err
	}
	return identity.Credential{Type: identity.CredentialTOTP, Identifiers: []string{identityID.String()}, Config: stored}, nil
}

func seal(s identity.Sealer, identityID uuid.UUID, key Key, step int64) (json.RawMessage, error) {
	cfg, err := json.Marshal(config{TOTPURL: key.URL()})
	if err != nil {
		return nil, err
	}
	plain, err := json.Marshal(state{LastStep: step})
	if err != nil {
		return nil, err
	}
	return identity.SealConfig(s, identityID, identity.CredentialTOTP, cfg, plain)
}

// open reads the key and the last accepted step from a stored config.
func open(s identity.Sealer, identityID uuid.UUID, stored json.RawMessage) (Key, int64, error) {
	raw, plain, err := identity.OpenConfig(s, identityID, identity.CredentialTOTP, stored)
	if err != nil {
		return Key{}, 0, err
	}
	var c config
	if err := json.Unmarshal(raw, &c); err != nil {
		return Key{}, 0, fmt.Errorf("totp credential of identity %s: %w", identityID, err)
	}
	key, err := Parse(c.TOTPURL)
	if err != nil {
		return Key{}, 0, fmt.Errorf("totp credential of identity %s: %w", identityID, err)
	}
	var st state
	if len(plain) > 0 {
		if err := json.Unmarshal(plain, &st); err != nil {
			return Key{}, 0, fmt.Errorf("totp credential of identity %s: %w", identityID, err)
		}
	}
	return key, st.LastStep, nil
}

// Swapper replaces a credential config only if it is still the one read
// (identity.Service.SwapCredentialConfig).
type Swapper interface {
	SwapCredentialConfig(ctx context.Context, id uuid.UUID, ct identity.CredentialType, old, next json.RawMessage) error
}

// Verifier checks codes against identities' stored totp credentials.
type Verifier struct {
	Sealer      identity.Sealer
	Credentials Swapper
	Now         func() time.Time
}

// ErrNoCredential: the identity has no totp credential.
var ErrNoCredential = errors.New("totp: identity has no totp credential")

// Use accepts code for ident (loaded with its credentials) once: the
// code's time step is recorded in the credential by compare-and-swap, so
// of two submissions of one code, even concurrent ones, at most one is
// accepted. It reports false for a wrong, expired or used code.
func (v *Verifier) Use(ctx context.Context, ident *identity.Identity, code string) (bool, error) {
	cred, ok := ident.Credentials[identity.CredentialTOTP]
	if !ok {
		return false, ErrNoCredential
	}
	key, last, err := open(v.Sealer, ident.ID, cred.Config)
	if err != nil {
		return false, err
	}
	step, ok := key.Match(code, v.Now(), last)
	if !ok {
		return false, nil
	}
	next, err := seal(v.Sealer, ident.ID, key, step)
	if err != nil {
		return false, err
	}
	err = v.Credentials.SwapCredentialConfig(ctx, ident.ID, identity.CredentialTOTP, cred.Config, next)
	switch {
	case errors.Is(err, storeerr.ErrConflict), errors.Is(err, storeerr.ErrNotFound):
		// Another submission used a code first, or the factor was removed.
		return false, nil
	case err != nil:
		return false, fmt.Errorf("spend totp step: %w", err)
	}
	return true, nil
}
