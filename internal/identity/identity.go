// Package identity owns identities: their traits validated against identity
// schemas, credentials, recovery and verifiable addresses derived from the
// schema's "ory.sh/kratos" extension, and the admin identity API.
package identity

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// State of an identity. Inactive identities cannot get sessions.
type State string

// Identity states.
const (
	StateActive   State = "active"
	StateInactive State = "inactive"
)

// CredentialType names a way to authenticate.
type CredentialType string

// Credential types Latchkey implements.
const (
	CredentialPassword CredentialType = "password"
)

// Identity is a person or machine that can authenticate.
type Identity struct {
	ID                  uuid.UUID
	ExternalID          string
	SchemaID            string
	State               State
	StateChangedAt      *time.Time
	Traits              json.RawMessage
	Credentials         map[CredentialType]Credential
	VerifiableAddresses []VerifiableAddress
	RecoveryAddresses   []RecoveryAddress
	MetadataPublic      json.RawMessage
	MetadataAdmin       json.RawMessage
	CreatedAt           time.Time
	UpdatedAt           time.Time
}

// Credential is one way to authenticate, e.g. a password.
type Credential struct {
	ID          uuid.UUID
	Type        CredentialType
	Identifiers []string
	// Config is the credential's secret material, e.g. {"hashed_password":"$2a$…"}.
	Config    json.RawMessage
	Version   int
	CreatedAt time.Time
	UpdatedAt time.Time
}

// PasswordConfig is the stored config of a password credential.
type PasswordConfig struct {
	HashedPassword string `json:"hashed_password"`
}

// HashedPassword returns the stored password hash, or "" when the identity
// has no password.
func (i *Identity) HashedPassword() string {
	c, ok := i.Credentials[CredentialPassword]
	if !ok {
		return ""
	}
	var pc PasswordConfig
	_ = json.Unmarshal(c.Config, &pc)
	return pc.HashedPassword
}

// PasswordIdentifiers returns the identifiers of the password credential
// (derived from traits; present even before a password is set).
func (i *Identity) PasswordIdentifiers() []string {
	if c, ok := i.Credentials[CredentialPassword]; ok {
		return c.Identifiers
	}
	return nil
}

// Address channels.
const (
	ViaEmail = "email"
	ViaSMS   = "sms"
)

// Verifiable address statuses.
const (
	VerifiableStatusPending   = "pending"
	VerifiableStatusSent      = "sent"
	VerifiableStatusCompleted = "completed"
)

// VerifiableAddress is an address the identity can prove it owns.
type VerifiableAddress struct {
	ID         uuid.UUID  `json:"id"`
	Value      string     `json:"value"`
	Verified   bool       `json:"verified"`
	Via        string     `json:"via"`
	Status     string     `json:"status"`
	VerifiedAt *time.Time `json:"verified_at,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
}

// RecoveryAddress is an address recovery messages may be sent to.
type RecoveryAddress struct {
	ID        uuid.UUID `json:"id"`
	Value     string    `json:"value"`
	Via       string    `json:"via"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// View selects what the JSON form of an identity shows.
type View int

// Views of an identity.
const (
	// PublicView is what the identity itself sees (sessions, flows, emails):
	// never credentials, never admin metadata.
	PublicView View = iota
	// AdminView adds credentials (without secrets) and admin metadata.
	AdminView
	// AdminViewWithCredentials also includes credential configs
	// (?include_credential=password).
	AdminViewWithCredentials
)

// credentialJSON is a credential in Kratos key order.
type credentialJSON struct {
	Type        CredentialType  `json:"type"`
	Identifiers []string        `json:"identifiers"`
	Config      json.RawMessage `json:"config,omitempty"`
	Version     int             `json:"version"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
}

// identityJSON is an identity in Kratos key order.
type identityJSON struct {
	ID                  uuid.UUID                         `json:"id"`
	ExternalID          string                            `json:"external_id,omitempty"`
	Credentials         map[CredentialType]credentialJSON `json:"credentials,omitempty"`
	SchemaID            string                            `json:"schema_id"`
	SchemaURL           string                            `json:"schema_url"`
	State               State                             `json:"state"`
	StateChangedAt      *time.Time                        `json:"state_changed_at,omitempty"`
	Traits              json.RawMessage                   `json:"traits"`
	VerifiableAddresses []VerifiableAddress               `json:"verifiable_addresses,omitempty"`
	RecoveryAddresses   []RecoveryAddress                 `json:"recovery_addresses,omitempty"`
	MetadataPublic      json.RawMessage                   `json:"metadata_public"`
	MetadataAdmin       json.RawMessage                   `json:"metadata_admin,omitempty"`
	CreatedAt           time.Time                         `json:"created_at"`
	UpdatedAt           time.Time                         `json:"updated_at"`
	OrganizationID      *string                           `json:"organization_id"`
}

// JSON returns the identity in the requested view. schemaURL is
// PUB/schemas/<base64url(schema id)> (see SchemaURL).
func (i *Identity) JSON(view View, schemaURL string) any {
	out := identityJSON{
		ID: i.ID, ExternalID: i.ExternalID, SchemaID: i.SchemaID, SchemaURL: schemaURL,
		State: i.State, StateChangedAt: i.StateChangedAt, Traits: i.Traits,
		VerifiableAddresses: i.VerifiableAddresses, RecoveryAddresses: i.RecoveryAddresses,
		MetadataPublic: nullIfEmpty(i.MetadataPublic), CreatedAt: i.CreatedAt, UpdatedAt: i.UpdatedAt,
	}
	if len(out.Traits) == 0 {
		out.Traits = json.RawMessage("{}")
	}
	if view >= AdminView {
		out.MetadataAdmin = emptyIfNull(i.MetadataAdmin)
		if len(i.Credentials) > 0 {
			out.Credentials = make(map[CredentialType]credentialJSON, len(i.Credentials))
			for t, c := range i.Credentials {
				cj := credentialJSON{Type: t, Identifiers: c.Identifiers, Version: c.Version, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
				if cj.Identifiers == nil {
					cj.Identifiers = []string{}
				}
				if view == AdminViewWithCredentials {
					cj.Config = c.Config
				}
				out.Credentials[t] = cj
			}
		}
	}
	return out
}

// MarshalJSON writes the public view with a relative schema URL; handlers
// that know the public base URL call JSON instead.
func (i *Identity) MarshalJSON() ([]byte, error) {
	return json.Marshal(i.JSON(PublicView, ""))
}

func nullIfEmpty(m json.RawMessage) json.RawMessage {
	if len(m) == 0 {
		return json.RawMessage("null")
	}
	return m
}

func emptyIfNull(m json.RawMessage) json.RawMessage {
	if len(m) == 0 || string(m) == "null" {
		return nil
	}
	return m
}
