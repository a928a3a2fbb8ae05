package servertest

import (
	"context"
	"testing"

	"github.com/latchkey/latchkey/internal/sqlstore"
)

// CountAllRows is the number of rows of every table of the database
// (migration bookkeeping left out), read from the catalog so that a table
// added later is counted too.
func (s *Server) CountAllRows(t testing.TB) map[string]int {
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
	out := make(map[string]int, len(tables))
	for _, table := range tables {
		out[table] = s.CountRows(t, table)
	}
	return out
}

// RefuseInserts makes the database refuse every insert into table, as a
// database failing in the middle of a transaction would. The returned
// function lifts the fault.
func (s *Server) RefuseInserts(t testing.TB, table string) (lift func()) {
	t.Helper()
	trigger := "servertest_refuse_" + table
	var create, drop []string
	switch s.DB.Dialect {
	case sqlstore.SQLite:
		create = []string{`CREATE TRIGGER ` + trigger + ` BEFORE INSERT ON ` + table + `
			BEGIN SELECT RAISE(ABORT, 'servertest: insert refused'); END`}
		drop = []string{`DROP TRIGGER ` + trigger}
	case sqlstore.Postgres:
		create = []string{
			`CREATE FUNCTION ` + trigger + `() RETURNS trigger LANGUAGE plpgsql AS
			'BEGIN RAISE EXCEPTION ''servertest: insert refused''; END'`,
			`CREATE TRIGGER ` + trigger + ` BEFORE INSERT ON ` + table + ` FOR EACH ROW EXECUTE FUNCTION ` + trigger + `()`,
		}
		drop = []string{`DROP TRIGGER ` + trigger + ` ON ` + table, `DROP FUNCTION ` + trigger + `()`}
	case sqlstore.MySQL:
		create = []string{`CREATE TRIGGER ` + trigger + ` BEFORE INSERT ON ` + table + ` FOR EACH ROW
			SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'servertest: insert refused'`}
		drop = []string{`DROP TRIGGER ` + trigger}
	}
	// Straight on the pool: MySQL cannot prepare a CREATE TRIGGER.
	for _, q := range create {
		if _, err := s.DB.SQL.ExecContext(context.Background(), q); err != nil {
			t.Fatalf("install fault: %v", err)
		}
	}
	return func() {
		t.Helper()
		for _, q := range drop {
			if _, err := s.DB.SQL.ExecContext(context.Background(), q); err != nil {
				t.Fatalf("lift fault: %v", err)
			}
		}
	}
}
