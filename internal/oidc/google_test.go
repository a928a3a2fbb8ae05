package oidc_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/oidc"
	"github.com/latchkey/latchkey/internal/server/servertest"
)

// mustGoogle is a google provider pointed at the local provider (Latchkey
// lets issuer_url override https://accounts.google.com for this).
func mustGoogle(t *testing.T, op *servertest.OpenIDProvider, scope ...string) oidc.Provider {
	t.Helper()
	p, err := oidc.New(oidc.ProviderConfig{
		ID: "google", Provider: "google", ClientID: op.ClientID, ClientSecret: op.ClientSecret,
		IssuerURL: op.Issuer(), Scope: scope, MapperURL: emailMapperURL,
	}, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

func TestGoogleVerifyIDToken(t *testing.T) {
	op := servertest.StartOpenIDProvider(t)
	p := mustGoogle(t, op, "email")

	t.Run("Valid", func(t *testing.T) {
		raw := op.SignIDToken(t, servertest.IDToken{Subject: "g-1", Nonce: "n-1", Claims: map[string]any{"email": "g@example.com", "email_verified": true}})
		claims, err := p.VerifyIDToken(context.Background(), raw, "n-1")
		if err != nil {
			t.Fatalf("VerifyIDToken: %v", err)
		}
		if claims.Subject != "g-1" || claims.Email != "g@example.com" || !claims.EmailVerified || claims.Issuer != op.Issuer() {
			t.Errorf("claims = %+v", claims)
		}
	})

	t.Run("WithoutNonceIsAccepted", func(t *testing.T) {
		// Not every Google SDK sends a nonce; Kratos accepts such tokens.
		raw := op.SignIDToken(t, servertest.IDToken{Subject: "g-1"})
		if _, err := p.VerifyIDToken(context.Background(), raw, ""); err != nil {
			t.Fatalf("VerifyIDToken: %v", err)
		}
	})

	tests := []struct {
		name  string
		token servertest.IDToken
		nonce string
		want  oidc.ErrorKind
	}{
		{"WrongAudience", servertest.IDToken{Audience: "another-app"}, "", oidc.KindInvalidIDToken},
		{"Expired", servertest.IDToken{Expiry: time.Now().Add(-time.Minute)}, "", oidc.KindInvalidIDToken},
		{"ForeignKey", servertest.IDToken{ForeignKey: true}, "", oidc.KindInvalidIDToken},
		{"OtherIssuer", servertest.IDToken{Claims: map[string]any{"iss": "https://accounts.google.com"}}, "", oidc.KindInvalidIDToken},
		{"NonceMismatch", servertest.IDToken{Nonce: "n-1"}, "n-2", oidc.KindInvalidIDToken},
		{"NonceNotSubmitted", servertest.IDToken{Nonce: "n-1"}, "", oidc.KindInvalidIDToken},
		{"NoSubject", servertest.IDToken{Claims: map[string]any{"sub": nil}}, "", oidc.KindInvalidIDToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := p.VerifyIDToken(context.Background(), op.SignIDToken(t, tt.token), tt.nonce)
			wantKind(t, err, tt.want)
		})
	}

	t.Run("NotAJWT", func(t *testing.T) {
		_, err := p.VerifyIDToken(context.Background(), "not-a-token", "")
		wantKind(t, err, oidc.KindInvalidIDToken)
	})
}

func TestGoogleOfflineAccess(t *testing.T) {
	op := servertest.StartOpenIDProvider(t)
	p := mustGoogle(t, op, "email", "offline_access")
	u, err := p.AuthCodeURL(context.Background(), oidc.AuthRequest{State: "s", Nonce: "n", RedirectURI: callback})
	if err != nil {
		t.Fatal(err)
	}
	parsed, _ := url.Parse(u)
	q := parsed.Query()
	if q.Get("access_type") != "offline" || strings.Contains(q.Get("scope"), "offline_access") || !strings.Contains(q.Get("scope"), "openid") {
		t.Errorf("URL = %s, want access_type=offline instead of the offline_access scope", u)
	}
	// The provider accepts the request (it refuses unknown scopes).
	req := newAuthRequest(t, p)
	if _, _, err := p.Exchange(context.Background(), req, code(t, p, req)); err != nil {
		t.Fatalf("Exchange: %v", err)
	}
}

func TestGoogleDefaultsToAccountsGoogleCom(t *testing.T) {
	p, err := oidc.New(oidc.ProviderConfig{ID: "google", Provider: "google", ClientID: "c", MapperURL: emailMapperURL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Config().IssuerURL; got != "https://accounts.google.com" {
		t.Errorf("issuer = %q", got)
	}
}

func TestGenericVerifyIDTokenIsUnsupported(t *testing.T) {
	op := servertest.StartOpenIDProvider(t)
	_, err := mustGeneric(t, op).VerifyIDToken(context.Background(), op.SignIDToken(t, servertest.IDToken{}), "")
	oe := wantKind(t, err, oidc.KindIDTokenUnsupported)
	if oe.Reason != "The provider generic does not support id_token verification" {
		t.Errorf("reason = %q, want Kratos's", oe.Reason)
	}
}
