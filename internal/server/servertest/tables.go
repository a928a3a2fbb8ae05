package servertest

import (
	"context"
	"testing"

	"github.com/latchkey/latchkey/internal/sqlstore"
)

// Tables names every table of the database (migration bookkeeping left
// out), read from the catalog so that a table added later is included.
func (s *Server) Tables(t testing.TB) []string {
	t.Helper()
	q := `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`
	switch s.DB.Dialect {
	case sqlstore.SQLite:
		q = `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`
	case sqlstore.MySQL:
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE'`
	}
	rows, err := s.DB.SQL.QueryContext(context.Background(), q)
	if err != nil {
		t.Fatalf("list tables: %v", err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatalf("list tables: %v", err)
		}
		if name != "goose_db_version" {
			tables = append(tables, name)
		}
	}
	rows.Close()
	return tables
}

// CountAllRows is the number of rows of every table of the database.
func (s *Server) CountAllRows(t testing.TB) map[string]int {
	t.Helper()
	tables := s.Tables(t)
	out := make(map[string]int, len(tables))
	for _, table := range tables {
		out[table] = s.CountRows(t, table)
	}
	return out
}

// DiffRows is after − before (CountAllRows), table by table, leaving out
// tables that did not change.
func DiffRows(before, after map[string]int) map[string]int {
	out := map[string]int{}
	for table, n := range after {
		if d := n - before[table]; d != 0 {
			out[table] = d
		}
	}
	return out
}
