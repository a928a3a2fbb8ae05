package servertest

import (
	"testing"

	"github.com/latchkey/latchkey/internal/sqlstore/sqltest"
)

// KillDatabaseConnections ends every connection to the server's
// PostgreSQL or MySQL database from a connection of its own, as an
// operator or a database restart would, and returns how many it ended.
func (s *Server) KillDatabaseConnections(t testing.TB) int {
	t.Helper()
	return sqltest.KillConnections(t, s.Config.DSN)
}
