package sqlstore_test

import (
	"context"
	"testing"

	"github.com/latchkey/latchkey/internal/sqlstore"
	"github.com/latchkey/latchkey/internal/sqlstore/sqltest"
)

// TestWarmOpensTheIdlePool: after Warm, a PostgreSQL or MySQL pool holds
// its idle connections open (max_idle_conns, here under max_conns), so a
// first burst of requests waits for none of them; SQLite opens nothing.
func TestWarmOpensTheIdlePool(t *testing.T) {
	for _, d := range []sqlstore.Dialect{sqlstore.SQLite, sqlstore.Postgres, sqlstore.MySQL} {
		t.Run(string(d), func(t *testing.T) {
			db := sqltest.OpenDSN(t, sqltest.DSN(t, d), "max_conns=12", "max_idle_conns=6")
			before := db.SQL.Stats().OpenConnections
			db.Warm(context.Background())
			st := db.SQL.Stats()
			want := 6
			if d == sqlstore.SQLite {
				want = before // its writer connection, untouched
			}
			if st.OpenConnections != want || st.InUse != 0 {
				t.Errorf("after Warm: %d connections open (%d in use), want %d idle (%d open before)", st.OpenConnections, st.InUse, want, before)
			}
		})
	}
}
