// Package session owns login sessions: the Session type and its Kratos
// JSON form, session tokens (stored only as keyed hashes), the
// ory_kratos_session cookie, issuing, re-authenticating, extending and
// revoking sessions (Manager), and the HTTP endpoints around them:
// /sessions/whoami, the user's own session list, logout, and the admin
// session API (Handler).
//
// The flows (login, registration, recovery, settings) use the Manager to
// create a session, read the session of a request and check its
// assurance level; storage is reached through Store, implemented in
// internal/sqlstore.
package session

import (
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/identity"
)

// Authenticator assurance levels.
const (
	AAL0 = "aal0" // no authentication method completed
	AAL1 = "aal1" // one factor
	AAL2 = "aal2" // a first factor and a second factor
	AAL3 = "aal3" // reserved by Kratos, never produced

	// HighestAvailable is the session.whoami.required_aal value that asks
	// for aal2 exactly when the identity has a second factor.
	HighestAvailable = "highest_available"
)

// Authentication methods (authentication_methods[].method).
const (
	MethodPassword     = "password"
	MethodOIDC         = "oidc"
	MethodTOTP         = "totp"
	MethodLookupSecret = "lookup_secret"
	MethodWebAuthn     = "webauthn"
	MethodCode         = "code"
	MethodPasskey      = "passkey"
	MethodProfile      = "profile"
	MethodSAML         = "saml"
	MethodLinkRecovery = "link_recovery"
	MethodCodeRecovery = "code_recovery"
)

// secondFactors are the credential types that make an identity able to
// reach aal2 (the identity's credentials are keyed by these names).
var secondFactors = []identity.CredentialType{"totp", "webauthn", "lookup_secret"}

// Session is an authenticated login of an identity. Its bearer token is
// not part of it: the store keeps only a keyed hash of the token, and the
// token is handed out once, when the session is issued.
type Session struct {
	ID         uuid.UUID
	IdentityID uuid.UUID
	// Active is the stored flag; revoking sets it to false. Whether the
	// session is usable also depends on ExpiresAt and the identity's state
	// (see IsActive).
	Active                bool
	ExpiresAt             time.Time
	AuthenticatedAt       time.Time
	IssuedAt              time.Time
	AAL                   string
	AuthenticationMethods []AuthMethod
	Devices               []Device
	// Identity is loaded by Manager.FromRequest and Manager.Issue; nil
	// when only the session row was read.
	Identity  *identity.Identity
	CreatedAt time.Time
	UpdatedAt time.Time

	// carrier and token record how the current request presented the
	// session (set by FromRequest only).
	carrier      Carrier
	token        string
	cookieExpiry int64
	// shared is the store's value this session was copied from, and
	// tokenHash the token's hash (set by Manager.whoamiSession only): they
	// name the whoami body it can reuse.
	shared    *Session
	tokenHash string
}

// AuthMethod is one completed authentication step of a session.
type AuthMethod struct {
	Method       string    `json:"method"`
	AAL          string    `json:"aal"`
	CompletedAt  time.Time `json:"completed_at"`
	Provider     string    `json:"provider,omitempty"`
	Organization string    `json:"organization,omitempty"`
}

// Device is where a session was created from. Nil fields are unknown.
type Device struct {
	ID        uuid.UUID `json:"id"`
	IPAddress *string   `json:"ip_address"`
	UserAgent *string   `json:"user_agent"`
	Location  *string   `json:"location"`
}

// Carrier is the part of a request that carried the session token.
type Carrier int

// Token carriers, in the order FromRequest looks for them.
const (
	CarrierNone Carrier = iota
	CarrierHeader
	CarrierCookie
	CarrierBearer
)

// Carrier tells how the current request presented this session (set by
// Manager.FromRequest; CarrierNone otherwise).
func (s *Session) Carrier() Carrier { return s.carrier }

// RequestToken is the session token the current request presented (set by
// Manager.FromRequest; "" otherwise). Flows pass it to Manager.SetCookie
// to re-issue the cookie after re-authentication.
func (s *Session) RequestToken() string { return s.token }

// IsActive is the "active" of the session JSON: the stored flag, an
// expiry in the future and, when the identity is loaded, an active
// identity.
func (s *Session) IsActive(now time.Time) bool {
	if !s.Active || !s.ExpiresAt.After(now) {
		return false
	}
	return s.Identity == nil || s.Identity.State == identity.StateActive
}

// MethodAAL is the assurance level one method provides on its own.
func MethodAAL(method string) string {
	switch method {
	case MethodTOTP, MethodLookupSecret, MethodWebAuthn:
		return AAL2
	}
	return AAL1
}

// ComputeAAL derives the session's level from its methods: aal0 without
// any, aal2 when a first and a second factor were completed, aal1 otherwise.
func ComputeAAL(methods []AuthMethod) string {
	first, second := false, false
	for _, m := range methods {
		if m.AAL == AAL2 {
			second = true
		} else {
			first = true
		}
	}
	switch {
	case first && second:
		return AAL2
	case first || second:
		return AAL1
	}
	return AAL0
}

// hasSecondFactor reports whether the identity could reach aal2.
func hasSecondFactor(i *identity.Identity) bool {
	for _, t := range secondFactors {
		if _, ok := i.Credentials[t]; ok {
			return true
		}
	}
	return false
}

func aalRank(aal string) int {
	switch aal {
	case AAL1:
		return 1
	case AAL2:
		return 2
	case AAL3:
		return 3
	}
	return 0
}
