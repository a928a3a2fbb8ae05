package sqlstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// Several instances on one PostgreSQL or MySQL database each keep a whoami
// cache (whoamiCache). A revocation made on instance A must answer 401 on
// instance B as soon as A has answered the revoking request. The
// invalidation feed guarantees it without trusting notifications to
// arrive in time:
//
//  1. Every transaction that changes sessions or identities takes the next
//     number from session_cache_counter just before it commits and writes
//     one row per changed id into session_cache_invalidations. The counter
//     row stays locked until the transaction ends, so these transactions
//     commit in number order, and a rolled-back one gives its number back:
//     the numbers seen in the table have no holes. (Another transaction
//     waits for the lock for the length of one commit, and only
//     transactions that change sessions or identities take it.)
//  2. Each instance reads the rows past the last number it has applied
//     every poll interval and invalidates their ids in its cache. A read
//     that finds a hole (a later number visible before an earlier one)
//     stops short of it.
//  3. An instance serves a cached lookup only while its last complete read
//     (all rows, no hole) started less than lease ago.
//  4. Each instance keeps a row in session_cache_instances (registry.go):
//     the last number it has applied, written after its cache dropped
//     what the numbers name, and valid_until, on the database's clock. It
//     starts a read only once a row that has committed says valid_until ≥
//     the read's start + lease (it writes the row with valid_until =
//     database now + 2×trust, and counts on it for trust of its own clock
//     from before the write).
//  5. The changing request returns once every other instance whose row is
//     live (valid_until after the database's now) has applied its number,
//     and at the latest once lease (or the cache TTL, if shorter) has
//     passed since its commit.
//
// So when the client, having its answer, asks B, and B serves from its
// cache: by 3, B's last complete read R started less than lease ago. If R
// started after A's commit, it saw the change (hole-free reads see every
// earlier number), and the entry was invalidated or read after the
// commit. If A waited out the lease, R started after the commit, as
// before. Otherwise A saw every live instance's row applied: if B's row
// was among them, B had dropped the entry before A answered (a lookup
// that raced with the drop is refused by the cache's epochs). If it was
// not, B's row, as A read it after its commit, had valid_until before the
// database's now, or was not there; but the row that covered R committed
// before R started, hence before A's commit if R missed the change, and
// says B may serve past the client's request, which came after A's check:
// a contradiction, unless the database's clock stepped forward by more
// than trust in between. If B's reads or writes fail or lag, its lease
// lapses and whoami reads the database, which is correct too. The cost is
// the changing request's wait: one poll interval while other instances
// run, none when A is alone; a killed instance's row makes changes wait
// the whole lease until its valid_until passes (2×trust, seconds).
//
// PostgreSQL's LISTEN/NOTIFY would wake B sooner, but it cannot replace the
// lease (a notification may arrive after the client's next request), so
// it is not used.

// Default feed timing (DSN session_cache_poll, session_cache_lease): a
// poll is one indexed query returning nothing most of the time, and a
// lease of four polls tolerates a few slow ones before whoami falls back
// to the database.
const (
	DefaultSessionCachePoll  = 25 * time.Millisecond
	DefaultSessionCacheLease = 100 * time.Millisecond
)

// feedBatch bounds the rows one poll reads; a full batch is followed at
// once by another read.
const feedBatch = 1000

// feedHoleTimeout is how long a hole in the numbers may last before the
// feed gives up on it: holes close within one commit, unless the rows
// were pruned before this instance read them (it was stopped or cut off
// from the database). Giving up clears the whole cache, which is always
// correct.
const feedHoleTimeout = 2 * time.Second

// invalidationFeed reads session_cache_invalidations into a whoamiCache.
type invalidationFeed struct {
	db    *DB
	cache *whoamiCache
	poll  time.Duration

	startOnce sync.Once
	stopOnce  sync.Once
	done      chan struct{}
	stopped   chan struct{}

	// Owned by the polling goroutine.
	cursor    int64 // every number up to cursor is applied
	started   bool  // cursor has been read from the counter
	holeSince time.Time
	registry  registry

	// waits counts how changes' waits ended (see waitForReplicas).
	waits struct{ applied, lease atomic.Uint64 }
}

