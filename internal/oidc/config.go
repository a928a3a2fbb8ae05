package oidc

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
)

// Provider types Latchkey implements (the "provider" key).
const (
	TypeGeneric = "generic"
	TypeGitHub  = "github"
	TypeGoogle  = "google"
)

// PKCE modes (the "pkce" key).
const (
	PKCEAuto  = "auto"
	PKCEForce = "force"
	PKCENever = "never"
)

// Endpoints used when the configuration names none.
const (
	googleIssuer       = "https://accounts.google.com"
	githubAuthURL      = "https://github.com/login/oauth/authorize"
	githubTokenURL     = "https://github.com/login/oauth/access_token"
	githubAPIURL       = "https://api.github.com"
	githubEmailScope   = "user:email"
	scopeOpenID        = "openid"
	scopeOfflineAccess = "offline_access"
)

// ProviderConfig is one entry of selfservice.methods.oidc.config.providers,
// with Kratos's keys.
type ProviderConfig struct {
	// ID names the provider in the callback path and in credential
	// identifiers ("mock", "github"…).
	ID string
	// Provider is the provider type: "generic", "github" or "google".
	Provider string
	// Label is the button label; "" means the ID (see DisplayLabel).
	Label string
	// ClientID and ClientSecret are the client's credentials at the
	// provider; the secret is sent only to the token endpoint.
	ClientID     string
	ClientSecret string
	// IssuerURL is required for generic; google defaults to
	// https://accounts.google.com (overridable so tests can point it at a
	// local provider); github ignores it.
	IssuerURL string
	// AuthURL and TokenURL override the discovered endpoints (generic) or
	// github.com's (github).
	AuthURL  string
	TokenURL string
	// APIURL is github's user API base, default https://api.github.com (a
	// Latchkey-only key, so tests can point it at an emulation).
	APIURL string
	// Scope is what is asked for; "openid" is added for OpenID providers,
	// github defaults to ["user:email"].
	Scope []string
	// MapperURL is the file:// or base64:// Jsonnet mapper.
	MapperURL string
	// RequestedClaims is the OpenID "claims" request parameter, passed
	// through as is.
	RequestedClaims json.RawMessage
	// PKCE is "auto" (the default: S256 when the provider's discovery
	// advertises it), "force" or "never".
	PKCE string
}

// providerIDPattern keeps an ID usable as a path segment and unambiguous
// in credential identifiers ("<id>:<subject>" must split at the first colon).
var providerIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// Validate checks one provider configuration without touching the
// network (the mapper file is read). The error names the key relative to
// the provider entry, e.g. "issuer_url: required for provider generic".
func (c ProviderConfig) Validate() error {
	switch {
	case c.ID == "":
		return errors.New("id: required")
	case !providerIDPattern.MatchString(c.ID):
		return fmt.Errorf("id: %q may only hold letters, digits, '.', '_' and '-' (it is a path segment of the callback URL)", c.ID)
	}
	switch c.Provider {
	case TypeGeneric, TypeGitHub, TypeGoogle:
	case "":
		return errors.New("provider: required (use generic, github or google)")
	default:
		return fmt.Errorf("provider: unknown provider %q (use generic, github or google)", c.Provider)
	}
	if c.ClientID == "" {
		return errors.New("client_id: required")
	}
	if c.Provider == TypeGeneric && c.IssuerURL == "" {
		return errors.New("issuer_url: required for provider generic")
	}
	for _, u := range []struct{ key, value string }{
		{"issuer_url", c.IssuerURL}, {"auth_url", c.AuthURL}, {"token_url", c.TokenURL}, {"api_url", c.APIURL},
	} {
		if err := checkHTTPURL(u.value); err != nil {
			return fmt.Errorf("%s: %w", u.key, err)
		}
	}
	switch c.PKCE {
	case "", PKCEAuto, PKCEForce, PKCENever:
	default:
		return fmt.Errorf("pkce: unknown mode %q (use auto, force or never)", c.PKCE)
	}
	if len(c.RequestedClaims) > 0 {
		var claims map[string]any
		if err := json.Unmarshal(c.RequestedClaims, &claims); err != nil {
			return fmt.Errorf("requested_claims: must be a JSON object: %v", err)
		}
	}
	if c.MapperURL == "" {
		return errors.New("mapper_url: required")
	}
	if _, err := LoadMapper(c.MapperURL); err != nil {
		return fmt.Errorf("mapper_url: %w", err)
	}
	return nil
}

// checkHTTPURL accepts "" (not set) or an absolute http(s) URL.
func checkHTTPURL(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL", s)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q must be an absolute http(s) URL", s)
	}
	return nil
}

// DisplayLabel is the label of the provider's button: Label, or the ID
// when there is none, as Kratos shows it.
func (c ProviderConfig) DisplayLabel() string { return cmp.Or(c.Label, c.ID) }

// pkceMode is PKCE with its default.
func (c ProviderConfig) pkceMode() string { return cmp.Or(c.PKCE, PKCEAuto) }

// openIDScopes is Scope with "openid" added, as Kratos asks OpenID
// providers; google also drops offline_access, which it expresses as
// access_type=offline instead.
func (c ProviderConfig) openIDScopes() []string {
	scopes := slices.Clone(c.Scope)
	if c.Provider == TypeGoogle {
		scopes = slices.DeleteFunc(scopes, func(s string) bool { return s == scopeOfflineAccess })
	}
	if !slices.Contains(scopes, scopeOpenID) {
		scopes = append(scopes, scopeOpenID)
	}
	return scopes
}
