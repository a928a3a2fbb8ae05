package sqlstore

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"syscall"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// A database connection can be lost under Latchkey: the server restarts
// or fails over, an operator kills it (pg_terminate_backend, KILL), a
// proxy drops it. Three things keep that from turning requests into 500s:
//
//   - before reusing an idle connection, the pool checks its socket
//     without waiting (pgAlive here; go-sql-driver/mysql does it itself),
//     and dials a new one if the server has closed it;
//   - a transaction or a read that fails on a lost connection anyway (it
//     was killed in the instant between the check and the query) runs once
//     more (InTx, Query, QueryRow), after
//   - dropping the pool's idle connections: when one was lost, the others
//     usually were too, and the retry must not pick another dead one.
//
// Writes outside a transaction and failed COMMITs are not run again: the
// server may have applied them before the connection went.

// lostConnection reports whether err means the connection was lost and,
// if so, drops the idle connections so that the next statement dials a
// fresh one. SQLite has no connection to lose; a cancelled request is not
// a lost connection.
func (db *DB) lostConnection(ctx context.Context, err error) bool {
	if db.Dialect == SQLite || ctx.Err() != nil || !isLostConnection(err) {
		return false
	}
	db.dropIdleConns()
	return true
}

// dropIdleConns closes the pool's idle connections; the pool keeps idle
// connections again from then on.
func (db *DB) dropIdleConns() {
	db.reconnect.Lock()
	defer db.reconnect.Unlock()
	db.SQL.SetMaxIdleConns(-1)
	db.SQL.SetMaxIdleConns(db.idleConns)
}

// isLostConnection recognises the errors of a connection that is gone.
func isLostConnection(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "57P01", "57P02", "57P03": // admin_shutdown (pg_terminate_backend), crash_shutdown, cannot_connect_now
			return true
		}
		return false
	}
	var myErr *mysql.MySQLError
	if errors.As(err, &myErr) {
		switch myErr.Number {
		case 1053, // server shutdown in progress
			1927, // MariaDB: connection was killed
			2006, // server has gone away
			2013: // lost connection during query
			return true
		}
		return false
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "conn closed") || strings.Contains(s, "connection reset") || strings.Contains(s, "broken pipe")
}

// pgAlive is the PostgreSQL pool's check before it reuses a connection:
// an idle connection's socket has nothing to read unless the server has
// closed it (or sent a FATAL error first, as pg_terminate_backend does).
// One non-blocking read, no round trip. pgx may still be reading the
// socket in the background after a slow write; SyncConn waits for that
// (costing a ping only then), so that the read here cannot block or steal
// its bytes.
func pgAlive(ctx context.Context, c *pgx.Conn) error {
	pc := c.PgConn()
	if err := pc.SyncConn(ctx); err != nil || !socketIdle(pc.Conn()) {
		return driver.ErrBadConn
	}
	return nil
}

// The MySQL driver reports the connections it drops (a killed or timed-out
// connection: "closing bad idle connection: EOF") on its own logger,
// straight to stderr. They are expected and handled above, so they go to
// the process's structured log at debug level instead.
func init() {
	_ = mysql.SetLogger(mysqlLog{})
}

type mysqlLog struct{}

func (mysqlLog) Print(v ...any) { slog.Debug("mysql driver: " + fmt.Sprint(v...)) }
