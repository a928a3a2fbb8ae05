package servertest

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"
)

// OpenIDProvider is a real OpenID Connect provider for tests, in process
// on 127.0.0.1: oauth2-proxy's mockoidc (discovery, JWKS, authorization
// code with PKCE checked, RS256 ID tokens with the nonce), with what a
// sign-in test needs around it: no login page (the authorization endpoint
// signs the configured user in at once and redirects back), redirect URIs
// limited to http://127.0.0.1 and http://localhost, refused consent, and
// faults at the token endpoint.
type OpenIDProvider struct {
	// ClientID and ClientSecret are the one client the provider knows.
	ClientID     string
	ClientSecret string

	oidc *mockoidc.MockOIDC
	// stopped is closed by Stop, so that a slowed request lets go.
	stopped  chan struct{}
	stopOnce sync.Once

	// mu serialises every request into mockoidc (its session store is a
	// plain map) and guards the fields below.
	mu          sync.Mutex
	user        openIDUser
	deny        bool
	failStatus  int
	slow        time.Duration
	refuseBasic bool
	lastAuth    string
	alterNext   func(claims map[string]any)
	foreignNext bool
	foreign     *mockoidc.Keypair
}

// StartOpenIDProvider starts a provider; it stops when the test ends.
// Until SetUser says otherwise, authorizations sign in as subject
// "default-subject" with the verified address someone@example.com.
func StartOpenIDProvider(t testing.TB) *OpenIDProvider {
	t.Helper()
	// A key of its own per provider: tokens of one test's provider must
	// not verify against another's (mockoidc's default key is shared).
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("openid provider key: %v", err)
	}
	m, err := mockoidc.NewServer(key)
	if err != nil {
		t.Fatalf("openid provider: %v", err)
	}
	p := &OpenIDProvider{
		ClientID:     m.ClientID,
		ClientSecret: m.ClientSecret,
		oidc:         m,
		stopped:      make(chan struct{}),
		user:         openIDUser{sub: "default-subject", email: "someone@example.com", emailVerified: true},
	}
	if err := m.AddMiddleware(p.intercept); err != nil {
		t.Fatalf("openid provider: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("openid provider listener: %v", err)
	}
	if err := m.Start(ln, nil); err != nil {
		t.Fatalf("openid provider: %v", err)
	}
	t.Cleanup(p.Stop)
	return p
}

// Issuer is the issuer URL (issuer_url of a generic provider); its
// discovery document is at Issuer()+"/.well-known/openid-configuration".
func (p *OpenIDProvider) Issuer() string { return p.oidc.Issuer() }

// TokenEndpoint is the token endpoint's URL.
func (p *OpenIDProvider) TokenEndpoint() string { return p.oidc.TokenEndpoint() }

// Stop closes the listener; later calls fail to connect. It is safe to
// call twice.
func (p *OpenIDProvider) Stop() {
	p.stopOnce.Do(func() {
		close(p.stopped)
		_ = p.oidc.Shutdown()
	})
}

// SetUser sets who the following authorizations sign in as. As a real
// provider does, the ID token carries email and email_verified only when
// the "email" scope was asked for; extra claims (name, given_name,
// picture…) are always in it.
func (p *OpenIDProvider) SetUser(sub, email string, emailVerified bool, extra map[string]any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.user = openIDUser{sub: sub, email: email, emailVerified: emailVerified, extra: maps.Clone(extra)}
}

// Deny makes the next authorization redirect back with
// error=access_denied, as when the user refuses consent.
func (p *OpenIDProvider) Deny() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.deny = true
}

// FailTokenEndpoint makes the token endpoint answer every request with
// status (an OAuth 2 error body: server_error for 5xx, invalid_request
// otherwise) until it is called with 0.
func (p *OpenIDProvider) FailTokenEndpoint(status int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failStatus = status
}

// SlowTokenEndpoint makes the token endpoint wait d before answering
// (until it is called with 0); the wait ends early when the client gives
// up or the provider stops.
func (p *OpenIDProvider) SlowTokenEndpoint(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.slow = d
}

// RefuseClientSecretBasic makes the token endpoint refuse client
// credentials in an Authorization header (401 invalid_client), as
// providers that only take client_secret_post do. By default both work.
func (p *OpenIDProvider) RefuseClientSecretBasic() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refuseBasic = true
}

