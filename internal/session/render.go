package session

import (
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/identity"
)

// sessionJSON is the Kratos session object, in Kratos key order. The token
// is never part of it.
type sessionJSON struct {
	ID                    uuid.UUID    `json:"id"`
	Active                bool         `json:"active"`
	ExpiresAt             time.Time    `json:"expires_at"`
	AuthenticatedAt       time.Time    `json:"authenticated_at"`
	AAL                   string       `json:"authenticator_assurance_level"`
	AuthenticationMethods []AuthMethod `json:"authentication_methods"`
	IssuedAt              time.Time    `json:"issued_at"`
	Identity              any          `json:"identity,omitempty"`
	Devices               []Device     `json:"devices,omitempty"`
}

// identityView is how much of the identity a session JSON embeds.
type identityView int

const (
	// noIdentity omits "identity" (admin endpoints without expand=identity).
	noIdentity identityView = iota
	// fullIdentity is the identity's public view with its schema_url.
	fullIdentity
	// reducedIdentity is what Kratos embeds in an identity's session list:
	// schema_url "" and no verifiable or recovery addresses.
	reducedIdentity
)

// renderOptions select the expandable parts of a session JSON.
type renderOptions struct {
	identity identityView
	devices  bool
}

// everything is what whoami and the flows return.
var everything = renderOptions{identity: fullIdentity, devices: true}

// JSON returns the session object as whoami shows it (identity without
// credentials, devices), for flows that answer with a session (login,
// registration). "active" is computed now.
func (m *Manager) JSON(s *Session) any { return m.render(s, everything, m.now()) }

func (m *Manager) render(s *Session, o renderOptions, now time.Time) sessionJSON {
	out := sessionJSON{
		ID:                    s.ID,
		Active:                s.IsActive(now),
		ExpiresAt:             s.ExpiresAt,
		AuthenticatedAt:       s.AuthenticatedAt,
		AAL:                   s.AAL,
		AuthenticationMethods: s.AuthenticationMethods,
		IssuedAt:              s.IssuedAt,
	}
	if out.AuthenticationMethods == nil {
		out.AuthenticationMethods = []AuthMethod{}
	}
	if s.Identity != nil {
		switch o.identity {
		case fullIdentity:
			out.Identity = s.Identity.JSON(identity.PublicView, m.schemaURL(s.Identity.SchemaID))
		case reducedIdentity:
			reduced := *s.Identity
			reduced.VerifiableAddresses, reduced.RecoveryAddresses = nil, nil
			out.Identity = reduced.JSON(identity.PublicView, "")
		}
	}
	if o.devices {
		out.Devices = s.Devices
	}
	return out
}

// schemaURL is the public URL of an identity schema.
func (m *Manager) schemaURL(schemaID string) string {
	base := ""
	if m.Config.PublicBaseURL != nil {
		base = m.Config.PublicBaseURL.String()
	}
	return identity.SchemaURL(base, schemaID)
}
