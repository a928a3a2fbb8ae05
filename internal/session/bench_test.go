package session_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/internal/sqlstore/sqltest"
)

// whoamiClients is the number of concurrent clients of BenchmarkWhoami.
const whoamiClients = 64

// benchEnv is a SQLite-backed server holding 2 000 sessions besides the
// one the benchmark presents, so the lookup goes through a populated index.
func benchEnv(b *testing.B) (*env, string) {
	db := sqltest.OpenSQLite(b)
	e := newEnv(b, db)
	ident := MustIdentity(b, db, identityOpts{})
	err := db.InTx(context.Background(), func(ctx context.Context) error {
		for i := 0; i < 2000; i++ {
			if _, _, err := e.m.Issue(ctx, ident, session.MethodPassword, nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	_, token := e.MustSession(b, ident)
	return e, token
}

// BenchmarkWhoami measures GET /sessions/whoami end to end over HTTP with
// 64 concurrent clients (keep-alive connections) against real SQLite. It
// reports requests per second; allocations include the client's.
func BenchmarkWhoami(b *testing.B) {
	e, token := benchEnv(b)
	benchHTTP(b, e, token)
}

// benchHTTP drives whoami over HTTP with whoamiClients concurrent clients.
func benchHTTP(b *testing.B, e *env, token string) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: whoamiClients, MaxIdleConnsPerHost: whoamiClients}}
	url := e.pub.URL + "/sessions/whoami"
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
// the handler with its SQLite lookups, identity load and JSON encoding.
func BenchmarkWhoamiHandler(b *testing.B) {
	e, token := benchEnv(b)
	mux := http.NewServeMux()
	e.h.RegisterPublic(mux)
	req := httptest.NewRequest(http.MethodGet, "/sessions/whoami", nil)
	req.Header.Set("X-Session-Token", token)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
	}
}
