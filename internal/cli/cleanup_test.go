package cli_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/internal/sqlstore"
	"github.com/latchkey/latchkey/internal/sqlstore/sqltest"
)

// cleanupSeed stores, relative to now: three flows and a session that
// expired two hours ago, a flow that expired 30 minutes ago, a live flow
// and session, and audit events written 100 days, 20 days and an hour
// ago.
func cleanupSeed(t *testing.T, dsn string) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now()
	ident := &identity.Identity{ID: uuid.New(), SchemaID: "default", State: identity.StateActive, Traits: json.RawMessage(`{}`)}
	if err := sqlstore.NewIdentityStore(db).CreateIdentity(ctx, ident); err != nil {
		t.Fatal(err)
	}
	for _, expires := range []time.Duration{-2 * time.Hour, -2 * time.Hour, -2 * time.Hour, -30 * time.Minute, time.Hour} {
		f := &flow.Record{ID: uuid.New(), Kind: "login", Type: flow.TypeAPI, State: "choose_method", Data: json.RawMessage(`{}`), ExpiresAt: now.Add(expires)}
		if err := sqlstore.NewFlowStore(db).CreateFlow(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	for _, expires := range []time.Duration{-2 * time.Hour, time.Hour} {
		at := sqlstore.Time(now.Add(expires - 24*time.Hour))
		s := &session.Session{ID: uuid.New(), IdentityID: ident.ID, Active: true, AAL: "aal1",
			AuthenticatedAt: at, IssuedAt: at, ExpiresAt: at.Add(24 * time.Hour), CreatedAt: at, UpdatedAt: at}
		if err := sqlstore.NewSessionStore(db).CreateSession(ctx, s, uuid.NewString()); err != nil {
			t.Fatal(err)
		}
	}
	rec := &audit.Recorder{Store: sqlstore.NewAuditStore(db)}
	for _, age := range []time.Duration{100 * 24 * time.Hour, 20 * 24 * time.Hour, time.Hour} {
		if err := rec.Record(ctx, audit.Event{Type: audit.PasswordChanged, IdentityID: &ident.ID, Time: now.Add(-age)}); err != nil {
			t.Fatal(err)
		}
	}
}

// countRows counts the rows of table.
func countRows(t *testing.T, dsn, table string) int {
	t.Helper()
	db, err := sqlstore.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(context.Background(), "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// cleanupReport is the output of a cleanup that deleted flows, sessions
// and audit events.
func cleanupReport(flows, sessions, events int, keepLast string) string {
	lines := []string{
		"recovery codes               0",
		"recovery link tokens         0",
		"verification codes           0",
		"verification link tokens     0",
		"social sign-in round trips   0",
		"session token exchanges      0",
		"self-service flows           " + strconv.Itoa(flows),
		"lockdown link uses           0",
		"lockdown link tokens         0",
		"self-service errors          0",
		"sessions                     " + strconv.Itoa(sessions),
		"rate-limit counters          0",
		"session cache invalidations  0",
		"courier messages             0",
		"audit events                 " + strconv.Itoa(events),
		"Deleted " + strconv.Itoa(flows+sessions+events) + " expired row(s); kept those of the last " + keepLast + ".",
	}
	return strings.Join(lines, "\n") + "\n"
}

// TestCleanupSQL runs `latchkey cleanup sql` as an operator's cron job
// would, on each database.
func TestCleanupSQL(t *testing.T) {
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			dir := t.TempDir()
			dsn := sqltest.DSN(t, d)

			t.Run("RefusesAnUnmigratedDatabase", func(t *testing.T) {
				r := run(t, dir, nil, "", "cleanup", "sql", dsn)
				if r.code == 0 || !strings.Contains(r.stderr, "pending migration") {
					t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
				}
			})
			if r := run(t, dir, nil, "", "migrate", "sql", dsn, "--yes"); r.code != 0 {
				t.Fatalf("migrate: %s", r.stderr)
			}
			cleanupSeed(t, dsn)

			// Without a configuration, audit events are kept for the
			// default 90 days.
			t.Run("DeletesWhatExpiredBeforeKeepLastInBatches", func(t *testing.T) {
				r := run(t, dir, nil, "", "cleanup", "sql", dsn, "--keep-last", "1h", "-b", "2", "--sleep", "1ms")
				if want := cleanupReport(3, 1, 1, "1h0m0s"); r.code != 0 || r.stdout != want {
					t.Fatalf("exit %d, stderr %q, stdout:\n%s\nwant:\n%s", r.code, r.stderr, r.stdout, want)
				}
				if f, s, e := countRows(t, dsn, "selfservice_flows"), countRows(t, dsn, "sessions"), countRows(t, dsn, "audit_events"); f != 2 || s != 1 || e != 2 {
					t.Fatalf("%d flows, %d sessions and %d audit events left, want 2, 1 and 2", f, s, e)
				}
			})

			t.Run("KratosFlagsWithDSNFromEnv", func(t *testing.T) {
				r := run(t, dir, []string{"DSN=" + dsn}, "", "cleanup", "sql", "-e", "--keep-last", "1h",
					"--database.cleanup.batch_size", "1", "--database.cleanup.sleep.tables", "0s")
				if want := cleanupReport(0, 0, 0, "1h0m0s"); r.code != 0 || r.stdout != want {
					t.Fatalf("exit %d, stderr %q, stdout:\n%s\nwant:\n%s", r.code, r.stderr, r.stdout, want)
				}
			})

			t.Run("SettingsFromTheConfigFile", func(t *testing.T) {
				file := filepath.Join(dir, "latchkey.yml")
				yml := "dsn: " + dsn + "\nsecrets: {default: [cli-test-secret-0123456789]}\ndatabase: {cleanup: {older_than: 10m, batch_size: 1}}\n"
				if err := os.WriteFile(file, []byte(yml), 0o600); err != nil {
					t.Fatal(err)
				}
				r := run(t, dir, nil, "", "cleanup", "sql", "-c", file)
				if want := cleanupReport(1, 0, 0, "10m0s"); r.code != 0 || r.stdout != want {
					t.Fatalf("exit %d, stderr %q, stdout:\n%s\nwant:\n%s", r.code, r.stderr, r.stdout, want)
				}
				if f, s := countRows(t, dsn, "selfservice_flows"), countRows(t, dsn, "sessions"); f != 1 || s != 1 {
					t.Fatalf("%d flows and %d sessions left, want the live ones", f, s)
				}
			})

			t.Run("AuditRetentionFromTheConfigFile", func(t *testing.T) {
				cleanup := func(retention string) result {
					file := filepath.Join(dir, "latchkey.yml")
					yml := "dsn: " + dsn + "\nsecrets: {default: [cli-test-secret-0123456789]}\naudit: {retention: " + retention + "}\n"
					if err := os.WriteFile(file, []byte(yml), 0o600); err != nil {
						t.Fatal(err)
					}
					return run(t, dir, nil, "", "cleanup", "sql", "-c", file)
				}
				// 0 keeps every event, however old.
				if r, want := cleanup("0"), cleanupReport(0, 0, 0, "24h0m0s"); r.code != 0 || r.stdout != want {
					t.Fatalf("exit %d, stderr %q, stdout:\n%s\nwant:\n%s", r.code, r.stderr, r.stdout, want)
				}
				// Ten days (plus the day of older_than) takes the 20-day-old one.
				if r, want := cleanup("240h"), cleanupReport(0, 0, 1, "24h0m0s"); r.code != 0 || r.stdout != want {
					t.Fatalf("exit %d, stderr %q, stdout:\n%s\nwant:\n%s", r.code, r.stderr, r.stdout, want)
				}
				if e := countRows(t, dsn, "audit_events"); e != 1 {
					t.Fatalf("%d audit events left, want the recent one", e)
				}
				if r := cleanup("-24h"); r.code == 0 || !strings.Contains(r.stderr, `audit.retention: must not be negative, got "-24h"`) {
					t.Fatalf("a negative retention: exit %d, stderr %q", r.code, r.stderr)
				}
			})
		})
	}
}

// TestCleanupSQLErrors: bad invocations fail with a clear message.
func TestCleanupSQLErrors(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"EnvFlagWithoutDSN", []string{"cleanup", "sql", "-e"}, "DSN environment variable is empty"},
		{"ZeroBatchSize", []string{"cleanup", "sql", "sqlite://" + filepath.Join(dir, "x.sqlite"), "-b", "0"}, "--batch-size must be at least 1"},
		{"PasswordNotEchoed", []string{"cleanup", "sql", "redis://user:s3cret-pw@db.example/0"}, "unsupported scheme"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := run(t, dir, nil, "", c.args...)
			if r.code == 0 || !strings.Contains(r.stderr, c.want) || strings.Contains(r.stderr, "s3cret-pw") {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
		})
	}
}
