package oidc_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/latchkey/latchkey/internal/oidc"
)

// gitHubAPI emulates the three GitHub endpoints a sign-in uses (the
// token endpoint, GET /user, GET /user/emails) with their documented
// shapes, because github.com cannot be reached from tests. The token
// endpoint answers as GitHub does: form-encoded, and 200 with an error
// for a bad code.
type gitHubAPI struct {
	*httptest.Server
	clientID, clientSecret string

	mu       sync.Mutex
	user     string // the JSON of GET /user
	emails   string // the JSON of GET /user/emails; "" answers 404
	status   int    // when set, /user answers it
	verifier string // the code_verifier of the last token request
}

const gitHubCode, gitHubToken = "gh-code-0123", "gho_accesstoken0123"

func startGitHubAPI(t *testing.T) *gitHubAPI {
	api := &gitHubAPI{clientID: "gh-client", clientSecret: "gh-secret-0123"}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login/oauth/access_token", func(w http.ResponseWriter, r *http.Request) {
		id, secret, ok := r.BasicAuth()
		if !ok {
			id, secret = r.PostFormValue("client_id"), r.PostFormValue("client_secret")
		}
		api.mu.Lock()
		api.verifier = r.PostFormValue("code_verifier")
		api.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-www-form-urlencoded")
		switch {
		case id != api.clientID || secret != api.clientSecret:
			io.WriteString(w, "error=incorrect_client_credentials")
		case r.PostFormValue("code") != gitHubCode:
			io.WriteString(w, "error=bad_verification_code&error_description=The+code+passed+is+incorrect+or+expired.")
		default:
			io.WriteString(w, url.Values{"access_token": {gitHubToken}, "scope": {"user:email"}, "token_type": {"bearer"}}.Encode())
		}
	})
	authorized := func(w http.ResponseWriter, r *http.Request) bool {
		if r.Header.Get("Authorization") != "Bearer "+gitHubToken {
			http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
			return false
		}
		return true
	}
	mux.HandleFunc("GET /user", func(w http.ResponseWriter, r *http.Request) {
		api.mu.Lock()
		defer api.mu.Unlock()
		if !authorized(w, r) {
			return
		}
		if api.status != 0 {
			http.Error(w, `{"message":"Server Error"}`, api.status)
			return
		}
		io.WriteString(w, api.user)
	})
	mux.HandleFunc("GET /user/emails", func(w http.ResponseWriter, r *http.Request) {
		api.mu.Lock()
		defer api.mu.Unlock()
		if !authorized(w, r) {
			return
		}
		if api.emails == "" {
			http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
			return
		}
		io.WriteString(w, api.emails)
	})
	api.Server = httptest.NewServer(mux)
	t.Cleanup(api.Close)
	return api
}

func (api *gitHubAPI) set(user, emails string) {
	api.mu.Lock()
	defer api.mu.Unlock()
	api.user, api.emails = user, emails
}

