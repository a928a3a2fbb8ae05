package sqltest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/sqlstore"
)

// KillConnections ends every connection to the PostgreSQL or MySQL
// database dsn names, from a connection of its own, as an operator
// (pg_terminate_backend, KILL) or a database restart would, and waits
// until they are gone. It returns how many it ended.
func KillConnections(t testing.TB, dsn string) int {
	t.Helper()
	ctx := context.Background()
	killer, err := sqlstore.Open(ctx, dsn+dsnSeparator(dsn)+"max_conns=1")
	if err != nil {
		t.Fatalf("kill connections: %v", err)
	}
	defer killer.Close()
	var others string
	switch killer.Dialect {
	case sqlstore.Postgres:
		others = `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`
	case sqlstore.MySQL:
		others = `SELECT id FROM information_schema.processlist WHERE db = DATABASE() AND id <> CONNECTION_ID()`
	default:
		t.Fatalf("kill connections: %s has no connections to kill", killer.Dialect)
	}
	ids := connectionIDs(t, killer, others)
	for _, id := range ids {
		q := fmt.Sprintf(`SELECT pg_terminate_backend(%d)`, id)
		if killer.Dialect == sqlstore.MySQL {
			q = fmt.Sprintf(`KILL %d`, id)
		}
		// A connection may have ended on its own meanwhile.
		_, _ = killer.SQL.ExecContext(ctx, q)
	}
	// Wait for the killed ones only: the server's background workers
	// open new connections at once.
	for deadline := time.Now().Add(10 * time.Second); anyOf(ids, connectionIDs(t, killer, others)); {
		if time.Now().After(deadline) {
			t.Fatal("kill connections: they are still there after 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return len(ids)
}

// anyOf reports whether any of ids is in current.
func anyOf(ids, current []int64) bool {
	for _, id := range current {
		if slices.Contains(ids, id) {
			return true
		}
	}
	return false
}

func connectionIDs(t testing.TB, db *sqlstore.DB, q string) []int64 {
	t.Helper()
	rows, err := db.SQL.QueryContext(context.Background(), q)
	if err != nil {
		t.Fatalf("list connections: %v", err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatalf("list connections: %v", err)
		}
		ids = append(ids, id)
	}
	return ids
}

func dsnSeparator(dsn string) string {
	if strings.Contains(dsn, "?") {
		return "&"
	}
	return "?"
}
