package session_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
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
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/internal/sqlstore"
)

// clock is an injectable time source tests move forward by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 22, 11, 27, 55, 46040090, time.UTC)} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// sqlIdentities is a minimal identity loader for these tests (the real one
// is identity.Service): the identity row, its credentials and addresses.
type sqlIdentities struct{ db *sqlstore.DB }

func (g sqlIdentities) Get(ctx context.Context, id uuid.UUID) (*identity.Identity, error) {
	var (
		i              identity.Identity
		state, traits  string
		metaPub        *string
		changed        *time.Time
		idStr, schemaS string
	)
	err := g.db.QueryRow(ctx, `SELECT id, schema_id, state, state_changed_at, traits, metadata_public, created_at, updated_at FROM identities WHERE id = ?`, id.String()).
		Scan(&idStr, &schemaS, &state, &changed, &traits, &metaPub, &i.CreatedAt, &i.UpdatedAt)
	if err != nil {
		return nil, sqlstore.ScanErr(err)
	}
	i.ID, i.SchemaID, i.State, i.Traits = id, schemaS, identity.State(state), json.RawMessage(traits)
	if changed != nil {
		t := changed.UTC()
		i.StateChangedAt = &t
	}
	if metaPub != nil {
		i.MetadataPublic = json.RawMessage(*metaPub)
	}
	i.CreatedAt, i.UpdatedAt = i.CreatedAt.UTC(), i.UpdatedAt.UTC()
	rows, err := g.db.Query(ctx, `SELECT type, config FROM identity_credentials WHERE identity_id = ?`, id.String())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	i.Credentials = map[identity.CredentialType]identity.Credential{}
	for rows.Next() {
		var typ, cfg string
		if err := rows.Scan(&typ, &cfg); err != nil {
			return nil, err
		}
		i.Credentials[identity.CredentialType(typ)] = identity.Credential{Type: identity.CredentialType(typ), Config: json.RawMessage(cfg)}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var ra identity.RecoveryAddress
	var raID string
	err = g.db.QueryRow(ctx, `SELECT id, via, value, created_at, updated_at FROM identity_recovery_addresses WHERE identity_id = ?`, id.String()).
		Scan(&raID, &ra.Via, &ra.Value, &ra.CreatedAt, &ra.UpdatedAt)
	if err == nil {
		ra.ID = uuid.MustParse(raID)
		ra.CreatedAt, ra.UpdatedAt = ra.CreatedAt.UTC(), ra.UpdatedAt.UTC()
		i.RecoveryAddresses = []identity.RecoveryAddress{ra}
	}
	return &i, nil
}

// identityOpts shape MustIdentity.
type identityOpts struct {
	inactive bool
	// secondFactor adds a credential of this type (totp, webauthn, lookup_secret).
	secondFactor string
}

// MustIdentity inserts an identity with an email trait, a password
// credential and a recovery address, straight into the tables.
func MustIdentity(t testing.TB, db *sqlstore.DB, o identityOpts) *identity.Identity {
	t.Helper()
	ctx := context.Background()
	id := uuid.New()
	email := "u-" + id.String()[:8] + "@example.test"
	state := "active"
	if o.inactive {
		state = "inactive"
	}
	now := time.Now().UTC()
	mustExec(t, db, `INSERT INTO identities (id, schema_id, state, state_changed_at, traits, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		id.String(), "default", state, db.T(now), `{"email":"`+email+`"}`, db.T(now), db.T(now))
	mustExec(t, db, `INSERT INTO identity_credentials (id, identity_id, type, config, version, created_at, updated_at) VALUES (?, ?, ?, ?, 0, ?, ?)`,
		uuid.NewString(), id.String(), "password", `{"hashed_password":"$2a$04$x"}`, db.T(now), db.T(now))
	if o.secondFactor != "" {
		mustExec(t, db, `INSERT INTO identity_credentials (id, identity_id, type, config, version, created_at, updated_at) VALUES (?, ?, ?, ?, 0, ?, ?)`,
			uuid.NewString(), id.String(), o.secondFactor, `{}`, db.T(now), db.T(now))
	}
	mustExec(t, db, `INSERT INTO identity_recovery_addresses (id, identity_id, via, value, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
		uuid.NewString(), id.String(), "email", email, db.T(now), db.T(now))
	i, err := sqlIdentities{db}.Get(ctx, id)
	if err != nil {
		t.Fatalf("load identity: %v", err)
	}
	return i
}

func mustExec(t testing.TB, db *sqlstore.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// env is a running Latchkey slice: the session manager and handler on a
// public and an admin test server, over a real database.
type env struct {
	db      *sqlstore.DB
	clock   *clock
	m       *session.Manager
	h       *session.Handler
	pub     *httptest.Server
	adm     *httptest.Server
	public  *ory.APIClient
	admin   *ory.APIClient
	errorUI string
}

var testSecret = []byte("a-test-secret-of-32-characters!!")

// newEnv wires the session package like the server does.
func newEnv(t testing.TB, db *sqlstore.DB) *env {
	t.Helper()
	c := newClock()
	e := &env{db: db, clock: c, errorUI: "https://ui.example/error"}
	e.m = &session.Manager{
		Store:      sqlstore.NewSessionStore(db),
		Identities: sqlIdentities{db},
		Config: session.Config{
			Lifespan: 24 * time.Hour,
			Cookie:   session.CookieConfig{Name: "ory_kratos_session", Path: "/", SameSite: http.SameSiteLaxMode, Persistent: true},
			// LogoutReturnURL is set below, once the server URL is known.
		},
		Tokens:  secret.Hasher{Secrets: [][]byte{testSecret}},
		Cookies: secret.Hasher{Secrets: [][]byte{[]byte("a-cookie-secret-of-32-characters")}},
		Now:     c.Now,
	}
	e.h = &session.Handler{
		Manager: e.m,
		Errors:  &flow.Errors{Store: sqlstore.NewFlowStore(db), UIURL: e.errorUI, Now: c.Now},
	}
	pubMux, admMux := http.NewServeMux(), http.NewServeMux()
	e.h.RegisterPublic(pubMux)
	e.h.RegisterAdmin(admMux)
	e.pub, e.adm = httptest.NewServer(pubMux), httptest.NewServer(admMux)
	t.Cleanup(e.pub.Close)
	t.Cleanup(e.adm.Close)
	pubURL, _ := url.Parse(e.pub.URL + "/")
	e.m.Config.PublicBaseURL = pubURL
	e.m.Config.LogoutReturnURL = "https://app.example/bye"
	e.h.ReturnTo = flow.ReturnToPolicy{PublicBase: pubURL, Allowed: []*url.URL{mustURL("https://app.example/")}}
	e.public = sdk(e.pub.URL)
	e.admin = sdk(e.adm.URL)
	return e
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func sdk(base string) *ory.APIClient {
	cfg := ory.NewConfiguration()
	cfg.Servers = ory.ServerConfigurations{{URL: base}}
	cfg.HTTPClient = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return ory.NewAPIClient(cfg)
}

// MustSession issues a session for ident as if it had just logged in with
// a password from a curl client, and returns it with its token.
func (e *env) MustSession(t testing.TB, ident *identity.Identity) (*session.Session, string) {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/self-service/login", nil)
	r.RemoteAddr = "127.0.0.1:37170"
	r.Header.Set("User-Agent", "curl/7.88.1")
	s, token, err := e.m.Issue(context.Background(), ident, session.MethodPassword, r)
	if err != nil {
		t.Fatalf("issue session: %v", err)
	}
	return s, token
}

// cookieFor returns the session cookie header value a browser would hold.
func (e *env) cookieFor(t testing.TB, s *session.Session, token string) string {
	t.Helper()
	rec := httptest.NewRecorder()
	e.m.SetCookie(rec, httptest.NewRequest(http.MethodGet, "/", nil), s, token)
	c := rec.Result().Cookies()
	if len(c) != 1 {
		t.Fatalf("SetCookie set %d cookies", len(c))
	}
	return c[0].Name + "=" + c[0].Value
}

// response is a finished HTTP exchange.
type response struct {
	*http.Response
	body string
}

// do sends a request to base+path with headers given as "Key: value".
func do(t testing.TB, method, urlStr, body string, headers ...string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, urlStr, rd)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{res, string(b)}
}

// expect checks status and, when want is not empty, the exact body.
func (r response) expect(t testing.TB, status int, want string) {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d; body %s", r.Request.Method, r.Request.URL, r.StatusCode, status, r.body)
	}
	if want != "" && strings.TrimSpace(r.body) != want {
		t.Fatalf("%s %s: body\n%s\nwant\n%s", r.Request.Method, r.Request.URL, strings.TrimSpace(r.body), want)
	}
}

// jsonOf decodes a body into a generic value.
func jsonOf(t testing.TB, body string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("not JSON: %v: %s", err, body)
	}
	return v
}
