package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/internal/server"
	"github.com/latchkey/latchkey/internal/sqlstore"
)

func newMigrate() *cobra.Command {
	cmd := &cobra.Command{Use: "migrate", Short: "Database migrations"}
	cmd.AddCommand(newMigrateSQL(), newMigrateStatus())
	return cmd
}

// migrateFlags: the DSN comes from the argument, -e (environment DSN), or
// the config file, as in Kratos.
type migrateFlags struct {
	configFlags
	fromEnv bool
	yes     bool
}

func (f *migrateFlags) dsn(cmd *cobra.Command, args []string) (string, error) {
	if len(args) > 0 {
		return args[0], nil
	}
	if f.fromEnv {
		return f.envDSN()
	}
	cfg, err := f.load(cmd)
	if err != nil {
		return "", err
	}
	if cfg.DSN == "" {
		return "", errors.New("no database given: pass a DSN, use -e with DSN set, or a config file with dsn")
	}
	return cfg.DSN, nil
}

// envDSN is the DSN environment variable, which -e names.
func (f *migrateFlags) envDSN() (string, error) {
	if d := os.Getenv("DSN"); d != "" {
		return d, nil
	}
	return "", errors.New("-e given but the DSN environment variable is empty")
}

// migrateSQLCommand is the `latchkey migrate sql` command line that
// migrates a command's database, named the way that command read it:
// with -e when the DSN came from the DSN variable (which overrides config
// files), with the same -c files when it came from them, else as the
// argument (its password hidden: the user types it in).
func migrateSQLCommand(dsn string, fromEnv bool, files []string) string {
	args := []string{"latchkey", "migrate", "sql"}
	switch {
	case fromEnv:
		args = append(args, "-e")
	case len(files) > 0:
		for _, file := range files {
			args = append(args, "-c", shellQuote(file))
		}
	default:
		args = append(args, shellQuote(sqlstore.Redact(dsn)))
	}
	return strings.Join(append(args, "--yes"), " ")
}

// envHasDSN reports whether the DSN variable is set: configuration loading
// then takes the DSN from it, whatever the files say.
func envHasDSN() bool { return os.Getenv("DSN") != "" }

// withMigrateHint adds to a pending-migrations error the command that
// migrates the database (see migrateSQLCommand); other errors pass as
// they are.
func withMigrateHint(err error, command, alternative string) error {
	var pending *server.PendingMigrationsError
	if !errors.As(err, &pending) {
		return err
	}
	return fmt.Errorf("%w: run `%s`%s", err, command, alternative)
}

// shellQuote quotes s for a POSIX shell when it holds anything but
// characters a shell leaves alone.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@%+=:,./_-", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// open connects to the database the command names.
func (f *migrateFlags) open(ctx context.Context, cmd *cobra.Command, args []string) (*sqlstore.DB, string, error) {
	dsn, err := f.dsn(cmd, args)
	if err != nil {
		return nil, "", err
	}
	db, err := sqlstore.Open(ctx, dsn)
	return db, dsn, err
}

// openMigrated opens dsn and refuses a database with pending migrations,
// naming migrateCommand (see migrateSQLCommand) as the remedy: commands
// other than migrate never run against tables they do not know.
func openMigrated(ctx context.Context, dsn, migrateCommand string) (*sqlstore.DB, error) {
	db, err := sqlstore.Open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	pending, err := db.Pending(ctx)
	if err != nil {
		db.Close()
		return nil, err
	}
	if pending > 0 {
		db.Close()
		return nil, fmt.Errorf("the database has %d pending migration(s): run `%s` first", pending, migrateCommand)
	}
	return db, nil
}

func newMigrateSQL() *cobra.Command {
	var f migrateFlags
	cmd := &cobra.Command{
		Use:   "sql [DSN]",
		Short: "Apply all pending SQL migrations",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := context.Background()
			db, dsn, err := f.open(ctx, cmd, args)
			if err != nil {
				return err
			}
			defer db.Close()
			pending, err := db.Pending(ctx)
			if err != nil {
				return err
			}
			if pending == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "All migrations are already applied.")
				return nil
			}
			if !f.yes && !confirm(cmd, fmt.Sprintf("Apply %d migration(s) to %s? [y/N] ", pending, sqlstore.Redact(dsn))) {
				return errors.New("aborted")
			}
			n, err := db.Migrate(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Applied %d migration(s).\n", n)
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVarP(&f.fromEnv, "read-from-env", "e", false, "read the DSN from the DSN environment variable")
	cmd.Flags().BoolVarP(&f.yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

func newMigrateStatus() *cobra.Command {
	var f migrateFlags
	cmd := &cobra.Command{
		Use:   "status [DSN]",
		Short: "List migrations and whether they are applied",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := context.Background()
			db, _, err := f.open(ctx, cmd, args)
			if err != nil {
				return err
			}
			defer db.Close()
			states, err := db.MigrationStatus(ctx)
			if err != nil {
				return err
			}
			for _, s := range states {
				state := "pending"
				if s.Applied {
					state = "applied"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%05d  %-8s %s\n", s.Version, state, s.Name)
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVarP(&f.fromEnv, "read-from-env", "e", false, "read the DSN from the DSN environment variable")
	return cmd
}

func confirm(cmd *cobra.Command, question string) bool {
	fmt.Fprint(cmd.OutOrStdout(), question)
	line, _ := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
	line = strings.ToLower(strings.TrimSpace(line))
	return line == "y" || line == "yes"
}
