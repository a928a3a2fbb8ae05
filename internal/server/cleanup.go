package server

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/sqlstore"
)

// CleanupOptions are the cleanup settings of cfg; `latchkey cleanup sql`
// starts from them too.
func CleanupOptions(cfg *config.Config) sqlstore.CleanupOptions {
	c := cfg.Database.Cleanup
	return sqlstore.CleanupOptions{
		KeepLast:      c.OlderThan,
		BatchSize:     c.BatchSize,
		Sleep:         c.Sleep.Tables,
		CounterWindow: cfg.LongestRateLimitWindow(),
	}
}

// cleanupStartDelay is the most the first run waits after start-up: soon
// enough that replicas restarted more often than every interval still
// clean, late enough to leave start-up (and short tests) alone.
const cleanupStartDelay = time.Minute

// runCleanup deletes expired data every database.cleanup.interval until
// ctx ends. Every replica runs it; the batches are safe side by side, and
// a random tenth of the interval added to each wait spreads the replicas
// out.
func (s *Server) runCleanup(ctx context.Context) {
	interval := s.cfg.Database.Cleanup.Interval
	timer := time.NewTimer(min(cleanupStartDelay, interval))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		s.cleanOnce(ctx)
		timer.Reset(interval + rand.N(interval/10+1))
	}
}

// cleanOnce runs one cleanup and logs what it deleted.
func (s *Server) cleanOnce(ctx context.Context) {
	start := time.Now()
	counts, err := s.db.Cleanup(ctx, CleanupOptions(s.cfg))
	attrs := []any{"duration", time.Since(start).Round(time.Millisecond)}
	var total int64
	for _, c := range counts {
		attrs = append(attrs, c.Table, c.Deleted)
		total += c.Deleted
	}
	attrs = append(attrs, "total", total)
	switch {
	case ctx.Err() != nil:
		// Shutting down: the next start picks up where this run stopped.
	case err != nil:
		s.log.Error("database cleanup failed", append(attrs, "error", err)...)
	default:
		s.log.Info("database cleanup", attrs...)
	}
}
