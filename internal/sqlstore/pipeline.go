package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// PostgreSQL transactions as pipelines.
//
// A round trip to PostgreSQL costs both processes a socket write, a read
// and a wake-up, which on a small machine is more CPU than most of
// Latchkey's statements cost to run (docs/benchmarks.md). So a PostgreSQL
// transaction runs on one connection of the pool, not a *sql.Tx, and sends
// what it can together, in pgx's pipeline mode (statements stay prepared):
//
//   - BEGIN is held back and goes with the transaction's first statement;
//   - a write whose result nobody reads (DB.ExecLater: an audit event, a
//     queued mail, a new session) waits and goes with the next statement;
//   - COMMIT goes with the last such writes.
//
// A transaction that only writes is then one round trip. A query still
// needs its own (its rows are read through database/sql), after the
// pending statements, which are sent first in one. A statement that fails
// in a pipeline stops the rest (PostgreSQL skips them): its error is the
// error of the statement, or COMMIT, that sent it, and fails the
// transaction, as it would have failed it when run alone. Which is why
// only writes that cannot fail on their own (a new row under a fresh
// UUIDv7, a row of the transaction's own) are sent later: a caller that
// must tell a conflict from other errors runs its statement with Exec.
type pipeline struct {
	db      *DB
	conn    *sql.Conn
	pending []pendingStatement
	// begun: BEGIN has been sent (from then on the connection may be in
	// a transaction that must be ended).
	begun bool
}

type pendingStatement struct {
	query string // rebound for PostgreSQL
	args  []any
}

// beginPipeline takes a connection for a transaction; its BEGIN waits for
// the first statement.
func (db *DB) beginPipeline(ctx context.Context) (*pipeline, error) {
	conn, err := db.SQL.Conn(ctx)
	if err != nil {
		return nil, err
	}
	return &pipeline{db: db, conn: conn}, nil
}

// later queues a statement for the next round trip.
func (p *pipeline) later(q string, args []any) {
	p.pending = append(p.pending, pendingStatement{q, args})
}

// exec runs q after what is pending, in one round trip.
func (p *pipeline) exec(ctx context.Context, q string, args []any) (sql.Result, error) {
	if p.begun && len(p.pending) == 0 {
		return p.conn.ExecContext(ctx, q, args...)
	}
	tag, err := p.send(ctx, &pendingStatement{q, args})
	if err != nil {
		return nil, err
	}
	return pgResult(tag.RowsAffected()), nil
}

// flush sends what is pending, BEGIN included: a query is about to run.
func (p *pipeline) flush(ctx context.Context) error {
	if p.begun && len(p.pending) == 0 {
		return nil
	}
	_, err := p.send(ctx, nil)
	return err
}

// commit sends what is pending and COMMIT, in one round trip, and gives
// the connection back. A transaction that sent nothing has nothing to
// commit.
func (p *pipeline) commit(ctx context.Context) error {
	if !p.begun && len(p.pending) == 0 {
		p.release()
		return nil
	}
	tag, err := p.send(ctx, &pendingStatement{query: "COMMIT"})
	if err == nil && tag.String() == "ROLLBACK" {
		// PostgreSQL answers COMMIT of a failed transaction this way.
		err = pgx.ErrTxCommitRollback
	}
	if err != nil {
		p.rollback()
		return err
	}
	p.release()
	return nil
}

// rollback ends the transaction, if BEGIN was sent, and gives the
// connection back. Pending statements are dropped. A connection the
// ROLLBACK could not reach is closed by the pool: it refuses to hand out
// a connection still inside a transaction (pgx's ResetSession).
func (p *pipeline) rollback() {
	p.pending = nil
	if p.begun {
		p.db.counts.Statements.Add(1)
		_, _ = p.conn.ExecContext(context.Background(), "ROLLBACK")
	}
	p.release()
}

func (p *pipeline) release() {
	if p.conn != nil {
		_ = p.conn.Close()
		p.conn = nil
	}
}

// drop forgets the pending statements: a savepoint rolled back undoes
// them before they were sent.
func (p *pipeline) drop() { p.pending = p.pending[:0] }

// send runs BEGIN (when not sent yet), the pending statements and last
// (when not nil) in one round trip, and returns last's command tag. The
// caller has counted last; send counts the rest.
func (p *pipeline) send(ctx context.Context, last *pendingStatement) (pgconn.CommandTag, error) {
	batch := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, len(p.pending)+2)}
	if !p.begun {
		batch.Queue("BEGIN")
	}
	for _, s := range p.pending {
		batch.Queue(s.query, s.args...)
	}
	extra := len(batch.QueuedQueries)
	if last != nil {
		batch.Queue(last.query, last.args...)
	}
	p.pending = p.pending[:0]
	p.begun = true
	n := len(batch.QueuedQueries)
	p.db.counts.Statements.Add(uint64(extra))
	p.db.counts.Pipelined.Add(uint64(n - 1))

	var tag pgconn.CommandTag
	err := p.conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return errors.New("sqlstore: a PostgreSQL pipeline needs a pgx connection")
		}
		results := c.Conn().SendBatch(ctx, batch)
		var first error
		for range n {
			t, err := results.Exec()
			if err != nil && first == nil {
				first = err
			}
			tag = t
		}
		if err := results.Close(); err != nil && first == nil {
			first = err
		}
		return first
	})
	return tag, p.db.mapErr(err)
}

// pgResult is the sql.Result of a statement sent in a pipeline.
type pgResult int64

func (r pgResult) LastInsertId() (int64, error) {
	return 0, errors.New("sqlstore: LastInsertId is not supported by PostgreSQL")
}

func (r pgResult) RowsAffected() (int64, error) { return int64(r), nil }

// pipelineRunner runs a statement of a PostgreSQL transaction through its
// pipeline.
type pipelineRunner struct {
	p     *pipeline
	query string
}

func (r pipelineRunner) ExecContext(ctx context.Context, args ...any) (sql.Result, error) {
	return r.p.exec(ctx, r.query, args)
}

func (r pipelineRunner) QueryContext(ctx context.Context, args ...any) (*sql.Rows, error) {
	if err := r.p.flush(ctx); err != nil {
		return nil, err
	}
	return r.p.conn.QueryContext(ctx, r.query, args...)
}

// QueryRowContext runs the query; DB.QueryRow has flushed the pipeline
// first, since a *sql.Row cannot carry the flush's error.
func (r pipelineRunner) QueryRowContext(ctx context.Context, args ...any) *sql.Row {
	return r.p.conn.QueryRowContext(ctx, r.query, args...)
}

// ExecLater runs a write whose result nobody reads and that cannot fail on
// its own (see pipeline): in a PostgreSQL transaction it is sent with the
// transaction's next statement or its COMMIT; an error it meets fails that
// statement and so the transaction. Elsewhere it is Exec.
func (db *DB) ExecLater(ctx context.Context, q string, args ...any) error {
	if st, ok := ctx.Value(txKey{}).(*txState); ok && st.pipe != nil {
		st.sawStatement(q)
		st.pipe.later(db.Rebind(q), args)
		return nil
	}
	_, err := db.Exec(ctx, q, args...)
	return err
}
