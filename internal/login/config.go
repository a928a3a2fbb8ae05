package login

import (
	"time"

	"github.com/latchkey/latchkey/internal/flow"
)

// Config is everything the login flow reads from the configuration.
// internal/server maps config.Config onto it; the keys are named on each
// field.
type Config struct {
	flow.Site
	// Lifespan is selfservice.flows.login.lifespan (1h).
	Lifespan time.Duration
	// Style is selfservice.flows.login.style: StyleUnified or
	// StyleIdentifierFirst.
	Style string
	// UIURL is the resolved selfservice.flows.login.ui_url.
	UIURL string
	// AfterReturnURL is where a browser goes after logging in when the
	// flow has no return_to: selfservice.flows.login.after.password.
	// default_browser_return_url, else …login.after.default_browser_return_url,
	// else the default browser return URL (config.ReturnURLs.LoginPassword).
	AfterReturnURL string
	// WhoamiRequiredAAL is session.whoami.required_aal: a login whose
	// session falls short of it is sent on to the second step.
	WhoamiRequiredAAL string
	// AfterHooks are the after-hooks by method; AfterHooks[""] is
	// after.hooks, for a method without a list of its own.
	AfterHooks map[string]AfterHooks
	// LegacyRequireVerifiedError is feature_flags.
	// legacy_require_verified_login_error (requireVerified).
	LegacyRequireVerifiedError bool
}

// After are the after-hooks of a sign-in with method.
func (c Config) After(method string) AfterHooks {
	if h, ok := c.AfterHooks[method]; ok {
		return h
	}
	return c.AfterHooks[""]
}

func (c Config) now() time.Time { return c.Time() }

func (c Config) route(path string) string { return c.Route(path) }
