package oidc

import (
	"cmp"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// openID is a generic OpenID Connect provider, or Google (the same with
// a default issuer, access_type=offline and ID-token submission).
type openID struct {
	config    ProviderConfig
	client    *http.Client
	discovery *discovery
}

func newOpenID(c ProviderConfig, client *http.Client) *openID {
	if c.Provider == TypeGoogle {
		c.IssuerURL = cmp.Or(c.IssuerURL, googleIssuer)
	}
	p := &openID{config: c, client: client}
	p.discovery = newDiscovery(c.IssuerURL, client, p.oauth2Config)
	return p
}

// oauth2Config is the client configuration for the discovered endpoints,
// with the configured overrides.
func (p *openID) oauth2Config(d *gooidc.Provider) *oauth2.Config {
	endpoint := d.Endpoint()
	endpoint.AuthURL = cmp.Or(p.config.AuthURL, endpoint.AuthURL)
	endpoint.TokenURL = cmp.Or(p.config.TokenURL, endpoint.TokenURL)
	// AuthStyle stays unknown: oauth2 tries client_secret_basic, then
	// client_secret_post, and remembers what worked, as Kratos does.
	return &oauth2.Config{
		ClientID:     p.config.ClientID,
		ClientSecret: p.config.ClientSecret,
		Endpoint:     endpoint,
		Scopes:       p.config.openIDScopes(),
	}
}

func (p *openID) Config() ProviderConfig { return p.config }

func (p *openID) UsesPKCE(ctx context.Context) (bool, error) {
	switch p.config.pkceMode() {
	case PKCEForce:
		return true, nil
	case PKCENever:
		return false, nil
	}
	d, err := p.discovery.get(ctx, p.config.ID)
	if err != nil {
		return false, err
	}
	return d.pkceS256, nil
}

func (p *openID) AuthCodeURL(ctx context.Context, req AuthRequest, opts ...oauth2.AuthCodeOption) (string, error) {
	d, err := p.discovery.get(ctx, p.config.ID)
	if err != nil {
		return "", err
	}
	params := authParams(p.config, req)
	if req.Nonce != "" {
		params = append(params, oauth2.SetAuthURLParam("nonce", req.Nonce))
	}
	if p.config.Provider == TypeGoogle && slices.Contains(p.config.Scope, scopeOfflineAccess) {
		// Google grants a refresh token for access_type=offline, not for
		// the offline_access scope.
		params = append(params, oauth2.AccessTypeOffline)
	}
	params = append(params, redirectURI(req))
	return d.oauth2.AuthCodeURL(req.State, append(params, opts...)...), nil
}

func (p *openID) Exchange(ctx context.Context, req AuthRequest, code string) (*Claims, *oauth2.Token, error) {
	d, err := p.discovery.get(ctx, p.config.ID)
	if err != nil {
		return nil, nil, err
	}
	params := append(exchangeParams(req), redirectURI(req))
	tok, err := d.oauth2.Exchange(withClient(ctx, p.client), code, params...)
	if err != nil {
		return nil, nil, exchangeError(p.config.ID, err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, nil, newError(KindInvalidIDToken, nil, "provider %q sent no ID token", p.config.ID)
	}
	claims, err := p.verify(ctx, d, raw)
	if err != nil {
		return nil, nil, err
	}
	// A nonce binds the ID token to this round trip: a token minted for
	// another browser's sign-in is refused even though it is genuine.
	got, _ := claims.RawClaims["nonce"].(string)
	if subtle.ConstantTimeCompare([]byte(got), []byte(req.Nonce)) != 1 {
		return nil, nil, newError(KindInvalidIDToken, nil, "the ID token of provider %q does not carry the nonce of this sign-in", p.config.ID)
	}
	return claims, tok, nil
}

func (p *openID) VerifyIDToken(ctx context.Context, rawIDToken, nonce string) (*Claims, error) {
	if p.config.Provider != TypeGoogle {
		return nil, unsupportedIDToken(p.config)
	}
	d, err := p.discovery.get(ctx, p.config.ID)
	if err != nil {
		return nil, err
	}
	claims, err := p.verify(ctx, d, rawIDToken)
	if err != nil {
		return nil, err
	}
	got, _ := claims.RawClaims["nonce"].(string)
	switch {
	case got == "":
		// Not every Google SDK can send a nonce; Kratos accepts Google's
		// tokens without one, and so does Latchkey.
	case nonce == "":
		return nil, newError(KindInvalidIDToken, nil, "the ID token carries a nonce but none was submitted")
	case subtle.ConstantTimeCompare([]byte(got), []byte(nonce)) != 1:
		return nil, newError(KindInvalidIDToken, nil, "the submitted nonce does not match the nonce of the ID token")
	}
	return claims, nil
}

// verify checks an ID token (signature, issuer, audience, expiry) and
// returns its claims; it requires a subject.
func (p *openID) verify(ctx context.Context, d *discovered, raw string) (*Claims, error) {
	tok, err := d.verifier.Verify(withClient(ctx, p.client), raw)
	if err != nil {
		return nil, verifyError(p.config.ID, err)
	}
	var payload json.RawMessage
	if err := tok.Claims(&payload); err != nil {
		return nil, newError(KindInvalidIDToken, err, "the ID token of provider %q could not be read", p.config.ID)
	}
	fields, err := decodeObject(payload)
	if err != nil {
		return nil, newError(KindInvalidIDToken, err, "the ID token of provider %q could not be read", p.config.ID)
	}
	claims := claimsFrom(fields)
	if claims.Subject == "" {
		return nil, newError(KindInvalidIDToken, nil, "the ID token of provider %q has no subject (sub)", p.config.ID)
	}
	return claims, nil
}

// verifyError classifies a go-oidc verification failure.
func verifyError(providerID string, err error) *Error {
	var expired *gooidc.TokenExpiredError
	switch {
	case errors.As(err, &expired):
		return newError(KindInvalidIDToken, nil, "the ID token of provider %q has expired", providerID)
	case isTransport(err), strings.HasPrefix(err.Error(), "fetching keys"):
		// go-oidc reports an unreachable JWKS endpoint only in its message.
		return newError(KindUnavailable, err, "the signing keys of provider %q could not be fetched", providerID)
	}
	return newError(KindInvalidIDToken, err, "the ID token of provider %q is not valid", providerID)
}

// unsupportedIDToken is Kratos's answer to an id_token submission for a
// provider that cannot verify one.
func unsupportedIDToken(c ProviderConfig) *Error {
	return newError(KindIDTokenUnsupported, nil, "The provider %s does not support id_token verification", c.Provider)
}
