// Package bench is Latchkey's load driver: it runs named scenarios against
// any server that speaks the Kratos API (Latchkey or Kratos itself) for a
// fixed duration with a fixed number of concurrent clients, and reports
// throughput, latency percentiles and errors by status.
package bench

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"
)

// Result is what one scenario run measured.
type Result struct {
	Scenario    string         `json:"scenario"`
	Target      string         `json:"target"`
	Concurrency int            `json:"concurrency"`
	Duration    time.Duration  `json:"duration_ns"`
	Requests    int            `json:"requests"`
	Errors      int            `json:"errors"`
	ErrorsBy    map[string]int `json:"errors_by_status,omitempty"`
	// ErrorSamples holds the first error message seen for each status.
	ErrorSamples map[string]string `json:"error_samples,omitempty"`
	PerSecond    float64           `json:"per_second"`
	Latency      Percentiles       `json:"latency"`
	// MailLatency is set by the recovery journey: from the email submission
	// to the mail arriving at the driver's SMTP server.
	MailLatency *Percentiles `json:"mail_latency,omitempty"`
	// Notes carries scenario facts worth printing (e.g. the hasher cost).
	Notes map[string]string `json:"notes,omitempty"`
	// Comparison is set by the enumeration scenario.
	Comparison *Comparison `json:"comparison,omitempty"`
	// CeilingFraction is PerSecond divided by the ceiling scenario's figure,
	// when both were measured in one invocation.
	CeilingFraction float64 `json:"ceiling_fraction,omitempty"`
	// StatementsPerOp, TransactionsPerOp and CommitsPerOp are the
	// server's database statements, committed transactions and COMMITs
	// per operation (Latchkey only: read from its metrics).
	StatementsPerOp   *float64 `json:"statements_per_op,omitempty"`
	TransactionsPerOp *float64 `json:"transactions_per_op,omitempty"`
	CommitsPerOp      *float64 `json:"commits_per_op,omitempty"`
	// RoundTripsPerOp is the round trips to the database per operation:
	// fewer than statements where several go together (PostgreSQL
	// pipelines). Nil from a server that does not count them.
	RoundTripsPerOp *float64 `json:"round_trips_per_op,omitempty"`
	// MailsSentPerOp is the mails the courier sent during the run per
	// operation, and QueuedAtEnd the mails still queued when it ended
	// (within a second): a run whose mail piles up is not a steady state.
	MailsSentPerOp *float64 `json:"mails_sent_per_op,omitempty"`
	QueuedAtEnd    *float64 `json:"queued_at_end,omitempty"`
	// DrainedIn is how long after the run the courier took to send the
	// mail still queued (drain.go); StillQueued is what was left when the
	// driver stopped waiting for it.
	DrainedIn   *time.Duration `json:"drained_in_ns,omitempty"`
	StillQueued *float64       `json:"still_queued,omitempty"`
	// ServerCPUPerOp is the server process's CPU time during the run per
	// operation (its process_cpu_seconds_total, which Kratos has too; the
	// courier's work during the run included, a database server's not).
	// Less sensitive than req/s to what else the machine is doing.
	ServerCPUPerOp *time.Duration `json:"server_cpu_per_op_ns,omitempty"`
}

// Percentiles of a latency distribution.
type Percentiles struct {
	P50 time.Duration `json:"p50_ns"`
	P90 time.Duration `json:"p90_ns"`
	P99 time.Duration `json:"p99_ns"`
	Max time.Duration `json:"max_ns"`
}

