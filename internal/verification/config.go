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
	// CodeEnabled is selfservice.methods.code.enabled.
	CodeEnabled bool
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

func (c Config) now() time.Time { return c.Time() }

func (c Config) route(path string) string { return c.Route(path) }
