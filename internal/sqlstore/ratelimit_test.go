package sqlstore_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/sqlstore"
	"github.com/latchkey/latchkey/internal/sqlstore/sqltest"
)

func TestRateLimitStore(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := sqlstore.NewRateLimitStore(db)
		w1 := sqlstore.Time(time.Now()).Truncate(time.Hour)
		count := func(t *testing.T, scope, key string, window time.Time) int {
			t.Helper()
			var n int
			err := db.QueryRow(ctx, `SELECT count FROM rate_limits WHERE scope = ? AND key_hash = ? AND window_start = ?`, scope, key, db.T(window)).Scan(&n)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}

		t.Run("CountersCountPerScopeKeyAndWindow", func(t *testing.T) {
			for want := 1; want <= 3; want++ {
				if n, err := s.Increment(ctx, "recovery_address", "k", w1); n != want || err != nil {
					t.Fatalf("count %d: %d %v", want, n, err)
				}
			}
			if n, _ := s.Increment(ctx, "recovery_ip", "k", w1); n != 1 {
				t.Fatalf("other scope: %d", n)
			}
			if n, _ := s.Increment(ctx, "recovery_address", "k", w1.Add(time.Hour)); n != 1 {
				t.Fatalf("next window: %d", n)
			}
			var rows int
			if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM rate_limits WHERE scope = 'recovery_address'`).Scan(&rows); err != nil || rows != 1 {
				t.Fatalf("old windows kept: %d %v", rows, err)
			}
		})

		t.Run("DecrementStopsAtZero", func(t *testing.T) {
			if _, err := s.Increment(ctx, "login_ip", "d", w1); err != nil {
				t.Fatal(err)
			}
			for range 3 {
				if err := s.Decrement(ctx, "login_ip", "d", w1); err != nil {
					t.Fatal(err)
				}
			}
			if n := count(t, "login_ip", "d", w1); n != 0 {
				t.Fatalf("count after decrements = %d", n)
			}
		})

		t.Run("ResetForgetsOnlyThatKey", func(t *testing.T) {
			for _, k := range []string{"r1", "r2"} {
				if _, err := s.Increment(ctx, "login_identifier", k, w1); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Reset(ctx, "login_identifier", "r1"); err != nil {
				t.Fatal(err)
			}
			if n, _ := s.Increment(ctx, "login_identifier", "r1", w1); n != 1 {
				t.Fatalf("r1 after reset: %d", n)
			}
			if n := count(t, "login_identifier", "r2", w1); n != 1 {
				t.Fatalf("r2 touched by r1's reset: %d", n)
			}
		})

		t.Run("ConcurrentIncrementsAreAllCounted", func(t *testing.T) {
			var wg sync.WaitGroup
			seen := make(chan int, 16)
			for range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					err := db.InTx(ctx, func(ctx context.Context) error {
						n, err := s.Increment(ctx, "login_ip", "c", w1)
						seen <- n
						return err
					})
					if err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			close(seen)
			got := map[int]bool{}
			for n := range seen {
				got[n] = true
			}
			if len(got) != 16 || count(t, "login_ip", "c", w1) != 16 {
				t.Fatalf("each caller must see its own count: %v", got)
			}
		})
	})
}
