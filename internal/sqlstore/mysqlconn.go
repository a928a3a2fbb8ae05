package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"

	"github.com/go-sql-driver/mysql"
)

// MySQL and MariaDB sessions run at READ COMMITTED, PostgreSQL's default,
// for which every store is written and tested. Under their own default,
// REPEATABLE READ, a locking read or a DELETE that finds no row locks the
// gap where it would be, and an INSERT into that gap by another
// transaction then deadlocks with it: two courier preparations deleting
// the old codes of their (different, new) flows and inserting the new
// ones did, dozens of times a second with 16 sending slots, and the
// courier's claims did on the claim index. Nothing here relies on gap
// locks: claims lock the rows they take (FOR UPDATE SKIP LOCKED) and
// check their token, and what must be unique has a unique index. A DSN
// that sets the isolation itself (transaction_isolation or tx_isolation)
// keeps its choice.

// readCommittedSQL sets the session's isolation, on MySQL and MariaDB
// alike (they name the variable differently).
const readCommittedSQL = "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED"

// openMySQL opens a pool of MySQL connections each set to READ COMMITTED
// when it is opened (unless source chose an isolation).
func openMySQL(source string) (*sql.DB, error) {
	cfg, err := mysql.ParseDSN(source)
	if err != nil {
		return nil, err
	}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	if _, ok := cfg.Params["transaction_isolation"]; ok {
		return sql.OpenDB(connector), nil
	}
	if _, ok := cfg.Params["tx_isolation"]; ok {
		return sql.OpenDB(connector), nil
	}
	return sql.OpenDB(readCommitted{connector}), nil
}

// readCommitted sets each new connection to READ COMMITTED.
type readCommitted struct{ driver.Connector }

func (c readCommitted) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	exec, ok := conn.(driver.ExecerContext)
	if !ok {
		conn.Close()
		return nil, fmt.Errorf("mysql: connection cannot execute %q", readCommittedSQL)
	}
	if _, err := exec.ExecContext(ctx, readCommittedSQL, nil); err != nil {
		conn.Close()
		return nil, fmt.Errorf("mysql: %s: %w", readCommittedSQL, err)
	}
	return conn, nil
}
