package sqlstore

import (
	"context"
	"fmt"
	"time"
)

// cleanupRules say what expired data is deleted, one rule per kind of row.
// This is the one list to extend when a table gains rows that expire:
// give the timestamp after which a row is no longer needed (plus the
// rule's Retention and the run's keep-last), and the key that names a row.
//
// What stays, on purpose: identities and everything they own; sessions
// until they have expired (a revoked session stays listed in the admin
// API until then, as in Kratos); recovery codes and link tokens until
// they have expired, even once used (a used one must still answer "already
// used" while its flow lives; it expires with its flow); courier messages
// that are queued or processing, however old.
//
// Order matters only for the counts: codes and tokens go before their
// flows, which would otherwise delete them by cascade, uncounted. Audit
// events go after audit.retention, never with the identity they name.
var cleanupRules = []cleanupRule{
	{Kind: "recovery codes", Table: "recovery_codes", Key: "id", Column: "expires_at"},
	{Kind: "recovery link tokens", Table: "recovery_tokens", Key: "id", Column: "expires_at"},
	{Kind: "verification codes", Table: "verification_codes", Key: "id", Column: "expires_at"},
	{Kind: "verification link tokens", Table: "verification_tokens", Key: "id", Column: "expires_at"},
	{Kind: "social sign-in round trips", Table: "social_round_trips", Key: "id", Column: "expires_at"},
	{Kind: "session token exchanges", Table: "session_token_exchanges", Key: "id", Column: "expires_at"},
	{Kind: "self-service flows", Table: "selfservice_flows", Key: "id", Column: "expires_at"},
	// A used lockdown link must still say "already used" while it lives.
	{Kind: "lockdown link uses", Table: "lockdown_uses", Key: "event_id, recipient", Column: "expires_at"},
	{Kind: "lockdown link tokens", Table: "lockdown_tokens", Key: "id", Column: "expires_at"},
	// An error is read by the error UI right after the redirect that
	// names it; an hour is plenty.
	{Kind: "self-service errors", Table: "selfservice_errors", Key: "id", Column: "created_at", Retention: keepFor(time.Hour)},
	{Kind: "sessions", Table: "sessions", Key: "id", Column: "expires_at"},
	// A counter still counts until its window ends: deleting it earlier
	// would reset a send limit.
	{Kind: "rate-limit counters", Table: "rate_limits", Key: "scope, key_hash, window_start", Column: "window_start",
		Retention: func(o CleanupOptions) time.Duration { return o.CounterWindow }},
	// Every instance reads the whoami cache invalidations within
	// milliseconds; a minute on top of keep-last spares one that fell
	// behind even when keep-last is 0 (see invalidations.go).
	{Kind: "session cache invalidations", Table: "session_cache_invalidations", Key: "seq", Column: "created_at", Retention: keepFor(time.Minute)},
	// Delivered or abandoned mail, with its dispatches (ON DELETE CASCADE);
	// never a message still waiting to be sent.
	{Kind: "courier messages", Table: "courier_messages", Key: "id", Column: "created_at", Where: "status IN ('sent', 'abandoned')"},
	// The audit log keeps every event for audit.retention; 0 keeps them
	// forever.
	{Kind: "audit events", Table: "audit_events", Key: "id", Column: "created_at",
		Retention: func(o CleanupOptions) time.Duration { return o.AuditRetention },
		KeepAll:   func(o CleanupOptions) bool { return o.AuditRetention <= 0 }},
}

// cleanupRule deletes one kind of expired row.
type cleanupRule struct {
	// Kind names the rows in reports ("sessions").
	Kind  string
	Table string
	// Key is the column list that identifies a row (its primary key).
	Key string
	// Column is the timestamp compared with the cutoff; rows go oldest first.
	Column string
	// Where, when set, further narrows the rows that may go.
	Where string
	// Retention is how long after Column a row is still needed (before
	// keep-last is added); nil means not at all.
	Retention func(CleanupOptions) time.Duration
	// KeepAll, when set and true, spares every row of the rule this run.
	KeepAll func(CleanupOptions) bool
}

func keepFor(d time.Duration) func(CleanupOptions) time.Duration {
	return func(CleanupOptions) time.Duration { return d }
}