func newInvalidationFeed(db *DB, cache *whoamiCache, poll time.Duration) *invalidationFeed {
	return &invalidationFeed{
		db: db, cache: cache, poll: poll, done: make(chan struct{}), stopped: make(chan struct{}),
		registry: registry{id: uuid.NewString(), trust: max(registryTrustMin, 4*cache.lease)},
	}
}

// start runs the feed in the background (once; on the first whoami
// lookup, so that commands which never serve do not poll).
func (f *invalidationFeed) start() {
	if f == nil {
		return
	}
	f.startOnce.Do(func() { go f.run() })
}

// stop ends the feed, waits for it, and withdraws the instance from the
// registry.
func (f *invalidationFeed) stop() {
	if f == nil {
		return
	}
	f.stopOnce.Do(func() {
		ran := true
		f.startOnce.Do(func() { ran = false; close(f.stopped) })
		close(f.done)
		<-f.stopped
		if ran {
			f.withdraw()
		}
	})
	<-f.stopped
}

func (f *invalidationFeed) run() {
	defer close(f.stopped)
	t := time.NewTicker(f.poll)
	defer t.Stop()
	for {
		// A failed read leaves the lease to lapse: whoami then reads the
		// database until a read succeeds again.
		_ = f.readOnce()
		select {
		case <-f.done:
			return
		case <-t.C:
		}
	}
}

// readOnce reads the feed until it is complete (or fails), renewing the
// cache's lease from the start of each complete read whose lease the
// instance's registry row covers, and reporting what it applied.
func (f *invalidationFeed) readOnce() error {
	for {
		began := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if err := f.announce(ctx, began); err != nil {
			cancel()
			return err
		}
		complete, err := f.read(ctx)
		if err == nil && complete {
			f.cache.renewLease(began)
			err = f.reportApplied(ctx)
		}
		cancel()
		if err != nil {
			return err
		}
		if complete {
			return nil
		}
		if !f.holeSince.IsZero() {
			return nil // wait for the hole to close
		}
	}
}

// read applies the rows past the cursor and reports whether it saw all
// of them: no hole, and fewer than a batch.
func (f *invalidationFeed) read(ctx context.Context) (complete bool, err error) {
	if !f.started {
		// Start from the counter's current number. Lookups made before
		// (this instance served without a feed) could have missed changes
		// below it: drop them all.
		if err := f.db.QueryRow(ctx, `SELECT last_seq FROM session_cache_counter WHERE id = 1`).Scan(&f.cursor); err != nil {
			return false, fmt.Errorf("read session cache counter: %w", err)
		}
		f.cache.invalidateAll()
		f.started = true
		return true, nil
	}
	rows, err := f.db.Query(ctx, `SELECT seq, target_id FROM session_cache_invalidations
		WHERE seq > ? ORDER BY seq LIMIT ?`, f.cursor, feedBatch)
	if err != nil {
		return false, fmt.Errorf("read session cache invalidations: %w", err)
	}
	defer rows.Close()
	var (
		ids     []uuid.UUID
		n       int
		last    int64 // highest number seen
		through = f.cursor
		hole    bool
	)
	for rows.Next() {
		var (
			seq    int64
			target string
		)
		if err := rows.Scan(&seq, &target); err != nil {
			return false, err
		}
		n++
		last = seq
		switch {
		case seq == through+1:
			through = seq
		case seq > through:
			hole = true
		}
		if id, err := uuid.Parse(target); err == nil {
			ids = append(ids, id)
		}
	}
	if err := rows.Err(); err != nil {
		return false, err
	}
	// Rows past a hole are applied now too (an early invalidation is
	// harmless) and read again once it closes.
	if len(ids) > 0 {
		f.cache.invalidate(ids...)
	}
	if hole {
		through = f.skipHole(through, last)
	} else {
		f.holeSince = time.Time{}
	}
	f.cursor = through
	return !hole && n < feedBatch, nil
}

