package login

import (
	"time"

	"github.com/latchkey/latchkey/internal/flow"
)

// Config is everything the login flow reads from the configuration.
// internal/server maps config.Config onto it; the keys are named on each
// field.
type Config struct {
	// Lifespan is selfservice.flows.login.lifespan (1h).
	Lifespan time.Duration
	// PasswordEnabled is selfservice.methods.password.enabled (true).
	PasswordEnabled bool
	// SchemaID is identity.default_schema_id: its password identifier
	// trait names the identifier input ("E-Mail" rather than "ID").
	SchemaID string

	// PublicBaseURL is serve.public.base_url, ending in "/".
	PublicBaseURL string
	// UIURL is the resolved selfservice.flows.login.ui_url.
	UIURL string
	// DefaultBrowserReturnURL is selfservice.default_browser_return_url:
	// where a browser that already has a session is sent.
	DefaultBrowserReturnURL string
	// AfterReturnURL is where a browser goes after logging in when the
	// flow has no return_to: selfservice.flows.login.after.password.
	// default_browser_return_url, else …login.after.default_browser_return_url,
	// else the default browser return URL (config.Config.AfterReturnURL
	// ("login", "password")).
	AfterReturnURL string
	// ReturnTo validates return_to (selfservice.allowed_return_urls).
	ReturnTo flow.ReturnToPolicy

	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// DefaultConfig is Latchkey's defaults; URLs must still be filled in.
func DefaultConfig() Config {
	return Config{
		Lifespan:        time.Hour,
		PasswordEnabled: true,
		SchemaID:        "default",
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