// LastTokenAuth is how the last token request that carried client
// credentials sent them: "client_secret_basic" or "client_secret_post"
// ("" before any).
func (p *OpenIDProvider) LastTokenAuth() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastAuth
}

// SetPKCEMethods sets the code_challenge_methods_supported the discovery
// document advertises and the authorization endpoint accepts (by default
// "plain" and "S256"). With none, a request carrying a code_challenge is
// refused, like a provider without PKCE.
func (p *OpenIDProvider) SetPKCEMethods(methods ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.oidc.CodeChallengeMethodsSupported = methods
}

// AlterNextIDToken lets edit change the claims (iss, sub, aud, exp,
// nonce, email…) of the ID token in the next successful token response;
// the token is signed again with the provider's key. edit runs while the
// provider handles the request, so it must not call the provider.
func (p *OpenIDProvider) AlterNextIDToken(edit func(claims map[string]any)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.alterNext = edit
}

// SignNextIDTokenWithForeignKey signs the ID token of the next successful
// token response with a key the provider does not publish (under the key
// id of the one it does), so only a signature check can tell.
func (p *OpenIDProvider) SignNextIDTokenWithForeignKey() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.foreignNext = true
}

// IDToken describes an ID token for SignIDToken; zero fields take the
// defaults.
type IDToken struct {
	// Subject defaults to the current user's (SetUser).
	Subject string
	// Audience defaults to ClientID.
	Audience string
	// Nonce is left out when "".
	Nonce string
	// Expiry defaults to ten minutes from now.
	Expiry time.Time
	// Claims are added last and win (email, name…; a nil value removes
	// the claim).
	Claims map[string]any
	// ForeignKey signs with a key the provider does not publish, under
	// the key id of the one it does.
	ForeignKey bool
}

// SignIDToken mints an ID token issued by this provider, as a native app
// would have obtained it.
func (p *OpenIDProvider) SignIDToken(t testing.TB, tok IDToken) string {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	claims := map[string]any{
		"iss": p.Issuer(),
		"sub": p.user.sub,
		"aud": p.ClientID,
		"iat": now.Unix(),
		"exp": now.Add(10 * time.Minute).Unix(),
	}
	if tok.Subject != "" {
		claims["sub"] = tok.Subject
	}
	if tok.Audience != "" {
		claims["aud"] = tok.Audience
	}
	if tok.Nonce != "" {
		claims["nonce"] = tok.Nonce
	}
	if !tok.Expiry.IsZero() {
		claims["exp"] = tok.Expiry.Unix()
	}
	for k, v := range tok.Claims {
		if v == nil {
			delete(claims, k)
			continue
		}
		claims[k] = v
	}
	raw, err := p.sign(claims, tok.ForeignKey)
	if err != nil {
		t.Fatalf("sign ID token: %v", err)
	}
	return raw
}

// sign signs claims with the provider's key, or a foreign one under the
// same key id. The caller holds mu.
func (p *OpenIDProvider) sign(claims map[string]any, foreign bool) (string, error) {
	if !foreign {
		return p.oidc.Keypair.SignJWT(jwt.MapClaims(claims))
	}
	if p.foreign == nil {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return "", err
		}
		kid, err := p.oidc.Keypair.KeyID()
		if err != nil {
			return "", err
		}
		p.foreign = &mockoidc.Keypair{PrivateKey: key, PublicKey: &key.PublicKey, Kid: kid}
	}
	return p.foreign.SignJWT(jwt.MapClaims(claims))
}

