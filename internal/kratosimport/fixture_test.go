package kratosimport_test

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"

	"github.com/latchkey/latchkey/internal/kratosimport"
	"github.com/latchkey/latchkey/internal/server"
	"github.com/latchkey/latchkey/internal/server/servertest"
	"github.com/latchkey/latchkey/internal/sqlstore"
	"github.com/latchkey/latchkey/internal/sqlstore/sqltest"
)

// fixtureDir holds databases written by the real Kratos v26.2.0 and the
// manifest of what is in them (see its README.md).
const fixtureDir = "testdata/kratos-v26.2.0"

// manifest is the part of manifest.json the tests read.
type manifest struct {
	Kratos struct {
		SecretsCookie []string `json:"secrets_cookie"`
		SecretsCipher []string `json:"secrets_cipher"`
	} `json:"kratos"`
	Backends map[string]struct {
		Produced struct {
			FinishedAt time.Time `json:"finished_at"`
		} `json:"produced"`
		Identities []fixtureIdentity `json:"identities"`
	} `json:"backends"`
}

type fixtureIdentity struct {
	Key                 string                               `json:"key"`
	ID                  string                               `json:"id"`
	Email               string                               `json:"email"`
	State               string                               `json:"state"`
	Traits              json.RawMessage                      `json:"traits"`
	ExternalID          *string                              `json:"external_id"`
	MetadataPublic      json.RawMessage                      `json:"metadata_public"`
	MetadataAdmin       json.RawMessage                      `json:"metadata_admin"`
	Password            *string                              `json:"password"`
	HashFormat          *string                              `json:"hash_format"`
	TOTPSecret          *string                              `json:"totp_secret"`
	LookupUnused        []string                             `json:"lookup_codes_unused"`
	LookupUsed          []struct{ Code string }              `json:"lookup_codes_used"`
	OIDCProviders       []struct{ Provider, Subject string } `json:"oidc_providers"`
	VerifiableAddresses []struct {
		Value    string `json:"value"`
		Verified bool   `json:"verified"`
		Status   string `json:"status"`
	} `json:"verifiable_addresses"`
	Sessions []struct {
		ID           string `json:"id"`
		Token        string `json:"token"`
		Active       bool   `json:"active"`
		AAL          string `json:"aal"`
		WhoamiStatus int    `json:"whoami_status"`
	} `json:"sessions"`
}

func loadManifest(t testing.TB) manifest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// startLatchkey starts a server configured as the fixture's Kratos was
// (its identity schema, secrets.cipher and secrets.cookie, second factors
// on) on a fresh database of the dialect, its clock a day after the
// fixture was made, so the fixture's one-year sessions are live.
func startLatchkey(t *testing.T, d sqlstore.Dialect, m manifest, backend string) *servertest.Server {
	t.Helper()
	schema, err := filepath.Abs(filepath.Join(fixtureDir, "identity.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	secrets := func(s []string) string { b, _ := json.Marshal(s); return string(b) }
	srv := servertest.Start(t, servertest.Options{Dialect: d, Env: []string{
		`IDENTITY_SCHEMAS=[{"id":"default","url":"file://` + schema + `"}]`,
		"IDENTITY_DEFAULT_SCHEMA_ID=default",
		"SECRETS_CIPHER=" + secrets(m.Kratos.SecretsCipher),
		"SECRETS_COOKIE=" + secrets(m.Kratos.SecretsCookie),
		"SELFSERVICE_METHODS_TOTP_ENABLED=true",
		"SELFSERVICE_METHODS_LOOKUP_SECRET_ENABLED=true",
	}})
	at := m.Backends[backend].Produced.FinishedAt.Add(24 * time.Hour)
	srv.Clock.Advance(time.Until(at))
	return srv
}

// kratosDSN loads the fixture of the dialect into a fresh database and
// returns a DSN for it in the form Kratos uses.
func kratosDSN(t *testing.T, d sqlstore.Dialect) string {
	t.Helper()
	switch d {
	case sqlstore.SQLite:
		dst := filepath.Join(t.TempDir(), "kratos.sqlite")
		copyFile(t, filepath.Join(fixtureDir, "kratos.sqlite"), dst)
		return "sqlite://" + dst + "?_fk=true&mode=rwc&_journal_mode=WAL"
	case sqlstore.Postgres:
		dsn := sqltest.DSN(t, d)
		psql, err := exec.LookPath("psql")
		if err != nil {
			t.Skip("psql is needed to load the PostgreSQL fixture")
		}
		run(t, exec.Command(psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-f", filepath.Join(fixtureDir, "postgres.sql")), nil)
		return dsn
	case sqlstore.MySQL:
		dsn := sqltest.DSN(t, d)
		client, err := exec.LookPath("mariadb")
		if err != nil {
			if client, err = exec.LookPath("mysql"); err != nil {
				t.Skip("the mariadb or mysql client is needed to load the MySQL fixture")
			}
		}
		base, _, _ := strings.Cut(strings.TrimPrefix(dsn, "mysql://"), "?")
		cfg, err := mysqldrv.ParseDSN(base)
		if err != nil {
			t.Fatal(err)
		}
		host, port, _ := strings.Cut(cfg.Addr, ":")
		args := []string{"-h", host, "-P", port, "-u", cfg.User, cfg.DBName}
		if cfg.Passwd != "" {
			args = append(args, "-p"+cfg.Passwd)
		}
		f, err := os.Open(filepath.Join(fixtureDir, "mysql.sql"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		run(t, exec.Command(client, args...), f)
		return dsn
	}
	t.Fatalf("no fixture for %s", d)
	return ""
}

func run(t *testing.T, cmd *exec.Cmd, stdin io.Reader) {
	t.Helper()
	cmd.Stdin = stdin
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, out)
	}
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// importInto runs the import the way `latchkey import kratos` does, with
// the server's own configuration and clock.
func importInto(t *testing.T, srv *servertest.Server, from string, opts kratosimport.Options) (*kratosimport.Report, error) {
	t.Helper()
	ctx := context.Background()
	src, err := kratosimport.OpenSource(ctx, from, "")
	if err != nil {
		t.Fatalf("open Kratos database: %v", err)
	}
	defer src.Close()
	tools := mustOffline(t, srv)
	opts.Target = sqlstore.NewImportStore(srv.DB)
	opts.Schemas, opts.Sealer, opts.Tokens = tools.Identities, tools.Cipher, tools.Tokens
	opts.Now = srv.Clock.Now
	if opts.SourceName == "" {
		opts.SourceName = "kratos " + sqlstore.Redact(from)
	}
	return kratosimport.Run(ctx, src, opts)
}

func mustImport(t *testing.T, srv *servertest.Server, from string, opts kratosimport.Options) *kratosimport.Report {
	t.Helper()
	rep, err := importInto(t, srv, from, opts)
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	for _, p := range rep.Problems {
		t.Logf("problem: %s", p)
	}
	return rep
}

// mustOffline builds what the import command builds from the server's
// configuration.
func mustOffline(t *testing.T, srv *servertest.Server) *server.Offline {
	t.Helper()
	tools, err := server.NewOffline(srv.Config, srv.DB)
	if err != nil {
		t.Fatal(err)
	}
	return tools
}
