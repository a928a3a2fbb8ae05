package oidc

import (
	"cmp"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// gitHub signs in with GitHub's OAuth 2 apps: GitHub issues no ID token,
// so who the user is comes from its REST API.
type gitHub struct {
	config ProviderConfig
	client *http.Client
	oauth2 *oauth2.Config
	apiURL string
}

func newGitHub(c ProviderConfig, client *http.Client) *gitHub {
	if len(c.Scope) == 0 {
		c.Scope = []string{githubEmailScope}
	}
	return &gitHub{
		config: c,
		client: client,
		oauth2: &oauth2.Config{
			ClientID:     c.ClientID,
			ClientSecret: c.ClientSecret,
			Endpoint: oauth2.Endpoint{
				AuthURL:  cmp.Or(c.AuthURL, githubAuthURL),
				TokenURL: cmp.Or(c.TokenURL, githubTokenURL),
			},
			Scopes: c.Scope,
		},
		apiURL: strings.TrimSuffix(cmp.Or(c.APIURL, githubAPIURL), "/"),
	}
}

func (g *gitHub) Config() ProviderConfig { return g.config }

// UsesPKCE: GitHub publishes no discovery document, so "auto" finds no
// S256 and goes without PKCE, as Kratos does; "force" turns it on.
func (g *gitHub) UsesPKCE(context.Context) (bool, error) {
	return g.config.pkceMode() == PKCEForce, nil
}

func (g *gitHub) AuthCodeURL(_ context.Context, req AuthRequest, opts ...oauth2.AuthCodeOption) (string, error) {
	params := append(authParams(g.config, req), redirectURI(req))
	return g.oauth2.AuthCodeURL(req.State, append(params, opts...)...), nil
}

func (g *gitHub) Exchange(ctx context.Context, req AuthRequest, code string) (*Claims, *oauth2.Token, error) {
	params := append(exchangeParams(req), redirectURI(req))
	tok, err := g.oauth2.Exchange(withClient(ctx, g.client), code, params...)
	if err != nil {
		return nil, nil, exchangeError(g.config.ID, err)
	}
	claims, err := g.claims(ctx, tok.AccessToken)
	if err != nil {
		return nil, nil, err
	}
	return claims, tok, nil
}

func (g *gitHub) VerifyIDToken(context.Context, string, string) (*Claims, error) {
	return nil, unsupportedIDToken(g.config)
}

// gitHubEmail is one entry of GET /user/emails.
type gitHubEmail struct {
	Email    string `json:"email"`
	Primary  bool   `json:"primary"`
	Verified bool   `json:"verified"`
}

// claims asks GitHub's API who the token belongs to.
func (g *gitHub) claims(ctx context.Context, accessToken string) (*Claims, error) {
	var user map[string]any
	if _, err := g.get(ctx, accessToken, "/user", &user); err != nil {
		return nil, err
	}
	s := func(key string) string { v, _ := user[key].(string); return v }
	id, ok := user["id"].(json.Number)
	if !ok || id.String() == "" {
		return nil, newError(KindMissingClaim, nil, "GitHub (provider %q) did not say which user signed in (no id)", g.config.ID)
	}
	c := &Claims{
		Issuer:            githubTokenURL,
		Subject:           id.String(),
		Name:              s("name"),
		Nickname:          s("login"),
		PreferredUsername: s("login"),
		Website:           s("blog"),
		Picture:           s("avatar_url"),
		Profile:           s("html_url"),
		RawClaims:         user,
	}
	if t, err := time.Parse(time.RFC3339, s("updated_at")); err == nil {
		c.UpdatedAt = t.Unix()
	}
	// /user shows only the public address and says nothing of its
	// verification; /user/emails (scope user:email) is the one place that
	// does, so it is asked even when /user has an address.
	var emails []gitHubEmail
	found, err := g.get(ctx, accessToken, "/user/emails", &emails)
	if err != nil {
		return nil, err
	}
	if found {
		for _, e := range emails {
			if e.Primary && e.Verified {
				c.Email, c.EmailVerified = e.Email, true
				return c, nil
			}
		}
	}
	if public := s("email"); public != "" {
		c.Email = public
		for _, e := range emails {
			if strings.EqualFold(e.Email, public) && e.Verified {
				c.EmailVerified = true
			}
		}
	}
	return c, nil
}

// get decodes GitHub's answer to GET path into v. found is false when
// GitHub answers 403 or 404, which it does for /user/emails when the
// user:email scope was not granted.
func (g *gitHub) get(ctx context.Context, accessToken, path string, v any) (found bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.apiURL+path, nil)
	if err != nil {
		return false, newError(KindUnavailable, err, "GitHub's API (provider %q) could not be asked", g.config.ID)
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	req.Header.Set("Accept", "application/vnd.github+json")
	resp, err := g.client.Do(req)
	if err != nil {
		return false, newError(KindUnavailable, err, "GitHub's API (provider %q) could not be reached", g.config.ID)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusOK:
	case path != "/user" && (resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusNotFound):
		return false, nil
	case resp.StatusCode == http.StatusUnauthorized:
		return false, newError(KindTokenRejected, nil, "GitHub's API (provider %q) refused the access token (GET %s: HTTP 401)", g.config.ID, path)
	default:
		return false, newError(KindUnavailable, nil, "GitHub's API (provider %q) failed (GET %s: HTTP %d)", g.config.ID, path, resp.StatusCode)
	}
	// A user object is small; the limit keeps a broken upstream from
	// filling memory.
	dec := json.NewDecoder(io.LimitReader(resp.Body, 1<<20))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return false, newError(KindUnavailable, err, "GitHub's API (provider %q) answered GET %s with something that is not JSON", g.config.ID, path)
	}
	return true, nil
}
