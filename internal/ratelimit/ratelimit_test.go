package ratelimit_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/ratelimit"
	"github.com/latchkey/latchkey/internal/secret"
)

// memoryStore counts in a map; the SQL store is tested in sqlstore.
type memoryStore map[string]int

func (m memoryStore) key(scope, hash string, start time.Time) string {
	return scope + "/" + hash + "/" + start.String()
}
func (m memoryStore) Increment(_ context.Context, scope, hash string, start time.Time) (int, error) {
	m[m.key(scope, hash, start)]++
	return m[m.key(scope, hash, start)], nil
}
func (m memoryStore) Decrement(_ context.Context, scope, hash string, start time.Time) error {
	if k := m.key(scope, hash, start); m[k] > 0 {
		m[k]--
	}
	return nil
}
func (m memoryStore) Reset(context.Context, string, string) error { clear(m); return nil }

func TestCounter(t *testing.T) {
	ctx := context.Background()
	// 10:07:00.2 in a 15-minute window that ends at 10:15.
	now := time.Date(2026, 1, 2, 10, 7, 0, 200_000_000, time.UTC)
	store := memoryStore{}
	c := &ratelimit.Counter{Store: store, Hasher: secret.Hasher{Secrets: [][]byte{[]byte("k")}}, Now: func() time.Time { return now }}
	l := ratelimit.Limit{Max: 2, Window: 15 * time.Minute}

	t.Run("MaxEventsPassThenRetryAfterRoundsUpToTheWindowEnd", func(t *testing.T) {
		for i := range 2 {
			if err := c.Take(ctx, "s", "alice", l); err != nil {
				t.Fatalf("event %d: %v", i+1, err)
			}
		}
		var ex *ratelimit.ExceededError
		if err := c.Take(ctx, "s", "alice", l); !errors.As(err, &ex) || ex.Scope != "s" || ex.RetryAfter != 480*time.Second {
			t.Fatalf("third event: %v (want 480s: 7m59.8s rounded up)", err)
		}
	})

	t.Run("KeysAreStoredOnlyAsKeyedHashes", func(t *testing.T) {
		for k := range store {
			if want := "s/" + c.Hasher.Hash("s:alice") + "/"; k[:len(want)] != want {
				t.Fatalf("stored key %q", k)
			}
		}
	})

	t.Run("GiveReturnsAnEvent", func(t *testing.T) {
		clear(store) // the fake has no transaction to roll the refusal back
		for range 2 {
			if err := c.Take(ctx, "s", "carol", l); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Give(ctx, "s", "carol", l); err != nil {
			t.Fatal(err)
		}
		if err := c.Take(ctx, "s", "carol", l); err != nil {
			t.Fatalf("a given-back event must be takeable again: %v", err)
		}
		if err := c.Take(ctx, "s", "carol", l); err == nil {
			t.Fatal("Give must return one event, not more")
		}
	})

	t.Run("DisabledLimitsAndEmptyKeysCountNothing", func(t *testing.T) {
		clear(store)
		for range 5 {
			if err := c.Take(ctx, "s", "bob", ratelimit.Limit{Max: 0, Window: time.Minute}); err != nil {
				t.Fatal(err)
			}
			if err := c.Take(ctx, "s", "", l); err != nil {
				t.Fatal(err)
			}
		}
		if len(store) != 0 {
			t.Fatalf("counted %v", store)
		}
	})
}
