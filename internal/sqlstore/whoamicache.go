package sqlstore

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/session"
)

// DefaultSessionCacheTTL is how long a whoami lookup is reused unless the
// DSN sets session_cache_ttl. Changes made through Latchkey's stores are
// seen at once by every instance (see invalidations.go); the TTL bounds
// how late a change made by hand in SQL is seen.
const DefaultSessionCacheTTL = time.Second

// whoamiCacheSize bounds the cached lookups (a few MiB at most).
const whoamiCacheSize = 4096

// whoamiCache keeps the answers of SessionForWhoami (session, identity,
// second factor) by token hash for at most ttl, so the sessions checked on
// every request of every app cost one map lookup instead of two queries.
// A nil *whoamiCache caches nothing.
//
// It is correct on this instance: every write of the session and identity
// stores names the sessions or identities it changed (DB.sessionsChanged,
// once its transaction commits), and a lookup is not reused after a
// change of its session or identity. A lookup that raced with a change
// (it read the database before the change committed, and is stored
// after) is caught by the epoch: each change records the epoch it
// happened in, each lookup the epoch it started in, and a lookup older
// than a change of its session or identity is never served.
//
// Changes made by other instances reach it through the invalidation feed
// (invalidations.go), which calls invalidate for them and renews a lease:
// with a lease set, nothing is served unless the feed's last complete
// read of the database started less than lease ago. Changes made by hand
// in SQL are seen once the entry expires.
type whoamiCache struct {
	ttl time.Duration
	// lease is how long one read of the invalidation feed lets the cache
	// serve (0: no feed, one instance: SQLite).
	lease time.Duration

	mu      sync.Mutex
	epoch   uint64
	entries map[string]cachedLookup
	// leaseFrom is when the feed's last complete read started.
	leaseFrom time.Time
	// allChanged is the epoch of the last invalidateAll: a lookup that
	// started before it is never served.
	allChanged uint64
	// changed records, for a session or identity id, the epoch and time of
	// its last change. A record older than ttl can go: every lookup it
	// could reject has expired.
	changed map[uuid.UUID]change
}

type cachedLookup struct {
	session      *session.Session
	secondFactor bool
	epoch        uint64
	at           time.Time
}

type change struct {
	epoch uint64
	at    time.Time
}

// newWhoamiCache returns a cache keeping lookups for ttl, or nil (no
// caching) when ttl is 0.
func newWhoamiCache(ttl time.Duration) *whoamiCache {
	if ttl <= 0 {
		return nil
	}
	return &whoamiCache{ttl: ttl, entries: map[string]cachedLookup{}, changed: map[uuid.UUID]change{}}
}

// get returns a fresh lookup of key, if there is one.
func (c *whoamiCache) get(key string) (*session.Session, bool, bool) {
	if c == nil {
		return nil, false, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if c.lease > 0 && now.Sub(c.leaseFrom) >= c.lease {
		return nil, false, false // the feed may have missed a change: ask the database
	}
	e, ok := c.entries[key]
	if !ok {
		return nil, false, false
	}
	if now.Sub(e.at) >= c.ttl || e.epoch < c.allChanged || c.changedSince(e.session.ID, e.epoch) || c.changedSince(e.session.IdentityID, e.epoch) {
		delete(c.entries, key)
		return nil, false, false
	}
	return e.session, e.secondFactor, true
}

// start marks the beginning of a lookup (before the database is read).
func (c *whoamiCache) start() (uint64, time.Time) {
	if c == nil {
		return 0, time.Time{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.epoch, time.Now()
}

// put keeps a lookup that started at (epoch, at), unless its session or
// identity changed since.
func (c *whoamiCache) put(key string, s *session.Session, secondFactor bool, epoch uint64, at time.Time) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if epoch < c.allChanged || c.changedSince(s.ID, epoch) || c.changedSince(s.IdentityID, epoch) {
		return
	}
	if len(c.entries) >= whoamiCacheSize {
		now := time.Now()
		for k, e := range c.entries {
			if now.Sub(e.at) >= c.ttl {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= whoamiCacheSize {
			clear(c.entries)
		}
	}
	c.entries[key] = cachedLookup{session: s, secondFactor: secondFactor, epoch: epoch, at: at}
}

func (c *whoamiCache) changedSince(id uuid.UUID, epoch uint64) bool {
	ch, ok := c.changed[id]
	return ok && ch.epoch > epoch
}

// invalidate records a change of these sessions or identities.
func (c *whoamiCache) invalidate(ids ...uuid.UUID) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// The time is taken under the lock, so a lookup that started before
	// this change also started before its recorded time.
	now := time.Now()
	c.epoch++
	if len(c.changed) >= 1024 {
		for id, ch := range c.changed {
			if now.Sub(ch.at) >= c.ttl {
				delete(c.changed, id)
			}
		}
	}
	for _, id := range ids {
		c.changed[id] = change{epoch: c.epoch, at: now}
	}
}

// invalidateAll records a change of everything: no lookup that started
// before it is served or kept.
func (c *whoamiCache) invalidateAll() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	c.allChanged = c.epoch
	clear(c.entries)
}

// renewLease lets the cache serve until lease after from, the moment the
// feed's latest complete read started (never moving backwards).
func (c *whoamiCache) renewLease(from time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if from.After(c.leaseFrom) {
		c.leaseFrom = from
	}
}

// dropLease stops the cache from serving until the feed renews the lease
// (the instance is stopping).
func (c *whoamiCache) dropLease() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.leaseFrom = time.Time{}
}

// sessionsChanged tells the whoami cache that these sessions or
// identities (or the sessions of these identities) changed, once the
// context's transaction commits, and, on a database several instances
// share, writes the change to the invalidation feed in that transaction
// (invalidations.go). Stores call it inside InTx; without a transaction
// the change is recorded in one of its own.
func (db *DB) sessionsChanged(ctx context.Context, ids ...uuid.UUID) {
	if db.whoami == nil {
		return
	}
	st, ok := ctx.Value(txKey{}).(*txState)
	if !ok {
		_ = db.InTx(ctx, func(ctx context.Context) error {
			db.sessionsChanged(ctx, ids...)
			return nil
		})
		return
	}
	st.afterCommit = append(st.afterCommit, func() { db.whoami.invalidate(ids...) })
	if db.feed != nil {
		st.invalidated = append(st.invalidated, ids...)
	}
}
