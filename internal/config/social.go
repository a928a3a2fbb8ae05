package config

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/latchkey/latchkey/internal/oidc"
)

// ProviderConfig is the provider as internal/oidc takes it.
func (p OIDCProvider) ProviderConfig() oidc.ProviderConfig {
	c := oidc.ProviderConfig{
		ID: p.ID, Provider: p.Provider, Label: p.Label, ClientID: p.ClientID, ClientSecret: p.ClientSecret,
		IssuerURL: p.IssuerURL, AuthURL: p.AuthURL, TokenURL: p.TokenURL, APIURL: p.APIURL,
		Scope: p.Scope, MapperURL: p.MapperURL, PKCE: p.PKCE,
	}
	if len(p.RequestedClaims) > 0 {
		c.RequestedClaims, _ = json.Marshal(p.RequestedClaims)
	}
	return c
}

// SocialCallbackURL is where providers send the browser back for
// provider id: base_redirect_uri (or the public base URL) +
// /self-service/methods/oidc/callback/<id>.
func (c *Config) SocialCallbackURL(id string) string {
	base := c.SelfService.Methods.OIDC.Config.BaseRedirectURI
	if base == "" {
		base = c.Serve.Public.BaseURL
	}
	return strings.TrimSuffix(base, "/") + "/self-service/methods/oidc/callback/" + id
}

// validateSocial checks the providers of selfservice.methods.oidc when it
// is on: each valid (the error names the key), ids unique, mappers that
// load. A provider is not contacted: Latchkey starts when one is down.
func (l *loader) validateSocial(c *Config) {
	const key = "selfservice.methods.oidc.config"
	m := c.SelfService.Methods.OIDC
	if u := m.Config.BaseRedirectURI; u != "" {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			l.fail(key+".base_redirect_uri", "must be an absolute http(s) URL, got %q", u)
		}
	}
	if !m.Enabled {
		return
	}
	if len(m.Config.Providers) == 0 {
		l.warn(key+".providers", "selfservice.methods.oidc.enabled is true but no provider is configured: no social sign-in buttons are shown")
	}
	seen := map[string]bool{}
	for i, p := range m.Config.Providers {
		k := fmt.Sprintf("%s.providers[%d]", key, i)
		if err := p.ProviderConfig().Validate(); err != nil {
			field, msg, ok := strings.Cut(err.Error(), ": ")
			if ok && !strings.ContainsAny(field, " \"") {
				l.fail(k+"."+field, "%s", msg)
			} else {
				l.fail(k, "%v", err)
			}
			continue
		}
		if seen[p.ID] {
			l.fail(k+".id", "%q is used by another provider", p.ID)
		}
		seen[p.ID] = true
		if _, err := oidc.LoadMapper(p.MapperURL); err != nil {
			l.fail(k+".mapper_url", "%v", err)
		}
	}
}
