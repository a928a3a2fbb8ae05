package cli_test

import (
	"net/http"
	"path/filepath"
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

var migrateHint = regexp.MustCompile("run `(latchkey migrate sql [^`]*)`")

// TestMigrateHintFitsHowTheDSNWasGiven: the command a refusal names
// reaches the database the refused command used: the same -c files when
// the DSN is in them, -e when it is in the DSN variable (which overrides
// the files), the DSN itself when it was an argument. Running the named
// command lets the refused one start.
func TestMigrateHintFitsHowTheDSNWasGiven(t *testing.T) {
	t.Run("ServeWithDSNInConfigFile", func(t *testing.T) {
		dir := t.TempDir()
		p := freePorts(t)
		cfg := writeFile(t, dir, "kratos.yml", "dsn: sqlite://"+filepath.Join(dir, "db.sqlite")+"\n")
		env := append(p.env(), testSecretsEnv)
		hint := runHint(t, dir, env, "serve", "-c", cfg)
		if want := "latchkey migrate sql -c " + cfg + " --yes"; hint != want {
			t.Fatalf("hint %q, want %q", hint, want)
		}
		proc := start(t, dir, env, "serve", "-c", cfg)
		proc.waitReady(p.publicURL())
		if code := proc.stop(); code != 0 {
			t.Fatalf("exit code %d after SIGTERM", code)
		}
	})
	t.Run("ServeWithDSNInEnvOverridingFile", func(t *testing.T) {
		dir := t.TempDir()
		p := freePorts(t)
		cfg := writeFile(t, dir, "kratos.yml", "dsn: sqlite://"+filepath.Join(dir, "not-this.sqlite")+"\n")
		env := append(p.env(), testSecretsEnv, "DSN=sqlite://"+filepath.Join(dir, "db.sqlite"))
		if hint := runHint(t, dir, env, "serve", "-c", cfg); hint != "latchkey migrate sql -e --yes" {
			t.Fatalf("hint %q", hint)
		}
		proc := start(t, dir, env, "serve", "-c", cfg)
		proc.waitReady(p.publicURL())
		proc.stop()
	})
	t.Run("CleanupWithDSNArgument", func(t *testing.T) {
		dir := t.TempDir()
		dsn := sqltest.DSN(t, sqlstore.SQLite)
		if hint := runHint(t, dir, nil, "cleanup", "sql", dsn); hint != "latchkey migrate sql "+dsn+" --yes" {
			t.Fatalf("hint %q", hint)
		}
		if r := run(t, dir, nil, "", "cleanup", "sql", dsn); r.code != 0 {
			t.Fatalf("cleanup after the hinted migration: exit %d, stderr %q", r.code, r.stderr)
		}
	})
}

// runHint runs a latchkey command that must refuse an unmigrated
// database, then the `migrate sql` command its error names, and returns
// that command.
func runHint(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	r := run(t, dir, env, "", args...)
	m := migrateHint.FindStringSubmatch(r.stderr)
	if r.code == 0 || !strings.Contains(r.stderr, "pending migration") || m == nil {
		t.Fatalf("%v: exit %d, stderr:\n%s", args, r.code, r.stderr)
	}
	hinted := strings.Fields(m[1]) // the test's paths need no shell quoting
	if mr := run(t, dir, env, "", hinted[1:]...); mr.code != 0 || !strings.HasPrefix(mr.stdout, "Applied ") {
		t.Fatalf("the hinted %q: exit %d, stdout %q, stderr %q", m[1], mr.code, mr.stdout, mr.stderr)
	}
	return m[1]
}
