package oidc_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/oidc"
)

// emailMapper copies the email claim to traits.email, as the mapper of
// the spec's recorded Kratos run does.
const emailMapper = `local claims = std.extVar('claims');
{ identity: { traits: { email: claims.email } } }`

var emailMapperURL = "base64://" + base64.StdEncoding.EncodeToString([]byte(emailMapper))

func TestValidate(t *testing.T) {
	valid := oidc.ProviderConfig{
		ID: "mock", Provider: "generic", ClientID: "client", ClientSecret: "secret",
		IssuerURL: "https://idp.example.com", MapperURL: emailMapperURL,
	}
	tests := []struct {
		name string
		edit func(c *oidc.ProviderConfig)
		want string // "" means valid
	}{
		{"Valid", func(c *oidc.ProviderConfig) {}, ""},
		{"GitHubNeedsNoIssuer", func(c *oidc.ProviderConfig) { c.Provider, c.IssuerURL = "github", "" }, ""},
		{"GoogleNeedsNoIssuer", func(c *oidc.ProviderConfig) { c.Provider, c.IssuerURL = "google", "" }, ""},
		{"PKCEModes", func(c *oidc.ProviderConfig) { c.PKCE = "force" }, ""},
		{"RequestedClaims", func(c *oidc.ProviderConfig) {
			c.RequestedClaims = json.RawMessage(`{"id_token":{"email":{"essential":true}}}`)
		}, ""},
		{"MissingID", func(c *oidc.ProviderConfig) { c.ID = "" }, "id: required"},
		{"IDNotAPathSegment", func(c *oidc.ProviderConfig) { c.ID = "a/b" }, "id: "},
		{"IDWithColon", func(c *oidc.ProviderConfig) { c.ID = "a:b" }, "id: "},
		{"MissingProvider", func(c *oidc.ProviderConfig) { c.Provider = "" }, "provider: required"},
		{"UnknownProvider", func(c *oidc.ProviderConfig) { c.Provider = "foo" }, `provider: unknown provider "foo" (use generic, github or google)`},
		{"MissingClientID", func(c *oidc.ProviderConfig) { c.ClientID = "" }, "client_id: required"},
		{"GenericWithoutIssuer", func(c *oidc.ProviderConfig) { c.IssuerURL = "" }, "issuer_url: required for provider generic"},
		{"RelativeIssuer", func(c *oidc.ProviderConfig) { c.IssuerURL = "idp.example.com" }, "issuer_url: "},
		{"FTPTokenURL", func(c *oidc.ProviderConfig) { c.TokenURL = "ftp://idp.example.com/token" }, "token_url: "},
		{"BadAPIURL", func(c *oidc.ProviderConfig) { c.Provider, c.APIURL = "github", "::" }, "api_url: "},
		{"UnknownPKCE", func(c *oidc.ProviderConfig) { c.PKCE = "sometimes" }, `pkce: unknown mode "sometimes"`},
		{"RequestedClaimsNotObject", func(c *oidc.ProviderConfig) { c.RequestedClaims = json.RawMessage(`[1]`) }, "requested_claims: must be a JSON object"},
		{"MissingMapper", func(c *oidc.ProviderConfig) { c.MapperURL = "" }, "mapper_url: required"},
		{"MapperOverHTTP", func(c *oidc.ProviderConfig) { c.MapperURL = "https://example.com/m.jsonnet" }, "mapper_url: "},
		{"MapperFileMissing", func(c *oidc.ProviderConfig) { c.MapperURL = "file:///nonexistent/m.jsonnet" }, "mapper_url: cannot read mapper file"},
		{"MapperSyntax", func(c *oidc.ProviderConfig) {
			c.MapperURL = "base64://" + base64.StdEncoding.EncodeToString([]byte("{ identity: "))
		}, "mapper_url: jsonnet syntax"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid
			tt.edit(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.want != "" && err == nil:
				t.Fatalf("Validate() = nil, want an error starting %q", tt.want)
			case tt.want != "" && !strings.HasPrefix(err.Error(), tt.want):
				t.Fatalf("Validate() = %q, want it to start with %q", err, tt.want)
			}
		})
	}
}

func TestDisplayLabel(t *testing.T) {
	if got := (oidc.ProviderConfig{ID: "corp", Label: "Corp SSO"}).DisplayLabel(); got != "Corp SSO" {
		t.Errorf("with a label: %q", got)
	}
	if got := (oidc.ProviderConfig{ID: "corp", Provider: "generic"}).DisplayLabel(); got != "corp" {
		t.Errorf("without a label: %q, want the id as Kratos shows it", got)
	}
}

func TestNewRefusesInvalidConfig(t *testing.T) {
	_, err := oidc.New(oidc.ProviderConfig{ID: "mock", Provider: "generic", ClientID: "c", MapperURL: emailMapperURL}, nil)
	if err == nil || !strings.Contains(err.Error(), "issuer_url: required for provider generic") {
		t.Fatalf("New() = %v, want the validation error", err)
	}
}

func TestNewDoesNotContactTheProvider(t *testing.T) {
	// Nothing listens on port 1: New must succeed anyway, so that
	// Latchkey starts while a provider is down.
	_, err := oidc.New(oidc.ProviderConfig{
		ID: "mock", Provider: "generic", ClientID: "c", IssuerURL: "http://127.0.0.1:1/oidc", MapperURL: emailMapperURL,
	}, nil)
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
}
