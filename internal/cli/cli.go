// Package cli holds the cobra commands of the latchkey binary: serve,
// migrate, cleanup sql, identities, audit list, import kratos, courier
// watch, bench and version.
// Commands parse flags, load the configuration and hand over to
// internal/server (or internal/sqlstore, or a server's admin API); they
// hold no logic of their own.
package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/internal/config"
)

// Version is set at build time with -ldflags "-X github.com/latchkey/latchkey/internal/cli.Version=v1.2.3".
var Version = "v0.1.0-dev"

// Execute runs the command line and returns the process exit code.
func Execute(args []string) int {
	root := newRoot(os.Stdout, os.Stderr)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		return 1
	}
	return 0
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "latchkey",
		Short:         "Latchkey: an identity server that speaks the Ory Kratos API",
		SilenceUsage:  true,
		SilenceErrors: true,
		// --version, as most binaries (and Kratos's `kratos version`
		// users reaching for a flag) expect; same output as `version`.
		Version: Version,
	}
	root.SetVersionTemplate("latchkey {{.Version}}\n")
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newServe(), newMigrate(), newCleanup(), newIdentities(), newAudit(), newCourier(), newBench(), newImport(), newVersion())
	return root
}

// configFlags are the flags every command that reads config shares.
type configFlags struct {
	files   []string
	dev     bool
	dataDir string
}

func (f *configFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringArrayVarP(&f.files, "config", "c", nil, "config file (YAML or JSON); repeat to merge several in order")
	cmd.Flags().BoolVar(&f.dev, "dev", false, "development mode: SQLite in the data dir, generated secrets, dev mailbox, insecure cookies")
	cmd.Flags().StringVar(&f.dataDir, "data-dir", "", "where dev mode keeps its database and secrets (default: the working directory)")
}

// load reads the configuration and reports its warnings (one per
// unsupported key, ...): logged when the log format is JSON, so that a
// log pipeline parses every line, else printed as "warning: ..." lines.
// A configuration that does not load has no log format; its warnings are
// printed, like the error that follows them.
func (f *configFlags) load(cmd *cobra.Command) (*config.Config, error) {
	cfg, warnings, err := config.Load(config.LoadOptions{Files: f.files, Env: os.Environ(), Dev: f.dev, DataDir: f.dataDir})
	if err == nil && cfg.Log.Format == "json" {
		log := newLogger(cmd.ErrOrStderr(), cfg)
		for _, w := range warnings {
			log.Warn(w.String(), "config_key", w.Key)
		}
	} else {
		for _, w := range warnings {
			fmt.Fprintln(cmd.ErrOrStderr(), "warning:", w)
		}
	}
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// newLogger builds the process logger from config.
func newLogger(w io.Writer, cfg *config.Config) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.Log.SlogLevel()}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// signalContext is cancelled on SIGINT or SIGTERM.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func newVersion() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(cmd.OutOrStdout(), "latchkey", Version)
			return nil
		},
	}
}
