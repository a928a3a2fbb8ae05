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
	"time"

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
type DB struct {
	SQL     *sql.DB
	Dialect Dialect
	// Now is the clock used for timestamps written by stores; tests replace it.
	Now func() time.Time
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
	tx          *sql.Tx
	afterCommit []func()
}

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// conn returns the transaction in ctx, or the pool.
func (db *DB) conn(ctx context.Context) querier {
	if st, ok := ctx.Value(txKey{}).(*txState); ok {
		return st.tx
	}
	return db.SQL
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
func (db *DB) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if _, ok := ctx.Value(txKey{}).(*txState); ok {
		return fn(ctx)
	}
	for attempt := 0; ; attempt++ {
		err := db.inTxOnce(ctx, fn)
		// SQLite may refuse to upgrade a read transaction to a write one
		// (SQLITE_BUSY_SNAPSHOT / "database is locked"); such a transaction is
		// safe to run again from the start.
		if err != nil && db.Dialect == SQLite && attempt < 5 && isBusy(err) {
			time.Sleep(time.Duration(attempt+1) * 5 * time.Millisecond)
			continue
		}
		// PostgreSQL and MySQL report deadlocks/serialization failures the same way.
		if err != nil && db.Dialect != SQLite && attempt < 3 && isRetryable(err) {
			continue
		}
		return err
	}
}

func (db *DB) inTxOnce(ctx context.Context, fn func(ctx context.Context) error) (err error) {
	tx, err := db.SQL.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	st := &txState{tx: tx}
	if err = fn(context.WithValue(ctx, txKey{}, st)); err != nil {
		return err
	}
	if err = tx.Commit(); err != nil {
		return err
	}
	for _, f := range st.afterCommit {
		f()
	}
	return nil
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
func (db *DB) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	res, err := db.conn(ctx).ExecContext(ctx, db.Rebind(q), args...)
	return res, db.mapErr(err)
}

// Query runs a query in the context's transaction (or the pool).
func (db *DB) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	rows, err := db.conn(ctx).QueryContext(ctx, db.Rebind(q), args...)
	return rows, db.mapErr(err)
}

// QueryRow runs a single-row query in the context's transaction (or the pool).
func (db *DB) QueryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return db.conn(ctx).QueryRowContext(ctx, db.Rebind(q), args...)
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

// Close closes the pool.
func (db *DB) Close() error { return db.SQL.Close() }

// Ping checks the database is reachable (used by /health/ready).
func (db *DB) Ping(ctx context.Context) error { return db.SQL.PingContext(ctx) }
