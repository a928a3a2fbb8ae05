package oidc_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/internal/oidc"
	"github.com/latchkey/latchkey/internal/server/servertest"
)

// callback is the redirect URI the tests' flows use; nothing listens
// there: the browser stand-in stops at the redirect.
const callback = "http://127.0.0.1:4433/self-service/methods/oidc/callback/mock"

// mustGeneric builds a generic provider for op; edit changes the config.
func mustGeneric(t *testing.T, op *servertest.OpenIDProvider, edit ...func(*oidc.ProviderConfig)) oidc.Provider {
	t.Helper()
	c := oidc.ProviderConfig{
		ID: "mock", Provider: "generic", ClientID: op.ClientID, ClientSecret: op.ClientSecret,
		IssuerURL: op.Issuer(), Scope: []string{"email"}, MapperURL: emailMapperURL,
	}
	for _, e := range edit {
		e(&c)
	}
	p, err := oidc.New(c, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

// newAuthRequest is what a flow would keep for one round trip.
func newAuthRequest(t *testing.T, p oidc.Provider) oidc.AuthRequest {
	t.Helper()
	req := oidc.AuthRequest{State: "state-" + t.Name(), Nonce: "nonce-" + t.Name(), RedirectURI: callback}
	pkce, err := p.UsesPKCE(context.Background())
	if err != nil {
		t.Fatalf("UsesPKCE: %v", err)
	}
	if pkce {
		req.PKCEVerifier = oidc.NewPKCEVerifier()
	}
	return req
}

// authorize plays the browser: it opens the authorization URL and
// returns the query the provider redirects back with.
func authorize(t *testing.T, p oidc.Provider, req oidc.AuthRequest) url.Values {
	t.Helper()
	u, err := p.AuthCodeURL(context.Background(), req)
	if err != nil {
		t.Fatalf("AuthCodeURL: %v", err)
	}
	browser := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := browser.Get(u)
	if err != nil {
		t.Fatalf("GET authorization URL: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("authorization answered %d, want a redirect", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(loc.String(), callback) {
		t.Fatalf("redirected to %q, want the callback", resp.Header.Get("Location"))
	}
	return loc.Query()
}

// code runs the authorization and returns the code, checking the state.
func code(t *testing.T, p oidc.Provider, req oidc.AuthRequest) string {
	t.Helper()
	q := authorize(t, p, req)
	if q.Get("state") != req.State {
		t.Fatalf("state = %q, want %q", q.Get("state"), req.State)
	}
	if q.Get("code") == "" {
		t.Fatalf("no code in the callback: %v", q)
	}
	return q.Get("code")
}

// wantKind fails unless err is an *oidc.Error of kind want.
func wantKind(t *testing.T, err error, want oidc.ErrorKind) *oidc.Error {
	t.Helper()
	var oe *oidc.Error
	if !errors.As(err, &oe) {
		t.Fatalf("error = %v (%T), want an *oidc.Error of kind %v", err, err, want)
	}
	if oe.Kind != want {
		t.Fatalf("kind = %v (%v), want %v", oe.Kind, oe, want)
	}
	return oe
}

func TestGenericRoundTrip(t *testing.T) {
	op := servertest.StartOpenIDProvider(t)

	t.Run("AuthCodeURLCarriesTheRequest", func(t *testing.T) {
		p := mustGeneric(t, op, func(c *oidc.ProviderConfig) {
			c.RequestedClaims = []byte(`{"id_token":{"email":{"essential":true}}}`)
		})
		req := newAuthRequest(t, p)
		if req.PKCEVerifier == "" {
			t.Fatal("pkce auto: the provider advertises S256, so PKCE must be used")
		}
		u, err := p.AuthCodeURL(context.Background(), req, oauth2.SetAuthURLParam("prompt", "login"))
		if err != nil {
			t.Fatalf("AuthCodeURL: %v", err)
		}
		parsed, _ := url.Parse(u)
		if !strings.HasPrefix(u, op.Issuer()+"/authorize?") {
			t.Errorf("URL %q is not the provider's authorization endpoint", u)
		}
		q := parsed.Query()
		for key, want := range map[string]string{
			"client_id": op.ClientID, "redirect_uri": callback, "response_type": "code", "state": req.State,
			"nonce": req.Nonce, "code_challenge_method": "S256", "prompt": "login",
			"claims": `{"id_token":{"email":{"essential":true}}}`,
		} {
			if q.Get(key) != want {
				t.Errorf("%s = %q, want %q", key, q.Get(key), want)
			}
		}
		if scopes := strings.Fields(q.Get("scope")); !slices.Contains(scopes, "openid") || !slices.Contains(scopes, "email") {
			t.Errorf("scope = %q, want openid added to email", q.Get("scope"))
		}
		if q.Get("code_challenge") == "" || q.Get("code_challenge") == req.PKCEVerifier {
			t.Errorf("code_challenge = %q, want the S256 of the verifier", q.Get("code_challenge"))
		}
		if strings.Contains(u, op.ClientSecret) {
			t.Error("the authorization URL carries the client secret")
		}
	})

	t.Run("ExchangeReturnsVerifiedClaims", func(t *testing.T) {
		op.SetUser("sub-ada", "ada@example.com", true, map[string]any{
			"name": "Ada Lovelace", "given_name": "Ada", "locale": "en-GB", "updated_at": 1700000000,
		})
		p := mustGeneric(t, op)
		req := newAuthRequest(t, p)
		claims, tok, err := p.Exchange(context.Background(), req, code(t, p, req))
		if err != nil {
			t.Fatalf("Exchange: %v", err)
		}
		want := oidc.Claims{
			Issuer: op.Issuer(), Subject: "sub-ada", Email: "ada@example.com", EmailVerified: true,
			Name: "Ada Lovelace", GivenName: "Ada", Locale: "en-GB", UpdatedAt: 1700000000,
		}
		got := *claims
		got.RawClaims = nil
		if !reflect.DeepEqual(got, want) {
			t.Errorf("claims = %+v\nwant %+v", got, want)
		}
		if claims.RawClaims["nonce"] != req.Nonce || claims.RawClaims["sub"] != "sub-ada" {
			t.Errorf("raw_claims = %v, want the ID token's payload", claims.RawClaims)
		}
		if tok.AccessToken == "" || tok.Extra("id_token") == nil {
			t.Errorf("token = %+v, want the provider's tokens", tok)
		}
		if op.LastTokenAuth() != "client_secret_basic" {
			t.Errorf("client authentication = %q, want client_secret_basic first", op.LastTokenAuth())
		}
	})

	t.Run("ReplayedCodeIsRefused", func(t *testing.T) {
		p := mustGeneric(t, op)
		req := newAuthRequest(t, p)
		c := code(t, p, req)
		if _, _, err := p.Exchange(context.Background(), req, c); err != nil {
			t.Fatalf("first Exchange: %v", err)
		}
		_, _, err := p.Exchange(context.Background(), req, c)
		wantKind(t, err, oidc.KindTokenRejected)
	})

	t.Run("DeniedConsentComesBackWithError", func(t *testing.T) {
		p := mustGeneric(t, op)
		req := newAuthRequest(t, p)
		op.Deny()
		q := authorize(t, p, req)
		if q.Get("error") != "access_denied" || q.Get("state") != req.State || q.Get("code") != "" {
			t.Fatalf("callback query = %v, want error=access_denied with the state and no code", q)
		}
		// Only the next authorization is refused.
		code(t, p, req)
	})
}

func TestGenericClientAuthentication(t *testing.T) {
	op := servertest.StartOpenIDProvider(t)
	op.RefuseClientSecretBasic()
	p := mustGeneric(t, op)
	for i := range 2 {
		req := newAuthRequest(t, p)
		if _, _, err := p.Exchange(context.Background(), req, code(t, p, req)); err != nil {
			t.Fatalf("Exchange %d: %v", i, err)
		}
		if op.LastTokenAuth() != "client_secret_post" {
			t.Fatalf("client authentication = %q, want the fallback to client_secret_post", op.LastTokenAuth())
		}
	}
}

func TestGenericIDTokenVerification(t *testing.T) {
	op := servertest.StartOpenIDProvider(t)
	p := mustGeneric(t, op)
	tests := []struct {
		name   string
		before func()
		edit   func(req *oidc.AuthRequest)
		reason string
	}{
		{"NonceMismatch", nil, func(req *oidc.AuthRequest) { req.Nonce = "another-nonce" }, "does not carry the nonce"},
		{"NonceForgottenByTheFlow", nil, func(req *oidc.AuthRequest) { req.Nonce = "" }, ""},
		{"WrongAudience", func() { op.AlterNextIDToken(func(c map[string]any) { c["aud"] = "another-client" }) }, nil, "is not valid"},
		{"WrongIssuer", func() { op.AlterNextIDToken(func(c map[string]any) { c["iss"] = "https://evil.example.com" }) }, nil, "is not valid"},
		{"Expired", func() {
			op.AlterNextIDToken(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() })
		}, nil, "has expired"},
		{"ForeignSignature", op.SignNextIDTokenWithForeignKey, nil, "is not valid"},
		{"NoSubject", func() { op.AlterNextIDToken(func(c map[string]any) { delete(c, "sub") }) }, nil, "has no subject"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := newAuthRequest(t, p)
			c := code(t, p, req)
			if tt.before != nil {
				tt.before()
			}
			if tt.edit != nil {
				tt.edit(&req)
			}
			_, _, err := p.Exchange(context.Background(), req, c)
			oe := wantKind(t, err, oidc.KindInvalidIDToken)
			if !strings.Contains(oe.Reason, tt.reason) {
				t.Errorf("reason = %q, want %q", oe.Reason, tt.reason)
			}
		})
	}
}

func TestGenericPKCE(t *testing.T) {
	op := servertest.StartOpenIDProvider(t)

	t.Run("ForceSendsTheVerifierAndTheProviderChecksIt", func(t *testing.T) {
		p := mustGeneric(t, op, func(c *oidc.ProviderConfig) { c.PKCE = "force" })
		req := newAuthRequest(t, p)
		if req.PKCEVerifier == "" {
			t.Fatal("force: UsesPKCE = false")
		}
		c := code(t, p, req)
		wrong := req
		wrong.PKCEVerifier = oidc.NewPKCEVerifier()
		_, _, err := p.Exchange(context.Background(), wrong, c)
		wantKind(t, err, oidc.KindTokenRejected)

		req = newAuthRequest(t, p)
		if _, _, err := p.Exchange(context.Background(), req, code(t, p, req)); err != nil {
			t.Fatalf("Exchange with the right verifier: %v", err)
		}
	})

	t.Run("MissingVerifierIsRefused", func(t *testing.T) {
		p := mustGeneric(t, op, func(c *oidc.ProviderConfig) { c.PKCE = "force" })
		req := newAuthRequest(t, p)
		c := code(t, p, req)
		req.PKCEVerifier = ""
		_, _, err := p.Exchange(context.Background(), req, c)
		wantKind(t, err, oidc.KindTokenRejected)
	})

	t.Run("NeverSendsNoChallenge", func(t *testing.T) {
		p := mustGeneric(t, op, func(c *oidc.ProviderConfig) { c.PKCE = "never" })
		req := newAuthRequest(t, p)
		if req.PKCEVerifier != "" {
			t.Fatal("never: UsesPKCE = true")
		}
		u, _ := p.AuthCodeURL(context.Background(), req)
		if strings.Contains(u, "code_challenge") {
			t.Fatalf("URL %q carries a code challenge", u)
		}
		if _, _, err := p.Exchange(context.Background(), req, code(t, p, req)); err != nil {
			t.Fatalf("Exchange: %v", err)
		}
	})

	t.Run("AutoFollowsDiscovery", func(t *testing.T) {
		noPKCE := servertest.StartOpenIDProvider(t)
		noPKCE.SetPKCEMethods()
		p := mustGeneric(t, noPKCE)
		req := newAuthRequest(t, p)
		if req.PKCEVerifier != "" {
			t.Fatal("auto: UsesPKCE = true for a provider that does not advertise S256")
		}
		if _, _, err := p.Exchange(context.Background(), req, code(t, p, req)); err != nil {
			t.Fatalf("Exchange: %v", err)
		}
		if uses, _ := mustGeneric(t, op).UsesPKCE(context.Background()); !uses {
			t.Fatal("auto: UsesPKCE = false for a provider that advertises S256")
		}
	})
}

func TestGenericProviderFaults(t *testing.T) {
	t.Run("DownBeforeDiscovery", func(t *testing.T) {
		op := servertest.StartOpenIDProvider(t)
		p := mustGeneric(t, op)
		op.Stop()
		start := time.Now()
		_, err := p.AuthCodeURL(context.Background(), oidc.AuthRequest{State: "s", RedirectURI: callback})
		wantKind(t, err, oidc.KindUnavailable)
		_, err = p.UsesPKCE(context.Background())
		wantKind(t, err, oidc.KindUnavailable)
		if took := time.Since(start); took > 2*time.Second {
			t.Fatalf("took %v to notice a closed port", took)
		}
	})

	t.Run("DownAtExchange", func(t *testing.T) {
		op := servertest.StartOpenIDProvider(t)
		p := mustGeneric(t, op)
		req := newAuthRequest(t, p)
		c := code(t, p, req)
		op.Stop()
		_, _, err := p.Exchange(context.Background(), req, c)
		wantKind(t, err, oidc.KindUnavailable)
	})

	t.Run("SlowTokenEndpointGivesUpWithCtx", func(t *testing.T) {
		op := servertest.StartOpenIDProvider(t)
		p := mustGeneric(t, op)
		req := newAuthRequest(t, p)
		c := code(t, p, req)
		op.SlowTokenEndpoint(time.Minute)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, _, err := p.Exchange(ctx, req, c)
		wantKind(t, err, oidc.KindUnavailable)
		if took := time.Since(start); took > 3*time.Second {
			t.Fatalf("Exchange took %v with a 300ms deadline", took)
		}
	})

	t.Run("ClientTimeoutBoundsASlowProvider", func(t *testing.T) {
		op := servertest.StartOpenIDProvider(t)
		c := oidc.ProviderConfig{
			ID: "mock", Provider: "generic", ClientID: op.ClientID, ClientSecret: op.ClientSecret,
			IssuerURL: op.Issuer(), Scope: []string{"email"}, MapperURL: emailMapperURL,
		}
		p, err := oidc.New(c, &http.Client{Timeout: 300 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		req := newAuthRequest(t, p)
		code := code(t, p, req)
		op.SlowTokenEndpoint(time.Minute)
		_, _, err = p.Exchange(context.Background(), req, code)
		wantKind(t, err, oidc.KindUnavailable)
	})

	t.Run("TokenEndpoint5xxIsUnavailable", func(t *testing.T) {
		op := servertest.StartOpenIDProvider(t)
		p := mustGeneric(t, op)
		req := newAuthRequest(t, p)
		c := code(t, p, req)
		op.FailTokenEndpoint(http.StatusServiceUnavailable)
		_, _, err := p.Exchange(context.Background(), req, c)
		wantKind(t, err, oidc.KindUnavailable)
		op.FailTokenEndpoint(0)
		if _, _, err := p.Exchange(context.Background(), req, c); err != nil {
			t.Fatalf("Exchange after the fault was lifted: %v", err)
		}
	})

	t.Run("WrongClientSecretIsRejected", func(t *testing.T) {
		op := servertest.StartOpenIDProvider(t)
		p := mustGeneric(t, op, func(c *oidc.ProviderConfig) { c.ClientSecret = "not-the-secret" })
		req := newAuthRequest(t, p)
		_, _, err := p.Exchange(context.Background(), req, code(t, p, req))
		wantKind(t, err, oidc.KindTokenRejected)
	})

	t.Run("DiscoveryIsTriedAgainAfterAFailure", func(t *testing.T) {
		op := servertest.StartOpenIDProvider(t)
		p := mustGeneric(t, op)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := p.UsesPKCE(ctx)
		wantKind(t, err, oidc.KindUnavailable)
		if _, err := p.UsesPKCE(context.Background()); err != nil {
			t.Fatalf("UsesPKCE after a failed discovery: %v", err)
		}
		// Kept once fetched: the provider going away no longer matters
		// for what discovery said.
		op.Stop()
		if uses, err := p.UsesPKCE(context.Background()); err != nil || !uses {
			t.Fatalf("UsesPKCE after stop = %v, %v; want the cached discovery", uses, err)
		}
	})
}

func TestErrorsNeverCarrySecrets(t *testing.T) {
	op := servertest.StartOpenIDProvider(t)
	p := mustGeneric(t, op, func(c *oidc.ProviderConfig) { c.PKCE = "force" })
	var errs []error
	var secrets []string
	attempt := func(fault func(), edit func(*oidc.AuthRequest)) {
		req := newAuthRequest(t, p)
		c := code(t, p, req)
		secrets = append(secrets, c, req.PKCEVerifier)
		if fault != nil {
			fault()
		}
		if edit != nil {
			edit(&req)
		}
		_, _, err := p.Exchange(context.Background(), req, c)
		if err == nil {
			t.Fatal("Exchange succeeded")
		}
		errs = append(errs, err)
		if _, _, err := p.Exchange(context.Background(), req, c); err != nil {
			errs = append(errs, err) // the replay
		}
	}
	attempt(nil, func(r *oidc.AuthRequest) { r.PKCEVerifier = oidc.NewPKCEVerifier() })
	attempt(nil, func(r *oidc.AuthRequest) { r.Nonce = "x" })
	attempt(op.SignNextIDTokenWithForeignKey, nil)
	attempt(func() { op.FailTokenEndpoint(http.StatusBadGateway) }, nil)
	op.FailTokenEndpoint(0)
	wrongSecret := mustGeneric(t, op, func(c *oidc.ProviderConfig) { c.ClientSecret = "wrong-secret-value" })
	req := newAuthRequest(t, wrongSecret)
	_, _, err := wrongSecret.Exchange(context.Background(), req, code(t, wrongSecret, req))
	errs = append(errs, err)
	secrets = append(secrets, op.ClientSecret, "wrong-secret-value")

	for _, err := range errs {
		for _, s := range secrets {
			if s != "" && strings.Contains(err.Error(), s) {
				t.Errorf("error %q carries a secret (%q)", err, s)
			}
		}
	}
}
