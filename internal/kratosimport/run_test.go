package kratosimport_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/latchkey/latchkey/internal/kratosimport"
	"github.com/latchkey/latchkey/internal/sqlstore"
)

// sqliteFixture is a writable copy of the SQLite fixture, for tests that
// change the Kratos data first; edit runs SQL on it.
type sqliteFixture struct {
	path string
	dsn  string
}

func newSQLiteFixture(t *testing.T) sqliteFixture {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "kratos.sqlite")
	copyFile(t, filepath.Join(fixtureDir, "kratos.sqlite"), dst)
	return sqliteFixture{path: dst, dsn: "sqlite://" + dst + "?_fk=true"}
}

func (f sqliteFixture) edit(t *testing.T, statements ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", f.path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range statements {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func TestImportResumesAfterInterruption(t *testing.T) {
	m := loadManifest(t)
	srv := startLatchkey(t, sqlstore.SQLite, m, "sqlite")
	fx := newSQLiteFixture(t)

	// Stopped (as by Ctrl-C) once the first batch of 5 has committed.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src, err := kratosimport.OpenSource(ctx, fx.dsn, "")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	tools := mustOffline(t, srv)
	opts := kratosimport.Options{
		Target: sqlstore.NewImportStore(srv.DB), Schemas: tools.Identities, Sealer: tools.Cipher, Tokens: tools.Tokens,
		SourceName: "kratos test", BatchSize: 5, Now: srv.Clock.Now,
		Progress: func(done, total int64) {
			if done == 5 {
				cancel()
			}
		},
	}
	if _, err := kratosimport.Run(ctx, src, opts); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v, want context.Canceled", err)
	}
	if n := srv.CountRows(t, "identities"); n != 5 {
		t.Fatalf("identities after the interruption: %d, want the first batch of 5", n)
	}
	if n := srv.CountRows(t, "import_checkpoints"); n != 1 {
		t.Fatalf("checkpoints: %d, want 1", n)
	}

	opts.Progress = nil
	rep := mustImport(t, srv, fx.dsn, opts)
	if rep.ResumedAfter != 5 || rep.Created != 8 {
		t.Errorf("resumed after %d, created %d; want after 5, 8 created", rep.ResumedAfter, rep.Created)
	}
	if n := srv.CountRows(t, "identities"); n != 13 {
		t.Errorf("identities: %d, want 13", n)
	}
	if n := srv.CountRows(t, "import_checkpoints"); n != 0 {
		t.Errorf("a finished import left its checkpoint")
	}
}

func TestImportDryRunWritesNothing(t *testing.T) {
	m := loadManifest(t)
	srv := startLatchkey(t, sqlstore.SQLite, m, "sqlite")
	fx := newSQLiteFixture(t)
	rep := mustImport(t, srv, fx.dsn, kratosimport.Options{DryRun: true, BatchSize: 4})
	if !rep.DryRun || rep.Created != 13 || rep.Sessions != 11 {
		t.Errorf("dry run: created %d, sessions %d; want 13 and 11 planned", rep.Created, rep.Sessions)
	}
	for _, table := range []string{"identities", "identity_credentials", "sessions", "import_checkpoints"} {
		if n := srv.CountRows(t, table); n != 0 {
			t.Errorf("dry run wrote %d rows to %s", n, table)
		}
	}
}

