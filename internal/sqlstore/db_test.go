package sqlstore_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/sqlstore"
	"github.com/latchkey/latchkey/internal/sqlstore/sqltest"
)

func TestStorage(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		t.Run("MigrateIsIdempotent", func(t *testing.T) {
			n, err := db.Migrate(ctx)
			if err != nil || n != 0 {
				t.Fatalf("second migrate applied %d, err %v", n, err)
			}
			pending, err := db.Pending(ctx)
			if err != nil || pending != 0 {
				t.Fatalf("pending = %d, %v", pending, err)
			}
		})
		t.Run("RollbackOnError", func(t *testing.T) {
			now := db.NowUTC()
			boom := errors.New("boom")
			err := db.InTx(ctx, func(ctx context.Context) error {
				_, err := db.Exec(ctx, `INSERT INTO identities (id, schema_id, state, traits, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
					"00000000-0000-4000-8000-000000000001", "default", "active", "{}", db.T(now), db.T(now))
				if err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("err = %v", err)
			}
			var n int
			if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM identities`).Scan(&n); err != nil || n != 0 {
				t.Fatalf("rows after rollback = %d, %v", n, err)
			}
		})
		t.Run("UniqueViolationIsConflict", func(t *testing.T) {
			now := db.NowUTC()
			ins := func() error {
				_, err := db.Exec(ctx, `INSERT INTO identities (id, schema_id, state, traits, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
					"00000000-0000-4000-8000-000000000002", "default", "active", "{}", db.T(now), db.T(now))
				return err
			}
			if err := ins(); err != nil {
				t.Fatal(err)
			}
			if err := ins(); !errors.Is(err, sqlstore.ErrConflict) {
				t.Fatalf("duplicate insert err = %v, want ErrConflict", err)
			}
		})
		t.Run("TimesRoundTripAndCompare", func(t *testing.T) {
			base := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)
			for i, ts := range []time.Time{base, base.Add(500 * time.Millisecond)} {
				id := []string{"00000000-0000-4000-8000-0000000000a1", "00000000-0000-4000-8000-0000000000a2"}[i]
				if _, err := db.Exec(ctx, `INSERT INTO identities (id, schema_id, state, traits, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
					id, "t", "active", "{}", db.T(ts), db.T(ts)); err != nil {
					t.Fatal(err)
				}
			}
			var got time.Time
			if err := db.QueryRow(ctx, `SELECT created_at FROM identities WHERE id = ?`, "00000000-0000-4000-8000-0000000000a1").Scan(&got); err != nil {
				t.Fatal(err)
			}
			if !got.Equal(base) {
				t.Fatalf("round trip %v != %v", got, base)
			}
			var n int
			if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM identities WHERE schema_id = 't' AND created_at > ?`, db.T(base.Add(100*time.Millisecond))).Scan(&n); err != nil || n != 1 {
				t.Fatalf("compare count = %d, %v", n, err)
			}
		})
	})
}

func TestConcurrentMigrations(t *testing.T) {
	for _, d := range []sqlstore.Dialect{sqlstore.SQLite, sqlstore.Postgres, sqlstore.MySQL} {
		t.Run(string(d), func(t *testing.T) {
			dsn := sqltest.DSN(t, d)
			errs := make(chan error, 3)
			for i := 0; i < 3; i++ {
				go func() {
					db, err := sqlstore.Open(context.Background(), dsn)
					if err != nil {
						errs <- err
						return
					}
					defer db.Close()
					_, err = db.Migrate(context.Background())
					errs <- err
				}()
			}
			for i := 0; i < 3; i++ {
				if err := <-errs; err != nil {
					t.Errorf("instance %d: %v", i, err)
				}
			}
		})
	}
}

// TestMemoryDSN: "memory" and the other in-memory forms Kratos reads
// (its own default sqlite://file::memory:?_fk=true&cache=shared among
// them) open one in-memory database that every read and write sees, and
// no file.
func TestMemoryDSN(t *testing.T) {
	t.Chdir(t.TempDir()) // a DSN wrongly read as a file would create it here
	ctx := context.Background()
	for _, dsn := range []string{
		"memory",
		"sqlite://file::memory:?_fk=true&cache=shared",
		"sqlite://:memory:?_fk=true",
		"sqlite://file:kratos?_fk=true&mode=memory&cache=shared&_busy_timeout=100000",
		"sqlite://kratos.db?mode=memory&_fk=true",
	} {
		t.Run(dsn, func(t *testing.T) {
			db, err := sqlstore.Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if !db.InMemory() {
				t.Error("InMemory() = false")
			}
			if _, err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			now := db.NowUTC()
			if _, err := db.Exec(ctx, `INSERT INTO identities (id, schema_id, state, traits, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
				"00000000-0000-4000-8000-0000000000f1", "default", "active", "{}", db.T(now), db.T(now)); err != nil {
				t.Fatal(err)
			}
			var n int
			if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM identities`).Scan(&n); err != nil || n != 1 {
				t.Fatalf("a read after the write counts %d identities, %v", n, err)
			}
		})
	}
	if entries, _ := os.ReadDir("."); len(entries) != 0 {
		t.Errorf("in-memory DSNs created files: %v", entries)
	}
	t.Run("FileIsNotInMemory", func(t *testing.T) {
		db, err := sqlstore.Open(ctx, "sqlite://./file.sqlite?_fk=true&cache=shared")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if db.InMemory() {
			t.Error("InMemory() = true for a file")
		}
	})
}
