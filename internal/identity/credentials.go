package identity

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/httpx"
)

// Credential types Kratos knows besides Latchkey's own (its
// ParseCredentialsType): include_credential accepts any of them, and an
// identity imported from Kratos may carry them.
const (
	CredentialOIDC         CredentialType = "oidc"
	CredentialSAML         CredentialType = "saml"
	CredentialWebAuthn     CredentialType = "webauthn"
	CredentialPasskey      CredentialType = "passkey"
	CredentialCode         CredentialType = "code"
	CredentialLinkRecovery CredentialType = "link_recovery"
	CredentialCodeRecovery CredentialType = "code_recovery"
)

// knownCredentialType reports whether Kratos would accept t as a
// credential type in include_credential.
func knownCredentialType(t CredentialType) bool {
	switch t {
	case CredentialPassword, CredentialOIDC, CredentialSAML, CredentialTOTP, CredentialLookupSecret,
		CredentialWebAuthn, CredentialCode, CredentialLinkRecovery, CredentialCodeRecovery, CredentialPasskey:
		return true
	}
	return false
}

// SecondFactor reports whether t is a second factor. Their configs are
// stored sealed (see SealConfig) and change only through PutCredential,
// SwapCredentialConfig and DeleteCredential, never by saving a whole
// identity, so a stale copy cannot undo an enrolment or a spent code.
func SecondFactor(t CredentialType) bool {
	return t == CredentialTOTP || t == CredentialLookupSecret
}

// firstFactor reports whether t signs in on its own: password and social
// sign-in (oidc); passkey and saml join when they are built.
func firstFactor(t CredentialType) bool { return t == CredentialPassword || t == CredentialOIDC }

// RemoveCredential is DELETE /admin/identities/{id}/credentials/{type}
// with Kratos's rules: a second factor (totp, lookup_secret) is removed;
// the last first factor is kept (400); an oidc credential loses the one
// provider link named by identifier ("provider:subject"); a type the
// identity does not have is 404; any other type cannot be removed (400). Sessions keep the level
// they reached (Kratos does not downgrade them); whoami sees the change
// at once because the store invalidates the identity's cached sessions.
func (s *Service) RemoveCredential(ctx context.Context, id uuid.UUID, t CredentialType, identifier string) error {
	return s.Store.InTx(ctx, func(ctx context.Context) error {
		if err := s.removeCredential(ctx, id, t, identifier); err != nil {
			return err
		}
		switch {
		case SecondFactor(t):
			return s.Audit.Record(ctx, audit.Event{Type: audit.SecondFactorRemoved, IdentityID: &id, Method: string(t)})
		case t == CredentialOIDC:
			provider, _, _ := strings.Cut(identifier, ":")
			return s.Audit.Record(ctx, audit.Event{Type: audit.SocialUnlinked, IdentityID: &id, Method: string(t), Details: map[string]any{"provider": provider}})
		}
		return nil
	})
}

func (s *Service) removeCredential(ctx context.Context, id uuid.UUID, t CredentialType, identifier string) error {
	i, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	if _, ok := i.Credentials[t]; !ok {
		return httpx.ErrNotFound("").WithReason("You tried to remove a %s but this user have no %s set up.", t, t)
	}
	switch {
	case SecondFactor(t):
	case firstFactor(t):
		if waysIn(i) < 2 {
			return httpx.ErrBadRequest("You cannot remove the last first factor credential.")
		}
		if t == CredentialOIDC {
			return s.removeSocialLink(ctx, i, identifier)
		}
	default:
		// webauthn and passkey wait for their methods (Kratos too refuses
		// the types it cannot remove yet).
		return httpx.ErrBadRequest(fmt.Sprintf("Credentials type %s cannot be deleted.", t))
	}
	return s.DeleteCredential(ctx, id, t)
}

// waysIn counts how an identity can sign in: a password (a password
// credential without one only reserves the identifier) and each linked
// provider account.
func waysIn(i *Identity) int {
	n := len(i.SocialLinks())
	if i.HasPassword() {
		n++
	}
	return n
}

// removeSocialLink removes the provider link identifier names
// ("provider:subject", as Kratos's ?identifier=).
func (s *Service) removeSocialLink(ctx context.Context, i *Identity, identifier string) error {
	if identifier == "" {
		return httpx.ErrBadRequest("You must provide an identifier to delete this credential.")
	}
	for _, l := range i.SocialLinks() {
		if SocialIdentifier(l.Provider, l.Subject) == identifier {
			return s.UnlinkSocial(ctx, i.ID, l.Provider)
		}
	}
	return httpx.ErrNotFound("").WithReason("The identifier `%s` was not found among OIDC credentials.", identifier)
}

// Declassified is a copy of i whose credentials show their config only
// for the types in include, second factors opened with sealer into
// Kratos's shape ({"totp_url":…}, {"recovery_codes":[…]}): what
// ?include_credential= asks for. A config stored unsealed (imported from
// Kratos) is shown as stored.
func (i *Identity) Declassified(sealer Sealer, include []CredentialType) (*Identity, error) {
	out := i.Clone()
	for t, c := range out.Credentials {
		shown := c.Config
		switch {
		case !containsType(include, t):
			shown = nil
		case SecondFactor(t):
			config, _, err := OpenConfig(sealer, i.ID, t, c.Config)
			switch {
			case err == nil:
				shown = config
			case !errors.Is(err, ErrNotSealed):
				return nil, err
			}
		}
		c.Config = shown
		out.Credentials[t] = c
	}
	return out, nil
}

// AdminJSON is the identity as the admin API shows it when it is read:
// credentials listed, configs only of the types in include (see
// Declassified), schema_url under publicBaseURL.
func (i *Identity) AdminJSON(sealer Sealer, include []CredentialType, publicBaseURL string) (any, error) {
	shown, err := i.Declassified(sealer, include)
	if err != nil {
		return nil, err
	}
	return shown.JSON(AdminViewWithCredentials, SchemaURL(publicBaseURL, i.SchemaID)), nil
}

// ParseIncludeCredential reads ?include_credential=: each value must be a
// credential type Kratos knows. listing selects the reason Kratos gives
// (the list names the value; the single-identity get names what was
// parsed before it, a quirk kept for byte-equal answers).
func ParseIncludeCredential(values []string, listing bool) ([]CredentialType, error) {
	var out []CredentialType
	for _, v := range values {
		t := CredentialType(v)
		if !knownCredentialType(t) {
			shown := any(v)
			if !listing {
				shown = out
			}
			return nil, httpx.ErrBadRequest(fmt.Sprintf("Invalid value `%s` for parameter `include_credential`.", shown))
		}
		out = append(out, t)
	}
	return out, nil
}

func containsType(ts []CredentialType, t CredentialType) bool {
	for _, x := range ts {
		if x == t {
			return true
		}
	}
	return false
}
