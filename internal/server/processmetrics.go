package server

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// registerProcessMetrics publishes the process and Go runtime metrics
// Kratos's endpoint has too (process_cpu_seconds_total,
// process_resident_memory_bytes, go_goroutines, go_gc_duration_seconds,
// ...). They are read only when scraped. `latchkey bench` reads the CPU
// seconds before and after a scenario to print the server's CPU per
// operation, for Latchkey and Kratos alike.
func registerProcessMetrics(reg prometheus.Registerer) error {
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return err
	}
	return reg.Register(collectors.NewGoCollector())
}
