package cli

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/server"
	"github.com/latchkey/latchkey/internal/sqlstore"
)

func newCleanup() *cobra.Command {
	cmd := &cobra.Command{Use: "cleanup", Short: "Delete expired data"}
	cmd.AddCommand(newCleanupSQL())
	return cmd
}

// unknownCounterWindow is how long counters are kept after their window
// started when no configuration says how long the windows are: longer
// than any window the documentation suggests, so no limit is reset early.
const unknownCounterWindow = 24 * time.Hour

// cleanupFlags are the flags of `cleanup sql`: Kratos's names, plus its
// configuration keys as flags (hidden), so existing cron jobs run
// unchanged.
type cleanupFlags struct {
	migrateFlags
	keepLast  time.Duration
	batchSize int
	sleep     time.Duration
}

func newCleanupSQL() *cobra.Command {
	var f cleanupFlags
	defaults := config.DefaultDatabaseCleanup()
	cmd := &cobra.Command{
		Use:   "sql [DSN]",
		Short: "Delete expired flows, codes, tokens, send counters, sessions, old mail and old audit events",
		Long: `Deletes, in batches of --batch-size rows (each batch its own short transaction):
self-service flows, recovery codes and link tokens, and sessions that expired
more than --keep-last ago; self-service errors an hour older than that; send
counters whose window ended more than --keep-last ago; and courier messages,
sent or abandoned, created more than --keep-last ago; and audit events older
than audit.retention (default 90 days; 0 keeps them) plus --keep-last. Queued
mail is never deleted.

serve does the same every database.cleanup.interval unless
database.cleanup.enabled is false. Several runs may go at once on one database.

The DSN comes from the argument, -e (the DSN environment variable) or the
config file; settings not given as flags come from database.cleanup in the
config file (-c), else from the defaults.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, dsn, err := f.options(cmd, args)
			if err != nil {
				return err
			}
			ctx, stop := signalContext()
			defer stop()
			db, err := openMigrated(ctx, dsn, f.migrateSQLCommand(dsn, args))
			if err != nil {
				return err
			}
			defer db.Close()
			counts, err := db.Cleanup(ctx, opts)
			printCleanup(cmd.OutOrStdout(), counts, opts.KeepLast)
			return err
		},
	}
	f.register(cmd)
	fl := cmd.Flags()
	fl.BoolVarP(&f.fromEnv, "read-from-env", "e", false, "read the DSN from the DSN environment variable")
	fl.DurationVar(&f.keepLast, "keep-last", defaults.OlderThan, "keep rows that expired less than this long ago (database.cleanup.older_than)")
	fl.IntVarP(&f.batchSize, "batch-size", "b", defaults.BatchSize, "rows deleted per transaction (database.cleanup.batch_size)")
	fl.DurationVar(&f.sleep, "sleep", defaults.Sleep.Tables, "pause after each batch (database.cleanup.sleep.tables)")
	// Kratos's spellings of the same settings.
	fl.IntVar(&f.batchSize, "database.cleanup.batch_size", defaults.BatchSize, "same as --batch-size")
	fl.DurationVar(&f.sleep, "database.cleanup.sleep.tables", defaults.Sleep.Tables, "same as --sleep")
	_ = fl.MarkHidden("database.cleanup.batch_size")
	_ = fl.MarkHidden("database.cleanup.sleep.tables")
	return cmd
}

// options resolves the DSN and the run's settings: flags given on the
// command line win over the config file, which wins over the defaults.
func (f *cleanupFlags) options(cmd *cobra.Command, args []string) (sqlstore.CleanupOptions, string, error) {
	var cfg *config.Config
	if len(f.files) > 0 || (len(args) == 0 && !f.fromEnv) {
		var err error
		if cfg, err = f.load(cmd); err != nil {
			return sqlstore.CleanupOptions{}, "", err
		}
	}
	dsn, err := f.dsnFrom(cfg, args)
	if err != nil {
		return sqlstore.CleanupOptions{}, "", err
	}
	opts := sqlstore.CleanupOptions{KeepLast: f.keepLast, BatchSize: f.batchSize, Sleep: f.sleep, CounterWindow: unknownCounterWindow,
		AuditRetention: config.DefaultAuditRetention}
	if cfg != nil {
		fromCfg := server.CleanupOptions(cfg)
		opts.CounterWindow, opts.AuditRetention = fromCfg.CounterWindow, fromCfg.AuditRetention
		fl := cmd.Flags()
		if !fl.Changed("keep-last") {
			opts.KeepLast = fromCfg.KeepLast
		}
		if !fl.Changed("batch-size") && !fl.Changed("database.cleanup.batch_size") {
			opts.BatchSize = fromCfg.BatchSize
		}
		if !fl.Changed("sleep") && !fl.Changed("database.cleanup.sleep.tables") {
			opts.Sleep = fromCfg.Sleep
		}
	}
	if opts.BatchSize < 1 {
		return opts, "", fmt.Errorf("--batch-size must be at least 1, got %d", opts.BatchSize)
	}
	if opts.KeepLast < 0 || opts.Sleep < 0 {
		return opts, "", errors.New("--keep-last and --sleep must not be negative")
	}
	return opts, dsn, nil
}

// dsnFrom picks the DSN: the argument, then -e, then the config.
func (f *cleanupFlags) dsnFrom(cfg *config.Config, args []string) (string, error) {
	switch {
	case len(args) > 0:
		return args[0], nil
	case f.fromEnv:
		return f.envDSN()
	case cfg != nil && cfg.DSN != "":
		return cfg.DSN, nil
	}
	return "", errors.New("no database given: pass a DSN, use -e with DSN set, or a config file with dsn")
}

// migrateSQLCommand is the `migrate sql` command line for the database
// dsnFrom picked, named the same way.
func (f *cleanupFlags) migrateSQLCommand(dsn string, args []string) string {
	switch {
	case len(args) > 0:
		return migrateSQLCommand(dsn, false, nil)
	case f.fromEnv:
		return migrateSQLCommand(dsn, true, nil)
	}
	return migrateSQLCommand(dsn, envHasDSN(), f.files)
}

// printCleanup writes one line per kind of row, then the total.
func printCleanup(w io.Writer, counts []sqlstore.CleanupCount, keepLast time.Duration) {
	var total int64
	width := 0
	for _, c := range counts {
		width = max(width, len(c.Kind))
	}
	for _, c := range counts {
		fmt.Fprintf(w, "%-*s  %d\n", width, c.Kind, c.Deleted)
		total += c.Deleted
	}
	fmt.Fprintf(w, "Deleted %d expired row(s); kept those of the last %s.\n", total, keepLast)
}
