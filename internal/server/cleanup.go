package server

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/sqlstore"
)

// CleanupOptions are the cleanup settings of cfg; `latchkey cleanup sql`
// starts from them too.
func CleanupOptions(cfg *config.Config) sqlstore.CleanupOptions {
	c := cfg.Database.Cleanup
	return sqlstore.CleanupOptions{
		KeepLast:       c.OlderThan,
		BatchSize:      c.BatchSize,
		Sleep:          c.Sleep.Tables,
		CounterWindow:  cfg.LongestRateLimitWindow(),
		AuditRetention: cfg.Audit.Retention,
	}
}

// cleanupStartDelay is the most the first run waits after start-up: soon
// enough that replicas restarted more often than every interval still
// clean, late enough to leave start-up (and short tests) alone.
const cleanupStartDelay = time.Minute

// cleanupMetrics are the cleanup's Prometheus series:
// latchkey_cleanup_deleted_rows_total{table} and
// latchkey_cleanup_last_success_timestamp_seconds, to alert on a cleanup
// that stopped succeeding.
type cleanupMetrics struct {
	deleted     *prometheus.CounterVec
	lastSuccess prometheus.Gauge
}

func newCleanupMetrics(reg prometheus.Registerer) (*cleanupMetrics, error) {
	m := &cleanupMetrics{
		deleted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "latchkey", Subsystem: "cleanup", Name: "deleted_rows_total",
			Help: "Expired rows deleted by this instance's periodic cleanup, by table.",
		}, []string{"table"}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "latchkey", Subsystem: "cleanup", Name: "last_success_timestamp_seconds",
			Help: "When this instance's last periodic cleanup finished without error (Unix time).",
		}),
	}
	for _, c := range []prometheus.Collector{m.deleted, m.lastSuccess} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// runCleanup deletes expired data every database.cleanup.interval until
// ctx ends. Every replica runs it; the batches are safe side by side, and
// a random tenth of the interval added to each wait spreads the replicas
// out.
func (s *Server) runCleanup(ctx context.Context, m *cleanupMetrics) {
	interval := s.cfg.Database.Cleanup.Interval
	timer := time.NewTimer(min(cleanupStartDelay, interval))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		s.cleanOnce(ctx, m)
		timer.Reset(interval + rand.N(interval/10+1))
	}
}

// cleanOnce runs one cleanup, logs and counts what it deleted.
func (s *Server) cleanOnce(ctx context.Context, m *cleanupMetrics) {
	start := time.Now()
	counts, err := s.db.Cleanup(ctx, CleanupOptions(s.cfg))
	attrs := []any{"duration", time.Since(start).Round(time.Millisecond)}
	var total int64
	for _, c := range counts {
		attrs = append(attrs, c.Table, c.Deleted)
		total += c.Deleted
		m.deleted.WithLabelValues(c.Table).Add(float64(c.Deleted))
	}
	attrs = append(attrs, "total", total)
	switch {
	case ctx.Err() != nil:
		// Shutting down: the next start picks up where this run stopped.
	case err != nil:
		s.log.Error("database cleanup failed", append(attrs, "error", err)...)
	default:
		m.lastSuccess.SetToCurrentTime()
		s.log.Info("database cleanup", attrs...)
	}
}
