// Package servertest runs a whole Latchkey server inside a test: real
// configuration loading, a real database of the chosen dialect, real
// listeners on 127.0.0.1 for the public and admin APIs, the courier
// delivering to an in-process SMTP server, and a clock the test moves.
// Every package's integration tests start their server here and drive it
// over HTTP, so they test what clients get, whatever the wiring inside.
package servertest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	ory "github.com/ory/client-go"

	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/courier/smtptest"
	"github.com/latchkey/latchkey/internal/hook"
	"github.com/latchkey/latchkey/internal/server"
	"github.com/latchkey/latchkey/internal/sqlstore"
	"github.com/latchkey/latchkey/internal/sqlstore/sqltest"
)

// Clock is a test clock: it follows real time plus an offset the test
// adds to with Advance, so flows and sessions expire without sleeping.
// Following real time keeps it moving between two writes, as production
// time does (MySQL reports no affected row for an UPDATE that rewrites a
// row with equal values, which the stores read as "not found"); Freeze
// stops it for tests that compare exact times.
type Clock struct {
	mu     sync.Mutex
	offset time.Duration
	frozen bool
	at     time.Time // the reading Freeze kept
}

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.frozen {
		return c.at.Add(c.offset)
	}
	return time.Now().Add(c.offset)
}

// Advance moves the clock forward (backward for a negative d).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// Freeze stops the clock at its current reading: Now returns the same
// instant until Advance moves it.
func (c *Clock) Freeze() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.frozen {
		c.at, c.frozen = time.Now(), true
	}
}

// Server is a running Latchkey.
type Server struct {
	Public *httptest.Server
	Admin  *httptest.Server
	SMTP   *smtptest.Server
	Clock  *Clock
	Config *config.Config
	App    *server.Server
	DB     *sqlstore.DB

	mu       sync.Mutex
	notified map[string]int // mails Notification returned, by recipient and subject
}

// Options tune the server.
type Options struct {
	// Dialect of the database (default SQLite). Tests skip when the
	// dialect's DSN is not set.
	Dialect sqlstore.Dialect
	// DSN, when set, is the database of another running Server (its
	// Config.DSN): two instances share one database, as a cluster does,
	// or one configuration follows another on the same data. Dialect is
	// ignored then.
	DSN string
	// Env are extra configuration variables ("SELFSERVICE_FLOWS_RECOVERY_USE=link").
	Env []string
	// Files are config files. The environment above overrides them, so a
	// test turns second factors on through Env, not a file.
	Files []string
	// NoSMTP leaves courier.smtp unset (the dev mailbox keeps messages).
	NoSMTP bool
	// NoCourier leaves the courier's dispatcher off: queued messages stay
	// in the database, for a test to look at what a request wrote before
	// any background work (another Server on the same database delivers).
	NoCourier bool
	// Log receives the server log, as text or, with LOG_FORMAT=json, as
	// JSON (default: discarded unless LATCHKEY_TEST_LOG is set).
	Log io.Writer
	// WebHooks bounds web_hook calls (default Kratos's 30 s): tests of a
	// slow hook shorten it.
	WebHooks hook.Limits
}

// Dialects are the databases tests run against; Start skips a test whose
// dialect is not configured (see sqltest).
var Dialects = []sqlstore.Dialect{sqlstore.SQLite, sqlstore.Postgres, sqlstore.MySQL}

// Each runs fn once per dialect, as a subtest named after it, with a
// server started with opts on a fresh database of that dialect.
func Each(t *testing.T, opts Options, fn func(t *testing.T, srv *Server)) {
	t.Helper()
	EachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		o := opts
		o.Dialect = d
		fn(t, Start(t, o))
	})
}

// EachDialect runs fn once per dialect, as a subtest named after it, for
// tests that start their servers themselves.
func EachDialect(t *testing.T, fn func(t *testing.T, d sqlstore.Dialect)) {
	t.Helper()
	for _, d := range Dialects {
		t.Run(string(d), func(t *testing.T) { fn(t, d) })
	}
}

