// Package logintest runs the login and registration flows end to end for
// tests: real stores on a sqltest database, the real identity, password
// and session services, and the login, registration and session handlers
// on an httptest server, driven through the official Ory Go SDK. The
// clock is injected, so tests expire flows without sleeping.
package logintest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	ory "github.com/ory/client-go"

	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/login"
	"github.com/latchkey/latchkey/internal/password"
	"github.com/latchkey/latchkey/internal/registration"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/internal/sqlstore"
)

// UI URLs the flows point browsers at.
const (
	LoginUI        = "http://ui.test/login"
	RegistrationUI = "http://ui.test/registration"
	ErrorUI        = "http://ui.test/error"
	DefaultReturn  = "http://ui.test/welcome"
	// AllowedReturn is the one allowed return_to host besides the UI's.
	AllowedReturn = "http://app.test/"
)

// Clock is a settable clock shared by every component.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Options change the environment.
type Options struct {
	// BcryptCost of new hashes (default 4, fast; benchmarks pass 12).
	BcryptCost int
	// NoSessionAfterRegistration turns the registration session hook off.
	NoSessionAfterRegistration bool
	// Passwords wraps the hasher the login service uses (to count work).
	Passwords func(login.Passwords) login.Passwords
}

// Env is a running server with its parts.
type Env struct {
	DB         *sqlstore.DB
	Server     *httptest.Server
	Clock      *Clock
	Identities *identity.Service
	Sessions   *session.Manager
	Hasher     *password.Hasher
	Login      *login.Service
	Reg        *registration.Service
	CSRF       *flow.CSRF
}

// New wires everything on db and starts the server (closed at cleanup).
func New(t testing.TB, db *sqlstore.DB, opts Options) *Env {
	t.Helper()
	if opts.BcryptCost == 0 {
		opts.BcryptCost = 4
	}
	e := &Env{DB: db, Clock: &Clock{t: time.Now().UTC()}}
	db.Now = e.Clock.Now

	var mux http.Handler = http.NotFoundHandler()
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { mux.ServeHTTP(w, r) }))
	t.Cleanup(e.Server.Close)
	pub := e.Server.URL + "/"
	pubURL, _ := url.Parse(pub)

	hasher, err := password.NewHasher(password.HashConfig{BcryptCost: opts.BcryptCost}, 0)
	if err != nil {
		t.Fatal(err)
	}
	policy, err := password.NewPolicy(password.DefaultPolicyConfig())
	if err != nil {
		t.Fatal(err)
	}
	e.Hasher = hasher
	schemas := identity.MustDefaultSchemas()
	e.Identities = identity.NewService(sqlstore.NewIdentityStore(db), schemas, identityHasher{hasher}, e.Clock.Now)
	e.Sessions = &session.Manager{
		Store:      sqlstore.NewSessionStore(db),
		Identities: e.Identities,
		Config: session.Config{
			Lifespan:      24 * time.Hour,
			Cookie:        session.CookieConfig{Name: session.DefaultCookieName, Persistent: true, SameSite: http.SameSiteLaxMode},
			PublicBaseURL: pubURL,
		},
		Tokens: secret.Hasher{Secrets: [][]byte{[]byte("a-test-secret-of-at-least-32-bytes!")}},
		Now:    e.Clock.Now,
	}
	flows := sqlstore.NewFlowStore(db)
	e.CSRF = flow.NewCSRF(pub, "/", "", http.SameSiteLaxMode, false)
	errs := &flow.Errors{Store: flows, UIURL: ErrorUI, Now: e.Clock.Now}
	allowed, _ := url.Parse(AllowedReturn)
	defaultReturn, _ := url.Parse(DefaultReturn)
	returnTo := flow.ReturnToPolicy{Allowed: []*url.URL{allowed}, PublicBase: pubURL, DefaultReturn: defaultReturn}

	var passwords login.Passwords = hasher
	if opts.Passwords != nil {
		passwords = opts.Passwords(hasher)
	}
	lc := login.DefaultConfig()
	lc.PublicBaseURL, lc.UIURL, lc.DefaultBrowserReturnURL, lc.AfterReturnURL = pub, LoginUI, DefaultReturn, DefaultReturn
	lc.ReturnTo, lc.Now = returnTo, e.Clock.Now
	e.Login = &login.Service{
		Config: lc, Flows: flows, Identities: e.Identities, Schemas: schemas,
		Sessions: e.Sessions, Passwords: passwords, Tx: db, CSRF: e.CSRF,
	}
	rc := registration.DefaultConfig()
	rc.PublicBaseURL, rc.UIURL, rc.DefaultBrowserReturnURL, rc.AfterReturnURL = pub, RegistrationUI, DefaultReturn, DefaultReturn
	rc.ReturnTo, rc.Now = returnTo, e.Clock.Now
	rc.SessionAfterRegistration = !opts.NoSessionAfterRegistration
	e.Reg = &registration.Service{
		Config: rc, Flows: flows, Identities: e.Identities, Schemas: schemas, Sessions: e.Sessions,
		Passwords: hasher, Policy: policy, Tx: db, CSRF: e.CSRF,
	}

	m := http.NewServeMux()
	(&login.Handler{Service: e.Login, Sessions: e.Sessions, CSRF: e.CSRF, Errors: errs}).RegisterPublic(m)
	(&registration.Handler{Service: e.Reg, Sessions: e.Sessions, CSRF: e.CSRF, Errors: errs}).RegisterPublic(m)
	(&session.Handler{Manager: e.Sessions, Errors: errs, ReturnTo: returnTo, CSRF: e.CSRF}).RegisterPublic(m)
	m.HandleFunc("GET /self-service/errors", errs.ServeError)
	mux = m
	return e
}

