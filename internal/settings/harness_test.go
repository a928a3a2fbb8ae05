package settings_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	ory "github.com/ory/client-go"

	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/login"
	"github.com/latchkey/latchkey/internal/password"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/internal/settings"
	"github.com/latchkey/latchkey/internal/sqlstore"
)

// The harness wires the real stores and services the settings flow
// depends on (identities, sessions, password hasher and policy, flow
// store) around one settings.Handler served by httptest. Tests drive it
// with the Ory Go SDK (native and SPA) and with plain HTTP form posts.

// UI URLs the harness configures; nothing listens there, redirects to
// them are only inspected.
const (
	settingsUI = "http://ui.example.test/settings"
	loginUI    = "http://ui.example.test/login"
	errorUI    = "http://ui.example.test/error"
)

// clock is a settable test clock; it starts at the real time so cookie
// expiry in the client's jar agrees with it. Like a real clock it never
// stands still: each reading is a microsecond later than the one before.
// (A frozen clock makes two saves of an unchanged flow identical, and
// MySQL then reports no affected row, which the flow store reads as "not
// found"; see the note in the package report.)
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Microsecond)
	return c.now
}

func (c *clock) Advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.now = c.now.Add(d) }

type harness struct {
	t          *testing.T
	db         *sqlstore.DB
	clock      *clock
	cfg        settings.Config
	service    *settings.Service
	identities *identity.Service
	sessions   *session.Manager
	hasher     *password.Hasher
	srv        *httptest.Server
	pub        string // public base URL, ending in "/"
}

// option changes the settings config before the handler is built.
type option func(*settings.Config)

// settingsConfig is short for options written inline.
type settingsConfig = settings.Config

// noIdentifierSchema is a second identity schema whose traits have no
// password identifier (message 4000009).
const noIdentifierSchema = `{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","properties":{"traits":{"type":"object","properties":{"nickname":{"type":"string","title":"Nickname"},"age":{"type":"integer","title":"Age"},"newsletter":{"type":"boolean"}},"additionalProperties":false}}}`

var testSecret = secret.Hasher{Secrets: [][]byte{[]byte("settings-test-secret-0123456789abcdef")}}

func newHarness(t *testing.T, db *sqlstore.DB, opts ...option) *harness {
	t.Helper()
	h := &harness{t: t, db: db, clock: &clock{now: time.Now().UTC()}}
	now := h.clock.Now
	db.Now = now

	mux := http.NewServeMux()
	h.srv = httptest.NewServer(mux)
	t.Cleanup(h.srv.Close)
	h.pub = h.srv.URL + "/"

	hasher, err := password.NewHasher(password.HashConfig{BcryptCost: 4}, 2)
	if err != nil {
		t.Fatal(err)
	}
	h.hasher = hasher
	policy, err := password.NewPolicy(password.DefaultPolicyConfig())
	if err != nil {
		t.Fatal(err)
	}
	schemas, err := identity.NewSchemas([]identity.SchemaSource{
		{ID: "default", URL: "base64://" + base64.StdEncoding.EncodeToString([]byte(defaultSchema))},
		{ID: "no-identifier", URL: "base64://" + base64.StdEncoding.EncodeToString([]byte(noIdentifierSchema))},
	}, "default")
	if err != nil {
		t.Fatal(err)
	}
	h.identities = identity.NewService(sqlstore.NewIdentityStore(db), schemas, passwords{hasher}, now)
	h.sessions = &session.Manager{
		Store:      sqlstore.NewSessionStore(db),
		Identities: h.identities,
		Config: session.Config{
			Lifespan:      24 * time.Hour,
			Cookie:        session.CookieConfig{Name: session.DefaultCookieName, Path: "/", SameSite: http.SameSiteLaxMode, Persistent: true},
			PublicBaseURL: mustURL(h.pub),
		},
		Tokens: testSecret,
		Now:    now,
	}

	flows := sqlstore.NewFlowStore(db)
	cfg := settings.DefaultConfig()
	cfg.PublicBaseURL = h.pub
	cfg.SettingsUIURL = settingsUI
	cfg.LoginUIURL = loginUI
	cfg.ErrorUIURL = errorUI
	cfg.ReturnTo = flow.ReturnToPolicy{Allowed: []*url.URL{mustURL("https://app.example.com/")}, PublicBase: mustURL(h.pub)}
	cfg.Now = now
	for _, o := range opts {
		o(&cfg)
	}
	h.cfg = cfg
	h.service = &settings.Service{
		Config: cfg, Flows: flows, Identities: h.identities, Schemas: schemas,
		Sessions: h.sessions, Passwords: hasher, Policy: policy, Tx: db,
	}
	handler := &settings.Handler{
		Service:  h.service,
		Sessions: h.sessions,
		CSRF:     flow.NewCSRF(h.pub, "/", "", http.SameSiteLaxMode, false),
		Errors:   &flow.Errors{Store: flows, UIURL: errorUI, Now: now},
	}
	handler.RegisterPublic(mux)

	// The real login flow, for signing in with the new password and for
	// refreshing a session (login with refresh=true).
	lcfg := login.DefaultConfig()
	lcfg.PublicBaseURL, lcfg.UIURL, lcfg.Now = h.pub, loginUI, now
	lcfg.DefaultBrowserReturnURL, lcfg.AfterReturnURL = settingsUI, settingsUI
	lcfg.ReturnTo = cfg.ReturnTo
	(&login.Handler{
		Service: &login.Service{
			Config: lcfg, Flows: flows, Identities: h.identities, Schemas: schemas,
			Sessions: h.sessions, Passwords: hasher, Tx: db, CSRF: handler.CSRF,
		},
		Sessions: h.sessions, CSRF: handler.CSRF, Errors: handler.Errors,
	}).RegisterPublic(mux)
	(&session.Handler{Manager: h.sessions}).RegisterPublic(mux)
	mux.HandleFunc("GET /self-service/errors", handler.Errors.ServeError)
	return h
}

