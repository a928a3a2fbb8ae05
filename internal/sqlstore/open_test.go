package sqlstore

import (
	"strings"
	"testing"
)

// A malformed PostgreSQL DSN is reported without its password: the error
// reaches the start-up log and the terminal (found by FuzzDSNPasswordNeverShown).
func TestParseDSNErrorHidesPassword(t *testing.T) {
	for _, dsn := range []string{
		"postgres://user:s3cret-pass@host:badport/db",
		"cockroach://user:s3cret-pass@host/%zz",
	} {
		_, _, _, _, err := parseDSN(dsn)
		if err == nil {
			t.Fatalf("parseDSN(%q) accepted a malformed DSN", dsn)
		}
		if strings.Contains(err.Error(), "s3cret-pass") {
			t.Fatalf("parseDSN(%q) error %q shows the password", dsn, err)
		}
		if !strings.Contains(err.Error(), "user:***@host") {
			t.Fatalf("parseDSN(%q) error %q does not name the DSN", dsn, err)
		}
	}
}