// URL is the public base URL joined with path.
func (e *Env) URL(path string) string { return e.Server.URL + "/" + strings.TrimPrefix(path, "/") }

// SDK returns an Ory SDK client of the server using httpClient (nil: a
// plain client without cookies, as a native app has).
func (e *Env) SDK(httpClient *http.Client) *ory.APIClient {
	cfg := ory.NewConfiguration()
	cfg.Servers = ory.ServerConfigurations{{URL: e.Server.URL}}
	if httpClient == nil {
		httpClient = &http.Client{}
	}
	cfg.HTTPClient = httpClient
	return ory.NewAPIClient(cfg)
}

// Browser is a cookie-keeping HTTP client that does not follow redirects
// (tests look at each 303).
func (e *Env) Browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// MustCreateIdentity creates an active identity with an email and a
// password, hashed with the environment's hasher.
func (e *Env) MustCreateIdentity(t testing.TB, email, pw string) *identity.Identity {
	t.Helper()
	i, err := e.Identities.Create(context.Background(), identity.CreateInput{
		Traits:      json.RawMessage(`{"email":` + quote(email) + `}`),
		Credentials: &identity.CredentialsInput{Password: &identity.PasswordCredentialsInput{Config: identity.PasswordInputConfig{Password: pw}}},
	})
	if err != nil {
		t.Fatalf("create identity %s: %v", email, err)
	}
	return i
}

// Count returns the number of rows of a table.
func (e *Env) Count(t testing.TB, table string) int {
	t.Helper()
	var n int
	if err := e.DB.QueryRow(context.Background(), "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// identityHasher is the hasher as identity.Service wants it.
type identityHasher struct{ *password.Hasher }

func (identityHasher) IsKnownFormat(h string) bool { return password.IsKnownFormat(h) }

func quote(s string) string { b, _ := json.Marshal(s); return string(b) }

// Input returns the attributes of the first input node named name, or nil.
func Input(nodes []ory.UiNode, name string) *ory.UiNodeInputAttributes {
	for _, n := range nodes {
		if a := n.Attributes.UiNodeInputAttributes; a != nil && a.Name == name {
			return a
		}
	}
	return nil
}

// NodeMessageIDs returns the message ids of the first input node named name.
func NodeMessageIDs(nodes []ory.UiNode, name string) []int64 {
	for _, n := range nodes {
		if a := n.Attributes.UiNodeInputAttributes; a != nil && a.Name == name {
			return MessageIDs(n.Messages)
		}
	}
	return nil
}

// MessageIDs lists the ids of messages.
func MessageIDs(msgs []ory.UiText) []int64 {
	ids := make([]int64, 0, len(msgs))
	for _, m := range msgs {
		ids = append(ids, m.Id)
	}
	return ids
}

// CSRFToken is the value of a flow's csrf_token input.
func CSRFToken(nodes []ory.UiNode) string {
	if a := Input(nodes, "csrf_token"); a != nil {
		if s, ok := a.Value.(string); ok {
			return s
		}
	}
	return ""
}

// ErrorBody returns the response body of a failed SDK call, decoded.
func ErrorBody(t testing.TB, err error) map[string]any {
	t.Helper()
	var ge *ory.GenericOpenAPIError
	if !errors.As(err, &ge) {
		t.Fatalf("want an API error, got %v", err)
	}
	var m map[string]any
	if jerr := json.Unmarshal(ge.Body(), &m); jerr != nil {
		t.Fatalf("error body is not JSON: %s", ge.Body())
	}
	return m
}

// Do sends a request and decodes a JSON answer (nil for other bodies).
// body is sent as JSON, or as a form when it is url.Values.
func Do(t testing.TB, c *http.Client, method, target string, body any, header http.Header) (*http.Response, map[string]any) {
	t.Helper()
	res, raw := DoRaw(t, c, method, target, body, header)
	var m map[string]any
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("%s %s: bad JSON %q", method, target, raw)
		}
	}
	return res, m
}

// DoRaw sends a request and returns the raw answer.
func DoRaw(t testing.TB, c *http.Client, method, target string, body any, header http.Header) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case url.Values:
		rd, ct = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	default:
		j, _ := json.Marshal(b)
		rd, ct = bytes.NewReader(j), "application/json"
	}
	req, err := http.NewRequest(method, target, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if ct != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", ct)
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res, raw
}

// Keys returns the keys of a JSON object in document order.
func Keys(t testing.TB, raw []byte) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("not an object: %s", raw)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	var keys []string
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		switch v := tok.(type) {
		case json.Delim:
			if v == '{' || v == '[' {
				depth++
			} else {
				depth--
			}
		case string:
			if depth == 1 {
				keys = append(keys, v)
				// Skip the value.
				var skip json.RawMessage
				if err := dec.Decode(&skip); err != nil {
					return keys
				}
			}
		}
	}
	return keys
}
