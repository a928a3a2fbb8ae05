package sqlstore

import (
	"strings"
	"testing"
)

// FuzzParseDSN: any operator-supplied DSN yields a known dialect with a
// driver and source, or an error; never a panic.
func FuzzParseDSN(f *testing.F) {
	for _, s := range []string{
		"memory",
		"memory?session_cache_ttl=0s",
		"sqlite:///var/lib/latchkey/db.sqlite?_fk=true&mode=rwc",
		"sqlite3://./db.sqlite?max_conns=4&max_idle_conns=2",
		"file:/tmp/x.db?cache=shared",
		"sqlite://",
		"postgres://postgres@127.0.0.1:5432/test?sslmode=disable",
		"postgresql://u:p@h/db?max_conn_lifetime=5m&session_cache_ttl=-1s",
		"cockroach://root@localhost:26257/defaultdb?sslmode=disable",
		"mysql://root@tcp(127.0.0.1:3306)/test",
		"mysql://u:p@tcp(h:3306)/db?parseTime=false&charset=latin1&max_conns=x",
		"postgres://u:p@h:badport/db",
		"mysql://%zz",
		"redis://u:p@h",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, dsn string) {
		dialect, driver, source, pool, err := parseDSN(dsn)
		_ = Redact(dsn)
		if err != nil {
			return
		}
		switch dialect {
		case SQLite, Postgres, MySQL:
		default:
			t.Fatalf("parseDSN(%q) = unknown dialect %q", dsn, dialect)
		}
		if driver == "" || source == "" {
			t.Fatalf("parseDSN(%q) = driver %q, source %q", dsn, driver, source)
		}
		if pool.maxOpen < 0 || pool.maxIdle < 0 || pool.lifetime < 0 || pool.sessionCacheTTL < 0 {
			t.Fatalf("parseDSN(%q) = negative pool settings %+v", dsn, pool)
		}
	})
}

// FuzzDSNPasswordNeverShown: the password of a DSN never appears in the
// redacted form nor in a parse error (both reach logs and the terminal).
func FuzzDSNPasswordNeverShown(f *testing.F) {
	f.Add("postgres", "user", "s3cret-pass", "127.0.0.1:5432/db?sslmode=disable")
	f.Add("postgres", "user", "s3cret-pass", "host:badport/db")
	f.Add("postgres", "user", "s3c%zzret", "host/db")
	f.Add("mysql", "root", "hunter22", "tcp(127.0.0.1:3306)/test?max_conns=x")
	f.Add("cockroach", "root", "p@ss:word", "h:26257/defaultdb")
	f.Fuzz(func(t *testing.T, scheme, user, pw, rest string) {
		if len(pw) < 4 || strings.ContainsAny(user, ":@/") || strings.Contains(rest, "@") ||
			strings.Contains(scheme, "://") {
			return
		}
		dsn := scheme + "://" + user + ":" + pw + "@" + rest
		if strings.Contains(scheme+"://"+user+":***@"+rest, pw) {
			return // the password is also spelled elsewhere in the DSN
		}
		if r := Redact(dsn); strings.Contains(r, pw) {
			t.Fatalf("Redact(%q) = %q shows the password", dsn, r)
		}
		// The message may spell the same characters for another reason
		// ("port" in "invalid port"): a leak is text that goes away with
		// the password.
		masked := scheme + "://" + user + ":" + strings.Repeat("Q", len(pw)) + "@" + rest
		if msg := errText(dsn); strings.Contains(msg, pw) && !strings.Contains(errText(masked), pw) {
			t.Fatalf("parseDSN(%q) error %q shows the password", dsn, msg)
		}
	})
}

func errText(dsn string) string {
	if _, _, _, _, err := parseDSN(dsn); err != nil {
		return err.Error()
	}
	return ""
}
