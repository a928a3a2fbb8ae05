package verification

import (
	"time"

	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/ratelimit"
)

// Config is everything verification reads from the configuration;
// internal/server maps config.Config onto it.
type Config struct {
	flow.Site
	// Enabled is selfservice.flows.verification.enabled.
	Enabled bool
	// Use is selfservice.flows.verification.use: the one method its flows
	// offer (code or link).
	Use Method
	// CodeEnabled is selfservice.methods.code.enabled.
	CodeEnabled bool
	// LinkEnabled is selfservice.methods.link.enabled.
	LinkEnabled bool
	// LinkLifespan is selfservice.methods.link.config.lifespan (1h).
	LinkLifespan time.Duration
	// RequireConfirmation is selfservice.methods.link.config.
	// require_confirmation (Latchkey, default true): opening a link shows
	// a page whose button spends the token, so mail scanners spend none.
	RequireConfirmation bool
	// FlowLifespan is selfservice.flows.verification.lifespan (1h).
	FlowLifespan time.Duration
	// CodeLifespan is selfservice.methods.code.config.lifespan (1h).
	CodeLifespan time.Duration
	// MaxSubmissions is selfservice.methods.code.config.max_submissions (5):
	// code guesses per flow.
	MaxSubmissions int
	// NotifyUnknownRecipients is
	// selfservice.flows.verification.notify_unknown_recipients.
	NotifyUnknownRecipients bool
	// PerAddress and PerIP limit verification mail (the values of
	// selfservice.flows.recovery.rate_limit, counted separately).
	PerAddress, PerIP ratelimit.Limit
	// UIURL is the resolved selfservice.flows.verification.ui_url.
	UIURL string
	// AfterReturnURL is selfservice.flows.verification.after.
	// default_browser_return_url (or the default return URL).
	AfterReturnURL string
	// ShowUIAfterRegistration and ShowUIAfterSettings: the
	// show_verification_ui hook is in the registration (profile change)
	// after-hooks, so the answer points at the verification flow.
	ShowUIAfterRegistration, ShowUIAfterSettings bool
	// LinkBaseURL is where emailed links point (serve.public.base_url or
	// courier's link base).
	LinkBaseURL string
}

// Method names a verification method: its node group and the value of
// the "method" field.
type Method string

// The verification methods.
const (
	MethodCode Method = flow.GroupCode
	MethodLink Method = flow.GroupLink
)

// method is the method flows use: Use, code when unset.
func (c Config) method() Method {
	if c.Use == "" {
		return MethodCode
	}
	return c.Use
}

// methodEnabled reports whether selfservice.methods.<m>.enabled is on.
func (c Config) methodEnabled(m Method) bool {
	return (m == MethodCode && c.CodeEnabled) || (m == MethodLink && c.LinkEnabled)
}

func (c Config) now() time.Time { return c.Time() }

func (c Config) route(path string) string { return c.Route(path) }
