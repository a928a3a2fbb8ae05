// Package sqlstore is the database/sql implementation of every store
// interface in Latchkey, for SQLite, PostgreSQL (and CockroachDB) and
// MySQL/MariaDB, with embedded per-dialect migrations.
//
// Queries are written once with '?' placeholders; the DB rewrites them to
// '$n' for PostgreSQL. A transaction started with InTx travels in the
// context, so stores of different packages write atomically together.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/storeerr"
)

// Dialect names a SQL flavour.
type Dialect string

// Supported dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
	MySQL    Dialect = "mysql"
)

// DB is an open database with its dialect.
//
// On a SQLite file, SQL holds a single connection that every write and
// every transaction goes through, and reads outside a transaction use a
// separate pool: SQLite admits one writer at a time anyway, and queueing
// writers in Go wakes the next one as soon as the connection is free,
// where SQLite's own busy handler would make it sleep for 1, 2, 5, 10 …
// ms between retries. On PostgreSQL and MySQL one pool serves everything.
type DB struct {
	SQL     *sql.DB
	Dialect Dialect
	// Now is the clock used for timestamps written by stores; tests replace it.
	Now func() time.Time

	// read is the SQLite read pool (nil: SQL serves reads too).
	read *sql.DB
	// memory: the database lives in this process only (see isMemory).
	memory bool
	// stopCheckpoints stops SQLite's background checkpoints (see Open).
	stopCheckpoints func()
	// whoami caches whoami lookups; the session and identity stores'
	// writes invalidate it (see whoamiCache).
	whoami *whoamiCache
	// feed carries those invalidations between instances (nil on SQLite
	// and without a cache; see invalidations.go).
	feed *invalidationFeed
	// idleConns is the pool's idle connection limit, restored after
	// dropIdleConns.
	idleConns int
	reconnect sync.Mutex
	// stmts holds prepared statements by pool and query text (see
	// statements).
	stmts statements
	// unprepared runs every statement as text: a database read once, in
	// batches whose IN lists change length (OpenReadOnly), has nothing to
	// gain from caching them.
	unprepared bool
	// counts are the statements and transactions run (see Counts).
	counts Counts
	// readsBeforeBegin: a PostgreSQL transaction may run its leading plain
	// reads before its BEGIN (the server's default isolation is READ
	// COMMITTED; see pipeline).
	readsBeforeBegin bool
	// group commits SQLite's write transactions in groups (nil on other
	// databases, and on an in-memory SQLite whose one connection serves
	// reads too).
	group *groupCommit
}

// Counts are what a DB has sent to the database since it was opened:
// every statement (BEGIN, COMMIT and savepoints included), every committed
// transaction, and the COMMITs that committed them (fewer on SQLite, where
// transactions are committed in groups: see groupCommit). They are the
// server's latchkey_db_statements_total, latchkey_db_transactions_total
// and latchkey_db_commits_total, from which `latchkey bench` prints
// statements per operation.
type Counts struct {
	Statements, Transactions, Commits atomic.Uint64
	// Pipelined are the statements that went to PostgreSQL in the round
	// trip of another (see pipeline): round trips are Statements −
	// Pipelined.
	Pipelined atomic.Uint64
	// Deadlocks are the transactions PostgreSQL or MySQL rolled back as a
	// deadlock or serialization failure (each was run again, up to 3 times).
	Deadlocks atomic.Uint64
}

// Counts returns the DB's counters.
func (db *DB) Counts() *Counts { return &db.counts }

// statements caches prepared statements on SQLite, where parsing a
// statement costs as much as running it, and on MySQL, whose driver
// otherwise prepares and closes a statement for every query with
// arguments (two more round trips); pgx already caches them per
// connection on PostgreSQL. Stores write their SQL as constants, so the
// set of texts is small; past maxStatements, queries simply run
// unprepared. (MySQL counts statements per connection against the
// server's max_prepared_stmt_count, 16382 by default: 512 texts on a pool
// of 20 connections stay below it.)
type statements struct {
	m sync.Map // stmtKey → *sql.Stmt
	n atomic.Int32
}

type stmtKey struct {
	pool  *sql.DB
	query string
}

const maxStatements = 512

