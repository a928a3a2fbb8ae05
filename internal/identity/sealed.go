package identity

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
)

// Credential types of the second factors.
const (
	CredentialTOTP         CredentialType = "totp"
	CredentialLookupSecret CredentialType = "lookup_secret"
)

// Sealer encrypts what a credential keeps that could be used to sign in
// (a TOTP secret, backup codes): *secret.Cipher, keyed by secrets.cipher.
type Sealer interface {
	Seal(plaintext, additionalData []byte) string
	Open(sealed string, additionalData []byte) ([]byte, error)
}

// sealedConfig is the stored config of a sealed credential. Plain holds
// what may be read without the key (Kratos keeps everything in plain
// JSON; Latchkey keeps nothing usable there).
type sealedConfig struct {
	Sealed string          `json:"sealed"`
	Plain  json.RawMessage `json:"plain,omitempty"`
}

// ErrNotSealed: a credential config that should be sealed is not.
var ErrNotSealed = errors.New("identity: credential config is not sealed")

// SealConfig is the stored form of a credential config: config (in
// Kratos's shape, e.g. {"totp_url":"otpauth://…"}) encrypted and bound to
// this identity and credential type, so it cannot be moved to another
// identity and still open. plain (may be nil) is kept readable beside it.
func SealConfig(s Sealer, identityID uuid.UUID, ct CredentialType, config, plain json.RawMessage) (json.RawMessage, error) {
	return json.Marshal(sealedConfig{Sealed: s.Seal(config, sealingContext(identityID, ct)), Plain: plain})
}

// OpenConfig returns the Kratos-shaped config sealed in stored and the
// readable part kept beside it. A config written before it was sealed
// (say, imported from Kratos) is ErrNotSealed.
func OpenConfig(s Sealer, identityID uuid.UUID, ct CredentialType, stored json.RawMessage) (config, plain json.RawMessage, err error) {
	var sc sealedConfig
	if err := json.Unmarshal(stored, &sc); err != nil || sc.Sealed == "" {
		return nil, nil, ErrNotSealed
	}
	config, err = s.Open(sc.Sealed, sealingContext(identityID, ct))
	if err != nil {
		return nil, nil, fmt.Errorf("open %s credential of identity %s: %w", ct, identityID, err)
	}
	return config, sc.Plain, nil
}

// sealingContext is the additional data a credential config is sealed with.
func sealingContext(identityID uuid.UUID, ct CredentialType) []byte {
	return []byte("identity_credentials.config\x00" + identityID.String() + "\x00" + string(ct))
}
