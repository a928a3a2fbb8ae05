package sqlstore_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/latchkey/latchkey/internal/sqlstore"
	"github.com/latchkey/latchkey/internal/sqlstore/sqltest"
)

// MySQL and MariaDB connections run at READ COMMITTED, as PostgreSQL's do
// (mysqlconn.go), unless the DSN chose an isolation.
func TestMySQLSessionsReadCommitted(t *testing.T) {
	isolation := func(t *testing.T, db *sqlstore.DB) string {
		t.Helper()
		var level string
		// MariaDB and MySQL 5.7 name it tx_isolation, MySQL 8 transaction_isolation.
		err := db.QueryRow(context.Background(), `SELECT @@SESSION.tx_isolation`).Scan(&level)
		if err != nil {
			err = db.QueryRow(context.Background(), `SELECT @@SESSION.transaction_isolation`).Scan(&level)
		}
		if err != nil {
			t.Fatal(err)
		}
		return level
	}
	dsn := sqltest.DSN(t, sqlstore.MySQL)
	db := sqltest.OpenDSN(t, dsn)
	// Several connections: each new one is set.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if level := isolation(t, db); level != "READ-COMMITTED" {
				t.Errorf("session isolation %s, want READ-COMMITTED", level)
			}
		})
	}
	wg.Wait()
	var version string
	if err := db.QueryRow(context.Background(), `SELECT VERSION()`).Scan(&version); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(version, "MariaDB") {
		chosen := sqltest.OpenDSN(t, dsn, "tx_isolation=%27SERIALIZABLE%27")
		if level := isolation(t, chosen); level != "SERIALIZABLE" {
			t.Errorf("a DSN choosing SERIALIZABLE got %s", level)
		}
	}
}
