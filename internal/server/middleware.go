package server

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"

	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/httpx"
)

// withBasics wraps a listener's handler: the request logger in the context
// (naming the client IP), a recovered panic answered as a Kratos 500 (and
// logged with its stack).
func withBasics(log *slog.Logger, public bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log := newRequestLogger(log, httpx.ClientIP(r))
		w, ctx, finish := httpx.StartAfterResponse(w, httpx.WithLogger(r.Context(), log))
		r = r.WithContext(ctx)
		if public {
			w.Header().Set("Vary", "Cookie")
		}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.Error("panic while serving request", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				httpx.WriteError(w, r, httpx.ErrInternal(fmt.Errorf("panic: %v", p)))
				finish() // a held answer goes out
			}
		}()
		next.ServeHTTP(w, r)
		finish()
	})
}

// clientIPs is the client-address resolver of a listener: forwarding
// headers count only from its trusted_proxies.
func clientIPs(l config.Listener) (*httpx.ClientIPs, error) {
	trusted, err := l.TrustedProxyRanges()
	if err != nil {
		return nil, fmt.Errorf("trusted_proxies: %w", err)
	}
	return httpx.NewClientIPs(trusted), nil
}

// redirectTo answers with a 307 to the same path and query on another
// listener (Kratos does this for a self-service route called on the admin
// port and an admin route called on the public port).
func redirectTo(base string) http.Handler {
	base = strings.TrimSuffix(base, "/")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, base+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	})
}

// adminAliases serves admin routes without their /admin prefix too, as
// Kratos's admin listener does (e.g. GET /identities). Only paths the admin
// mux does not route by itself are aliases: GET /sessions/whoami on the
// admin port is the redirect to the public port, not session "whoami".
func adminAliases(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "/" {
			mux.ServeHTTP(w, r)
			return
		}
		p := r.URL.Path
		for _, prefix := range []string{"/identities", "/recovery/", "/sessions", "/courier/"} {
			if p == prefix || strings.HasPrefix(p, prefix+"/") || (strings.HasSuffix(prefix, "/") && strings.HasPrefix(p, prefix)) {
				r2 := r.Clone(r.Context())
				r2.URL.Path = "/admin" + p
				r2.URL.RawPath = ""
				mux.ServeHTTP(w, r2)
				return
			}
		}
		mux.ServeHTTP(w, r)
	})
}

// notFound is the Kratos 404 for unknown routes.
func notFound(w http.ResponseWriter, r *http.Request) {
	httpx.WriteError(w, r, httpx.ErrRouteNotFound("The requested route does not exist."))
}

// ensureCSRFCookie gives a self-service request that has no CSRF cookie a
// new one, as Kratos's CSRF middleware does on every public route it does
// not ignore (recovery.md §10): flow creation, flow and error fetches. A
// UI that fetches a flow without forwarding cookies gets one to pass on.
func ensureCSRFCookie(csrf *flow.CSRF, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/self-service/") && !csrfIgnored(r.URL.Path) {
			r = csrf.Ensure(w, r)
		}
		next.ServeHTTP(w, r)
	})
}

// csrfIgnored are the routes Kratos's CSRF middleware leaves alone: the
// API-flow routes (/self-service/*/api, logout/api), which never set
// cookies, and the submissions, whose handlers check per flow.
func csrfIgnored(path string) bool {
	if strings.HasSuffix(path, "/api") {
		return true
	}
	switch path {
	case "/self-service/login", "/self-service/registration", "/self-service/recovery", "/self-service/settings", "/self-service/verification":
		return true
	}
	return false
}
