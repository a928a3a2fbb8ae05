package server

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/latchkey/latchkey/internal/config"
)

// wire builds every component and the two listeners' handlers.
func (s *Server) wire(opts Options) error {
	public := http.NewServeMux()
	admin := http.NewServeMux()
	s.registerOperational(public, false)
	s.registerOperational(admin, true)

	// Cross-listener redirects, as Kratos answers them.
	public.Handle("/admin/", redirectTo(s.cfg.Serve.Admin.BaseURL))
	admin.Handle("/self-service/", redirectTo(s.cfg.Serve.Public.BaseURL))
	admin.Handle("/sessions/whoami", redirectTo(s.cfg.Serve.Public.BaseURL))
	public.HandleFunc("/", notFound)
	admin.HandleFunc("/", notFound)

	s.public = withBasics(s.log, true, public)
	s.admin = withBasics(s.log, false, adminAliases(admin))
	return nil
}

// RunCourier runs only the courier dispatcher (latchkey courier watch).
func RunCourier(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	srv, err := New(ctx, cfg, Options{Logger: log, Migrate: cfg.Dev})
	if err != nil {
		return err
	}
	defer srv.Close()
	srv.StartWorkers(ctx)()
	return nil
}