// CleanupOptions tune one cleanup run.
type CleanupOptions struct {
	// KeepLast keeps rows that expired (or, for mail, were created) less
	// than this long ago.
	KeepLast time.Duration
	// BatchSize is how many rows one transaction deletes (default 100).
	BatchSize int
	// Sleep is the pause after each batch, to leave the database to
	// requests.
	Sleep time.Duration
	// CounterWindow is the longest window of any send-limit counter:
	// a counter is kept that long after its window started.
	CounterWindow time.Duration
	// AuditRetention is how long audit events are kept after they were
	// written (audit.retention); 0, the zero value, keeps them forever.
	AuditRetention time.Duration
}

// CleanupCount is how many rows of one kind a run deleted.
type CleanupCount struct {
	Kind    string // "recovery codes"
	Table   string // "recovery_codes"
	Deleted int64
}

// Cleanup deletes expired data (see cleanupRules) in batches of
// opts.BatchSize rows, each batch its own short transaction, until no
// expired row is left. It returns the count of every rule, in rule order,
// also when it stops early on an error or a cancelled ctx.
//
// Several processes may run it at once on one database: on PostgreSQL
// each batch skips rows another batch has locked (SKIP LOCKED); on MySQL
// every batch walks the same index in the same order, so batches wait for
// each other instead of deadlocking; SQLite has a single writer.
func (db *DB) Cleanup(ctx context.Context, opts CleanupOptions) ([]CleanupCount, error) {
	if opts.BatchSize <= 0 {
		opts.BatchSize = 100
	}
	// One cutoff for the whole run: rows that expire while it runs wait
	// for the next one, so a run always ends.
	now := db.NowUTC()
	counts := make([]CleanupCount, len(cleanupRules))
	for i, r := range cleanupRules {
		counts[i].Kind, counts[i].Table = r.Kind, r.Table
	}
	for i, r := range cleanupRules {
		if r.KeepAll != nil && r.KeepAll(opts) {
			continue
		}
		cutoff := now.Add(-opts.KeepLast)
		if r.Retention != nil {
			cutoff = cutoff.Add(-r.Retention(opts))
		}
		q := db.Rebind(r.deleteBatch(db.Dialect))
		for {
			n, err := db.deleteBatch(ctx, q, cutoff, opts.BatchSize)
			counts[i].Deleted += n
			if err != nil {
				return counts, fmt.Errorf("clean up %s: %w", r.Kind, err)
			}
			if n < int64(opts.BatchSize) {
				break
			}
			if err := sleep(ctx, opts.Sleep); err != nil {
				return counts, err
			}
		}
	}
	return counts, nil
}

// deleteBatch deletes up to limit rows older than cutoff with q, in a
// transaction of its own (retried on a deadlock by InTx).
func (db *DB) deleteBatch(ctx context.Context, q string, cutoff time.Time, limit int) (int64, error) {
	var n int64
	err := db.InTx(ctx, func(ctx context.Context) error {
		res, err := db.Exec(ctx, q, db.T(cutoff), limit)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// deleteBatch is the statement deleting one batch of the rule's rows; its
// placeholders are the cutoff and the batch size.
func (r cleanupRule) deleteBatch(d Dialect) string {
	cond := r.Column + " <= ?"
	if r.Where != "" {
		cond = r.Where + " AND " + cond
	}
	switch d {
	case MySQL:
		// MySQL cannot LIMIT a subquery of IN, but deletes with a LIMIT.
		return `DELETE FROM ` + r.Table + ` WHERE ` + cond + ` ORDER BY ` + r.Column + ` LIMIT ?`
	case Postgres:
		return `DELETE FROM ` + r.Table + ` WHERE (` + r.Key + `) IN (SELECT ` + r.Key + ` FROM ` + r.Table +
			` WHERE ` + cond + ` ORDER BY ` + r.Column + ` LIMIT ? FOR UPDATE SKIP LOCKED)`
	default:
		return `DELETE FROM ` + r.Table + ` WHERE (` + r.Key + `) IN (SELECT ` + r.Key + ` FROM ` + r.Table +
			` WHERE ` + cond + ` ORDER BY ` + r.Column + ` LIMIT ?)`
	}
}

// sleep waits d, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
