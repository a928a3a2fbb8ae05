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
// (failed attempts), latchkey_courier_messages_abandoned_total and the gauges
// latchkey_courier_queue_depth (queued messages) and
// latchkey_courier_oldest_pending_seconds (age of the oldest queued or
// processing message: a stuck queue shows as a growing value), each read
// from the database at most once a second. A nil *Metrics records nothing.
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
			Help: "Messages given up: expired before delivery, or out of courier.message_retries attempts.",
		}),
	}
	depth := &cachedValue{logger: logger, ttl: time.Second, what: "queued messages", read: func(ctx context.Context) (float64, error) {
		n, err := store.CountQueued(ctx)
		return float64(n), err
	}}
	gauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "latchkey", Subsystem: "courier", Name: "queue_depth",
		Help: "Messages queued for delivery.",
	}, depth.get)
	oldest := &cachedValue{logger: logger, ttl: time.Second, what: "oldest pending message", read: func(ctx context.Context) (float64, error) {
		since, err := store.OldestPendingSince(ctx)
		if err != nil || since.IsZero() {
			return 0, err
		}
		return max(time.Since(since).Seconds(), 0), nil
	}}
	oldestGauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "latchkey", Subsystem: "courier", Name: "oldest_pending_seconds",
		Help: "Age of the oldest queued or processing message (0 when none); grows while mail is not getting out.",
	}, oldest.get)
	for _, c := range []prometheus.Collector{m.sent, m.failed, m.abandoned, gauge, oldestGauge} {
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

// cachedValue answers a gauge from the store, at most once per ttl, so
// scrapes cannot load the database.
type cachedValue struct {
	read   func(context.Context) (float64, error)
	what   string
	logger *slog.Logger
	ttl    time.Duration

	mu    sync.Mutex
	at    time.Time
	value float64
}

func (c *cachedValue) get() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.at) < c.ttl {
		return c.value
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	v, err := c.read(ctx)
	c.at = time.Now()
	if err != nil {
		c.logger.Warn("courier: read "+c.what, "error", err)
		return c.value // the last known value
	}
	c.value = v
	return c.value
}

// stuckCheckInterval is how often a running dispatcher looks at the age of
// the oldest pending message.
const stuckCheckInterval = time.Minute

// warnIfStuck logs a warning when the oldest queued or processing message
// is older than StuckAfter: mail is not getting out (SMTP down, every
// dispatcher dead but this one, a poison message).
func (d *Dispatcher) warnIfStuck(ctx context.Context) {
	since, err := d.cfg.Store.OldestPendingSince(ctx)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Warn("courier: read oldest pending message", "error", err)
		}
		return
	}
	if age := d.cfg.Now().Sub(since); !since.IsZero() && age > d.cfg.StuckAfter {
		d.log.Warn("courier: queue is stuck: the oldest pending message waits for longer than expected; see GET /admin/courier/messages?status=queued",
			"oldest_pending_age", age.Round(time.Second), "threshold", d.cfg.StuckAfter)
	}
}