// defaultSchema is the schema of the recorded Kratos transcripts: an email
// that is identifier, recovery and verification address, and a name.
const defaultSchema = `{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "properties": {
    "traits": {
      "type": "object",
      "properties": {
        "email": {
          "type": "string", "format": "email", "title": "E-Mail",
          "ory.sh/kratos": {
            "credentials": {"password": {"identifier": true}},
            "recovery": {"via": "email"},
            "verification": {"via": "email"}
          }
        },
        "name": {"type": "string", "title": "Name"}
      },
      "required": ["email"],
      "additionalProperties": false
    }
  }
}`

// passwords adapts password.Hasher to identity.PasswordHasher.
type passwords struct{ *password.Hasher }

func (passwords) IsKnownFormat(hash string) bool { return password.IsKnownFormat(hash) }

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// oldPassword is every test identity's password before settings.
const oldPassword = "Old-Passw0rd-For-Anchor!"

// MustIdentity creates an identity with the given email and oldPassword.
func (h *harness) MustIdentity(email string) *identity.Identity {
	h.t.Helper()
	traits, _ := json.Marshal(map[string]string{"email": email})
	i, err := h.identities.Create(context.Background(), identity.CreateInput{
		SchemaID: "default", Traits: traits,
		Credentials: &identity.CredentialsInput{Password: &identity.PasswordCredentialsInput{Config: identity.PasswordInputConfig{Password: oldPassword}}},
	})
	if err != nil {
		h.t.Fatalf("create identity: %v", err)
	}
	return i
}

// MustSession issues a session for ident as a recovery would (method
// code_recovery, authenticated now) and returns it with its token.
func (h *harness) MustSession(ident *identity.Identity) (*session.Session, string) {
	h.t.Helper()
	req := httptest.NewRequest(http.MethodPost, h.pub+"self-service/recovery", nil)
	s, tok, err := h.sessions.Issue(context.Background(), ident, session.MethodCodeRecovery, req)
	if err != nil {
		h.t.Fatalf("issue session: %v", err)
	}
	return s, tok
}

// SessionActive reports whether token still names an active session.
func (h *harness) SessionActive(token string) bool {
	h.t.Helper()
	req := httptest.NewRequest(http.MethodGet, h.pub+"sessions/whoami", nil)
	req.Header.Set("X-Session-Token", token)
	_, err := h.sessions.FromRequest(context.Background(), req)
	return err == nil
}