// prepared returns the statement for q on pool, or nil when q should
// run unprepared. A statement not prepared yet is prepared now, or, when
// st is a transaction holding pool's connection (SQLite's writer has
// only one), once the transaction ends.
func (db *DB) prepared(ctx context.Context, pool *sql.DB, q string, st *txState) *sql.Stmt {
	if db.Dialect == Postgres || db.unprepared {
		return nil
	}
	key := stmtKey{pool, q}
	if s, ok := db.stmts.m.Load(key); ok {
		return s.(*sql.Stmt)
	}
	if db.stmts.n.Load() >= maxStatements {
		return nil
	}
	if st != nil {
		st.afterCommit = append(st.afterCommit, func() { db.prepared(context.Background(), pool, q, nil) })
		return nil
	}
	s, err := pool.PrepareContext(ctx, q)
	if err != nil {
		return nil // the unprepared run reports the error
	}
	if prev, loaded := db.stmts.m.LoadOrStore(key, s); loaded {
		_ = s.Close()
		return prev.(*sql.Stmt)
	}
	db.stmts.n.Add(1)
	return s
}

// ErrNotFound is returned by stores when a row does not exist. It is
// storeerr.ErrNotFound: domain packages must test with that one, since they
// cannot import sqlstore (it imports them).
var ErrNotFound = storeerr.ErrNotFound

// ErrConflict is returned when a unique constraint is violated (it is
// storeerr.ErrConflict).
var ErrConflict = storeerr.ErrConflict

type txKey struct{}

// txState is what a transaction carries in the context.
type txState struct {
	// tx is the transaction on SQLite and MySQL; pipe is its stand-in on
	// PostgreSQL (see pipeline).
	tx          *sql.Tx
	pipe        *pipeline
	afterCommit []func()
	// invalidated are the sessions and identities the transaction
	// changed, for the other instances' caches (see invalidations.go).
	invalidated []uuid.UUID
	// seq is the number those changes were written under.
	seq int64
	// committed is when the transaction committed.
	committed time.Time
	// committing is set once COMMIT is sent: a failure from then on is
	// ambiguous (the transaction may have committed).
	committing bool
	// single: the transaction is one statement (see groupCommit.run).
	single bool
	// identities are the identities the transaction read (see
	// txidentities.go).
	identities map[identityKey]*identity.Identity
}

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// reader is the pool for reads outside a transaction.
func (db *DB) reader() *sql.DB {
	if db.read != nil {
		return db.read
	}
	return db.SQL
}

// inTx reports whether ctx carries a transaction.
func inTx(ctx context.Context) bool {
	_, ok := ctx.Value(txKey{}).(*txState)
	return ok
}

// AfterCommit runs fn once the context's transaction has committed (never
// if it rolls back), or at once when ctx carries no transaction. Used to
// wake background workers only when their work is visible.
func (db *DB) AfterCommit(ctx context.Context, fn func()) {
	if st, ok := ctx.Value(txKey{}).(*txState); ok {
		st.afterCommit = append(st.afterCommit, fn)
		return
	}
	fn()
}

// InTx runs fn in a transaction carried by the context passed to fn. Nested
// calls join the outer transaction. fn's error rolls everything back.
// Every store call inside fn must use the context fn is given: on SQLite
// the transaction holds the only writer connection, so a write through
// another context would wait for it forever.
//
// A transaction that fails on a lost connection before its COMMIT was
// sent is run once more from the start on a fresh connection: the server
// rolled it back when the connection went. One whose COMMIT fails is not
// (it may have committed). So fn may run more than once and must have no
// effect outside the transaction (AfterCommit is for those).
func (db *DB) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	return db.inTx(ctx, false, fn)
}

// inTx is InTx; single says fn runs one statement.
func (db *DB) inTx(ctx context.Context, single bool, fn func(ctx context.Context) error) error {
	if _, ok := ctx.Value(txKey{}).(*txState); ok {
		return fn(ctx)
	}
	reconnected := false
	for attempt := 0; ; attempt++ {
		st := &txState{single: single}
		err := db.inTxOnce(ctx, st, fn)
		switch {
		case err == nil:
			if st.seq > 0 {
				db.waitForReplicas(ctx, st.seq, st.committed)
			}
			return nil
		// SQLite may refuse to upgrade a read transaction to a write one
		// (SQLITE_BUSY_SNAPSHOT / "database is locked"); such a transaction is
		// safe to run again from the start.
		case db.Dialect == SQLite && attempt < 5 && isBusy(err):
			time.Sleep(time.Duration(attempt+1) * 5 * time.Millisecond)
			continue
		// Another transaction of its group broke the group: this one was
		// fine and runs in the next group.
		case attempt < 5 && errors.Is(err, errGroupLost):
			continue
		// PostgreSQL and MySQL report deadlocks/serialization failures the same way.
		case db.Dialect != SQLite && attempt < 3 && isRetryable(err):
			db.counts.Deadlocks.Add(1)
			continue
		case !reconnected && !st.committing && db.lostConnection(ctx, err):
			reconnected = true
			continue
		}
		return err
	}
}