// Start runs a server until the test ends. Cheap bcrypt (cost 4) keeps
// tests fast unless opts.Env sets HASHERS_BCRYPT_COST.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.Dialect == "" {
		opts.Dialect = sqlstore.SQLite
	}
	dsn := opts.DSN
	if dsn == "" {
		dsn = sqltest.DSN(t, opts.Dialect)
	}
	pubLn := listen(t)
	admLn := listen(t)
	s := &Server{Clock: &Clock{}, notified: map[string]int{}}
	env := []string{
		"DSN=" + dsn,
		"SERVE_PUBLIC_BASE_URL=http://" + pubLn.Addr().String() + "/",
		"SERVE_ADMIN_BASE_URL=http://" + admLn.Addr().String() + "/",
		"HASHERS_BCRYPT_COST=4",
		"SECRETS_DEFAULT=[\"test-secret-0123456789abcdef\"]",
		"LOG_LEVEL=debug",
		// Tests see Kratos's defaults, not development mode's try-it
		// defaults: second factors are off unless opts.Env turns them on.
		"SELFSERVICE_METHODS_TOTP_ENABLED=false",
		"SELFSERVICE_METHODS_LOOKUP_SECRET_ENABLED=false",
	}
	// Security notifications are off unless opts.Env turns them on
	// (NotificationsOn): most tests count the recovery mails they expect.
	env = append(env, notificationSwitches("false")...)
	if !opts.NoSMTP {
		s.SMTP = smtptest.Start(t)
		env = append(env, "COURIER_SMTP_CONNECTION_URI="+s.SMTP.URI())
	}
	env = append(env, opts.Env...)
	cfg, _, err := config.Load(config.LoadOptions{Files: opts.Files, Env: env, Dev: true, DataDir: t.TempDir()})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	s.Config = cfg
	logw := opts.Log
	if logw == nil {
		logw = io.Discard
		if os.Getenv("LATCHKEY_TEST_LOG") != "" {
			logw = os.Stderr
		}
	}
	var handler slog.Handler = slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelDebug})
	if cfg.Log.Format == "json" {
		handler = slog.NewJSONHandler(logw, &slog.HandlerOptions{Level: slog.LevelDebug})
	}
	ctx, cancel := context.WithCancel(context.Background())
	app, err := server.New(ctx, cfg, server.Options{Migrate: true, Logger: slog.New(handler), Now: s.Clock.Now, Version: "test", NoCourier: opts.NoCourier, WebHooks: opts.WebHooks})
	if err != nil {
		cancel()
		t.Fatalf("server: %v", err)
	}
	s.App, s.DB = app, app.DB()
	wait := app.StartWorkers(ctx)
	s.Public = serve(pubLn, app.Public())
	s.Admin = serve(admLn, app.Admin())
	t.Cleanup(func() {
		s.Public.Close()
		s.Admin.Close()
		cancel()
		wait()
		app.Close()
	})
	return s
}

// StartSharingDB starts another server, configured by opts, on s's
// database: a second instance of a cluster, or the same data under
// another configuration.
func (s *Server) StartSharingDB(t testing.TB, opts Options) *Server {
	t.Helper()
	opts.DSN = s.Config.DSN
	return Start(t, opts)
}

func listen(t testing.TB) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func serve(ln net.Listener, h http.Handler) *httptest.Server {
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	return srv
}

// SDK returns an Ory SDK client for the public and admin APIs. With a
// cookie jar (browser) when jar is true; redirects are not followed.
func (s *Server) SDK(jar bool) *ory.APIClient {
	return s.SDKWith(s.HTTPClient(jar))
}

// SDKWith returns an Ory SDK client for the public and admin APIs that
// sends its requests with c (a browser's cookie jar, a client address).
func (s *Server) SDKWith(c *http.Client) *ory.APIClient {
	cfg := ory.NewConfiguration()
	cfg.Servers = ory.ServerConfigurations{{URL: s.Public.URL}}
	cfg.OperationServers = map[string]ory.ServerConfigurations{}
	for _, op := range adminOperations {
		cfg.OperationServers[op] = ory.ServerConfigurations{{URL: s.Admin.URL}}
	}
	cfg.HTTPClient = c
	return ory.NewAPIClient(cfg)
}