// PasswordIs reports whether pw is the identity's stored password.
func (h *harness) PasswordIs(id uuid.UUID, pw string) bool {
	h.t.Helper()
	i, err := h.identities.Get(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	ok, err := h.hasher.Compare(context.Background(), []byte(pw), i.HashedPassword())
	if err != nil {
		h.t.Fatal(err)
	}
	return ok
}

// Login signs in through the native login flow and returns the answer's
// status and, on success, the new session token.
func (h *harness) Login(identifier, pw string) (token string, status int) {
	h.t.Helper()
	ctx := context.Background()
	c := h.Native()
	f, _, err := c.FrontendAPI.CreateNativeLoginFlow(ctx).Execute()
	if err != nil {
		h.t.Fatalf("create login flow: %v", err)
	}
	body := ory.UpdateLoginFlowWithPasswordMethodAsUpdateLoginFlowBody(ory.NewUpdateLoginFlowWithPasswordMethod(identifier, "password", pw))
	res, resp, err := c.FrontendAPI.UpdateLoginFlow(ctx).Flow(f.Id).UpdateLoginFlowBody(body).Execute()
	if resp == nil {
		h.t.Fatalf("login: %v", err)
	}
	if err != nil {
		return "", resp.StatusCode
	}
	return res.GetSessionToken(), resp.StatusCode
}

// Native is an SDK client for native apps (no cookies).
func (h *harness) Native() *ory.APIClient {
	return h.sdk(&http.Client{CheckRedirect: noRedirects})
}

// Browser is an SDK client with a cookie jar holding the session cookie
// of token (none when token is ""), as an SPA in a browser.
func (h *harness) Browser(token string) (*ory.APIClient, *browser) {
	b := h.NewBrowser(token)
	return h.sdk(b.Client), b
}

func (h *harness) sdk(c *http.Client) *ory.APIClient {
	cfg := ory.NewConfiguration()
	cfg.Servers = ory.ServerConfigurations{{URL: h.srv.URL}}
	cfg.HTTPClient = c
	return ory.NewAPIClient(cfg)
}

func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// browser is a cookie-keeping HTTP client that does not follow redirects.
type browser struct {
	h      *harness
	Client *http.Client
	Jar    http.CookieJar
}

// NewBrowser returns a browser holding the session cookie of token.
func (h *harness) NewBrowser(token string) *browser {
	h.t.Helper()
	jar, _ := cookiejar.New(nil)
	b := &browser{h: h, Client: &http.Client{Jar: jar, CheckRedirect: noRedirects}, Jar: jar}
	if token != "" {
		req := httptest.NewRequest(http.MethodGet, h.pub+"sessions/whoami", nil)
		req.Header.Set("X-Session-Token", token)
		s, err := h.sessions.FromRequest(context.Background(), req)
		if err != nil {
			h.t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		h.sessions.SetCookie(rec, req, s, token)
		jar.SetCookies(mustURL(h.srv.URL), rec.Result().Cookies())
	}
	return b
}

// Cookie returns the value of the named cookie in the jar ("" if none).
func (b *browser) Cookie(name string) string {
	for _, c := range b.Jar.Cookies(mustURL(b.h.srv.URL)) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// response is a finished HTTP exchange.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a generic map.
func (r response) JSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, r.Body)
	}
	return m
}

// Do sends a request from the browser. body may be url.Values (an HTML
// form post), a string (sent as JSON) or nil; headers come in pairs.
func (b *browser) Do(method, path string, body any, headers ...string) response {
	b.h.t.Helper()
	return b.h.do(b.Client, method, path, body, headers...)
}

// Do sends a request with a cookie-less client (native app, curl).
func (h *harness) Do(method, path string, body any, headers ...string) response {
	h.t.Helper()
	return h.do(&http.Client{CheckRedirect: noRedirects}, method, path, body, headers...)
}

func (h *harness) do(c *http.Client, method, path string, body any, headers ...string) response {
	h.t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case url.Values:
		rd, ct = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	case string:
		rd, ct = strings.NewReader(b), "application/json"
	}
	req, err := http.NewRequest(method, h.srv.URL+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: out}
}

// Browser Accept headers.
const (
	acceptHTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	acceptJSON = "application/json"
)