// Savepoint runs fn inside the transaction ctx carries so that fn's error
// undoes only what fn wrote and the transaction can go on: PostgreSQL
// refuses every further statement of a transaction in which one failed,
// unless it returns to a savepoint first. Outside a transaction it is
// InTx. fn must not add AfterCommit work that depends on its own writes:
// that work survives a rollback to the savepoint.
func (db *DB) Savepoint(ctx context.Context, fn func(ctx context.Context) error) error {
	st, ok := ctx.Value(txKey{}).(*txState)
	if !ok {
		return db.InTx(ctx, fn)
	}
	// One name is enough: savepoints nest, and a rollback or release
	// applies to the most recent one of that name.
	db.counts.Statements.Add(2) // SAVEPOINT and its RELEASE or ROLLBACK TO
	if _, err := st.exec(ctx, "SAVEPOINT latchkey_sp"); err != nil {
		return err
	}
	if err := fn(ctx); err != nil {
		if st.pipe != nil {
			// What fn queued after SAVEPOINT (which sent what was queued
			// before) is undone before it is sent.
			st.pipe.drop()
		}
		if _, rbErr := st.exec(ctx, "ROLLBACK TO SAVEPOINT latchkey_sp"); rbErr != nil {
			// The transaction is lost (a deadlock rolled it back, say):
			// both errors go up, so InTx can tell whether to retry it.
			return errors.Join(err, rbErr)
		}
		return err
	}
	_, err := st.exec(ctx, "RELEASE SAVEPOINT latchkey_sp")
	return err
}

// exec runs a statement of the transaction's own (a savepoint's).
func (st *txState) exec(ctx context.Context, q string) (sql.Result, error) {
	if st.pipe != nil {
		return st.pipe.exec(ctx, q, nil)
	}
	return st.tx.ExecContext(ctx, q)
}

func (db *DB) inTxOnce(ctx context.Context, st *txState, fn func(ctx context.Context) error) (err error) {
	if db.group != nil {
		if err := db.group.run(ctx, st, fn); err != nil {
			return err
		}
		for _, f := range st.afterCommit {
			f()
		}
		return nil
	}
	if err := db.begin(ctx, st); err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			st.rollback()
			panic(p)
		}
		if err != nil {
			st.rollback()
		}
	}()
	txCtx := context.WithValue(ctx, txKey{}, st)
	if err = fn(txCtx); err != nil {
		return err
	}
	if len(st.invalidated) > 0 && db.feed != nil {
		if err = db.appendInvalidations(txCtx, st); err != nil {
			return err
		}
	}
	st.committing = true
	if err = st.commit(ctx, &db.counts); err != nil {
		return err
	}
	st.committed = time.Now()
	db.counts.Transactions.Add(1)
	for _, f := range st.afterCommit {
		f()
	}
	return nil
}

// begin starts st's transaction: a pipeline on PostgreSQL (whose BEGIN
// waits for the first statement), BEGIN elsewhere.
func (db *DB) begin(ctx context.Context, st *txState) (err error) {
	if db.Dialect == Postgres {
		st.pipe, err = db.beginPipeline(ctx)
		return err
	}
	db.counts.Statements.Add(1)
	st.tx, err = db.SQL.BeginTx(ctx, nil)
	return err
}

// commit commits st's transaction (and counts its COMMIT, if sent).
func (st *txState) commit(ctx context.Context, counts *Counts) error {
	if st.pipe != nil {
		return st.pipe.commit(ctx)
	}
	counts.Statements.Add(1)
	counts.Commits.Add(1)
	return st.tx.Commit()
}

// rollback ends a transaction that failed (after a failed commit too:
// then it does nothing).
func (st *txState) rollback() {
	if st.pipe != nil {
		if st.pipe.conn != nil {
			st.pipe.rollback()
		}
		return
	}
	_ = st.tx.Rollback()
}

func isBusy(err error) bool {
	s := err.Error()
	return strings.Contains(s, "SQLITE_BUSY") || strings.Contains(s, "database is locked")
}

func isRetryable(err error) bool {
	s := err.Error()
	return strings.Contains(s, "40001") || strings.Contains(s, "40P01") || strings.Contains(s, "Deadlock found") || strings.Contains(s, "Error 1213")
}

