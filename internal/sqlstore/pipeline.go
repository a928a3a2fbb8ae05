package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// PostgreSQL transactions as pipelines.
//
// A round trip to PostgreSQL costs both processes a socket write, a read
// and a wake-up, which on a small machine is more CPU than most of
// Latchkey's statements cost to run (docs/benchmarks-history.md). So a PostgreSQL
// transaction runs on one connection of the pool, not a *sql.Tx, and sends
// what it can together, in pgx's pipeline mode (statements stay prepared):
//
//   - BEGIN is held back and goes with the transaction's first statement;
//   - a write whose result nobody reads (DB.ExecLater: an audit event, a
//     queued mail, a new session) waits and goes with the next statement;
//   - COMMIT goes with the last such writes.
//
// Under READ COMMITTED (PostgreSQL's default, checked at Open) every
// statement of a transaction reads from a snapshot of its own, so a plain
// read (no row locks) that comes before the transaction's first write sees
// what it would see inside the transaction: such reads run before BEGIN,
// and a transaction that only reads sends no BEGIN or COMMIT at all.
//
// A transaction that only writes is then one round trip, also when a
// write must change a row (DB.ExecLaterChanging): it goes with COMMIT,
// rewritten to fail when it changes none (guardPending). A query still
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
	// final, when set, goes right before COMMIT, in its round trip (the
	// invalidation feed's number and rows: invalidations.go).
	final *pendingStatement
}

