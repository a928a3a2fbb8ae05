package audit

import "github.com/prometheus/client_golang/prometheus"

// Metrics counts committed events in latchkey_audit_events_total{type,
// result}: a Counter for Recorder.Counter. Results are a short fixed list
// per type ("success", "invalid_code", ...), so the series stay few.
type Metrics struct {
	events *prometheus.CounterVec
}

// NewMetrics registers the series on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{events: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "latchkey", Subsystem: "audit", Name: "events_total",
		Help: "Audit events committed by this instance, by type and result.",
	}, []string{"type", "result"})}
	if err := reg.Register(m.events); err != nil {
		return nil, err
	}
	return m, nil
}

// Count counts one committed event.
func (m *Metrics) Count(e *Event) {
	m.events.WithLabelValues(string(e.Type), e.Result).Inc()
}
