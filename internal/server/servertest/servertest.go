// Package servertest runs a whole Latchkey server inside a test: real
// configuration loading, a real database of the chosen dialect, real
// listeners on 127.0.0.1 for the public and admin APIs, the courier
// delivering to an in-process SMTP server, and a clock the test moves.
package servertest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	ory "github.com/ory/client-go"

	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/courier/smtptest"
	"github.com/latchkey/latchkey/internal/server"
	"github.com/latchkey/latchkey/internal/sqlstore"
	"github.com/latchkey/latchkey/internal/sqlstore/sqltest"
)

// Clock is a test clock: it follows real time plus an offset the test
// adds to with Advance, so flows and sessions expire without sleeping.
type Clock struct {
	mu     sync.Mutex
	offset time.Duration
}

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
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
}

// Options tune the server.
type Options struct {
	// Dialect of the database (default SQLite). Tests skip when the
	// dialect's DSN is not set.
	Dialect sqlstore.Dialect
	// Env are extra configuration variables ("SELFSERVICE_FLOWS_RECOVERY_USE=link").
	Env []string
	// Files are config files.
	Files []string
	// NoSMTP leaves courier.smtp unset (the dev mailbox keeps messages).
	NoSMTP bool
	// Log receives the server log (default: discarded unless LATCHKEY_TEST_LOG is set).
	Log io.Writer
}

// Start runs a server until the test ends. Cheap bcrypt (cost 4) keeps
// tests fast unless opts.Env sets HASHERS_BCRYPT_COST.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.Dialect == "" {
		opts.Dialect = sqlstore.SQLite
	}
	dsn := sqltest.DSN(t, opts.Dialect)
	pubLn := listen(t)
	admLn := listen(t)
	s := &Server{Clock: &Clock{}}
	env := []string{
		"DSN=" + dsn,
		"SERVE_PUBLIC_BASE_URL=http://" + pubLn.Addr().String() + "/",
		"SERVE_ADMIN_BASE_URL=http://" + admLn.Addr().String() + "/",
		"HASHERS_BCRYPT_COST=4",
		"SECRETS_DEFAULT=[\"test-secret-0123456789abcdef\"]",
		"LOG_LEVEL=debug",
	}
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
	log := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	app, err := server.New(ctx, cfg, server.Options{Migrate: true, Logger: log, Now: s.Clock.Now, Version: "test"})
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
	cfg := ory.NewConfiguration()
	cfg.Servers = ory.ServerConfigurations{{URL: s.Public.URL}}
	cfg.OperationServers = map[string]ory.ServerConfigurations{}
	for _, op := range adminOperations {
		cfg.OperationServers[op] = ory.ServerConfigurations{{URL: s.Admin.URL}}
	}
	cfg.HTTPClient = s.HTTPClient(jar)
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

// adminOperations are the SDK operations served by the admin API.
var adminOperations = []string{
	"IdentityAPIService.CreateIdentity", "IdentityAPIService.GetIdentity", "IdentityAPIService.ListIdentities",
	"IdentityAPIService.PatchIdentity", "IdentityAPIService.UpdateIdentity", "IdentityAPIService.DeleteIdentity",
	"IdentityAPIService.CreateRecoveryCodeForIdentity", "IdentityAPIService.CreateRecoveryLinkForIdentity",
	"IdentityAPIService.ListIdentitySessions", "IdentityAPIService.DeleteIdentitySessions",
	"IdentityAPIService.ListSessions", "IdentityAPIService.GetSession", "IdentityAPIService.DisableSession",
	"IdentityAPIService.ExtendSession", "CourierAPIService.ListCourierMessages", "CourierAPIService.GetCourierMessage",
}

var sixDigits = regexp.MustCompile(`\b\d{6}\b`)

// RecoveryCode waits for the next recovery mail to addr and returns its code.
func (s *Server) RecoveryCode(t testing.TB, addr string) string {
	t.Helper()
	m := s.SMTP.WaitFor(t, addr, 10*time.Second)
	code := sixDigits.FindString(m.Text)
	if code == "" {
		t.Fatalf("no code in mail to %s: %q", addr, m.Text)
	}
	return code
}

var linkRE = regexp.MustCompile(`https?://[^\s"<>]+/self-service/recovery\?flow=[^\s"<>]+`)

// RecoveryLink waits for the next recovery mail to addr and returns its link.
func (s *Server) RecoveryLink(t testing.TB, addr string) string {
	t.Helper()
	m := s.SMTP.WaitFor(t, addr, 10*time.Second)
	link := linkRE.FindString(m.Text)
	if link == "" {
		t.Fatalf("no link in mail to %s: %q", addr, m.Text)
	}
	return strings.ReplaceAll(link, "&amp;", "&")
}
