package sqlstore

import (
	"context"
	"time"

	"github.com/latchkey/latchkey/internal/ratelimit"
)

// RateLimitStore implements ratelimit.Store: the rate_limits table, one
// counter per (scope, keyed hash of the key, fixed window).
type RateLimitStore struct{ DB *DB }

// NewRateLimitStore returns the rate-limit store of db.
func NewRateLimitStore(db *DB) *RateLimitStore { return &RateLimitStore{DB: db} }

var _ ratelimit.Store = (*RateLimitStore)(nil)

// Increment adds one to a counter and returns its new value. The upsert
// holds the counter's row lock until the transaction ends, so concurrent
// callers are counted one after another on every dialect.
func (s *RateLimitStore) Increment(ctx context.Context, scope, keyHash string, windowStart time.Time) (int, error) {
	upsert := `INSERT INTO rate_limits (scope, key_hash, window_start, count) VALUES (?, ?, ?, 1)
		ON CONFLICT (scope, key_hash, window_start) DO UPDATE SET count = rate_limits.count + 1`
	if s.DB.Dialect == MySQL {
		upsert = `INSERT INTO rate_limits (scope, key_hash, window_start, count) VALUES (?, ?, ?, 1)
		ON DUPLICATE KEY UPDATE count = count + 1`
	}
	var n int
	err := s.DB.InTx(ctx, func(ctx context.Context) error {
		if _, err := s.DB.Exec(ctx, upsert, scope, keyHash, s.DB.T(windowStart)); err != nil {
			return err
		}
		if _, err := s.DB.Exec(ctx, `DELETE FROM rate_limits WHERE scope = ? AND key_hash = ? AND window_start < ?`,
			scope, keyHash, s.DB.T(windowStart)); err != nil {
			return err
		}
		return ScanErr(s.DB.QueryRow(ctx, `SELECT count FROM rate_limits WHERE scope = ? AND key_hash = ? AND window_start = ?`,
			scope, keyHash, s.DB.T(windowStart)).Scan(&n))
	})
	return n, err
}

// Decrement takes one off a counter that is above zero.
func (s *RateLimitStore) Decrement(ctx context.Context, scope, keyHash string, windowStart time.Time) error {
	_, err := s.DB.Exec(ctx, `UPDATE rate_limits SET count = count - 1
		WHERE scope = ? AND key_hash = ? AND window_start = ? AND count > 0`,
		scope, keyHash, s.DB.T(windowStart))
	return err
}

// Reset deletes every counter of a key.
func (s *RateLimitStore) Reset(ctx context.Context, scope, keyHash string) error {
	_, err := s.DB.Exec(ctx, `DELETE FROM rate_limits WHERE scope = ? AND key_hash = ?`, scope, keyHash)
	return err
}
