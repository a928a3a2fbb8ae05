package config

import "time"

// Database is the database section (Kratos: settings for database tasks;
// the connection itself is dsn).
type Database struct {
	Cleanup DatabaseCleanup `key:"cleanup"`
}

// DatabaseCleanup is database.cleanup: how expired flows, codes, tokens,
// send counters, sessions and old mail are deleted, by serve every
// Interval and by `latchkey cleanup sql`.
type DatabaseCleanup struct {
	// Enabled (Latchkey only, default true) runs the cleanup inside serve.
	// Kratos leaves it to a cron job; Latchkey cleans by default so tables
	// stay bounded without one. Safe with many replicas.
	Enabled bool `key:"enabled"`
	// Interval (Latchkey only, default 1h) is the time between two runs
	// inside serve (each replica adds up to 10% at random).
	Interval time.Duration `key:"interval"`
	// BatchSize is how many rows one transaction deletes (Kratos default 100).
	BatchSize int          `key:"batch_size"`
	Sleep     CleanupSleep `key:"sleep"`
	// OlderThan keeps rows that expired less than this long ago (the
	// --keep-last of the command). Latchkey default 24h (Kratos: 0s): a
	// user opening a flow expired an hour ago is told it expired, and the
	// admin courier API shows a day of sent mail.
	OlderThan time.Duration `key:"older_than"`
}

// CleanupSleep is database.cleanup.sleep.
type CleanupSleep struct {
	// Tables is the pause after each batch (Kratos deletes one batch per
	// table and pauses between tables; Latchkey default 100ms, Kratos 1m).
	Tables time.Duration `key:"tables"`
}

// LongestRateLimitWindow is the longest window of any send or attempt
// limit: a counter is needed that long after its window started.
func (c *Config) LongestRateLimitWindow() time.Duration {
	rl := c.SelfService.Flows.Recovery.RateLimit
	return max(rl.PerAddress.Window, rl.PerIP.Window)
}

func (l *loader) validateDatabase(c *Config) {
	dc := c.Database.Cleanup
	l.atLeast("database.cleanup.batch_size", dc.BatchSize, 1)
	l.positive("database.cleanup.interval", dc.Interval)
}

// DefaultDatabaseCleanup is the built-in database.cleanup, for commands
// that run without a configuration file.
func DefaultDatabaseCleanup() DatabaseCleanup { return defaults().Database.Cleanup }
