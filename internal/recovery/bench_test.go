package recovery_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
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

// BenchmarkAdminCode creates admin recovery codes through the admin
// handler (no network) for one identity with its security notification
// on, as `latchkey bench --scenario admin-code` does: its allocations
// and CPU per code are the server's, courier delivery aside.
func BenchmarkAdminCode(b *testing.B) {
	srv := servertest.Start(b, servertest.Options{Log: io.Discard, Env: servertest.NotificationsOn()})
	h := srv.Admin.Config.Handler
	id := srv.MustCreateIdentity(b, uniqueEmail("bench-admin"), "").Id
	u := srv.Admin.URL + "/admin/recovery/code"
	body := `{"identity_id":"` + id + `","expires_in":"1h"}`
	b.ReportAllocs()
	b.SetParallelism(32) // 64 clients on 2 CPUs, as in docs/benchmarks.md
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := httptest.NewRequest(http.MethodPost, u, strings.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != http.StatusCreated {
				b.Fatalf("%d %s", w.Code, w.Body)
			}
		}
	})
}
