// Package ratelimit owns Latchkey's fixed-window counters: the recovery
// send limits and the login failure budgets. Counters live in the
// database, so every instance sharing it counts together.
//
// Keys are keyed hashes of "scope:key" (an address, an identifier, a
// client IP): the table reveals none of them, and a key is counted
// whether or not it belongs to an account, so a refusal says nothing
// about accounts either.
//
// Windows are fixed and aligned to the Unix epoch: at most Max events
// are accepted per key in each window.
package ratelimit

import (
	"context"
	"fmt"
	"time"

	"github.com/latchkey/latchkey/internal/secret"
)

// Limit allows Max events per Window; Max 0 (or a zero Window) disables it.
type Limit struct {
	Max    int
	Window time.Duration
}

// Enabled reports whether the limit counts anything.
func (l Limit) Enabled() bool { return l.Max > 0 && l.Window > 0 }

// Store keeps the counters. Every method joins the transaction carried
// by ctx. sqlstore.RateLimitStore implements it.
type Store interface {
	// Increment adds one to the counter of (scope, keyHash) in the window
	// starting at windowStart and returns the new count. It holds the
	// counter's row lock until the transaction ends, so concurrent
	// callers are counted one after another. Counters of that key from
	// earlier windows are dropped.
	Increment(ctx context.Context, scope, keyHash string, windowStart time.Time) (int, error)
	// Decrement takes one off the counter of (scope, keyHash) in the
	// window starting at windowStart, if it is above zero.
	Decrement(ctx context.Context, scope, keyHash string, windowStart time.Time) error
	// Reset deletes every counter of (scope, keyHash).
	Reset(ctx context.Context, scope, keyHash string) error
}

// Counter counts events against limits. Its fields are set once by the
// server.
type Counter struct {
	Store Store
	// Hasher makes the keyed hashes of the keys (secrets.default).
	Hasher secret.Hasher
	// Now is the clock.
	Now func() time.Time
}

// ExceededError is returned when a limit is reached.
type ExceededError struct {
	// Scope names the limit ("login_ip", "recovery_address", ...).
	Scope string
	// RetryAfter is the time until the window ends, in whole seconds
	// (rounded up), as the Retry-After header carries it.
	RetryAfter time.Duration
}

func (e *ExceededError) Error() string {
	return fmt.Sprintf("ratelimit: %s limit reached, retry in %s", e.Scope, e.RetryAfter)
}

// Take counts one event for key in scope against l, in the transaction
// carried by ctx, and returns an *ExceededError when that makes more than
// l.Max in the current window. The caller rolls the transaction back on
// that error, so a refused event does not count. A disabled limit or an
// empty key counts nothing.
func (c *Counter) Take(ctx context.Context, scope, key string, l Limit) error {
	if !l.Enabled() || key == "" {
		return nil
	}
	now := c.Now()
	start := now.Truncate(l.Window)
	n, err := c.Store.Increment(ctx, scope, c.hash(scope, key), start)
	if err != nil {
		return err
	}
	if n > l.Max {
		return &ExceededError{Scope: scope, RetryAfter: wholeSeconds(start.Add(l.Window).Sub(now))}
	}
	return nil
}

// Give returns an event taken in the current window (one that turned out
// not to count, such as a login that succeeded).
func (c *Counter) Give(ctx context.Context, scope, key string, l Limit) error {
	if !l.Enabled() || key == "" {
		return nil
	}
	return c.Store.Decrement(ctx, scope, c.hash(scope, key), c.Now().Truncate(l.Window))
}

// Reset forgets every event counted for key in scope.
func (c *Counter) Reset(ctx context.Context, scope, key string) error {
	if key == "" {
		return nil
	}
	return c.Store.Reset(ctx, scope, c.hash(scope, key))
}

func (c *Counter) hash(scope, key string) string { return c.Hasher.Hash(scope + ":" + key) }

// wholeSeconds rounds d up to whole seconds: Retry-After has no fraction,
// and rounding down would invite a retry that is still refused.
func wholeSeconds(d time.Duration) time.Duration {
	if r := d % time.Second; r != 0 {
		d += time.Second - r
	}
	return d
}
