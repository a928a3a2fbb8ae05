package cli

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/internal/bench"
)

func newBench() *cobra.Command {
	var (
		public, admin, scenarios, concurrency, smtpListen string
		duration                                          time.Duration
		asJSON                                            bool
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load driver: measure a running Latchkey (or Kratos) server",
		Long: "Runs scenarios against a server that speaks the Kratos API and prints req/s, latency percentiles and errors.\n" +
			"Scenarios: " + strings.Join(bench.Scenarios(), ", ") + ".\n" +
			"The 'ceiling' scenario measures a trivial in-process handler: every other figure is also given as a fraction of it.\n" +
			"See docs/benchmarks.md.",
		RunE: func(cmd *cobra.Command, _ []string) error {
			var levels []int
			for _, c := range strings.Split(concurrency, ",") {
				n, err := strconv.Atoi(strings.TrimSpace(c))
				if err != nil || n < 1 {
					return fmt.Errorf("-concurrency: want positive integers, got %q", c)
				}
				levels = append(levels, n)
			}
			ctx, stop := signalContext()
			defer stop()
			var results []bench.Result
			for _, level := range levels {
				var ceiling float64
				for _, name := range strings.Split(scenarios, ",") {
					s, err := bench.New(strings.TrimSpace(name), bench.Options{SMTPListen: smtpListen})
					if err != nil {
						return err
					}
					res, err := bench.Run(ctx, s, bench.NewEnv(public, admin, level), duration)
					if err != nil {
						return err
					}
					if res.Scenario == "ceiling" {
						ceiling = res.PerSecond
					} else if ceiling > 0 {
						res.CeilingFraction = res.PerSecond / ceiling
					}
					results = append(results, res)
					if !asJSON {
						bench.WriteTable(cmd.OutOrStdout(), results[len(results)-1:])
					}
				}
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(results)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&public, "public", "http://127.0.0.1:4433", "public API base URL")
	cmd.Flags().StringVar(&admin, "admin", "http://127.0.0.1:4434", "admin API base URL")
	cmd.Flags().StringVar(&scenarios, "scenario", "ceiling,whoami", "comma-separated scenarios")
	cmd.Flags().StringVar(&concurrency, "concurrency", "16", "concurrent clients; comma-separated to run several levels")
	cmd.Flags().DurationVar(&duration, "duration", 10*time.Second, "how long each scenario runs")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print results as JSON")
	cmd.Flags().StringVar(&smtpListen, "smtp-listen", "127.0.0.1:1025", "address of the SMTP server the recovery-journey scenario runs")
	return cmd
}
