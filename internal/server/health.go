package server

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/latchkey/latchkey/internal/httpx"
)

// registerOperational mounts health, version and (admin only) metrics.
func (s *Server) registerOperational(mux *http.ServeMux, admin bool) {
	mux.HandleFunc("GET /health/alive", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /health/ready", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.db.Ping(ctx); err != nil {
			s.log.Warn("readiness check failed", "error", err)
			httpx.WriteJSON(w, http.StatusServiceUnavailable, map[string]any{"errors": map[string]string{"database": "the database is not reachable"}})
			return
		}
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"version": s.version})
	})
	if admin {
		mux.Handle("GET /metrics/prometheus", promhttp.HandlerFor(s.metrics, promhttp.HandlerOpts{}))
	}
}