func (api *gitHubAPI) mustProvider(t *testing.T, edit ...func(*oidc.ProviderConfig)) oidc.Provider {
	t.Helper()
	c := oidc.ProviderConfig{
		ID: "github", Provider: "github", ClientID: api.clientID, ClientSecret: api.clientSecret,
		AuthURL: api.URL + "/login/oauth/authorize", TokenURL: api.URL + "/login/oauth/access_token",
		APIURL: api.URL, MapperURL: emailMapperURL,
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

const octocat = `{"login":"octocat","id":12345678901,"avatar_url":"https://avatars.example.com/u/1",
"html_url":"https://github.com/octocat","name":"The Octocat","blog":"https://octocat.example.com",
"email":null,"updated_at":"2024-01-02T03:04:05Z"}`

func TestGitHub(t *testing.T) {
	api := startGitHubAPI(t)
	req := oidc.AuthRequest{State: "st", Nonce: "never-sent", RedirectURI: "http://127.0.0.1:4433/self-service/methods/oidc/callback/github"}

	t.Run("AuthCodeURL", func(t *testing.T) {
		p := api.mustProvider(t)
		if uses, err := p.UsesPKCE(context.Background()); uses || err != nil {
			t.Fatalf("UsesPKCE = %v, %v; GitHub has no discovery, so auto means no PKCE", uses, err)
		}
		u, err := p.AuthCodeURL(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		parsed, _ := url.Parse(u)
		q := parsed.Query()
		if !strings.HasPrefix(u, api.URL+"/login/oauth/authorize?") || q.Get("client_id") != api.clientID ||
			q.Get("redirect_uri") != req.RedirectURI || q.Get("scope") != "user:email" || q.Get("state") != "st" ||
			q.Get("response_type") != "code" {
			t.Errorf("URL = %s", u)
		}
		if q.Has("nonce") || q.Has("code_challenge") {
			t.Errorf("URL %s carries a nonce or a challenge", u)
		}
	})

	t.Run("DefaultsToGitHubCom", func(t *testing.T) {
		p, err := oidc.New(oidc.ProviderConfig{ID: "github", Provider: "github", ClientID: "c", MapperURL: emailMapperURL}, nil)
		if err != nil {
			t.Fatal(err)
		}
		u, _ := p.AuthCodeURL(context.Background(), req)
		if !strings.HasPrefix(u, "https://github.com/login/oauth/authorize?") {
			t.Errorf("URL = %s", u)
		}
	})

	t.Run("PrimaryVerifiedEmailIsChosen", func(t *testing.T) {
		api.set(octocat, `[{"email":"old@example.com","primary":false,"verified":true},
			{"email":"unverified@example.com","primary":false,"verified":false},
			{"email":"octo@example.com","primary":true,"verified":true}]`)
		claims, tok, err := api.mustProvider(t).Exchange(context.Background(), req, gitHubCode)
		if err != nil {
			t.Fatalf("Exchange: %v", err)
		}
		if tok.AccessToken != gitHubToken {
			t.Errorf("access token = %q", tok.AccessToken)
		}
		want := oidc.Claims{
			Issuer: "https://github.com/login/oauth/access_token", Subject: "12345678901",
			Name: "The Octocat", Nickname: "octocat", PreferredUsername: "octocat",
			Picture: "https://avatars.example.com/u/1", Profile: "https://github.com/octocat",
			Website: "https://octocat.example.com", Email: "octo@example.com", EmailVerified: true,
			UpdatedAt: 1704164645,
		}
		got := *claims
		got.RawClaims = nil
		if !reflect.DeepEqual(got, want) {
			t.Errorf("claims = %+v\nwant %+v", got, want)
		}
		if claims.RawClaims["login"] != "octocat" {
			t.Errorf("raw_claims = %v, want GitHub's user object", claims.RawClaims)
		}
		// The mapper sees the id exactly, not as a float.
		raw, _ := json.Marshal(claims)
		if !strings.Contains(string(raw), `"id":12345678901`) {
			t.Errorf("claims JSON = %s", raw)
		}
	})

	t.Run("UnverifiedPrimaryIsNotVouchedFor", func(t *testing.T) {
		api.set(octocat, `[{"email":"octo@example.com","primary":true,"verified":false}]`)
		claims, _, err := api.mustProvider(t).Exchange(context.Background(), req, gitHubCode)
		if err != nil {
			t.Fatalf("Exchange: %v", err)
		}
		if claims.Email != "" || claims.EmailVerified {
			t.Errorf("email = %q (verified %v), want none", claims.Email, claims.EmailVerified)
		}
	})

	t.Run("NoEmailAtAll", func(t *testing.T) {
		api.set(octocat, "") // /user/emails answers 404, as without user:email
		claims, _, err := api.mustProvider(t).Exchange(context.Background(), req, gitHubCode)
		if err != nil {
			t.Fatalf("Exchange: %v", err)
		}
		if claims.Email != "" || claims.EmailVerified || claims.Subject != "12345678901" {
			t.Errorf("claims = %+v, want a subject and no email", claims)
		}
	})

	t.Run("PublicEmailWithoutEmailsScopeIsUnverified", func(t *testing.T) {
		api.set(strings.Replace(octocat, `"email":null`, `"email":"public@example.com"`, 1), "")
		claims, _, err := api.mustProvider(t).Exchange(context.Background(), req, gitHubCode)
		if err != nil {
			t.Fatalf("Exchange: %v", err)
		}
		if claims.Email != "public@example.com" || claims.EmailVerified {
			t.Errorf("email = %q (verified %v), want the public address, unverified", claims.Email, claims.EmailVerified)
		}
	})

	t.Run("UserWithoutID", func(t *testing.T) {
		api.set(`{"login":"ghost"}`, "")
		_, _, err := api.mustProvider(t).Exchange(context.Background(), req, gitHubCode)
		wantKind(t, err, oidc.KindMissingClaim)
	})

	t.Run("BadCodeIsRejected", func(t *testing.T) {
		api.set(octocat, "")
		_, _, err := api.mustProvider(t).Exchange(context.Background(), req, "wrong-code")
		oe := wantKind(t, err, oidc.KindTokenRejected)
		if !strings.Contains(oe.Reason, "bad_verification_code") || strings.Contains(err.Error(), "wrong-code") {
			t.Errorf("error = %q", err)
		}
	})

	t.Run("WrongSecretIsRejected", func(t *testing.T) {
		p := api.mustProvider(t, func(c *oidc.ProviderConfig) { c.ClientSecret = "not-it" })
		_, _, err := p.Exchange(context.Background(), req, gitHubCode)
		wantKind(t, err, oidc.KindTokenRejected)
		if strings.Contains(err.Error(), "not-it") || strings.Contains(err.Error(), gitHubCode) {
			t.Errorf("error %q carries a secret", err)
		}
	})

	t.Run("APIFailureIsUnavailable", func(t *testing.T) {
		api.set(octocat, "")
		api.mu.Lock()
		api.status = http.StatusBadGateway
		api.mu.Unlock()
		t.Cleanup(func() { api.mu.Lock(); api.status = 0; api.mu.Unlock() })
		_, _, err := api.mustProvider(t).Exchange(context.Background(), req, gitHubCode)
		oe := wantKind(t, err, oidc.KindUnavailable)
		if strings.Contains(err.Error(), gitHubToken) {
			t.Errorf("error %q carries the access token", oe)
		}
	})

	t.Run("ForcedPKCESendsTheVerifier", func(t *testing.T) {
		api.set(octocat, "")
		p := api.mustProvider(t, func(c *oidc.ProviderConfig) { c.PKCE = "force" })
		if uses, _ := p.UsesPKCE(context.Background()); !uses {
			t.Fatal("force: UsesPKCE = false")
		}
		r := req
		r.PKCEVerifier = oidc.NewPKCEVerifier()
		u, _ := p.AuthCodeURL(context.Background(), r)
		if !strings.Contains(u, "code_challenge_method=S256") {
			t.Errorf("URL = %s", u)
		}
		if _, _, err := p.Exchange(context.Background(), r, gitHubCode); err != nil {
			t.Fatal(err)
		}
		api.mu.Lock()
		defer api.mu.Unlock()
		if api.verifier != r.PKCEVerifier {
			t.Errorf("code_verifier = %q, want %q", api.verifier, r.PKCEVerifier)
		}
	})

	t.Run("IDTokenUnsupported", func(t *testing.T) {
		_, err := api.mustProvider(t).VerifyIDToken(context.Background(), "x.y.z", "")
		oe := wantKind(t, err, oidc.KindIDTokenUnsupported)
		if oe.Reason != "The provider github does not support id_token verification" {
			t.Errorf("reason = %q", oe.Reason)
		}
	})
}
