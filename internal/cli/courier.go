package cli

import (
	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/internal/server"
)

func newCourier() *cobra.Command {
	cmd := &cobra.Command{Use: "courier", Short: "The email courier"}
	var f configFlags
	watch := &cobra.Command{
		Use:   "watch",
		Short: "Run only the courier dispatcher (for deployments that split it from serve)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.load(cmd)
			if err != nil {
				return err
			}
			ctx, stop := signalContext()
			defer stop()
			err = server.RunCourier(ctx, cfg, newLogger(cmd.ErrOrStderr(), cfg))
			return withMigrateHint(err, migrateSQLCommand(cfg.DSN, envHasDSN(), f.files), "")
		},
	}
	f.register(watch)
	cmd.AddCommand(watch)
	return cmd
}