// HTTPClient returns a client that does not follow redirects, optionally
// with a cookie jar.
func (s *Server) HTTPClient(jar bool) *http.Client {
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 30 * time.Second}
	if jar {
		c.Jar, _ = cookiejar.New(nil)
	}
	return c
}

// HTTPClientFrom is HTTPClient connecting from the loopback address ip
// (127.0.0.2, 127.0.0.3, ...), so the server sees another client address:
// the per-IP limits count by it.
func (s *Server) HTTPClientFrom(ip string, jar bool) *http.Client {
	c := s.HTTPClient(jar)
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	c.Transport = &http.Transport{DialContext: dialer.DialContext}
	return c
}

// CSRFCookieName is the name of the CSRF cookie: as in Kratos,
// csrf_token_ and the SHA-256 of the public base URL, so UIs find it.
func (s *Server) CSRFCookieName() string {
	sum := sha256.Sum256([]byte(s.Config.Serve.Public.BaseURL))
	return "csrf_token_" + hex.EncodeToString(sum[:])
}

// CountRows is the number of rows of a table.
func (s *Server) CountRows(t testing.TB, table string) int {
	t.Helper()
	var n int
	if err := s.DB.QueryRow(context.Background(), "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// adminOperations are the SDK operations served by the admin API.
var adminOperations = []string{
	"IdentityAPIService.CreateIdentity", "IdentityAPIService.BatchPatchIdentities", "IdentityAPIService.GetIdentity", "IdentityAPIService.ListIdentities",
	"IdentityAPIService.PatchIdentity", "IdentityAPIService.UpdateIdentity", "IdentityAPIService.DeleteIdentity",
	"IdentityAPIService.DeleteIdentityCredentials",
	"IdentityAPIService.CreateRecoveryCodeForIdentity", "IdentityAPIService.CreateRecoveryLinkForIdentity",
	"IdentityAPIService.ListIdentitySessions", "IdentityAPIService.DeleteIdentitySessions",
	"IdentityAPIService.ListSessions", "IdentityAPIService.GetSession", "IdentityAPIService.DisableSession",
	"IdentityAPIService.ExtendSession", "CourierAPIService.ListCourierMessages", "CourierAPIService.GetCourierMessage",
}

// LogBuffer collects a server's log (Options.Log) for a test to read; it
// is safe for the server's concurrent writes.
type LogBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

// Write appends p.
func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String is everything logged so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// UIAt points every flow's UI (error, login, registration, recovery,
// settings, verification) at base followed by the flow's name, e.g.
// base "http://ui.example.test/" puts the login UI at
// http://ui.example.test/login. Nothing serves it: tests read the
// redirects to it. The result goes into Options.Env.
func UIAt(base string) []string {
	var env []string
	for _, flow := range []string{"error", "login", "registration", "recovery", "settings", "verification"} {
		env = append(env, "SELFSERVICE_FLOWS_"+strings.ToUpper(flow)+"_UI_URL="+base+flow)
	}
	return env
}

// notificationKinds are the selfservice.notifications switches.
var notificationKinds = []string{"PASSWORD_CHANGED", "ACCOUNT_RECOVERED", "ADMIN_RECOVERY_ISSUED",
	"SECOND_FACTOR_ADDED", "SECOND_FACTOR_REMOVED", "ADDRESS_CHANGED", "SOCIAL_LINKED"}

func notificationSwitches(value string) []string {
	out := make([]string, len(notificationKinds))
	for i, k := range notificationKinds {
		out[i] = "SELFSERVICE_NOTIFICATIONS_" + k + "_ENABLED=" + value
	}
	return out
}

// NotificationsOn is the Options.Env that turns every security
// notification on (servers start with them off).
func NotificationsOn() []string { return notificationSwitches("true") }