// skipHole decides what to do about a hole after number through: wait
// for it to close, or, once it has lasted feedHoleTimeout, clear the
// cache and carry on past the highest number seen.
func (f *invalidationFeed) skipHole(through, last int64) int64 {
	now := time.Now()
	if f.holeSince.IsZero() {
		f.holeSince = now
		return through
	}
	if now.Sub(f.holeSince) < feedHoleTimeout {
		return through
	}
	f.cache.invalidateAll()
	f.holeSince = time.Time{}
	return last
}

// appendInvalidations writes the transaction's changed ids to the feed
// under the next number; ctx carries the transaction. It runs last in the
// transaction, just before COMMIT, so the counter's row lock is held for
// no more than the commit.
func (db *DB) appendInvalidations(ctx context.Context, st *txState) error {
	ids := uniqueIDs(st.invalidated)
	// created_at only tells the cleanup (cleanup.go) what is old; every
	// instance reads a row within a poll interval, and one cut off for
	// longer clears its cache rather than miss a deleted row.
	at := db.T(time.Now())
	if st.pipe != nil {
		// PostgreSQL: the number and the rows in one statement, sent with
		// the COMMIT (and what is pending) in one round trip, so the
		// counter row is locked only while PostgreSQL runs them.
		args := make([]any, 0, 1+len(ids))
		args = append(args, at)
		for _, id := range ids {
			args = append(args, id.String())
		}
		st.pipe.final = &pendingStatement{
			query: db.Rebind(`WITH c AS (UPDATE session_cache_counter SET last_seq = last_seq + 1 WHERE id = 1 RETURNING last_seq)
				INSERT INTO session_cache_invalidations (seq, target_id, created_at)
				SELECT c.last_seq, v.target_id, CAST(? AS TIMESTAMPTZ) FROM c, (VALUES ` +
				strings.TrimSuffix(strings.Repeat("(CAST(? AS TEXT)), ", len(ids)), ", ") + `) AS v(target_id)
				RETURNING seq`),
			args: args,
			dest: []any{&st.seq},
		}
		return nil
	}
	// MySQL (the only other database with a feed: SQLite has none).
	// LAST_INSERT_ID(expr) hands the new value back in the reply.
	res, err := db.Exec(ctx, `UPDATE session_cache_counter SET last_seq = LAST_INSERT_ID(last_seq + 1) WHERE id = 1`)
	if err != nil {
		return fmt.Errorf("number session cache invalidation: %w", err)
	}
	seq, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("number session cache invalidation: %w", err)
	}
	args := make([]any, 0, 3*len(ids))
	for _, id := range ids {
		args = append(args, seq, id.String(), at)
	}
	q := `INSERT INTO session_cache_invalidations (seq, target_id, created_at) VALUES ` +
		strings.TrimSuffix(strings.Repeat("(?, ?, ?), ", len(ids)), ", ")
	if _, err := db.Exec(ctx, q, args...); err != nil {
		return fmt.Errorf("record session cache invalidation: %w", err)
	}
	st.seq = seq
	return nil
}

// waitForReplicas holds a transaction that changed sessions or identities,
// committed as number seq, until every other live instance has applied it
// (step 5 above), checking the registry every checkEvery, and at the
// latest until the lease, or the cache TTL when shorter, has passed since
// the commit: every other instance has stopped serving from a read that
// missed it, and every cached entry is older than that by then.
func (db *DB) waitForReplicas(ctx context.Context, seq int64, committed time.Time) {
	f := db.feed
	deadline := committed.Add(min(db.whoami.lease, db.whoami.ttl))
	checkEvery := max(f.poll/5, time.Millisecond)
	for {
		err := db.othersApplied(ctx, seq)
		if err == nil {
			f.waits.applied.Add(1)
			return
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			f.waits.lease.Add(1)
			return
		}
		if !errors.Is(err, errLagging) {
			// The registry cannot tell: wait out the lease.
			checkEvery = wait
		}
		t := time.NewTimer(min(checkEvery, wait))
		select {
		case <-t.C:
		case <-ctx.Done(): // nobody is waiting for the answer any more
			t.Stop()
			return
		}
	}
}

// uniqueIDs returns ids without repeats, in a stable order.
func uniqueIDs(ids []uuid.UUID) []uuid.UUID {
	out := slices.Clone(ids)
	slices.SortFunc(out, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
	return slices.Compact(out)
}
