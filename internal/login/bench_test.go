package login_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

// BenchmarkLogin measures a native password login end to end over HTTP
// (create the flow, submit it, get a session token) against the whole
// server on SQLite, with the default bcrypt cost of 12: the figure is
// dominated by that one bcrypt comparison, which is the point of the
// cost. Parallel runs 4 clients per CPU to show the hashing pool queueing
// work instead of oversubscribing.
func BenchmarkLogin(b *testing.B) {
	srv := servertest.Start(b, servertest.EntryOptions("HASHERS_BCRYPT_COST=12"))
	srv.MustCreateIdentity(b, "bench@example.test", pw)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

	// login reports failures with Errorf: it also runs on RunParallel's
	// goroutines, where Fatal is not allowed.
	login := func(b *testing.B) {
		res, body := servertest.Do(b, client, "GET", srv.Config.PublicURL("self-service/login/api"), nil, nil)
		if res.StatusCode != 200 {
			b.Errorf("create flow: %d", res.StatusCode)
			return
		}
		res, body = servertest.Do(b, client, "POST", srv.Config.PublicURL("self-service/login?flow="+body["id"].(string)),
			map[string]any{"method": "password", "identifier": "bench@example.test", "password": pw}, nil)
		if res.StatusCode != 200 || body["session_token"] == nil {
			b.Errorf("login: %d %v", res.StatusCode, body)
		}
	}

	b.Run("Sequential", func(b *testing.B) {
		start := time.Now()
		for b.Loop() {
			login(b)
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "logins/s")
	})
	b.Run("Parallel", func(b *testing.B) {
		b.SetParallelism(4)
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				login(b)
			}
		})
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "logins/s")
	})
}
