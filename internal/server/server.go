// Package server is the one place that wires Latchkey together: it opens
// the database, builds every store, service and handler from the typed
// configuration, mounts them on the public and admin listeners, runs the
// background workers and shuts everything down gracefully.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/hook"
	"github.com/latchkey/latchkey/internal/sqlstore"
)

// Options are the start-up choices that are not configuration.
type Options struct {
	// Migrate applies pending migrations at start (dev mode, serve
	// --migrate). An in-memory database is migrated at start regardless.
	Migrate bool
	Logger  *slog.Logger
	Version string
	// Now is the clock every service uses; tests travel in time with it.
	Now func() time.Time
	// NoCourier leaves the dispatcher off (tests that drive it themselves).
	NoCourier bool
	// WebHooks bounds web_hook calls; the zero value is Kratos's 30 s
	// (tests shorten it; Kratos has no key for it, so neither has the
	// configuration).
	WebHooks hook.Limits
}

// PendingMigrationsError is New's error for a database whose schema is
// behind the binary. It names no remedy: the command line does, since
// only it knows where the DSN came from.
type PendingMigrationsError struct {
	// Count is the number of migrations not applied yet.
	Count int
}

func (e *PendingMigrationsError) Error() string {
	return fmt.Sprintf("the database has %d pending migration(s)", e.Count)
}

// Server is a wired Latchkey instance.
type Server struct {
	cfg     *config.Config
	log     *slog.Logger
	db      *sqlstore.DB
	now     func() time.Time
	version string

	public  http.Handler
	admin   http.Handler
	metrics *prometheus.Registry

	// workers run in the background while the server runs.
	workers []func(ctx context.Context)
	// closers release what components keep open (the courier's SMTP
	// connections); Close runs them.
	closers []func() error
}

// New opens the database and wires every component.
func New(ctx context.Context, cfg *config.Config, opts Options) (*Server, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	db, err := sqlstore.Open(ctx, cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("dsn: %w", err)
	}
	db.Now = now
	if db.InMemory() {
		// It starts empty in every process, so no other process can have
		// migrated it: Kratos migrates such a database at start too.
		log.Info("the database is in memory: applying migrations at start; its data is lost when the process ends")
	}
	if opts.Migrate || db.InMemory() {
		n, err := db.Migrate(ctx)
		if err != nil {
			db.Close()
			return nil, err
		}
		if n > 0 {
			log.Info("applied database migrations", "count", n)
		}
	} else {
		pending, err := db.Pending(ctx)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("read migration status: %w", err)
		}
		if pending > 0 {
			db.Close()
			return nil, &PendingMigrationsError{Count: pending}
		}
	}
	s := &Server{cfg: cfg, log: log, db: db, now: now, version: opts.Version, metrics: prometheus.NewRegistry()}
	if err := s.wire(opts); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Public is the public API handler (for tests and embedding).
func (s *Server) Public() http.Handler { return s.public }

// Admin is the admin API handler.
func (s *Server) Admin() http.Handler { return s.admin }

// DB is the server's database (tests inspect it).
func (s *Server) DB() *sqlstore.DB { return s.db }

// Close closes the connections the components keep open (the courier's
// SMTP connections) and releases the database. Call it once the workers
// have stopped (Run and the function StartWorkers returns wait for them).
func (s *Server) Close() error {
	var errs []error
	for _, c := range s.closers {
		errs = append(errs, c())
	}
	return errors.Join(append(errs, s.db.Close())...)
}

// StartWorkers runs the background workers until ctx ends; the returned
// function waits for them to stop. Run calls it; tests that serve the
// handlers with httptest call it themselves.
func (s *Server) StartWorkers(ctx context.Context) (wait func()) {
	var wg sync.WaitGroup
	for _, w := range s.workers {
		wg.Add(1)
		go func(w func(context.Context)) {
			defer wg.Done()
			w(ctx)
		}(w)
	}
	return wg.Wait
}

// Run serves both listeners until ctx is cancelled, then shuts down
// gracefully: listeners stop accepting, in-flight requests finish (up to
// 15 s), background workers stop. ready is called once both listen.
func (s *Server) Run(ctx context.Context, ready func()) error {
	pubLn, err := net.Listen("tcp", s.cfg.Serve.Public.Addr())
	if err != nil {
		return fmt.Errorf("serve.public: %w", err)
	}
	admLn, err := net.Listen("tcp", s.cfg.Serve.Admin.Addr())
	if err != nil {
		pubLn.Close()
		return fmt.Errorf("serve.admin: %w", err)
	}
	servers := []*http.Server{
		{Handler: s.public, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second},
		{Handler: s.admin, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second},
	}
	workerCtx, stopWorkers := context.WithCancel(context.Background())
	waitWorkers := s.StartWorkers(workerCtx)
	// The database pool's connections open while the instance starts, not
	// in its first burst of requests (sqlstore.DB.Warm). Not a worker: the
	// tests' many servers would each open a whole pool.
	warmed := make(chan struct{})
	go func() {
		defer close(warmed)
		s.db.Warm(workerCtx)
	}()
	// The listeners are bound, so clients already queue; announcing before
	// serving means no request is answered before the banner is out.
	if ready != nil {
		ready()
	}
	errs := make(chan error, 2)
	for i, ln := range []net.Listener{pubLn, admLn} {
		go func(srv *http.Server, ln net.Listener) {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errs <- err
			}
		}(servers[i], ln)
	}
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errs:
	}
	s.log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for _, srv := range servers {
		_ = srv.Shutdown(shutdownCtx)
	}
	stopWorkers()
	waitWorkers()
	<-warmed
	return runErr
}
