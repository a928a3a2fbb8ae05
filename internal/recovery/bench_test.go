package recovery_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

// BenchmarkCreateFlow creates recovery flows through the public handler
// (no network), as `latchkey bench --scenario recovery-flow` does for
// native apps: its allocations per flow are the server's.
func BenchmarkCreateFlow(b *testing.B) {
	srv := servertest.Start(b, servertest.Options{Log: io.Discard})
	h := srv.Public.Config.Handler
	for _, c := range []struct {
		name, path, accept string
		status             int
	}{
		{"api", "/self-service/recovery/api", "", http.StatusOK},
		{"browser", "/self-service/recovery/browser", "text/html", http.StatusSeeOther},
		{"spa", "/self-service/recovery/browser", "application/json", http.StatusOK},
	} {
		b.Run(c.name, func(b *testing.B) {
			u := srv.Public.URL + c.path
			b.ReportAllocs()
			b.SetParallelism(32) // 64 clients on 2 CPUs, as in docs/benchmarks.md
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					r := httptest.NewRequest(http.MethodGet, u, nil)
					if c.accept != "" {
						r.Header.Set("Accept", c.accept)
					}
					w := httptest.NewRecorder()
					h.ServeHTTP(w, r)
					if w.Code != c.status {
						b.Fatalf("%d %s", w.Code, w.Body)
					}
				}
			})
		})
	}
}
