package recovery

import (
	"time"

	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/ratelimit"
)

// Method names a recovery method: the node group of its UI and the value
// of the "method" field in submissions.
type Method string

// Recovery methods.
const (
	MethodCode Method = "code"
	MethodLink Method = "link"
)

// Config is everything the recovery flow reads from the configuration.
// internal/server maps config.Config onto it; the keys are named on each
// field, and their defaults live in internal/config/defaults.go.
//
// Site's DefaultBrowserReturnURL is where a browser that already has a
// session is sent; its Now is the clock tests move.
type Config struct {
	flow.Site
	// Enabled is selfservice.flows.recovery.enabled (Latchkey default true).
	Enabled bool
	// Use is selfservice.flows.recovery.use: the method of new flows.
	Use Method
	// CodeEnabled is selfservice.methods.code.enabled (default true).
	CodeEnabled bool
	// LinkEnabled is selfservice.methods.link.enabled (default false).
	LinkEnabled bool
	// FlowLifespan is selfservice.flows.recovery.lifespan (1h).
	FlowLifespan time.Duration
	// CodeLifespan is selfservice.methods.code.config.lifespan (1h).
	CodeLifespan time.Duration
	// LinkLifespan is selfservice.methods.link.config.lifespan (1h).
	LinkLifespan time.Duration
	// MaxSubmissions is selfservice.methods.code.config.max_submissions (5).
	MaxSubmissions int
	// NotifyUnknownRecipients is
	// selfservice.flows.recovery.notify_unknown_recipients.
	NotifyUnknownRecipients bool
	// RevokeOtherSessions: selfservice.flows.recovery.revoke_other_sessions
	// (Latchkey default true) or a revoke_active_sessions after-hook
	// (config.RecoveryFlow.RevokesOtherSessions).
	RevokeOtherSessions bool
	// ContinueWithTransitions is feature_flags.use_continue_with_transitions
	// (Latchkey default true).
	ContinueWithTransitions bool
	// RequireConfirmation is
	// selfservice.methods.link.config.require_confirmation (Latchkey only,
	// default true): opening a link shows a confirm page and only its POST
	// spends the token.
	RequireConfirmation bool
	// BackupCodes: selfservice.methods.lookup_secret.enabled and its
	// config.use_for_recovery (Latchkey only, default off): a flow also
	// accepts an address and an unused backup code (lookup.go).
	BackupCodes bool
	// RateLimit is selfservice.flows.recovery.rate_limit (Latchkey only).
	RateLimit RateLimits

	// LinkBaseURL is where emailed links point (selfservice.methods.link.
	// config.base_url, else the public base URL), ending in "/".
	LinkBaseURL string
	// RecoveryUIURL and SettingsUIURL are the resolved
	// selfservice.flows.{recovery,settings}.ui_url.
	RecoveryUIURL string
	SettingsUIURL string
	// AfterDefaultReturnURL is
	// selfservice.flows.recovery.after.default_browser_return_url: the
	// settings flow's return_to when the recovery flow had none.
	AfterDefaultReturnURL string
}

// RateLimits bounds how many recovery emails are sent (departure 4).
type RateLimits struct {
	// PerAddress counts by recipient address string (default 5 per hour).
	PerAddress ratelimit.Limit
	// PerIP counts by client IP (default 100 per hour).
	PerIP ratelimit.Limit
}

func (c Config) now() time.Time { return c.Time() }

func (c Config) route(path string) string { return c.Route(path) }

func (c Config) methodEnabled(m Method) bool {
	switch m {
	case MethodCode:
		return c.CodeEnabled
	case MethodLink:
		return c.LinkEnabled
	}
	return false
}
