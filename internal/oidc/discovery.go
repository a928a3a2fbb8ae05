package oidc

import (
	"context"
	"errors"
	"net/http"
	"slices"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// discovered is what an OpenID provider's discovery document told us,
// ready to use.
type discovered struct {
	provider *gooidc.Provider
	// oauth2 is kept for the provider's life: it remembers which client
	// authentication the token endpoint accepted (basic, else post).
	oauth2 *oauth2.Config
	// verifier checks ID tokens: signature against the provider's JWKS,
	// iss = issuer, aud ∋ client_id, exp.
	verifier *gooidc.IDTokenVerifier
	pkceS256 bool
}

// discovery fetches an issuer's discovery document on first use and
// keeps it once it succeeded. A failed fetch is not kept, so the next
// round trip tries again.
type discovery struct {
	issuer string
	client *http.Client
	build  func(*gooidc.Provider) *oauth2.Config
	// sem lets one caller fetch at a time without holding a mutex across
	// the network: the others wait for it or for their own ctx, whichever
	// comes first.
	sem  chan struct{}
	done *discovered
}

func newDiscovery(issuer string, client *http.Client, build func(*gooidc.Provider) *oauth2.Config) *discovery {
	return &discovery{issuer: issuer, client: client, build: build, sem: make(chan struct{}, 1)}
}

// get returns the discovered provider, fetching it if needed (bounded by
// ctx). Failures are *Error of kind KindUnavailable.
func (d *discovery) get(ctx context.Context, providerID string) (*discovered, error) {
	select {
	case d.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, newError(KindUnavailable, ctx.Err(), "the discovery document of provider %q could not be fetched", providerID)
	}
	defer func() { <-d.sem }()
	if d.done != nil {
		return d.done, nil
	}
	p, err := gooidc.NewProvider(withClient(ctx, d.client), d.issuer)
	if err != nil {
		var mismatch *gooidc.IssuerMismatchError
		if errors.As(err, &mismatch) {
			return nil, newError(KindUnavailable, err, "the discovery document of provider %q names another issuer (check issuer_url)", providerID)
		}
		return nil, newError(KindUnavailable, err, "the discovery document of provider %q could not be fetched", providerID)
	}
	var meta struct {
		CodeChallengeMethods []string `json:"code_challenge_methods_supported"`
	}
	if err := p.Claims(&meta); err != nil {
		return nil, newError(KindUnavailable, err, "the discovery document of provider %q could not be read", providerID)
	}
	cfg := d.build(p)
	d.done = &discovered{
		provider: p,
		oauth2:   cfg,
		verifier: p.Verifier(&gooidc.Config{ClientID: cfg.ClientID}),
		pkceS256: slices.Contains(meta.CodeChallengeMethods, "S256"),
	}
	return d.done, nil
}
