package sqlstore

import (
	"context"
	"strings"
	"sync"
)

// flowBatcher writes the flows created concurrently on PostgreSQL and
// MySQL with one multi-row INSERT: one round trip and one commit for the
// batch, where each flow would otherwise be an autocommitted statement
// whose commit the database writes and flushes on its own (under load
// that commit bounded flow creation, docs/benchmarks-history.md). SQLite has
// groupCommit instead.
//
// One batch is written at a time; the flows that arrive meanwhile wait
// and go together in the next one. Each caller is answered once its own
// row is committed. A batch that fails is written again row by row, so a
// bad row fails only its own caller.
type flowBatcher struct {
	db *DB

	mu sync.Mutex
	// queue: rows waiting for the next batch.
	queue []*flowRow
	// writing: a batch is being written (by run).
	writing bool
	// held keeps batches from starting (tests build a batch with it).
	held bool
}

// flowRow is one flow waiting to be inserted.
type flowRow struct {
	args []any // one value per flowColumns entry
	// taken: the row is in a batch being written (guarded by mu).
	taken bool
	done  chan error
}

const (
	// maxFlowBatch bounds a batch: a first caller does not wait for a
	// whole queue, and MySQL prepares one statement per batch size.
	maxFlowBatch = 32
	flowColumns  = `id, kind, type, state, identity_id, csrf_fingerprint, data, submissions, expires_at, created_at, updated_at`
	flowValues   = `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
)

// flowInserts are the INSERT texts by number of rows (index 1 to
// maxFlowBatch): constant texts, so they are prepared once.
var flowInserts = func() []string {
	s := make([]string, maxFlowBatch+1)
	var b strings.Builder
	b.WriteString(`INSERT INTO selfservice_flows (` + flowColumns + `) VALUES ` + flowValues)
	for n := 1; n <= maxFlowBatch; n++ {
		s[n] = b.String()
		b.WriteString(", " + flowValues)
	}
	return s
}()

// insert queues a row and returns once it is committed, or failed. A
// caller whose context ends while its row waits takes it out of the queue
// (it is not inserted); once the row is being written, the caller returns
// at once and the row may still be committed, as a single statement
// cancelled while it runs may be.
func (b *flowBatcher) insert(ctx context.Context, args []any) error {
	r := &flowRow{args: args, done: make(chan error, 1)}
	b.mu.Lock()
	b.queue = append(b.queue, r)
	b.startLocked()
	b.mu.Unlock()
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !r.taken {
		for i, q := range b.queue {
			if q == r {
				b.queue = append(b.queue[:i], b.queue[i+1:]...)
				break
			}
		}
	}
	return ctx.Err()
}

// startLocked starts writing the queue unless a batch is being written
// (its writer goes on with the queue). b.mu is held.
func (b *flowBatcher) startLocked() {
	if b.writing || b.held || len(b.queue) == 0 {
		return
	}
	b.writing = true
	go b.run()
}

// run writes batches until the queue is empty.
func (b *flowBatcher) run() {
	for {
		b.mu.Lock()
		n := min(len(b.queue), maxFlowBatch)
		if n == 0 || b.held {
			b.writing = false
			b.mu.Unlock()
			return
		}
		batch := make([]*flowRow, n)
		copy(batch, b.queue)
		rest := copy(b.queue, b.queue[n:])
		clear(b.queue[rest:])
		b.queue = b.queue[:rest]
		for _, r := range batch {
			r.taken = true
		}
		b.mu.Unlock()
		b.write(batch)
	}
}

// write inserts a batch and answers its callers. The statements do not
// run in any caller's context: a caller that goes away must not cancel
// the others' rows.
func (b *flowBatcher) write(batch []*flowRow) {
	ctx := context.Background()
	err := b.exec(ctx, batch)
	if err == nil || len(batch) == 1 {
		for _, r := range batch {
			r.done <- err
		}
		return
	}
	// Some row failed (a duplicate id, a deleted identity) or the
	// connection did: each row on its own, so only a bad one fails. (If
	// the connection broke after the batch committed, its rows now fail
	// as duplicates: an error, as a single statement's would have been.)
	for i, r := range batch {
		r.done <- b.exec(ctx, batch[i:i+1])
	}
}

// exec inserts rows with one statement.
func (b *flowBatcher) exec(ctx context.Context, rows []*flowRow) error {
	args := make([]any, 0, len(rows)*len(rows[0].args))
	for _, r := range rows {
		args = append(args, r.args...)
	}
	_, err := b.db.Exec(ctx, flowInserts[len(rows)], args...)
	return err
}
