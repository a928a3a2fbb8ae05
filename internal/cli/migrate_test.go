package cli_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/sqlstore"
	"github.com/latchkey/latchkey/internal/sqlstore/sqltest"
)

var dialects = []sqlstore.Dialect{sqlstore.SQLite, sqlstore.Postgres, sqlstore.MySQL}

var migrationLine = regexp.MustCompile(`(?m)^\d{5}  (applied|pending) +\S+\.sql$`)

// TestMigrate walks the production start-up on each database: serve refuses
// an unmigrated database, `migrate sql -e --yes` (Kratos's form) migrates
// it, `migrate status` shows it, a second `migrate sql` changes nothing, and
// serve then starts with Kratos's own flags.
func TestMigrate(t *testing.T) {
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			dir := t.TempDir()
			p := freePorts(t)
			env := append(p.env(), "DSN="+sqltest.DSN(t, d), testSecretsEnv)

			t.Run("ServeRefusesAnUnmigratedDatabase", func(t *testing.T) {
				r := run(t, dir, env, "", "serve")
				if r.code == 0 || !strings.Contains(r.stderr, "pending migration") || !strings.Contains(r.stderr, "latchkey migrate sql -e --yes") {
					t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
				}
			})

			t.Run("StatusListsPending", func(t *testing.T) {
				r := run(t, dir, env, "", "migrate", "status", "-e")
				lines := migrationLine.FindAllString(r.stdout, -1)
				if r.code != 0 || len(lines) == 0 || strings.Contains(r.stdout, "applied") {
					t.Fatalf("exit %d, stdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
				}
			})

			t.Run("WithoutYesAsksAndNoAborts", func(t *testing.T) {
				r := run(t, dir, env, "n\n", "migrate", "sql", "-e")
				if r.code == 0 || !strings.Contains(r.stdout, "Apply ") || !strings.Contains(r.stderr, "aborted") {
					t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
				}
				if s := run(t, dir, env, "", "migrate", "status", "-e"); strings.Contains(s.stdout, "applied") {
					t.Fatalf("an aborted migrate applied something:\n%s", s.stdout)
				}
			})

			t.Run("SQLWithDSNFromEnv", func(t *testing.T) {
				r := run(t, dir, env, "", "migrate", "sql", "-e", "--yes")
				if r.code != 0 || !regexp.MustCompile(`^Applied \d+ migration\(s\)\.\n$`).MatchString(r.stdout) {
					t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
				}
			})

			t.Run("StatusListsApplied", func(t *testing.T) {
				r := run(t, dir, env, "", "migrate", "status", "-e")
				lines := migrationLine.FindAllString(r.stdout, -1)
				if r.code != 0 || len(lines) == 0 || strings.Contains(r.stdout, "pending") {
					t.Fatalf("exit %d, stdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
				}
			})

			t.Run("SQLIsIdempotent", func(t *testing.T) {
				r := run(t, dir, env, "", "migrate", "sql", "-e", "--yes")
				if r.code != 0 || r.stdout != "All migrations are already applied.\n" {
					t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
				}
			})

			t.Run("ServeStartsWithKratosFlags", func(t *testing.T) {
				proc := start(t, dir, env, "serve", "--watch-courier", "--sqa-opt-out")
				t.Logf("serve ready after %s", proc.waitReady(p.publicURL()))
				if status, body := do(t, "GET", p.adminURL()+"/health/ready", "", ""); status != http.StatusOK {
					t.Errorf("admin ready: %d %s", status, body)
				}
				if code := proc.stop(); code != 0 {
					t.Fatalf("exit code %d after SIGTERM", code)
				}
			})
		})
	}
}

// TestServeMigrateFlag: serve --migrate applies pending migrations itself.
func TestServeMigrateFlag(t *testing.T) {
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			p := freePorts(t)
			env := append(p.env(), "DSN="+sqltest.DSN(t, d), testSecretsEnv)
			proc := start(t, t.TempDir(), env, "serve", "--migrate")
			proc.waitReady(p.publicURL())
			if !strings.Contains(proc.stderr.String(), "applied database migrations") {
				t.Errorf("no migration log line:\n%s", proc.stderr)
			}
			if code := proc.stop(); code != 0 {
				t.Fatalf("exit code %d", code)
			}
		})
	}
}

// TestMigrateDSNSources: the DSN as an argument; -e with DSN unset fails
// with a clear message.
func TestMigrateDSNSources(t *testing.T) {
	dir := t.TempDir()
	dsn := sqltest.DSN(t, sqlstore.SQLite)
	t.Run("Argument", func(t *testing.T) {
		r := run(t, dir, nil, "", "migrate", "sql", dsn, "--yes")
		if r.code != 0 || !strings.HasPrefix(r.stdout, "Applied ") {
			t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
		r = run(t, dir, nil, "", "migrate", "status", dsn)
		if r.code != 0 || strings.Contains(r.stdout, "pending") || !strings.Contains(r.stdout, "applied") {
			t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("EnvFlagWithoutDSN", func(t *testing.T) {
		r := run(t, dir, nil, "", "migrate", "sql", "-e", "--yes")
		if r.code == 0 || !strings.Contains(r.stderr, "DSN environment variable is empty") {
			t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
	t.Run("UnsupportedSchemeDoesNotEchoThePassword", func(t *testing.T) {
		r := run(t, dir, nil, "", "migrate", "sql", "redis://user:s3cret-pw@db.example/0", "--yes")
		if r.code == 0 || !strings.Contains(r.stderr, "unsupported scheme") || strings.Contains(r.stderr, "s3cret-pw") {
			t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
}
