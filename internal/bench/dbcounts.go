package bench

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// dbCounts are a Latchkey server's database counters, read from its
// Prometheus endpoint on the admin port. Kratos has none: ok is false.
type dbCounts struct {
	statements, transactions, commits float64
	ok                                bool
	// roundTrips is set by a server that counts them.
	roundTrips *float64
	// mailsSent and queued are the courier's sent counter and queue
	// depth (the gauge is read from the database at most once a second).
	mailsSent, queued *float64
	// pending is the age of the oldest queued or processing message (0:
	// none).
	pending *float64
	// cpuSeconds is the server process's CPU time
	// (process_cpu_seconds_total: Kratos has it too).
	cpuSeconds *float64
}

// readDBCounts reads latchkey_db_statements_total,
// latchkey_db_transactions_total and latchkey_db_commits_total from
// env.Admin, and latchkey_db_round_trips_total if the server has it.
func readDBCounts(ctx context.Context, env *Env) dbCounts {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, env.Admin+"/metrics/prometheus", nil)
	if err != nil {
		return dbCounts{}
	}
	resp, err := env.Client.Do(req)
	if err != nil {
		return dbCounts{}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return dbCounts{}
	}
	var c dbCounts
	found := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		var into *float64
		switch name {
		case "latchkey_db_statements_total":
			into = &c.statements
		case "latchkey_db_transactions_total":
			into = &c.transactions
		case "latchkey_db_commits_total":
			into = &c.commits
		case "latchkey_db_round_trips_total":
			c.roundTrips = optional(value) // not one of the three
			continue
		case "latchkey_courier_messages_sent_total":
			c.mailsSent = optional(value)
			continue
		case "latchkey_courier_queue_depth":
			c.queued = optional(value)
			continue
		case "latchkey_courier_oldest_pending_seconds":
			c.pending = optional(value)
			continue
		case "process_cpu_seconds_total":
			c.cpuSeconds = optional(value)
			continue
		default:
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(value), 64); err == nil {
			*into = v
			found++
		}
	}
	c.ok = found == 3
	return c
}

// optional is a counter's value, nil when it does not parse.
func optional(value string) *float64 {
	v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
	if err != nil {
		return nil
	}
	return &v
}

// perOperation fills r's server CPU, statements, transactions and commits
// per operation from the counters read before and after the run. The
// counters are the whole server's, so background work the run caused (the
// courier sending its mail) is counted too.
func (r *Result) perOperation(before, after dbCounts) {
	if r.Requests == 0 {
		return
	}
	per := func(a, b float64) *float64 { v := (a - b) / float64(r.Requests); return &v }
	if before.cpuSeconds != nil && after.cpuSeconds != nil {
		cpu := time.Duration(*per(*after.cpuSeconds, *before.cpuSeconds) * float64(time.Second))
		r.ServerCPUPerOp = &cpu
	}
	if !before.ok || !after.ok {
		return
	}
	r.StatementsPerOp = per(after.statements, before.statements)
	r.TransactionsPerOp = per(after.transactions, before.transactions)
	r.CommitsPerOp = per(after.commits, before.commits)
	if before.roundTrips != nil && after.roundTrips != nil {
		r.RoundTripsPerOp = per(*after.roundTrips, *before.roundTrips)
	}
	if before.mailsSent != nil && after.mailsSent != nil && after.queued != nil {
		r.MailsSentPerOp = per(*after.mailsSent, *before.mailsSent)
		r.QueuedAtEnd = after.queued
	}
}
