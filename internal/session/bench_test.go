package session_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/server/servertest"
	"github.com/latchkey/latchkey/internal/sqlstore"
)

// whoamiClients is the number of concurrent clients of BenchmarkWhoami.
const whoamiClients = 64

// benchServer is a SQLite-backed server holding 2 000 sessions besides
// the one the benchmark presents, so the lookup goes through a populated
// index.
func benchServer(b *testing.B, dialects ...sqlstore.Dialect) (*servertest.Server, string) {
	opts := options()
	if len(dialects) > 0 {
		opts.Dialect = dialects[0]
	}
	srv := servertest.Start(b, opts)
	_, email := mustIdentity(b, srv, identityOpts{})
	s, _ := login(b, srv, email, curl)
	// Copies of that session under other ids and token hashes.
	err := srv.DB.InTx(context.Background(), func(ctx context.Context) error {
		for i := 0; i < 2000; i++ {
			if _, err := srv.DB.Exec(ctx, `INSERT INTO sessions
				(id, identity_id, token_hash, active, aal, authentication_methods, devices, authenticated_at, issued_at, expires_at, created_at, updated_at)
				SELECT ?, identity_id, ?, active, aal, authentication_methods, devices, authenticated_at, issued_at, expires_at, created_at, updated_at
				FROM sessions WHERE id = ?`, uuid.NewString(), uuid.NewString(), s.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return srv, s.Token
}

// BenchmarkWhoami measures GET /sessions/whoami end to end over HTTP with
// 64 concurrent clients (keep-alive connections) against real SQLite. It
// reports requests per second; allocations include the client's.
func BenchmarkWhoami(b *testing.B) {
	srv, token := benchServer(b)
	benchHTTP(b, srv, token)
}

// benchHTTP drives whoami over HTTP with whoamiClients concurrent clients.
func benchHTTP(b *testing.B, srv *servertest.Server, token string) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: whoamiClients, MaxIdleConnsPerHost: whoamiClients}}
	url := srv.Public.URL + "/sessions/whoami"
	b.SetParallelism((whoamiClients + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("X-Session-Token", token)
		for pb.Next() {
			res, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				b.Errorf("status %d", res.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
}

// BenchmarkWhoamiHandler measures the server side alone (no sockets):
// the public handler with its SQLite lookups, identity load and JSON
// encoding.
func BenchmarkWhoamiHandler(b *testing.B) {
	srv, token := benchServer(b)
	benchHandler(b, srv, token)
}

// BenchmarkWhoamiHandlerPostgres is BenchmarkWhoamiHandler on
// PostgreSQL, where the cache serves only within the lease of the
// invalidation feed (sqlstore/invalidations.go).
func BenchmarkWhoamiHandlerPostgres(b *testing.B) {
	srv, token := benchServer(b, sqlstore.Postgres)
	benchHandler(b, srv, token)
}

func benchHandler(b *testing.B, srv *servertest.Server, token string) {
	handler := srv.App.Public()
	req := httptest.NewRequest(http.MethodGet, "/sessions/whoami", nil)
	req.Header.Set("X-Session-Token", token)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
	}
}