// Summarize computes percentiles with the nearest-rank method. The input is
// sorted in place.
func Summarize(samples []time.Duration) Percentiles {
	if len(samples) == 0 {
		return Percentiles{}
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	rank := func(p float64) time.Duration {
		i := int(math.Ceil(p/100*float64(len(samples)))) - 1
		if i < 0 {
			i = 0
		}
		return samples[i]
	}
	return Percentiles{P50: rank(50), P90: rank(90), P99: rank(99), Max: samples[len(samples)-1]}
}

// WriteTable prints results as an aligned text table.
func WriteTable(w io.Writer, results []Result) {
	WriteHeader(w)
	for _, r := range results {
		WriteRow(w, r)
	}
}

// WriteHeader prints the header of the text table.
func WriteHeader(w io.Writer) {
	fmt.Fprintf(w, "%-22s %5s %9s %10s %8s %9s %9s %9s %9s %7s %8s  %s\n", "scenario", "conc", "requests", "req/s", "ceiling", "p50", "p90", "p99", "max", "errors", "stmts/op", "notes")
}

// WriteRow prints one result as a line of the text table.
func WriteRow(w io.Writer, r Result) {
	fmt.Fprintf(w, "%-22s %5d %9d %10.0f %8s %9s %9s %9s %9s %7d %8s  %s\n", r.Scenario, r.Concurrency, r.Requests, r.PerSecond, fraction(r),
		ms(r.Latency.P50), ms(r.Latency.P90), ms(r.Latency.P99), ms(r.Latency.Max), r.Errors, statements(r), strings.Join(notes(r), "; "))
}

// WriteMarkdown prints results as a Markdown table (docs/benchmarks.md).
func WriteMarkdown(w io.Writer, results []Result) {
	fmt.Fprintln(w, "| scenario | clients | requests | req/s | of ceiling | p50 | p90 | p99 | max | errors | statements/op | notes |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|")
	for _, r := range results {
		fmt.Fprintf(w, "| %s | %d | %d | %.0f | %s | %s | %s | %s | %s | %d | %s | %s |\n", r.Scenario, r.Concurrency, r.Requests, r.PerSecond, fraction(r),
			ms(r.Latency.P50), ms(r.Latency.P90), ms(r.Latency.P99), ms(r.Latency.Max), r.Errors, statements(r), strings.Join(notes(r), "; "))
	}
}

// fraction is the result as a share of the ceiling ("" when unknown).
func fraction(r Result) string {
	if r.Scenario == "ceiling" {
		return "100%"
	}
	if r.CeilingFraction <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", r.CeilingFraction*100)
}

// statements is the statements per operation, with the transactions,
// COMMITs and round trips (when counted) in brackets ("-" when the server
// does not publish them).
func statements(r Result) string {
	if r.StatementsPerOp == nil {
		return "-"
	}
	trips := ""
	if r.RoundTripsPerOp != nil {
		trips = fmt.Sprintf(", %.1f trips", *r.RoundTripsPerOp)
	}
	return fmt.Sprintf("%.1f (%.1f tx, %.2f commits%s)", *r.StatementsPerOp, *r.TransactionsPerOp, *r.CommitsPerOp, trips)
}

// notes are the facts worth printing beside the figures.
func notes(r Result) []string {
	out := []string{}
	if r.Comparison != nil {
		out = append(out, r.Comparison.Summary())
	}
	if r.MailLatency != nil {
		out = append(out, fmt.Sprintf("mail p50 %s p99 %s max %s", ms(r.MailLatency.P50), ms(r.MailLatency.P99), ms(r.MailLatency.Max)))
	}
	if r.ServerCPUPerOp != nil {
		out = append(out, fmt.Sprintf("server CPU %.0f µs/op", float64(*r.ServerCPUPerOp)/float64(time.Microsecond)))
	}
	if r.MailsSentPerOp != nil && (*r.MailsSentPerOp > 0 || *r.QueuedAtEnd > 0) {
		courier := fmt.Sprintf("courier: %.2f mails sent/op, %.0f queued at the end", *r.MailsSentPerOp, *r.QueuedAtEnd)
		switch {
		case r.StillQueued != nil:
			courier += fmt.Sprintf(", %.0f still queued %s later", *r.StillQueued, secs(*r.DrainedIn))
		case r.DrainedIn != nil && *r.QueuedAtEnd > 0:
			// "Within": the gauges lag the queue by up to a second.
			courier += ", sent within " + secs(*r.DrainedIn) + " after it"
		}
		out = append(out, courier)
	}
	keys := make([]string, 0, len(r.Notes))
	for k := range r.Notes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, k+": "+r.Notes[k])
	}
	for _, k := range sortedStatus(r.ErrorsBy) {
		out = append(out, fmt.Sprintf("status %s ×%d", k, r.ErrorsBy[k]))
	}
	return out
}

func sortedStatus(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}

// Median is the middle of samples (the mean of the two middle ones for an
// even count). The input is sorted in place.
func Median(samples []time.Duration) time.Duration {
	if len(samples) == 0 {
		return 0
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	n := len(samples)
	if n%2 == 1 {
		return samples[n/2]
	}
	return (samples[n/2-1] + samples[n/2]) / 2
}

// SignTest is the two-sided p-value of the sign test: the chance that, if
// either side of a pair were equally likely to be the larger, one side
// would win at least as unevenly as in `wins` of n pairs (ties left out of
// n). It is 2·min(P(X ≤ wins), P(X ≥ wins)) for X ~ Binomial(n, ½),
// capped at 1; each term is computed through log-gamma so n may be large.
func SignTest(wins, n int) float64 {
	if n <= 0 || wins < 0 || wins > n {
		return 1
	}
	pmf := func(i int) float64 {
		lg := func(x int) float64 { v, _ := math.Lgamma(float64(x) + 1); return v }
		return math.Exp(lg(n) - lg(i) - lg(n-i) - float64(n)*math.Ln2)
	}
	var low, high float64
	for i := 0; i <= wins; i++ {
		low += pmf(i)
	}
	for i := wins; i <= n; i++ {
		high += pmf(i)
	}
	return math.Min(1, 2*math.Min(low, high))
}
