package servertest

import (
	"context"
	"testing"

	"github.com/latchkey/latchkey/internal/sqlstore"
)

// FailRecoveryCompletion makes the database refuse the last write of a
// successful recovery (the flow passing its challenge), so that a test
// sees everything the recovery did before it in the same transaction
// (spending the code, revoking and issuing sessions, starting the
// settings flow) roll back. The returned function lifts the fault.
func (s *Server) FailRecoveryCompletion(t testing.TB) (lift func()) {
	t.Helper()
	const trigger = "servertest_fail_recovery_completion"
	var create, drop []string
	switch s.DB.Dialect {
	case sqlstore.SQLite:
		create = []string{`CREATE TRIGGER ` + trigger + ` BEFORE UPDATE ON selfservice_flows
			WHEN NEW.kind = 'recovery' AND NEW.state = 'passed_challenge'
			BEGIN SELECT RAISE(ABORT, 'servertest: recovery completion refused'); END`}
		drop = []string{`DROP TRIGGER ` + trigger}
	case sqlstore.Postgres:
		create = []string{
			`CREATE FUNCTION ` + trigger + `() RETURNS trigger LANGUAGE plpgsql AS
			'BEGIN RAISE EXCEPTION ''servertest: recovery completion refused''; END'`,
			`CREATE TRIGGER ` + trigger + ` BEFORE UPDATE ON selfservice_flows FOR EACH ROW
			WHEN (NEW.kind = 'recovery' AND NEW.state = 'passed_challenge') EXECUTE FUNCTION ` + trigger + `()`,
		}
		drop = []string{`DROP TRIGGER ` + trigger + ` ON selfservice_flows`, `DROP FUNCTION ` + trigger + `()`}
	case sqlstore.MySQL:
		create = []string{`CREATE TRIGGER ` + trigger + ` BEFORE UPDATE ON selfservice_flows FOR EACH ROW
			BEGIN
				IF NEW.kind = 'recovery' AND NEW.state = 'passed_challenge' THEN
					SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'servertest: recovery completion refused';
				END IF;
			END`}
		drop = []string{`DROP TRIGGER ` + trigger}
	}
	return s.installFault(t, create, drop)
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
	return s.installFault(t, create, drop)
}

// installFault runs the statements that create a fault and returns the
// function that runs those that lift it. They go straight to the pool:
// DDL does not go through the stores' statement handling (MySQL cannot
// prepare a CREATE TRIGGER).
func (s *Server) installFault(t testing.TB, create, drop []string) (lift func()) {
	t.Helper()
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
