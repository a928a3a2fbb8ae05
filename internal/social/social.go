// Package social owns what social sign-in (Kratos's oidc method) shares
// between login, registration and settings: the configured providers, the
// trip to a provider and back (state, nonce and PKCE verifier kept
// server-side, bound to the flow and to the browser, spent once), the
// callback that hands who signed in to the flow that asked, and the
// session token exchange that ends a native app's trip.
//
// The protocol itself (OAuth2, OpenID Connect, ID tokens, mappers) is
// internal/oidc's. The flows plug in through Completer.
package social

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/oidc"
	"github.com/latchkey/latchkey/internal/session"
)

// Method is the method's name in submissions, credentials and sessions.
const Method = "oidc"

// Provider is one configured provider with its mapper.
type Provider struct {
	oidc.Provider
	Mapper *oidc.Mapper
}

// ID is the provider's id (the callback's path segment).
func (p *Provider) ID() string { return p.Config().ID }

// Label is what buttons name the provider: its label, else its id.
func (p *Provider) Label() string {
	if l := p.Config().Label; l != "" {
		return l
	}
	return p.Config().ID
}

// Providers are the configured providers in configuration order.
type Providers []*Provider

// Get returns the provider with id.
func (ps Providers) Get(id string) (*Provider, bool) {
	for _, p := range ps {
		if p.ID() == id {
			return p, true
		}
	}
	return nil, false
}

// External is who a provider says signed in: its subject, and the claims
// the provider's mapper turns into traits.
type External struct {
	Provider *Provider
	Subject  string
	Claims   *oidc.Claims
}

// Link is the identity's link to this provider account.
func (e *External) Link() identity.SocialLink {
	return identity.SocialLink{Provider: e.Provider.ID(), Subject: e.Subject}
}

// Map runs the provider's mapper over the claims.
func (e *External) Map(ctx context.Context) (*oidc.Mapped, error) {
	if e.Provider.Mapper == nil {
		return nil, fmt.Errorf("provider %s has no mapper_url", e.Provider.ID())
	}
	return e.Provider.Mapper.Map(ctx, e.Claims)
}

// Completer is a flow kind that finishes a social round trip: login,
// registration and settings.
type Completer interface {
	// CompleteSocial finishes flow flowID for ext; sess is the browser's
	// session, if any. The answer goes to a browser (the callback is a
	// navigation), whatever the flow's type.
	CompleteSocial(ctx context.Context, q *flow.Request, flowID uuid.UUID, ext *External, sess *session.Session) (*flow.Result, error)
	// FailSocial shows msg on flow flowID: the trip failed (the user
	// denied consent, the provider refused the code or was down).
	FailSocial(ctx context.Context, q *flow.Request, flowID uuid.UUID, msg flow.Message, sess *session.Session) (*flow.Result, error)
}

// RoundTrip is one trip to a provider, as stored.
type RoundTrip struct {
	ID        uuid.UUID
	StateHash string
	FlowID    uuid.UUID
	FlowKind  string
	Provider  string
	// Browser is the anti-CSRF fingerprint of the browser that left; ""
	// for an app's flow.
	Browser string
	// Sealed holds the nonce and PKCE verifier (secrets.cipher).
	Sealed    string
	ExpiresAt time.Time
	UsedAt    *time.Time
	CreatedAt time.Time
}

// Exchange is a native app's session token exchange, as stored.
type Exchange struct {
	ID               uuid.UUID
	FlowID           uuid.UUID
	InitCodeHash     string
	ReturnToCodeHash string
	SessionID        *uuid.UUID
	// SealedToken is the session token sealed with secrets.cipher until
	// the app takes it.
	SealedToken string
	ExpiresAt   time.Time
	UsedAt      *time.Time
	CreatedAt   time.Time
}

// Store keeps round trips and exchanges; internal/sqlstore implements it.
// Missing rows are storeerr.ErrNotFound.
type Store interface {
	CreateRoundTrip(ctx context.Context, rt *RoundTrip) error
	// RoundTripByState finds the trip whose state hash is one of hashes.
	RoundTripByState(ctx context.Context, hashes []string) (*RoundTrip, error)
	// SpendRoundTrip marks a trip used; false when it already was.
	SpendRoundTrip(ctx context.Context, id uuid.UUID, at time.Time) (bool, error)
	CreateExchange(ctx context.Context, e *Exchange) error
	ExchangeOfFlow(ctx context.Context, flowID uuid.UUID) (*Exchange, error)
	// MoveExchange gives flow from's exchange to flow to.
	MoveExchange(ctx context.Context, from, to uuid.UUID) error
	// CompleteExchange records the session an exchange hands out.
	CompleteExchange(ctx context.Context, id uuid.UUID, returnToCodeHash string, sessionID uuid.UUID, sealedToken string) error
	ExchangeByInitCode(ctx context.Context, hashes []string) (*Exchange, error)
	// SpendExchange marks an exchange used and forgets its sealed token;
	// false when it already was used.
	SpendExchange(ctx context.Context, id uuid.UUID, at time.Time) (bool, error)
}

// Sealer seals what must be read back (secret.Cipher).
type Sealer interface {
	Seal(plaintext, additionalData []byte) string
	Open(sealed string, additionalData []byte) ([]byte, error)
}

// Hasher makes keyed hashes of states and codes (secret.Hasher).
type Hasher interface {
	Hash(value string) string
	Candidates(value string) []string
	Matches(value, storedHash string) bool
}
