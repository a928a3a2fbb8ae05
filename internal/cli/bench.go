package cli

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/internal/bench"
)

func newBench() *cobra.Command {
	var (
		public, admin, scenarios, concurrency, smtpListen, format string
		duration                                                  time.Duration
		asJSON, inProcessCeiling, failOnError                     bool
		pairs                                                     int
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load driver: measure a running Latchkey (or Kratos) server",
		Long: "Runs scenarios against a server that speaks the Kratos API and prints req/s, latency percentiles and errors.\n" +
			"Scenarios: all, " + strings.Join(bench.Scenarios(), ", ") + " ('all' runs " + strings.Join(bench.All, ", ") + ").\n" +
			"The 'ceiling' scenario measures a trivial handler in a child process: every other figure is also given as a fraction of it.\n" +
			"The 'enumeration' scenario (not in 'all') times --pairs recovery submissions for a known and an unknown address and prints\n" +
			"their median difference and a sign test; run the server with the recovery send limits off (max 0).\n" +
			"'verification-enumeration' does the same with verification submissions (verification on, the same limits off).\n" +
			"See docs/benchmarks.md.",
		RunE: func(cmd *cobra.Command, _ []string) error {
			var levels []int
			for _, c := range strings.Split(concurrency, ",") {
				n, err := strconv.Atoi(strings.TrimSpace(c))
				if err != nil || n < 1 {
					return fmt.Errorf("--concurrency: want positive integers, got %q", c)
				}
				levels = append(levels, n)
			}
			if asJSON {
				format = "json"
			}
			if format != "text" && format != "json" && format != "markdown" {
				return fmt.Errorf("--format: want text, json or markdown, got %q", format)
			}
			plan := bench.Plan{Public: public, Admin: admin, Scenarios: bench.Expand(scenarios), Levels: levels, Duration: duration,
				Options: bench.Options{SMTPListen: smtpListen, EnumerationPairs: pairs}}
			if !inProcessCeiling {
				if exe, err := os.Executable(); err == nil {
					plan.Options.CeilingCommand = []string{exe, "bench", "ceiling-server"}
				}
			}
			ctx, stop := signalContext()
			defer stop()
			out := cmd.OutOrStdout()
			var report func(bench.Result)
			if format == "text" {
				bench.WriteHeader(out)
				report = func(r bench.Result) {
					bench.WriteRow(out, r)
					for status, msg := range r.ErrorSamples {
						fmt.Fprintf(cmd.ErrOrStderr(), "  %s: first error with status %s: %s\n", r.Scenario, status, msg)
					}
				}
			}
			results, err := bench.RunPlan(ctx, plan, report)
			switch format {
			case "json":
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if jerr := enc.Encode(results); jerr != nil {
					return jerr
				}
			case "markdown":
				bench.WriteMarkdown(out, results)
			}
			if err != nil {
				return err
			}
			if failOnError {
				for _, r := range results {
					if r.Errors > 0 {
						return fmt.Errorf("%s at %d clients: %d errors", r.Scenario, r.Concurrency, r.Errors)
					}
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&public, "public", "http://127.0.0.1:4433", "public API base URL")
	cmd.Flags().StringVar(&admin, "admin", "http://127.0.0.1:4434", "admin API base URL")
	cmd.Flags().StringVar(&scenarios, "scenario", "ceiling,whoami", "comma-separated scenarios, or all")
	cmd.Flags().StringVar(&concurrency, "concurrency", "16", "concurrent clients; comma-separated to run several levels")
	cmd.Flags().DurationVar(&duration, "duration", 10*time.Second, "how long each scenario runs")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print results as JSON (same as --format json)")
	cmd.Flags().StringVar(&format, "format", "text", "output: text (as results come), json or markdown (at the end)")
	cmd.Flags().StringVar(&smtpListen, "smtp-listen", "127.0.0.1:1025", "address of the SMTP server the recovery-journey and recovery-session scenarios run")
	cmd.Flags().IntVar(&pairs, "pairs", bench.DefaultEnumerationPairs, "known/unknown pairs the enumeration scenario sends (it ignores --duration and --concurrency)")
	cmd.Flags().BoolVar(&failOnError, "fail-on-error", false, "exit with an error when any request failed (CI smoke runs)")
	cmd.Flags().BoolVar(&inProcessCeiling, "ceiling-in-process", false, "run the ceiling's handler inside the driver instead of a child process")
	cmd.AddCommand(newCeilingServer())
	return cmd
}

// newCeilingServer is the child process of the ceiling scenario: the
// trivial handler on a free port, its URL on the first line of output,
// until killed.
func newCeilingServer() *cobra.Command {
	return &cobra.Command{
		Use:    "ceiling-server",
		Short:  "Serve the ceiling scenario's trivial handler (started by bench)",
		Hidden: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "http://%s\n", ln.Addr())
			ctx, stop := signalContext()
			defer stop()
			return bench.ServeCeiling(ctx, ln)
		},
	}
}
