package sqlstore

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
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
	return goose.NewProvider(dialect, db.SQL, sub,
		goose.WithAllowOutofOrder(true),
		goose.WithTableName("latchkey_schema_migrations"),
	)
}

// Migrate applies every pending migration. It is idempotent, and safe to run
// from several instances at once on PostgreSQL/MySQL (goose locks).
func (db *DB) Migrate(ctx context.Context) (applied int, err error) {
	p, err := db.provider()
	if err != nil {
		return 0, fmt.Errorf("load migrations: %w", err)
	}
	res, err := p.Up(ctx)
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