// Rebind rewrites '?' placeholders for the dialect.
func (db *DB) Rebind(q string) string {
	if db.Dialect != Postgres {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// Exec runs a statement in the context's transaction (or the pool).
// Outside a transaction a statement that fails on a lost connection is not
// run again: it may have been applied (see InTx for what is retried).
func (db *DB) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if db.group != nil && !inTx(ctx) {
		return db.execInGroup(ctx, q, args, db.Exec)
	}
	db.counts.Statements.Add(1)
	res, err := db.stmtFor(ctx, db.SQL, db.Rebind(q)).ExecContext(ctx, args...)
	if err != nil && !inTx(ctx) {
		db.lostConnection(ctx, err) // so the next statement gets a fresh connection
	}
	return res, db.mapErr(err)
}

// execText is Exec without the statement cache.
func (db *DB) execText(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if db.group != nil && !inTx(ctx) {
		return db.execInGroup(ctx, q, args, db.execText)
	}
	db.counts.Statements.Add(1)
	res, err := db.textFor(ctx, db.SQL, q).ExecContext(ctx, args...)
	if err != nil && !inTx(ctx) {
		db.lostConnection(ctx, err)
	}
	return res, db.mapErr(err)
}

// execInGroup runs a statement given outside a transaction as a
// transaction of its own, so that it joins a group commit on SQLite.
func (db *DB) execInGroup(ctx context.Context, q string, args []any, exec func(context.Context, string, ...any) (sql.Result, error)) (sql.Result, error) {
	var res sql.Result
	err := db.inTx(ctx, true, func(ctx context.Context) error {
		var err error
		res, err = exec(ctx, q, args...)
		return err
	})
	return res, err
}

// Query runs a query in the context's transaction (or the read pool).
// Outside a transaction a query that fails on a lost connection is run
// once more on a fresh one.
func (db *DB) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	db.counts.Statements.Add(1)
	q = db.Rebind(q)
	rows, err := db.stmtFor(ctx, db.reader(), q).QueryContext(ctx, args...)
	if err != nil && !inTx(ctx) && db.lostConnection(ctx, err) {
		rows, err = db.stmtFor(ctx, db.reader(), q).QueryContext(ctx, args...)
	}
	return rows, db.mapErr(err)
}

// queryText is Query for a text that varies with its arguments (a
// filter list): it is run unprepared, so it fills no statement cache.
func (db *DB) queryText(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	db.counts.Statements.Add(1)
	rows, err := db.textFor(ctx, db.reader(), q).QueryContext(ctx, args...)
	return rows, db.mapErr(err)
}

// QueryRow runs a single-row query in the context's transaction (or the
// read pool). Outside a transaction a query that fails on a lost
// connection is run once more on a fresh one (when Scan is called).
func (db *DB) QueryRow(ctx context.Context, q string, args ...any) *Row {
	db.counts.Statements.Add(1)
	q = db.Rebind(q)
	if st, ok := ctx.Value(txKey{}).(*txState); ok && st.pipe != nil {
		if err := st.pipe.flushFor(ctx, q); err != nil {
			return &Row{err: err}
		}
	}
	r := &Row{row: db.stmtFor(ctx, db.reader(), q).QueryRowContext(ctx, args...)}
	if !inTx(ctx) {
		r.db, r.ctx, r.query, r.args = db, ctx, q, args
	}
	return r
}

// Row is the result of QueryRow: a sql.Row whose query runs again when
// its connection was lost.
type Row struct {
	row *sql.Row
	// err is an error met before the query could run.
	err error
	// pipe: the query runs in this pipeline when scanned (ReturningRow).
	pipe *pipeline
	// db is set when the query may run again, with what it needs.
	db    *DB
	ctx   context.Context
	query string
	args  []any
}

// Scan copies the row's columns into dest, as sql.Row.Scan does.
func (r *Row) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	if r.pipe != nil {
		_, err := r.pipe.send(r.ctx, &pendingStatement{query: r.query, args: r.args, dest: dest})
		return err
	}
	err := r.row.Scan(dest...)
	if err != nil && r.db != nil && r.db.lostConnection(r.ctx, err) {
		r.row = r.db.stmtFor(r.ctx, r.db.reader(), r.query).QueryRowContext(r.ctx, r.args...)
		r.db = nil
		err = r.row.Scan(dest...)
	}
	return err
}

// Err reports the query's error, as sql.Row.Err does.
func (r *Row) Err() error {
	if r.err != nil || r.row == nil {
		return r.err
	}
	return r.row.Err()
}

// runner is what a prepared statement and a query text on a pool or
// transaction share.
type runner interface {
	ExecContext(ctx context.Context, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, args ...any) *sql.Row
}

