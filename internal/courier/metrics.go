package courier

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the courier's Prometheus series:
// latchkey_courier_messages_sent_total, latchkey_courier_messages_failed_total
// (failed attempts), latchkey_courier_messages_abandoned_total and the gauge
// latchkey_courier_queue_depth (queued messages, read from the database at
// most once a second). A nil *Metrics records nothing.
type Metrics struct {
	sent, failed, abandoned prometheus.Counter
}

// NewMetrics registers the courier series on reg. store answers the queue
// depth gauge.
func NewMetrics(reg prometheus.Registerer, store Store, logger *slog.Logger) (*Metrics, error) {
	if logger == nil {
		logger = slog.Default()
	}
	m := &Metrics{
		sent: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "latchkey", Subsystem: "courier", Name: "messages_sent_total",
			Help: "Messages delivered (or kept by the dev mailbox).",
		}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "latchkey", Subsystem: "courier", Name: "messages_failed_total",
			Help: "Failed delivery attempts; the message is retried unless abandoned.",
		}),
		abandoned: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "latchkey", Subsystem: "courier", Name: "messages_abandoned_total",
			Help: "Messages given up after courier.message_retries attempts.",
		}),
	}
	depth := &cachedCount{store: store, logger: logger, ttl: time.Second}
	gauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "latchkey", Subsystem: "courier", Name: "queue_depth",
		Help: "Messages queued for delivery.",
	}, depth.value)
	for _, c := range []prometheus.Collector{m.sent, m.failed, m.abandoned, gauge} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) incSent() {
	if m != nil {
		m.sent.Inc()
	}
}

func (m *Metrics) incFailed() {
	if m != nil {
		m.failed.Inc()
	}
}

func (m *Metrics) incAbandoned() {
	if m != nil {
		m.abandoned.Inc()
	}
}

// cachedCount answers the queue depth from the store, at most once per ttl,
// so scrapes cannot load the database.
type cachedCount struct {
	store  Store
	logger *slog.Logger
	ttl    time.Duration

	mu    sync.Mutex
	at    time.Time
	count float64
}

func (c *cachedCount) value() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.at) < c.ttl {
		return c.count
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	n, err := c.store.CountQueued(ctx)
	c.at = time.Now()
	if err != nil {
		c.logger.Warn("courier: count queued messages", "error", err)
		return c.count // the last known value
	}
	c.count = float64(n)
	return c.count
}
