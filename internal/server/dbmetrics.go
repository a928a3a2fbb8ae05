package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/latchkey/latchkey/internal/sqlstore"
)

// registerDBMetrics publishes the database counters. `latchkey bench`
// reads them before and after a scenario to print statements per
// operation (docs/benchmarks.md).
func registerDBMetrics(reg prometheus.Registerer, db *sqlstore.DB) error {
	c := db.Counts()
	for _, m := range []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "latchkey", Subsystem: "db", Name: "statements_total",
			Help: "Statements sent to the database, BEGIN, COMMIT and savepoints included.",
		}, func() float64 { return float64(c.Statements.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "latchkey", Subsystem: "db", Name: "transactions_total",
			Help: "Transactions committed.",
		}, func() float64 { return float64(c.Transactions.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "latchkey", Subsystem: "db", Name: "commits_total",
			Help: "COMMITs sent; below transactions_total where SQLite commits transactions in groups.",
		}, func() float64 { return float64(c.Commits.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "latchkey", Subsystem: "db", Name: "round_trips_total",
			Help: "Round trips to the database: statements_total less those sent in the round trip of another (PostgreSQL pipelines).",
		}, func() float64 { return float64(c.Statements.Load() - c.Pipelined.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "latchkey", Subsystem: "session_cache", Name: "change_waits_total",
			Help:        "Changes of sessions or identities that waited for the other instances and ended when all had applied them (PostgreSQL, MySQL).",
			ConstLabels: prometheus.Labels{"ended": "applied"},
		}, func() float64 { applied, _ := db.ChangeWaits(); return float64(applied) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "latchkey", Subsystem: "session_cache", Name: "change_waits_total",
			Help:        "Changes of sessions or identities that waited for the other instances and ended when all had applied them (PostgreSQL, MySQL).",
			ConstLabels: prometheus.Labels{"ended": "lease"},
		}, func() float64 { _, lease := db.ChangeWaits(); return float64(lease) }),
	} {
		if err := reg.Register(m); err != nil {
			return err
		}
	}
	return nil
}
