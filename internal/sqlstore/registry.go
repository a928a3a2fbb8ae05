package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// The instance registry (session_cache_instances) lets a change that
// other instances' caches must see wait only for the instances that have
// not applied it yet, instead of a whole lease: see step 4 and its proof
// in invalidations.go.
//
// An instance's row holds the last invalidation number it has applied and
// until when, on the database's clock, it may serve from its cache. The
// instance trusts only half of that time on its own clock; the other half
// absorbs a forward step of the database's clock. Rows are kept current
// by the feed's goroutine: once before a read whose lease the row would
// not cover (so about every registryTrust/2), and after a read that
// applied something.

// registryTrustMin is the shortest time an instance's row is trusted on
// its own clock (longer with a long lease: four leases).
const registryTrustMin = 2 * time.Second

// registryRetention is how long the row of an instance that stopped
// without withdrawing (it was killed) stays; the next instance to start
// deletes older ones. Until its valid_until it only makes changes wait
// their whole lease, as without a registry.
const registryRetention = time.Hour

// registry is an instance's own row.
type registry struct {
	id    string
	trust time.Duration

	// Owned by the feed's goroutine.
	liveUntil time.Time // on this instance's clock: the row covers leases ending before it
	reported  int64     // applied_through as last written
	swept     bool      // stale rows were deleted
}

// dbNowMillis is the database's clock in milliseconds since 1970 (UTC on
// both, whatever the session's time zone).
func (db *DB) dbNowMillis() string {
	if db.Dialect == MySQL {
		return "(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(6)) DIV 1000)"
	}
	return "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)"
}

// announce makes sure the instance's row covers a lease starting at
// began (it says the instance may serve until at least began + lease),
// writing it when it would not. It must succeed before the read whose
// lease it covers starts.
func (f *invalidationFeed) announce(ctx context.Context, began time.Time) error {
	r := &f.registry
	if began.Add(f.cache.lease).Add(r.trust / 2).Before(r.liveUntil) {
		return nil
	}
	db := f.db
	if !r.swept {
		if _, err := db.Exec(ctx, `DELETE FROM session_cache_instances WHERE valid_until < `+db.dbNowMillis()+` - ?`,
			registryRetention.Milliseconds()); err != nil {
			return fmt.Errorf("sweep session cache instances: %w", err)
		}
		r.swept = true
	}
	sent := time.Now()
	upsert := `INSERT INTO session_cache_instances (instance_id, applied_through, valid_until)
		VALUES (?, ?, ` + db.dbNowMillis() + ` + ?)
		ON CONFLICT (instance_id) DO UPDATE SET
			applied_through = GREATEST(session_cache_instances.applied_through, EXCLUDED.applied_through),
			valid_until = GREATEST(session_cache_instances.valid_until, EXCLUDED.valid_until)`
	if db.Dialect == MySQL {
		upsert = `INSERT INTO session_cache_instances (instance_id, applied_through, valid_until)
		VALUES (?, ?, ` + db.dbNowMillis() + ` + ?)
		ON DUPLICATE KEY UPDATE
			applied_through = GREATEST(applied_through, VALUES(applied_through)),
			valid_until = GREATEST(valid_until, VALUES(valid_until))`
	}
	if _, err := db.Exec(ctx, upsert, r.id, f.cursor, (2 * r.trust).Milliseconds()); err != nil {
		return fmt.Errorf("announce session cache instance: %w", err)
	}
	r.liveUntil = sent.Add(r.trust)
	r.reported = max(r.reported, f.cursor)
	return nil
}

// reportApplied records that the instance has applied every number up to
// its cursor (its cache has dropped what they name), so that the changes
// waiting for it can answer.
func (f *invalidationFeed) reportApplied(ctx context.Context) error {
	r := &f.registry
	if f.cursor <= r.reported {
		return nil
	}
	if _, err := f.db.Exec(ctx, `UPDATE session_cache_instances SET applied_through = ?
		WHERE instance_id = ? AND applied_through < ?`, f.cursor, r.id, f.cursor); err != nil {
		return fmt.Errorf("report applied session cache invalidations: %w", err)
	}
	r.reported = f.cursor
	return nil
}

// withdraw deletes the instance's row once its cache has stopped serving,
// so that changes stop waiting for it.
func (f *invalidationFeed) withdraw() {
	f.cache.dropLease()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, _ = f.db.Exec(ctx, `DELETE FROM session_cache_instances WHERE instance_id = ?`, f.registry.id)
}

// ChangeWaits reports how the waits of changes for the other instances
// ended since the DB was opened: applied, once every other live instance
// had applied the change; lease, when the wait ran to the lease (an
// instance lagged, was killed without withdrawing, or the registry could
// not be read). Both are 0 without a feed (SQLite).
func (db *DB) ChangeWaits() (applied, lease uint64) {
	if db.feed == nil {
		return 0, 0
	}
	return db.feed.waits.applied.Load(), db.feed.waits.lease.Load()
}

// errLagging: some other live instance has not applied the change yet.
var errLagging = errors.New("an instance has not applied the change")

// othersApplied reports whether every other live instance has applied
// number seq (nil), or not yet (errLagging), or could not tell (another
// error).
func (db *DB) othersApplied(ctx context.Context, seq int64) error {
	var lagging int
	err := db.QueryRow(ctx, `SELECT COUNT(*) FROM session_cache_instances
		WHERE instance_id <> ? AND applied_through < ? AND valid_until > `+db.dbNowMillis(),
		db.feed.registry.id, seq).Scan(&lagging)
	switch {
	case err != nil:
		return err
	case lagging > 0:
		return errLagging
	}
	return nil
}