// stmtFor returns how to run q: in the context's transaction, or on pool
// (the pool's own for writes, the read pool for reads), prepared when the
// dialect gains from it.
func (db *DB) stmtFor(ctx context.Context, pool *sql.DB, q string) runner {
	st, inTx := ctx.Value(txKey{}).(*txState)
	if inTx {
		pool = db.SQL // transactions run on the writer
		st.sawStatement(q)
		if st.pipe != nil {
			return pipelineRunner{st.pipe, q}
		}
	}
	stmt := db.prepared(ctx, pool, q, st)
	switch {
	case stmt != nil && inTx:
		// The transaction closes it when it ends; the statement stays
		// prepared on the connection for the next transaction.
		return st.tx.StmtContext(ctx, stmt)
	case stmt != nil:
		return stmt
	case inTx:
		return textRunner{st.tx, q}
	default:
		return textRunner{pool, q}
	}
}

// textFor is stmtFor for a text that is never prepared by the DB (it
// varies with its arguments).
func (db *DB) textFor(ctx context.Context, pool *sql.DB, q string) runner {
	q = db.Rebind(q)
	st, ok := ctx.Value(txKey{}).(*txState)
	switch {
	case !ok:
		return textRunner{pool, q}
	case st.pipe != nil:
		st.sawStatement(q)
		return pipelineRunner{st.pipe, q}
	default:
		st.sawStatement(q)
		return textRunner{st.tx, q}
	}
}

// textRunner runs an unprepared query text.
type textRunner struct {
	q     querier
	query string
}

func (r textRunner) ExecContext(ctx context.Context, args ...any) (sql.Result, error) {
	return r.q.ExecContext(ctx, r.query, args...)
}

func (r textRunner) QueryContext(ctx context.Context, args ...any) (*sql.Rows, error) {
	return r.q.QueryContext(ctx, r.query, args...)
}

func (r textRunner) QueryRowContext(ctx context.Context, args ...any) *sql.Row {
	return r.q.QueryRowContext(ctx, r.query, args...)
}

// ScanErr maps sql.ErrNoRows to ErrNotFound.
func ScanErr(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

// mapErr turns unique-constraint violations of every dialect into ErrConflict.
func (db *DB) mapErr(err error) error {
	if err == nil {
		return nil
	}
	s := err.Error()
	if strings.Contains(s, "UNIQUE constraint failed") || // SQLite
		strings.Contains(s, "SQLSTATE 23505") || // PostgreSQL
		strings.Contains(s, "Error 1062") { // MySQL duplicate entry
		return fmt.Errorf("%w: %v", ErrConflict, err)
	}
	return err
}

// Time normalises a timestamp for storage: UTC, microsecond precision (the
// finest all three databases keep).
func Time(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// NowUTC returns the store clock's time, normalised.
func (db *DB) NowUTC() time.Time {
	if db.Now != nil {
		return Time(db.Now())
	}
	return Time(time.Now())
}

// InMemory reports whether the database lives in this process only
// ("memory" and Kratos's other in-memory SQLite DSNs): it starts empty and
// is lost when the process ends.
func (db *DB) InMemory() bool { return db.memory }

// Close closes the pools (and their prepared statements).
func (db *DB) Close() error {
	db.feed.stop()
	if db.stopCheckpoints != nil {
		db.stopCheckpoints()
		db.stopCheckpoints = nil
	}
	db.stmts.m.Range(func(_, s any) bool {
		_ = s.(*sql.Stmt).Close()
		return true
	})
	if db.read != nil {
		_ = db.read.Close()
	}
	return db.SQL.Close()
}

// Ping checks the database is reachable (used by /health/ready).
func (db *DB) Ping(ctx context.Context) error { return db.SQL.PingContext(ctx) }

// maxInsertParams bounds the parameters of one multi-row INSERT: below
// SQLite's 32,766 and the 65,535 of PostgreSQL's and MySQL's protocols.
const maxInsertParams = 30000

// insertRows inserts rows (each one value per column of columns) into
// table with as few multi-row INSERT statements as the parameter limit
// allows. One row is the plain single-row INSERT.
func (db *DB) insertRows(ctx context.Context, table, columns string, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	width := len(rows[0])
	tuple := "(" + strings.TrimSuffix(strings.Repeat("?, ", width), ", ") + ")"
	per := max(1, maxInsertParams/width)
	for len(rows) > 0 {
		n := min(per, len(rows))
		args := make([]any, 0, n*width)
		for _, r := range rows[:n] {
			args = append(args, r...)
		}
		q := `INSERT INTO ` + table + ` (` + columns + `) VALUES ` + strings.TrimSuffix(strings.Repeat(tuple+", ", n), ", ")
		var err error
		if n == 1 {
			_, err = db.Exec(ctx, q, args...)
		} else {
			// A text made for this call: preparing and caching it would
			// cost more than it saves.
			_, err = db.execText(ctx, q, args...)
		}
		if err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}