// intercept runs in front of every mockoidc endpoint.
func (p *OpenIDProvider) intercept(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == mockoidc.TokenEndpoint {
			// Wait outside the lock, so a slow token endpoint does not
			// hold up the other endpoints.
			p.mu.Lock()
			slow := p.slow
			p.mu.Unlock()
			if slow > 0 {
				select {
				case <-time.After(slow):
				case <-r.Context().Done():
					return
				case <-p.stopped:
					return
				}
			}
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		switch r.URL.Path {
		case mockoidc.AuthorizationEndpoint:
			p.authorize(next, w, r)
		case mockoidc.TokenEndpoint:
			p.token(next, w, r)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// authorize checks the redirect URI, answers a refusal when Deny was
// called, and otherwise lets mockoidc sign the current user in. The
// caller holds mu.
func (p *OpenIDProvider) authorize(next http.Handler, w http.ResponseWriter, r *http.Request) {
	redirect, err := url.Parse(r.FormValue("redirect_uri"))
	if err != nil || redirect.Scheme != "http" || (redirect.Hostname() != "127.0.0.1" && redirect.Hostname() != "localhost") {
		oauthError(w, http.StatusBadRequest, "invalid_request", "redirect_uri must be under http://127.0.0.1 or http://localhost")
		return
	}
	if p.deny {
		p.deny = false
		q := redirect.Query()
		q.Set("error", "access_denied")
		q.Set("error_description", "The resource owner denied the request.")
		q.Set("state", r.FormValue("state"))
		redirect.RawQuery = q.Encode()
		http.Redirect(w, r, redirect.String(), http.StatusFound)
		return
	}
	p.oidc.QueueUser(p.user)
	next.ServeHTTP(w, r)
}

// token applies the token endpoint's faults, takes client_secret_basic
// (mockoidc reads the client's credentials from the form only), and
// alters the ID token when asked. The caller holds mu.
func (p *OpenIDProvider) token(next http.Handler, w http.ResponseWriter, r *http.Request) {
	if p.failStatus != 0 {
		code := "invalid_request"
		if p.failStatus >= 500 {
			code = "server_error"
		}
		oauthError(w, p.failStatus, code, "the token endpoint fails (servertest)")
		return
	}
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	if id, secret, ok := r.BasicAuth(); ok {
		if p.refuseBasic {
			oauthError(w, http.StatusUnauthorized, "invalid_client", "client_secret_basic is not accepted")
			return
		}
		// RFC 6749 §2.3.1: both halves are form-encoded before Basic.
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
		r.Form.Set("client_id", id)
		r.Form.Set("client_secret", secret)
		p.lastAuth = "client_secret_basic"
	} else if r.PostForm.Get("client_secret") != "" {
		p.lastAuth = "client_secret_post"
	}
	if p.alterNext == nil && !p.foreignNext {
		next.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	next.ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	if rec.Code == http.StatusOK {
		if altered, err := p.alterIDToken(body); err == nil {
			body = altered
			p.alterNext, p.foreignNext = nil, false
		}
	}
	maps.Copy(w.Header(), rec.Header())
	w.WriteHeader(rec.Code)
	_, _ = w.Write(body)
}

// alterIDToken re-signs the ID token in a token response after the
// pending edit. The caller holds mu.
func (p *OpenIDProvider) alterIDToken(body []byte) ([]byte, error) {
	var resp map[string]any
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, err
	}
	raw, _ := resp["id_token"].(string)
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, errNoIDToken
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil {
		return nil, err
	}
	if p.alterNext != nil {
		p.alterNext(claims)
	}
	if resp["id_token"], err = p.sign(claims, p.foreignNext); err != nil {
		return nil, err
	}
	return json.Marshal(resp)
}

var errNoIDToken = errors.New("token response without an ID token")

func oauthError(w http.ResponseWriter, status int, code, description string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": description})
}

// openIDUser is the user an authorization signs in as (mockoidc.User).
type openIDUser struct {
	sub, email    string
	emailVerified bool
	extra         map[string]any
}

func (u openIDUser) ID() string { return u.sub }

// Userinfo is the userinfo endpoint's answer: the ID token's user claims.
func (u openIDUser) Userinfo(scopes []string) ([]byte, error) {
	return json.Marshal(u.claims(scopes, map[string]any{"sub": u.sub}))
}

// Claims are the ID token's claims: mockoidc's (iss, sub, aud, exp,
// nonce…) and the user's.
func (u openIDUser) Claims(scopes []string, base *mockoidc.IDTokenClaims) (jwt.Claims, error) {
	raw, err := json.Marshal(base)
	if err != nil {
		return nil, err
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		return nil, err
	}
	return jwt.MapClaims(u.claims(scopes, claims)), nil
}

func (u openIDUser) claims(scopes []string, claims map[string]any) map[string]any {
	if slices.Contains(scopes, "email") && u.email != "" {
		claims["email"] = u.email
		claims["email_verified"] = u.emailVerified
	}
	maps.Copy(claims, u.extra)
	return claims
}
