package courier

// Running reports whether d's Run is running (its flight takes hand-offs).
func Running(d *Dispatcher) bool { return d.running.Load() != nil }
