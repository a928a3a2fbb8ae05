package identity

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/google/uuid"
)

// SocialLink is one provider account linked to an identity: an entry of
// the oidc credential's config, in Kratos's shape. Latchkey keeps no
// provider tokens (nothing reads them), so nothing usable is at rest.
type SocialLink struct {
	Subject      string `json:"subject"`
	Provider     string `json:"provider"`
	Organization string `json:"organization,omitempty"`
}

// socialConfig is the config of an oidc credential.
type socialConfig struct {
	Providers []SocialLink `json:"providers"`
}

// SocialIdentifier is the oidc credential identifier of a link, as Kratos
// writes it: provider id, colon, subject. Subjects are compared exactly
// (never lower-cased): a provider may tell two users apart by case.
func SocialIdentifier(provider, subject string) string { return provider + ":" + subject }

// SocialLinks are the provider accounts linked to i, in link order.
func (i *Identity) SocialLinks() []SocialLink {
	c, ok := i.Credentials[CredentialOIDC]
	if !ok {
		return nil
	}
	var cfg socialConfig
	if json.Unmarshal(c.Config, &cfg) != nil {
		return nil
	}
	return slices.DeleteFunc(cfg.Providers, func(l SocialLink) bool { return l.Provider == "" || l.Subject == "" })
}

// LinkedTo reports whether i has an account of provider linked.
func (i *Identity) LinkedTo(provider string) bool {
	return slices.ContainsFunc(i.SocialLinks(), func(l SocialLink) bool { return l.Provider == provider })
}

// HasPassword reports whether i can sign in with a password (a password
// credential with a hash, not only a reserved identifier).
func (i *Identity) HasPassword() bool {
	c, ok := i.Credentials[CredentialPassword]
	return ok && hasSecret(c.Config)
}

// socialCredential is the oidc credential holding links.
func socialCredential(links []SocialLink) (Credential, error) {
	cfg, err := json.Marshal(socialConfig{Providers: links})
	if err != nil {
		return Credential{}, err
	}
	ids := make([]string, len(links))
	for n, l := range links {
		ids[n] = SocialIdentifier(l.Provider, l.Subject)
	}
	return Credential{Type: CredentialOIDC, Identifiers: ids, Config: cfg}, nil
}

// FindBySocialLink loads the identity (with credentials) that linked the
// provider account subject; ErrNotFound when none did.
func (s *Service) FindBySocialLink(ctx context.Context, provider, subject string) (*Identity, error) {
	i, err := s.Store.FindIdentityByIdentifier(ctx, CredentialOIDC, SocialIdentifier(provider, subject))
	if err != nil {
		return nil, storeError(err)
	}
	return i, nil
}

// LinkSocial adds a provider account to identity id; ErrConflict when
// another identity linked it already. An identity links at most one
// account per provider: linking another replaces it.
func (s *Service) LinkSocial(ctx context.Context, id uuid.UUID, link SocialLink) error {
	return s.Store.InTx(ctx, func(ctx context.Context) error {
		i, err := s.Get(ctx, id)
		if err != nil {
			return err
		}
		links := slices.DeleteFunc(i.SocialLinks(), func(l SocialLink) bool { return l.Provider == link.Provider })
		return s.putSocialLinks(ctx, id, append(links, link))
	})
}

// UnlinkSocial removes identity id's account of provider; the oidc
// credential goes with its last link, so the credential list stays
// truthful (Kratos keeps an empty one). Callers check that the identity
// keeps a way to sign in.
func (s *Service) UnlinkSocial(ctx context.Context, id uuid.UUID, provider string) error {
	return s.Store.InTx(ctx, func(ctx context.Context) error {
		i, err := s.Get(ctx, id)
		if err != nil {
			return err
		}
		links := slices.DeleteFunc(i.SocialLinks(), func(l SocialLink) bool { return l.Provider == provider })
		if len(links) == 0 {
			return s.DeleteCredential(ctx, id, CredentialOIDC)
		}
		return s.putSocialLinks(ctx, id, links)
	})
}

func (s *Service) putSocialLinks(ctx context.Context, id uuid.UUID, links []SocialLink) error {
	c, err := socialCredential(links)
	if err != nil {
		return fmt.Errorf("encode social links: %w", err)
	}
	return s.PutCredential(ctx, id, c)
}
