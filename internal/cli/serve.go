package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/internal/server"
)

func newServe() *cobra.Command {
	var (
		f            configFlags
		migrate      bool
		watchCourier bool
		sqaOptOut    bool
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the public and admin APIs (and the courier)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.load(cmd)
			if err != nil {
				return err
			}
			// Closed last (deferred first): it writes what the shutdown logged.
			logs := newLogWriter(cmd.ErrOrStderr())
			defer logs.Close()
			log := newLogger(logs, cfg)
			ctx, stop := signalContext()
			defer stop()
			srv, err := server.New(ctx, cfg, server.Options{Migrate: migrate || cfg.Dev, Logger: log, Version: Version})
			if err != nil {
				return withMigrateHint(err, migrateSQLCommand(cfg.DSN, envHasDSN(), f.files), " (or serve --migrate)")
			}
			defer srv.Close()
			return srv.Run(ctx, func() {
				go releaseStartUpMemory()
				fmt.Fprintf(cmd.OutOrStdout(), "Latchkey %s is ready.\n  public API: %s\n  admin API:  %s\n", Version, cfg.Serve.Public.BaseURL, cfg.Serve.Admin.BaseURL)
				if cfg.Dev {
					ui := cfg.UIURLs()
					fmt.Fprintf(cmd.OutOrStdout(), "  sign up:    %s\n  mailbox:    %smail\n", ui.Registration, ui.BuiltIn)
				}
			})
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&migrate, "migrate", false, "apply pending database migrations before serving (always on in --dev)")
	// Kratos's flags, accepted so existing scripts and manifests run unchanged.
	cmd.Flags().BoolVar(&watchCourier, "watch-courier", false, "accepted for Kratos compatibility; the courier always runs inside serve")
	cmd.Flags().BoolVar(&sqaOptOut, "sqa-opt-out", false, "accepted for Kratos compatibility; Latchkey sends no telemetry")
	return cmd
}

// releaseStartUpMemory hands back to the system what start-up needed only
// once: the migration parser's buffers (kept in a sync.Pool, which one
// collection moves aside and the next frees), what the wiring left behind,
// and the mapping of the executable's pages only start-up ran or read. An
// idle server then holds only what it uses. Then the collector gets its
// serving target (raiseGCPercent).
func releaseStartUpMemory() {
	runtime.GC()
	debug.FreeOSMemory()
	releaseExecutablePages()
	// After the collection above, so the idle heap stays what it is.
	raiseGCPercent()
}
