package sqlstore

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// The migrations of each dialect live in migrations/<dialect>/NNNNN_name.sql.
// Numbers are shared across dialects so one version means one schema.
//
//go:embed migrations
var migrationFiles embed.FS

func (db *DB) provider() (*goose.Provider, error) {
	sub, err := fs.Sub(migrationFiles, "migrations/"+string(db.Dialect))
	if err != nil {
		return nil, err
	}
	dialect := map[Dialect]goose.Dialect{SQLite: goose.DialectSQLite3, Postgres: goose.DialectPostgres, MySQL: goose.DialectMySQL}[db.Dialect]
	opts := []goose.ProviderOption{
		goose.WithAllowOutofOrder(true),
		goose.WithTableName("latchkey_schema_migrations"),
	}
	// Several instances may start with --migrate against one empty database:
	// a database lock makes them migrate one after the other. (SQLite's
	// immediate transactions already serialise writers.)
	switch db.Dialect {
	case Postgres:
		l, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(l))
	case MySQL:
		l, err := lock.NewMySQLTableLocker(lock.WithTableName("latchkey_migration_lock"), lock.WithTableLockTimeout(200*time.Millisecond, 1500))
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithLocker(l))
	}
	return goose.NewProvider(dialect, db.SQL, sub, opts...)
}

// Migrate applies every pending migration. It is idempotent, and safe to run
// from several instances at once: PostgreSQL and MySQL hold a migration lock.
func (db *DB) Migrate(ctx context.Context) (applied int, err error) {
	p, err := db.provider()
	if err != nil {
		return 0, fmt.Errorf("load migrations: %w", err)
	}
	res, err := p.Up(ctx)
	for attempt := 0; err != nil && db.Dialect == SQLite && attempt < 10; attempt++ {
		// Another process migrated the same file between our version check
		// and our transaction (each migration is atomic, so nothing half
		// applied remains): look again.
		time.Sleep(50 * time.Millisecond)
		var more []*goose.MigrationResult
		more, err = p.Up(ctx)
		res = append(res, more...)
	}
	if err != nil {
		return len(res), fmt.Errorf("apply migrations: %w", err)
	}
	return len(res), nil
}

// MigrationState is one line of `latchkey migrate status`.
type MigrationState struct {
	Version int64
	Name    string
	Applied bool
}

// MigrationStatus lists every known migration and whether it is applied.
func (db *DB) MigrationStatus(ctx context.Context) ([]MigrationState, error) {
	p, err := db.provider()
	if err != nil {
		return nil, err
	}
	st, err := p.Status(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]MigrationState, 0, len(st))
	for _, s := range st {
		out = append(out, MigrationState{Version: s.Source.Version, Name: s.Source.Path, Applied: s.State == goose.StateApplied})
	}
	return out, nil
}

// Pending reports how many migrations are not applied yet.
func (db *DB) Pending(ctx context.Context) (int, error) {
	st, err := db.MigrationStatus(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range st {
		if !s.Applied {
			n++
		}
	}
	return n, nil
}
