package sqlstore

import (
	"context"
	"database/sql"
	"sync"
)

// Warm opens the pool's idle connections at once, on PostgreSQL and
// MySQL, and leaves them idle, so that a new instance's first burst of
// requests finds them open. Opened on demand instead, each waited for its
// connection and its server process to start while the CPUs served the
// burst: at 64 clients on PostgreSQL the first whoami calls of a fresh
// instance waited up to 470–844 ms, against 185–209 ms warmed
// (docs/benchmarks-history.md, ninth round). SQLite's connections are in the
// process: nothing to do. Errors are left to the requests that meet them.
func (db *DB) Warm(ctx context.Context) {
	if db.Dialect == SQLite {
		return
	}
	n := db.idleConns
	if open := db.SQL.Stats().MaxOpenConnections; open > 0 && open < n {
		n = open
	}
	// Each connection is held until every other is open: released at once,
	// they would be taken again instead of new ones being opened.
	conns := make([]*sql.Conn, n)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Go(func() {
			c, err := db.SQL.Conn(ctx)
			if err != nil {
				return
			}
			if err := c.PingContext(ctx); err != nil {
				_ = c.Close()
				return
			}
			conns[i] = c
		})
	}
	wg.Wait()
	for _, c := range conns {
		if c != nil {
			_ = c.Close() // back to the pool, idle
		}
	}
}
