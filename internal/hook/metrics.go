package hook

import "github.com/prometheus/client_golang/prometheus"

// Metrics is latchkey_webhook_calls_total{flow, outcome}: web_hook calls
// by flow and outcome (ok, failed, timeout, interrupted, cancelled by the
// template, dropped from a full background queue). A nil *Metrics
// records nothing.
type Metrics struct {
	calls *prometheus.CounterVec
}

// NewMetrics registers the web_hook series on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{calls: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "latchkey", Subsystem: "webhook", Name: "calls_total",
		Help: "web_hook calls by flow and outcome (ok, failed, timeout, interrupted, cancelled, dropped).",
	}, []string{"flow", "outcome"})}
	if err := reg.Register(m.calls); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Metrics) count(flow, outcome string) {
	if m != nil {
		m.calls.WithLabelValues(flow, outcome).Inc()
	}
}