func TestImportReportsRowsItCannotImport(t *testing.T) {
	m := loadManifest(t)
	fi := m.Backends["sqlite"].Identities
	alice, bram, hugo, mira := byKey(t, fi, "alice"), byKey(t, fi, "bram"), byKey(t, fi, "hugo"), byKey(t, fi, "mira")

	srv := startLatchkey(t, sqlstore.SQLite, m, "sqlite")
	// Someone already signed up in Latchkey with mira's address.
	srv.MustCreateIdentity(t, mira.Email, "another-password-123")

	fx := newSQLiteFixture(t)
	fx.edit(t,
		// traits the schema refuses
		`UPDATE identities SET traits = '{"email":"bram","shoe_size":44}' WHERE id = '`+bram.ID+`'`,
		// a hash no verifier knows
		`UPDATE identity_credentials SET config = '{"hashed_password":"$whirlpool$abc"}' WHERE identity_id = '`+hugo.ID+`'
		 AND identity_credential_type_id = (SELECT id FROM identity_credential_types WHERE name = 'password')`,
		// a credential type Kratos may add one day
		`INSERT INTO identity_credential_types (id, name) VALUES ('00000000-0000-4000-8000-000000000001', 'magic')`,
		`INSERT INTO identity_credentials (id, config, identity_credential_type_id, identity_id, created_at, updated_at, nid, version)
		 SELECT '00000000-0000-4000-8000-000000000002', '{}', '00000000-0000-4000-8000-000000000001', id, created_at, updated_at, nid, 0
		 FROM identities WHERE id = '`+alice.ID+`'`,
		// a security key, kept for the WebAuthn method to come
		`INSERT INTO identity_credentials (id, config, identity_credential_type_id, identity_id, created_at, updated_at, nid, version)
		 SELECT '00000000-0000-4000-8000-000000000003', '{"credentials":[{"id":"a2V5","public_key":"cGs=","display_name":"YubiKey"}],"user_handle":"dWg="}',
		 t.id, i.id, i.created_at, i.updated_at, i.nid, 0
		 FROM identities i, identity_credential_types t WHERE i.id = '`+alice.ID+`' AND t.name = 'webauthn'`,
		`INSERT INTO identity_credential_identifiers (id, identifier, identity_credential_id, created_at, updated_at, nid, identity_credential_type_id, identity_id)
		 SELECT '00000000-0000-4000-8000-000000000004', 'dWg=', c.id, c.created_at, c.updated_at, c.nid, c.identity_credential_type_id, c.identity_id
		 FROM identity_credentials c WHERE c.id = '00000000-0000-4000-8000-000000000003'`,
	)
	rep := mustImport(t, srv, fx.dsn, kratosimport.Options{})

	want := map[string]struct {
		row     string
		reason  string
		skipped bool
	}{
		bram.ID:  {"identity", "traits do not match identity schema", true},
		hugo.ID:  {"credential password", "format Latchkey cannot verify ($whirlpool$", false},
		alice.ID: {"credential magic", `unknown credential type "magic"`, false},
		mira.ID:  {"identity", "belongs to another Latchkey identity", true},
	}
	if len(rep.Problems) != len(want) {
		t.Errorf("%d problems, want %d: %v", len(rep.Problems), len(want), rep.Problems)
	}
	for _, p := range rep.Problems {
		w, ok := want[p.IdentityID]
		if !ok || p.Row != w.row || !strings.Contains(p.Reason, w.reason) || p.Skipped != w.skipped {
			t.Errorf("problem %s; want for this identity %+v", p, w)
		}
		if strings.Contains(p.Reason, "abc") {
			t.Errorf("a problem shows the hash: %s", p)
		}
	}
	if rep.Skipped != 2 || rep.Created != 11 {
		t.Errorf("skipped %d, created %d; want 2 and 11", rep.Skipped, rep.Created)
	}
	// hugo is imported without the unverifiable hash: the account and its
	// sign-in name are there, and a recovery sets a password.
	got := srv.MustGetIdentity(t, hugo.ID)
	pw := got.GetCredentials()["password"]
	if ids := pw.GetIdentifiers(); len(ids) != 1 || ids[0] != hugo.Email {
		t.Errorf("hugo's password identifiers %v, want [%s]", ids, hugo.Email)
	}
	if h := srv.HashedPassword(t, hugo.ID); h != "" {
		t.Errorf("hugo has a hash %q after the import, want none", h)
	}
	// alice keeps everything else, her security key as Kratos stored it.
	creds := srv.MustGetIdentity(t, alice.ID).GetCredentials()
	if _, ok := creds["totp"]; !ok {
		t.Errorf("alice lost her TOTP credential with the unknown row")
	}
	key := creds["webauthn"]
	if ids := key.GetIdentifiers(); len(ids) != 1 || ids[0] != "dWg=" {
		t.Errorf("webauthn identifiers %v, want [dWg=]", ids)
	}
	if n := countRows(t, srv, `SELECT COUNT(*) FROM identity_credentials WHERE type = 'webauthn' AND config LIKE '%YubiKey%'`); n != 1 {
		t.Errorf("the webauthn config was not kept as stored")
	}
}

func TestImportRefusesASchemaItDoesNotKnow(t *testing.T) {
	for name, tc := range map[string]struct {
		edit []string
		want string
	}{
		"Newer":           {[]string{`INSERT INTO schema_migration (version, version_self) VALUES ('20990101000000000000', 0)`}, "newer than Kratos v26.2.0"},
		"Older":           {[]string{`DELETE FROM schema_migration WHERE version >= '20251215000000000000'`}, "older than Kratos v26.2.0"},
		"NotKratos":       {[]string{`DROP TABLE schema_migration`}, "does not look like a Kratos database"},
		"SeveralNetworks": {[]string{`INSERT INTO networks (id, created_at, updated_at) VALUES ('ffffffff-0000-4000-8000-000000000000', '2026-01-01', '2026-01-01')`}, "choose one with --network"},
	} {
		t.Run(name, func(t *testing.T) {
			fx := newSQLiteFixture(t)
			fx.edit(t, tc.edit...)
			_, err := kratosimport.OpenSource(context.Background(), fx.dsn, "")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
	t.Run("MissingFile", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "nope.sqlite")
		if _, err := kratosimport.OpenSource(context.Background(), "sqlite://"+missing, ""); err == nil {
			t.Fatal("opened a database that does not exist")
		}
		if _, err := os.Stat(missing); err == nil {
			t.Error("opening a missing SQLite file created it")
		}
	})
	t.Run("ChosenNetwork", func(t *testing.T) {
		fx := newSQLiteFixture(t)
		fx.edit(t, `INSERT INTO networks (id, created_at, updated_at) VALUES ('ffffffff-0000-4000-8000-000000000000', '2026-01-01', '2026-01-01')`)
		src, err := kratosimport.OpenSource(context.Background(), fx.dsn, "ffffffff-0000-4000-8000-000000000000")
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		if n, err := src.Count(context.Background()); err != nil || n != 0 {
			t.Errorf("identities in the empty network: %d, %v", n, err)
		}
	})
}
