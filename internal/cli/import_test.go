package cli_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	_ "modernc.org/sqlite"
)

// kratosFixture is the SQLite database the real Kratos v26.2.0 wrote (see
// internal/kratosimport/testdata/kratos-v26.2.0/README.md).
const kratosFixture = "../kratosimport/testdata/kratos-v26.2.0"

// importSetup is a Latchkey config file (its own SQLite database, the
// fixture's identity schema and secrets) and a writable copy of the
// Kratos fixture.
type importSetup struct {
	dir, config, latchkeyDSN, kratosPath, kratosDSN string
}

func newImportSetup(t *testing.T) importSetup {
	t.Helper()
	dir := t.TempDir()
	schema, err := filepath.Abs(filepath.Join(kratosFixture, "identity.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	s := importSetup{dir: dir, config: filepath.Join(dir, "latchkey.yml"), kratosPath: filepath.Join(dir, "kratos.sqlite")}
	s.latchkeyDSN = "sqlite://" + filepath.Join(dir, "latchkey.sqlite")
	s.kratosDSN = "sqlite://" + s.kratosPath + "?_fk=true&mode=rwc&_journal_mode=WAL"
	cfg := fmt.Sprintf(`dsn: %s
secrets:
  default: ["cli-test-secret-0123456789"]
  cookie: ["ANCHOR-COOKIE-SECRET-NOT-FOR-PRODUCTION-0001"]
  cipher: ["32-LONG-ANCHOR-CIPHER-SECRET-001"]
identity:
  default_schema_id: default
  schemas:
    - id: default
      url: file://%s
`, s.latchkeyDSN, schema)
	if err := os.WriteFile(s.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(kratosFixture, "kratos.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.kratosPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	// The fixture's sessions live one year from 2026-12-02; these tests run
	// on the real clock, so their expiry moves out of the way.
	db, err := sql.Open("sqlite", s.kratosPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE sessions SET expires_at = '2099-01-01 00:00:00.000000+00:00'`); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestImportKratosCommand(t *testing.T) {
	s := newImportSetup(t)

	t.Run("DryRunNeedsAMigratedDatabase", func(t *testing.T) {
		r := run(t, s.dir, nil, "", "import", "kratos", "--from", s.kratosDSN, "-c", s.config, "--dry-run")
		if r.code != 1 || !strings.Contains(r.stderr, "a dry run writes nothing: run `latchkey migrate sql -c "+s.config+" --yes` first") {
			t.Fatalf("exit %d, stderr %q; want 1 and a hint to migrate first", r.code, r.stderr)
		}
	})
	if r := run(t, s.dir, nil, "", "migrate", "sql", "-c", s.config, "--yes"); r.code != 0 {
		t.Fatalf("migrate: %d %s", r.code, r.stderr)
	}

	t.Run("DryRun", func(t *testing.T) {
		r := run(t, s.dir, nil, "", "import", "kratos", "--from", s.kratosDSN, "-c", s.config, "--dry-run")
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		for _, want := range []string{"Dry run: nothing was written.", "Kratos identities:   13", "to create                         13",
			"Credentials:         lookup_secret 1, oidc 2, password 13, totp 2", "11 to write", "1 revoked"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("dry run output lacks %q:\n%s", want, r.stdout)
			}
		}
		if n := countRows(t, s.latchkeyDSN, "identities"); n != 0 {
			t.Errorf("dry run wrote %d identities", n)
		}
	})

	t.Run("Import", func(t *testing.T) {
		r := run(t, s.dir, nil, "", "import", "kratos", "--from", s.kratosDSN, "-c", s.config)
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		if !strings.Contains(r.stdout, "created                           13") || !strings.Contains(r.stdout, "Done in") {
			t.Errorf("output:\n%s", r.stdout)
		}
		// Not a terminal: progress goes to the log, counts included.
		if !strings.Contains(r.stderr, "import progress") || !strings.Contains(r.stderr, "identities_done=13") {
			t.Errorf("no progress in the log:\n%s", r.stderr)
		}
		if strings.Contains(r.stdout+r.stderr, "ory_st_") {
			t.Errorf("a session token was printed")
		}
		if n := countRows(t, s.latchkeyDSN, "sessions"); n != 11 {
			t.Errorf("sessions: %d, want 11", n)
		}
	})

	t.Run("AgainIsUnchanged", func(t *testing.T) {
		r := run(t, s.dir, nil, "", "import", "kratos", "--from", s.kratosDSN, "-c", s.config)
		if r.code != 0 || !strings.Contains(r.stdout, "unchanged                         13") {
			t.Errorf("exit %d, output:\n%s", r.code, r.stdout)
		}
		if n := countRows(t, s.latchkeyDSN, "identities"); n != 13 {
			t.Errorf("identities: %d, want 13", n)
		}
	})

	t.Run("KeepCookies", func(t *testing.T) {
		r := run(t, s.dir, nil, "", "import", "kratos", "--from", s.kratosDSN, "-c", s.config, "--keep-cookies")
		if r.code != 0 || !strings.Contains(r.stdout, "a browser's Kratos cookie is read with secrets.cookie") {
			t.Errorf("exit %d, output:\n%s", r.code, r.stdout)
		}
		cfg, err := os.ReadFile(s.config)
		if err != nil {
			t.Fatal(err)
		}
		noCookie := filepath.Join(s.dir, "no-cookie.yml")
		kept := strings.ReplaceAll(string(cfg), `  cookie: ["ANCHOR-COOKIE-SECRET-NOT-FOR-PRODUCTION-0001"]`+"\n", "")
		if err := os.WriteFile(noCookie, []byte(kept), 0o600); err != nil {
			t.Fatal(err)
		}
		r = run(t, s.dir, nil, "", "import", "kratos", "--from", s.kratosDSN, "-c", noCookie, "--keep-cookies")
		if r.code != 1 || !strings.Contains(r.stderr, "--keep-cookies needs secrets.cookie") {
			t.Errorf("without secrets.cookie: exit %d, stderr %q", r.code, r.stderr)
		}
	})

	t.Run("Errors", func(t *testing.T) {
		for name, tc := range map[string]struct {
			args []string
			want string
			env  string
		}{
			"NoFrom":      {[]string{"import", "kratos", "-c", s.config}, `required flag(s) "from" not set`, ""},
			"BadScheme":   {[]string{"import", "kratos", "-c", s.config, "--from", "oracle://x"}, "unsupported scheme", ""},
			"MissingFile": {[]string{"import", "kratos", "-c", s.config, "--from", "sqlite://" + filepath.Join(s.dir, "none.sqlite")}, "no such file", ""},
			"NotKratos":   {[]string{"import", "kratos", "-c", s.config, "--from", s.latchkeyDSN}, "does not look like a Kratos database", ""},
			"BatchSize":   {[]string{"import", "kratos", "-c", s.config, "--from", s.kratosDSN, "--batch-size", "0"}, "--batch-size must be at least 1", ""},
			"MemoryDSN":   {[]string{"import", "kratos", "--from", s.kratosDSN}, "is an in-memory database", "DSN=memory"},
		} {
			t.Run(name, func(t *testing.T) {
				env := []string{testSecretsEnv}
				if tc.env != "" {
					env = append(env, tc.env)
				}
				r := run(t, s.dir, env, "", tc.args...)
				if r.code != 1 || !strings.Contains(r.stderr, tc.want) {
					t.Errorf("exit %d, stderr %q; want 1 and %q", r.code, r.stderr, tc.want)
				}
			})
		}
	})
}

// TestImportKratosSynthetic imports a Kratos database of many identities,
// generated from the fixture's schema, through the binary, and logs the
// time and the peak memory it took (docs/benchmarks.md). The size is
// LATCHKEY_IMPORT_SYNTHETIC (default 2,000; the documented figures are
// for 100,000).
func TestImportKratosSynthetic(t *testing.T) {
	n := 2000
	if v := os.Getenv("LATCHKEY_IMPORT_SYNTHETIC"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("LATCHKEY_IMPORT_SYNTHETIC=%q: want a positive number", v)
		}
	}
	s := newImportSetup(t)
	if keep := os.Getenv("LATCHKEY_IMPORT_SYNTHETIC_KEEP"); keep != "" {
		// Measuring by hand: keep the generated Kratos database.
		t.Cleanup(func() { _ = exec.Command("cp", s.kratosPath, keep).Run() })
	}
	started := time.Now()
	generateKratosIdentities(t, s.kratosPath, n)
	t.Logf("generated %d Kratos identities in %s", n, time.Since(started).Round(time.Millisecond))
	if r := run(t, s.dir, nil, "", "migrate", "sql", "-c", s.config, "--yes"); r.code != 0 {
		t.Fatalf("migrate: %d %s", r.code, r.stderr)
	}

	cmd := exec.Command(binary, "import", "kratos", "--from", s.kratosDSN, "-c", s.config)
	cmd.Dir, cmd.Env = s.dir, baseEnv()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	started = time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("import: %v\n%s\n%s", err, out.String(), errb.String())
	}
	elapsed := time.Since(started)
	maxRSS := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss // KiB on Linux
	t.Logf("imported %d identities in %s (%.0f/s), peak RSS %d MiB", n+13, elapsed.Round(time.Millisecond), float64(n+13)/elapsed.Seconds(), maxRSS/1024)
	t.Logf("import output:\n%s", out.String())

	if got := countRows(t, s.latchkeyDSN, "identities"); got != n+13 {
		t.Errorf("identities: %d, want %d", got, n+13)
	}
	if got := countRows(t, s.latchkeyDSN, "sessions"); got != 11+n/2 {
		t.Errorf("sessions: %d, want %d", got, 11+n/2)
	}
	if got := countRows(t, s.latchkeyDSN, "identity_verifiable_addresses"); got != 13+n {
		t.Errorf("verifiable addresses: %d, want %d", got, 13+n)
	}
}

// generateKratosIdentities adds n identities to a Kratos v26.2.0 SQLite
// database the way Kratos stores them: a password credential (a bcrypt
// hash) with its identifier, a verifiable and a recovery address, and for
// every second identity a live session with its device.
func generateKratosIdentities(t *testing.T, path string, n int) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(OFF)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	var nid, pwType string
	if err := db.QueryRow(`SELECT id FROM networks`).Scan(&nid); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT id FROM identity_credential_types WHERE name = 'password'`).Scan(&pwType); err != nil {
		t.Fatal(err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	prep := func(q string) *sql.Stmt {
		st, err := tx.Prepare(q)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	ident := prep(`INSERT INTO identities (id, schema_id, traits, created_at, updated_at, nid, state, state_changed_at, metadata_public, available_aal)
		VALUES (?, 'default', ?, ?, ?, ?, 'active', ?, ?, 'aal1')`)
	cred := prep(`INSERT INTO identity_credentials (id, config, identity_credential_type_id, identity_id, created_at, updated_at, nid, version) VALUES (?, ?, ?, ?, ?, ?, ?, 0)`)
	ider := prep(`INSERT INTO identity_credential_identifiers (id, identifier, identity_credential_id, created_at, updated_at, nid, identity_credential_type_id, identity_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	verif := prep(`INSERT INTO identity_verifiable_addresses (id, status, via, verified, value, verified_at, identity_id, created_at, updated_at, nid) VALUES (?, 'completed', 'email', 1, ?, ?, ?, ?, ?, ?)`)
	recov := prep(`INSERT INTO identity_recovery_addresses (id, via, value, identity_id, created_at, updated_at, nid) VALUES (?, 'email', ?, ?, ?, ?, ?)`)
	sess := prep(`INSERT INTO sessions (id, issued_at, expires_at, authenticated_at, identity_id, created_at, updated_at, active, nid, aal, authentication_methods, token, logout_token)
		VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, 'aal1', ?, ?, ?)`)
	dev := prep(`INSERT INTO session_devices (id, identity_id, ip_address, user_agent, location, nid, session_id, created_at, updated_at) VALUES (?, ?, '203.0.113.7', 'SyntheticApp/1.0', '', ?, ?, ?, ?)`)

	const hash = `{"hashed_password":"$2a$12$7dmpi4OcTDYS6ifTv2PPCOBKnJxKwtuw/Nn/GqXARhel6tYzoBF.u"}`
	base := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	stamp := func(t time.Time) string { return t.Format("2006-01-02 15:04:05.999999-07:00") }
	exec := func(st *sql.Stmt, args ...any) {
		if _, err := st.Exec(args...); err != nil {
			t.Fatal(err)
		}
	}
	for k := 0; k < n; k++ {
		id, credID := uuid.NewString(), uuid.NewString()
		email := fmt.Sprintf("user%06d@synthetic.test", k)
		at := stamp(base.Add(time.Duration(k) * time.Millisecond))
		exec(ident, id, fmt.Sprintf(`{"email":%q,"name":"User %d"}`, email, k), at, at, nid, at, `{"plan":"free"}`)
		exec(cred, credID, hash, pwType, id, at, at, nid)
		exec(ider, uuid.NewString(), email, credID, at, at, nid, pwType, id)
		exec(verif, uuid.NewString(), email, at, id, at, at, nid)
		exec(recov, uuid.NewString(), email, id, at, at, nid)
		if k%2 == 0 {
			sid := uuid.NewString()
			expires := stamp(base.Add(10 * 365 * 24 * time.Hour))
			methods := `[{"method":"password","aal":"aal1","completed_at":"2026-12-01T00:00:00Z"}]`
			exec(sess, sid, at, expires, at, id, at, at, nid, methods, "ory_st_"+strings.ReplaceAll(uuid.NewString(), "-", ""), "ory_lo_"+strings.ReplaceAll(uuid.NewString(), "-", ""))
			exec(dev, uuid.NewString(), id, nid, sid, at, at)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}
