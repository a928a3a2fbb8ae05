// Package oidc owns social sign-in's conversation with the providers:
// the configured providers (generic OpenID Connect, GitHub, Google), the
// authorization URL a browser is sent to, the code exchange and the
// verification of what comes back, and the Jsonnet mappers that turn the
// provider's claims into identity traits. It knows nothing about flows,
// cookies or HTTP requests to Latchkey; the flows build on this API.
package oidc

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"golang.org/x/oauth2"
)

// AuthRequest is what a flow keeps server-side for one round trip to the
// provider and back.
type AuthRequest struct {
	// State is opaque and made by the caller; it comes back on the callback.
	State string
	// Nonce is made by the caller; it is sent only to OpenID providers,
	// whose ID token must carry it back.
	Nonce string
	// PKCEVerifier is made by NewPKCEVerifier, "" when the provider does
	// not use PKCE (see Provider.UsesPKCE).
	PKCEVerifier string
	// RedirectURI is the callback URL.
	RedirectURI string
}

// Provider is one configured provider.
type Provider interface {
	// Config is the provider's configuration.
	Config() ProviderConfig
	// UsesPKCE reports whether the round trip uses PKCE: "force" yes,
	// "never" no, "auto" when the provider's discovery advertises S256
	// (which may fetch discovery, bounded by ctx).
	UsesPKCE(ctx context.Context) (bool, error)
	// AuthCodeURL is the authorization endpoint URL the browser is sent
	// to: client_id, redirect_uri, response_type=code, scope, state, the
	// nonce (OpenID providers), code_challenge with S256 when
	// req.PKCEVerifier is set, claims when RequestedClaims is configured,
	// and any extra parameters in opts (prompt, login_hint…).
	AuthCodeURL(ctx context.Context, req AuthRequest, opts ...oauth2.AuthCodeOption) (string, error)
	// Exchange redeems the code at the token endpoint and returns the
	// verified claims and the provider's tokens (for the caller to encrypt
	// if it keeps them). For OpenID providers the ID token is verified
	// (signature, iss, aud, exp) and its nonce must equal req.Nonce.
	Exchange(ctx context.Context, req AuthRequest, code string) (*Claims, *oauth2.Token, error)
	// VerifyIDToken verifies an ID token a native app obtained itself.
	// Only google supports it; the others return an *Error of kind
	// KindIDTokenUnsupported.
	VerifyIDToken(ctx context.Context, rawIDToken, nonce string) (*Claims, error)
}

// defaultTimeout bounds every call to a provider when the caller passes
// no client of its own.
const defaultTimeout = 10 * time.Second

// New builds a provider from a valid configuration. It does not contact
// the provider: discovery is fetched on first use, kept once it succeeds
// and tried again after a failure, so Latchkey starts while a provider is
// down. client makes every call to the provider (the server passes one
// with timeouts and its SSRF rules); nil means a client with a 10 s
// timeout.
func New(c ProviderConfig, client *http.Client) (Provider, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("provider %q: %w", c.ID, err)
	}
	if client == nil {
		client = &http.Client{Timeout: defaultTimeout}
	}
	switch c.Provider {
	case TypeGitHub:
		return newGitHub(c, client), nil
	default:
		return newOpenID(c, client), nil
	}
}

// NewPKCEVerifier returns a new random PKCE code verifier (32 bytes from
// crypto/rand, base64url).
func NewPKCEVerifier() string { return oauth2.GenerateVerifier() }

// withClient makes oauth2 and go-oidc use client for the calls they make
// under ctx (both read the same context key).
func withClient(ctx context.Context, client *http.Client) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, client)
}

// authParams are the parameters every provider's authorization URL
// carries besides what oauth2 adds (client_id, redirect_uri,
// response_type, scope, state).
func authParams(c ProviderConfig, req AuthRequest) []oauth2.AuthCodeOption {
	var opts []oauth2.AuthCodeOption
	if req.PKCEVerifier != "" {
		opts = append(opts, oauth2.S256ChallengeOption(req.PKCEVerifier))
	}
	if len(c.RequestedClaims) > 0 {
		opts = append(opts, oauth2.SetAuthURLParam("claims", string(c.RequestedClaims)))
	}
	return opts
}

// redirectURI passes the callback URL as a parameter rather than through
// oauth2.Config.RedirectURL: the config is shared by every round trip of
// the provider (it remembers the token endpoint's client authentication),
// and the flow, not the provider, knows the callback URL.
func redirectURI(req AuthRequest) oauth2.AuthCodeOption {
	return oauth2.SetAuthURLParam("redirect_uri", req.RedirectURI)
}

// exchangeParams are the token request's extra parameters.
func exchangeParams(req AuthRequest) []oauth2.AuthCodeOption {
	if req.PKCEVerifier == "" {
		return nil
	}
	return []oauth2.AuthCodeOption{oauth2.VerifierOption(req.PKCEVerifier)}
}
