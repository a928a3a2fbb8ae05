// Package sqltest gives tests a fresh, migrated database of every dialect
// that is available: SQLite always, PostgreSQL and MySQL/MariaDB when
// LATCHKEY_TEST_POSTGRES_DSN / LATCHKEY_TEST_MYSQL_DSN are set.
package sqltest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/sqlstore"
)

// Env variables naming the server databases tests may use. Each test gets
// its own freshly created database on that server.
const (
	PostgresEnv = "LATCHKEY_TEST_POSTGRES_DSN"
	MySQLEnv    = "LATCHKEY_TEST_MYSQL_DSN"
)

var skipOnce sync.Map

// Each runs fn once per available dialect as a subtest named after it.
func Each(t *testing.T, fn func(t *testing.T, db *sqlstore.DB)) {
	t.Helper()
	for _, d := range []sqlstore.Dialect{sqlstore.SQLite, sqlstore.Postgres, sqlstore.MySQL} {
		t.Run(string(d), func(t *testing.T) {
			db := Open(t, d)
			fn(t, db)
		})
	}
}

// OpenSQLite returns a fresh migrated SQLite database in t.TempDir().
func OpenSQLite(t testing.TB) *sqlstore.DB { return Open(t, sqlstore.SQLite) }

// DSN returns a DSN for a fresh, empty database of the dialect (creating it
// on the server), or skips the test when the dialect is not configured.
func DSN(t testing.TB, d sqlstore.Dialect) string {
	t.Helper()
	switch d {
	case sqlstore.SQLite:
		// Not t.TempDir(): its name comes from the test's, and a "#" in a
		// subtest name ("sqlite#01") would end the DSN's path there, so
		// two tests would share one file left over in the temp folder.
		dir, err := os.MkdirTemp("", "latchkey-test-")
		if err != nil {
			t.Fatalf("temp dir: %v", err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		return "sqlite://" + filepath.Join(dir, "test.sqlite")
	case sqlstore.Postgres:
		base, name := createDatabase(t, PostgresEnv, " WITH (FORCE)")
		u, _ := url.Parse(base)
		u.Path = "/" + name
		return u.String()
	case sqlstore.MySQL:
		base, name := createDatabase(t, MySQLEnv, "")
		// mysql://user:pass@tcp(host:port)/db?params
		pre, rest, _ := strings.Cut(base, ")/")
		_, query, _ := strings.Cut(rest, "?")
		dsn := pre + ")/" + name
		if query != "" {
			dsn += "?" + query
		}
		return dsn
	}
	t.Fatalf("unknown dialect %q", d)
	return ""
}

// createDatabase creates a database with a fresh name on the server the
// env variable names (skipping the test when it is not set) and drops it
// at cleanup, with dropOptions after the DROP DATABASE statement. It
// returns the server's DSN and the new database's name.
func createDatabase(t testing.TB, env, dropOptions string) (base, name string) {
	t.Helper()
	base = os.Getenv(env)
	if base == "" {
		skip(t, env)
	}
	name = "lk_" + randomHex(6)
	admin, err := sqlstore.Open(context.Background(), base)
	if err != nil {
		t.Fatalf("connect %s: %v", env, err)
	}
	defer admin.Close()
	if _, err := admin.SQL.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		a, err := sqlstore.Open(context.Background(), base)
		if err == nil {
			_, _ = a.SQL.Exec("DROP DATABASE IF EXISTS " + name + dropOptions)
			a.Close()
		}
	})
	return base, name
}

// Open returns a fresh migrated database of the dialect, closed at cleanup.
func Open(t testing.TB, d sqlstore.Dialect) *sqlstore.DB {
	t.Helper()
	return OpenDSN(t, DSN(t, d))
}

// OpenDSN opens dsn with extra DSN parameters ("session_cache_ttl=0s"),
// migrates it and closes it at cleanup: one more instance on a database.
func OpenDSN(t testing.TB, dsn string, params ...string) *sqlstore.DB {
	t.Helper()
	for _, p := range params {
		dsn += dsnSeparator(dsn) + p
	}
	db, err := sqlstore.Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("open %s: %v", sqlstore.Redact(dsn), err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return db
}

func skip(t testing.TB, env string) {
	t.Helper()
	if _, loaded := skipOnce.LoadOrStore(env, true); !loaded {
		fmt.Printf("sqltest: %s is not set; tests against that database are skipped\n", env)
	}
	t.Skipf("%s not set", env)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// CourierStore returns the courier store of db, sealing mail content with a
// cipher keyed by a fixed test secret.
func CourierStore(t testing.TB, db *sqlstore.DB) *sqlstore.CourierStore {
	t.Helper()
	c, err := secret.NewCipher([][]byte{[]byte("sqltest-cipher-secret-0123456789")})
	if err != nil {
		t.Fatal(err)
	}
	return sqlstore.NewCourierStore(db, c)
}