type pendingStatement struct {
	query string // rebound for PostgreSQL
	args  []any
	// unchanged, when set, is the error of the statement if it changed
	// no row (ExecLaterChanging).
	unchanged error
	// dest, when set, receives the statement's one row (ReturningRow).
	dest []any
	// guarded: query is the statement rewritten to fail when it changes
	// no row (guardPending); its failure is unchanged.
	guarded bool
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
func (p *pipeline) later(s pendingStatement) { p.pending = append(p.pending, s) }

// exec runs q after what is pending, in one round trip.
func (p *pipeline) exec(ctx context.Context, q string, args []any) (sql.Result, error) {
	if p.begun && len(p.pending) == 0 {
		return p.conn.ExecContext(ctx, q, args...)
	}
	tag, err := p.send(ctx, &pendingStatement{query: q, args: args})
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

// flushFor is flush before query q, which a plain read that comes before
// the transaction's first write does not need.
func (p *pipeline) flushFor(ctx context.Context, q string) error {
	if !p.begun && len(p.pending) == 0 && p.db.readsBeforeBegin && plainRead(q) {
		return nil
	}
	return p.flush(ctx)
}

// plainRead reports whether q only reads, taking no row or advisory lock
// and changing nothing: a SELECT without FOR UPDATE/SHARE and without the
// functions that would. Anything else (a WITH, an UPDATE … RETURNING) is
// not.
func plainRead(q string) bool {
	if v, ok := plainReads.Load(q); ok {
		return v.(bool)
	}
	u := upperWords(q)
	plain := strings.HasPrefix(u, " SELECT ")
	for _, w := range []string{" FOR UPDATE ", " FOR SHARE ", " FOR NO KEY ", " FOR KEY SHARE ", "PG_ADVISORY", "NEXTVAL", "SETVAL", "SET_CONFIG", "PG_SLEEP"} {
		if !plain {
			break
		}
		plain = !strings.Contains(u, w)
	}
	if plainReadsKept.Add(1) <= maxStatements {
		plainReads.Store(q, plain)
	}
	return plain
}

// upperWords is q in upper case with one space between words and one
// around them, so that a keyword is found as " FOR UPDATE " however the
// query's text breaks its lines ("FOR\n\t\tUPDATE").
func upperWords(q string) string {
	return " " + strings.Join(strings.Fields(strings.ToUpper(q)), " ") + " "
}

// plainReads caches plainRead by query text (stores write their SQL as
// constants; past maxStatements texts it is worked out each time).
var (
	plainReads     sync.Map
	plainReadsKept atomic.Int32
)

// commit sends what is pending and COMMIT, in one round trip, and gives
// the connection back. A transaction that sent nothing has nothing to
// commit.
func (p *pipeline) commit(ctx context.Context) error {
	if !p.begun && len(p.pending) == 0 && p.final == nil {
		p.release()
		return nil
	}
	if p.checksPending() && !p.guardPending() {
		// A write that must change a row is checked before COMMIT is
		// sent: PostgreSQL would commit whatever its count.
		if err := p.flush(ctx); err != nil {
			p.rollback()
			return err
		}
	}
	if p.final != nil {
		p.pending = append(p.pending, *p.final)
		p.final = nil
	}
	p.db.counts.Statements.Add(1)
	p.db.counts.Commits.Add(1)
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

// guardPending rewrites every pending write that must change a row so
// that it fails when it changes none (guarded), and reports whether it
// could: then COMMIT goes in the same round trip, and PostgreSQL, which
// skips what follows a failed statement, never runs it after such a
// write. It rewrites nothing unless it can rewrite them all.
func (p *pipeline) guardPending() bool {
	for _, s := range p.pending {
		if s.unchanged != nil && !guardable(s.query) {
			return false
		}
	}
	for i := range p.pending {
		if s := &p.pending[i]; s.unchanged != nil && !s.guarded {
			s.query, s.guarded = guarded(s.query), true
		}
	}
	return true
}

// guarded is the write q as one statement that fails with division_by_zero
// when q changes no row: q's changed rows are counted in a WITH query,
// and one is divided by the count.
func guarded(q string) string {
	return `WITH changed AS (` + q + ` RETURNING 1) SELECT 1 / COUNT(*) FROM changed`
}

// guardable reports whether guarded(q) is valid: q is an INSERT, UPDATE
// or DELETE without a RETURNING or a WITH of its own.
func guardable(q string) bool {
	u := upperWords(q)
	if strings.Contains(u, " RETURNING ") || strings.Contains(u, " WITH ") {
		return false
	}
	for _, verb := range []string{" INSERT ", " UPDATE ", " DELETE "} {
		if strings.HasPrefix(u, verb) {
			return true
		}
	}
	return false
}

// divisionByZero is the SQLSTATE of a guarded write that changed no row.
const divisionByZero = "22012"

func (p *pipeline) checksPending() bool {
	for _, s := range p.pending {
		if s.unchanged != nil {
			return true
		}
	}
	return false
}

// rollback ends the transaction, if BEGIN was sent, and gives the
// connection back. Pending statements are dropped. A connection the
// ROLLBACK could not reach is closed by the pool: it refuses to hand out
// a connection still inside a transaction (pgx's ResetSession).
func (p *pipeline) rollback() {
	p.pending = nil
	if p.begun {
		p.db.counts.Statements.Add(1)
		// Not under the request's context, which may be why the
		// transaction failed; bounded, so that a dead connection cannot
		// hold the caller (the pool then drops the connection).
		ctx, cancel := context.WithTimeout(context.Background(), rollbackTimeout)
		_, _ = p.conn.ExecContext(ctx, "ROLLBACK")
		cancel()
	}
	p.release()
}

const rollbackTimeout = 5 * time.Second

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
	stmts := make([]pendingStatement, 0, len(p.pending)+2)
	if !p.begun {
		stmts = append(stmts, pendingStatement{query: "BEGIN"})
	}
	stmts = append(stmts, p.pending...)
	p.db.counts.Statements.Add(uint64(len(stmts)))
	if last != nil {
		stmts = append(stmts, *last)
	}
	p.pending = p.pending[:0]
	p.begun = true
	p.db.counts.Pipelined.Add(uint64(len(stmts) - 1))

	batch := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, len(stmts))}
	for _, s := range stmts {
		batch.Queue(s.query, s.args...)
	}
	var tag pgconn.CommandTag
	err := p.conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return errors.New("sqlstore: a PostgreSQL pipeline needs a pgx connection")
		}
		results := c.Conn().SendBatch(ctx, batch)
		var first error
		for _, s := range stmts {
			var t pgconn.CommandTag
			var err error
			if s.dest != nil {
				err = results.QueryRow().Scan(s.dest...)
			} else {
				t, err = results.Exec()
			}
			if err == nil && s.unchanged != nil && !s.guarded && t.RowsAffected() == 0 {
				err = s.unchanged
			}
			if pgErr := (*pgconn.PgError)(nil); s.guarded && errors.As(err, &pgErr) && pgErr.Code == divisionByZero {
				err = s.unchanged
			}
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

// ReturningRow runs a single-row statement, typically a write with
// RETURNING. In a PostgreSQL transaction it goes, when Scan is called,
// with BEGIN and the pending statements in one round trip, scanned by pgx
// itself: dest must be plain values (integers, strings, times), not
// database/sql Scanners. Elsewhere it is QueryRow.
func (db *DB) ReturningRow(ctx context.Context, q string, args ...any) *Row {
	if st, ok := ctx.Value(txKey{}).(*txState); ok && st.pipe != nil {
		db.counts.Statements.Add(1)
		st.sawStatement(q)
		return &Row{ctx: ctx, pipe: st.pipe, query: db.Rebind(q), args: args}
	}
	return db.QueryRow(ctx, q, args...)
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
	if err := r.p.flushFor(ctx, r.query); err != nil {
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
	return db.execLater(ctx, pendingStatement{query: q, args: args})
}

// ExecLaterChanging is ExecLater for a write that must change a row: when
// it changes none, the statement that sent it (or, elsewhere, this call)
// fails with unchanged.
func (db *DB) ExecLaterChanging(ctx context.Context, unchanged error, q string, args ...any) error {
	return db.execLater(ctx, pendingStatement{query: q, args: args, unchanged: unchanged})
}

func (db *DB) execLater(ctx context.Context, s pendingStatement) error {
	if st, ok := ctx.Value(txKey{}).(*txState); ok && st.pipe != nil {
		st.sawStatement(s.query)
		s.query = db.Rebind(s.query)
		st.pipe.later(s)
		return nil
	}
	res, err := db.Exec(ctx, s.query, s.args...)
	if err != nil || s.unchanged == nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return errors.Join(s.unchanged, err)
	}
	return nil
}
