package settings

import (
	"encoding/json"
	"testing"

	"github.com/latchkey/latchkey/internal/identity"
)

func TestCanUnlinkKeepsAWayIn(t *testing.T) {
	password := identity.Credential{Type: identity.CredentialPassword, Config: json.RawMessage(`{"hashed_password":"$2a$04$x"}`)}
	reserved := identity.Credential{Type: identity.CredentialPassword, Config: json.RawMessage(`{}`)}
	social := func(providers ...string) identity.Credential {
		var links []identity.SocialLink
		for _, p := range providers {
			links = append(links, identity.SocialLink{Provider: p, Subject: "s-" + p})
		}
		cfg, _ := json.Marshal(map[string]any{"providers": links})
		return identity.Credential{Type: identity.CredentialOIDC, Config: cfg}
	}
	tests := []struct {
		name  string
		creds []identity.Credential
		want  bool
	}{
		{"password left", []identity.Credential{password, social("github")}, true},
		{"another provider left", []identity.Credential{reserved, social("github", "google")}, true},
		{"only an identifier without a password", []identity.Credential{reserved, social("github")}, false},
		{"nothing else", []identity.Credential{social("github")}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ident := &identity.Identity{Credentials: map[identity.CredentialType]identity.Credential{}}
			for _, c := range tt.creds {
				ident.Credentials[c.Type] = c
			}
			if got := canUnlink(ident, "github"); got != tt.want {
				t.Errorf("canUnlink = %v, want %v", got, tt.want)
			}
		})
	}
}
