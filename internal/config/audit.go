package config

import "time"

// Audit is the audit section (Latchkey only): the audit log of security
// events (docs/audit.md).
type Audit struct {
	// Retention (Latchkey default 2160h, 90 days) is how long an event is
	// kept before the cleanup (serve's, or `latchkey cleanup sql`)
	// deletes it; 0 keeps events forever.
	Retention time.Duration `key:"retention"`
}

// DefaultAuditRetention is audit.retention when nothing sets it.
const DefaultAuditRetention = 90 * 24 * time.Hour
