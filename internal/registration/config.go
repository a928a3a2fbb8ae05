package registration

import (
	"time"

	"github.com/latchkey/latchkey/internal/flow"
)

// Config is everything the registration flow reads from the
// configuration. internal/server maps config.Config onto it; the keys are
// named on each field.
type Config struct {
	// Enabled is selfservice.flows.registration.enabled (true).
	Enabled bool
	// Lifespan is selfservice.flows.registration.lifespan (1h).
	Lifespan time.Duration
	// PasswordEnabled is selfservice.methods.password.enabled (true).
	PasswordEnabled bool
	// SchemaID is identity.default_schema_id: new identities use it and its
	// traits become the form's inputs.
	SchemaID string
	// SessionAfterRegistration: selfservice.flows.registration.after.
	// password.hooks (or after.hooks) contains {hook: session}, so a new
	// identity is signed in at once (Latchkey default true).
	SessionAfterRegistration bool

	// PublicBaseURL is serve.public.base_url, ending in "/".
	PublicBaseURL string
	// UIURL is the resolved selfservice.flows.registration.ui_url.
	UIURL string
	// DefaultBrowserReturnURL is selfservice.default_browser_return_url:
	// where a browser that already has a session is sent.
	DefaultBrowserReturnURL string
	// AfterReturnURL is where a browser goes after signing up when the flow
	// has no return_to (config.Config.AfterReturnURL("registration",
	// "password")).
	AfterReturnURL string
	// ReturnTo validates return_to (selfservice.allowed_return_urls).
	ReturnTo flow.ReturnToPolicy

	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// DefaultConfig is Latchkey's defaults; URLs must still be filled in.
func DefaultConfig() Config {
	return Config{
		Enabled:                  true,
		Lifespan:                 time.Hour,
		PasswordEnabled:          true,
		SchemaID:                 "default",
		SessionAfterRegistration: true,
	}
}

func (c Config) now() time.Time {
	if c.Now != nil {
		return c.Now().UTC()
	}
	return time.Now().UTC()
}

// route joins a path to the public base URL.
func (c Config) route(path string) string { return flow.Route(c.PublicBaseURL, path) }
