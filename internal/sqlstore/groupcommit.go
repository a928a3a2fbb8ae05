package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// groupCommit runs SQLite's write transactions one after another on the
// writer connection, as before, but lets transactions that queue up behind
// each other share one COMMIT: a commit writes every page the group changed
// to the write-ahead log once, where separate commits would each write the
// pages they share (the table's last leaf, the index pages) again. Under
// load most of a write's cost was that log writing (docs/benchmarks-history.md).
//
// Each transaction of a group runs inside its own savepoint, so its error
// undoes only its own writes; its caller is answered only once the whole
// group has committed, so nobody is told "done" before their data is in the
// database. The transaction whose turn ends with nobody waiting commits the
// group. A group never grows beyond maxGroup, so the first caller of a long
// queue does not wait for everybody behind it.
type groupCommit struct {
	db *DB

	mu sync.Mutex
	// held: some caller has the writer (runs its transaction, or commits).
	held bool
	// queue: callers waiting for the writer, first come first served; a
	// caller is handed the writer by closing its channel.
	queue []chan struct{}

	// Only the caller holding the writer touches these.
	conn    *sql.Conn // the writer connection, taken from the pool for the group
	tx      *sql.Tx   // the group's transaction on it (nil: none begun)
	members []*member // transactions done, waiting for the group's commit
}

const maxGroup = 32

// member is a finished transaction waiting for its group's commit.
type member struct {
	st   *txState
	done chan error
}

// errGroupLost is returned to a transaction whose group could not go on
// for a reason of another member (its savepoint could not be undone): the
// transaction itself was fine and InTx runs it again.
var errGroupLost = errors.New("sqlstore: the transaction's group was rolled back")

// run runs fn as one transaction of a group and returns once the group
// committed (or fn failed). st receives the transaction fn ran in.
func (g *groupCommit) run(ctx context.Context, st *txState, fn func(ctx context.Context) error) (err error) {
	if err := g.acquire(ctx); err != nil {
		return err
	}
	if g.tx == nil {
		// Waiting for the connection ends with the request; the group's
		// transaction outlives it and must not be rolled back when the
		// request's context ends.
		conn, err := g.db.SQL.Conn(ctx)
		if err != nil {
			g.finish(nil)
			return fmt.Errorf("begin transaction: %w", err)
		}
		g.db.counts.Statements.Add(1)
		tx, err := conn.BeginTx(context.Background(), nil)
		if err != nil {
			_ = conn.Close()
			g.finish(nil)
			return fmt.Errorf("begin transaction: %w", err)
		}
		g.conn, g.tx = conn, tx
	}
	first := len(g.members) == 0
	// A transaction after the first gets a savepoint to undo it by,
	// unless it is a single statement: SQLite undoes a statement that
	// fails on a constraint by itself, leaving the transaction as it was.
	savepoint := !first && !st.single
	// A statement whose context ends is interrupted, and SQLite rolls an
	// interrupted write back with the whole transaction: the group's
	// statements run to completion whatever happens to one request.
	runCtx := context.WithoutCancel(ctx)
	if savepoint {
		if err := g.exec(runCtx, "SAVEPOINT latchkey_group"); err != nil {
			g.abort(err)
			return fmt.Errorf("%w: %w", errGroupLost, err)
		}
	}
	st.tx = g.tx
	ok := false
	defer func() {
		if ok {
			return
		}
		// fn failed or panicked: undo what it wrote, then let the group
		// go on without it.
		var undoErr error
		switch {
		case first:
			_ = g.tx.Rollback()
			g.release()
		case savepoint:
			undoErr = errors.Join(g.exec(runCtx, "ROLLBACK TO SAVEPOINT latchkey_group"), g.exec(runCtx, "RELEASE SAVEPOINT latchkey_group"))
		case !errors.Is(err, ErrConflict):
			// A single statement that failed otherwise (I/O, a full
			// disk) may have taken the transaction with it.
			undoErr = err
		}
		if undoErr != nil {
			g.abort(undoErr)
			return
		}
		g.finish(nil)
	}()
	if err = fn(context.WithValue(runCtx, txKey{}, st)); err != nil {
		return err
	}
	if savepoint {
		if err = g.exec(runCtx, "RELEASE SAVEPOINT latchkey_group"); err != nil {
			return err
		}
	}
	ok = true
	m := &member{st: st, done: make(chan error, 1)}
	g.members = append(g.members, m)
	g.finish(m)
	return <-m.done
}

// acquire waits for the writer. A caller whose context ends while it
// waits gives up its place, or, when the writer was handed to it at that
// moment, passes it on.
func (g *groupCommit) acquire(ctx context.Context) error {
	g.mu.Lock()
	if !g.held {
		g.held = true
		g.mu.Unlock()
		return nil
	}
	turn := make(chan struct{})
	g.queue = append(g.queue, turn)
	g.mu.Unlock()
	select {
	case <-turn:
		return nil
	case <-ctx.Done():
	}
	g.mu.Lock()
	for i, c := range g.queue {
		if c == turn {
			g.queue = append(g.queue[:i], g.queue[i+1:]...)
			g.mu.Unlock()
			return fmt.Errorf("begin transaction: %w", ctx.Err())
		}
	}
	g.mu.Unlock()
	<-turn // handed over just now: pass it on
	g.finish(nil)
	return fmt.Errorf("begin transaction: %w", ctx.Err())
}

// finish ends the holder's turn: it hands the writer to the next caller,
// who goes on with the open group, or, with nobody waiting or the group
// full, commits the group and answers its members. m is the holder's own
// membership (nil when it has none), answered like the others.
func (g *groupCommit) finish(m *member) {
	g.mu.Lock()
	if len(g.queue) > 0 && (g.tx == nil || len(g.members) < maxGroup) {
		g.handOver()
		g.mu.Unlock()
		return
	}
	g.mu.Unlock()
	if g.tx != nil {
		g.commit()
	}
	g.mu.Lock()
	if len(g.queue) > 0 {
		g.handOver()
	} else {
		g.held = false
	}
	g.mu.Unlock()
}

// handOver gives the writer to the first caller in the queue (g.mu held).
func (g *groupCommit) handOver() {
	next := g.queue[0]
	g.queue = g.queue[1:]
	close(next)
}

// commit commits the group and answers every member.
func (g *groupCommit) commit() {
	members, tx := g.members, g.tx
	g.members = nil
	for _, m := range members {
		m.st.committing = true
	}
	g.db.counts.Statements.Add(1)
	err := tx.Commit()
	g.release()
	if err == nil {
		g.db.counts.Transactions.Add(uint64(len(members)))
		g.db.counts.Commits.Add(1)
	}
	for _, m := range members {
		m.done <- err
	}
}

// abort rolls the whole group back after a savepoint failed: its members
// are answered errGroupLost (InTx runs them again) and the writer is
// passed on.
func (g *groupCommit) abort(cause error) {
	_ = g.tx.Rollback()
	g.release()
	for _, m := range g.members {
		m.done <- fmt.Errorf("%w: %w", errGroupLost, cause)
	}
	g.members = nil
	g.finish(nil)
}

// release returns the ended group's connection to the pool.
func (g *groupCommit) release() {
	_ = g.conn.Close()
	g.conn, g.tx = nil, nil
}

func (g *groupCommit) exec(ctx context.Context, q string) error {
	g.db.counts.Statements.Add(1)
	_, err := g.tx.ExecContext(ctx, q)
	return err
}
