package settings

import (
	"time"

	"github.com/latchkey/latchkey/internal/flow"
)

// Config is everything the settings flow reads from the configuration.
// internal/server maps config.Config onto it; the keys are named on each
// field.
type Config struct {
	flow.Site
	// FlowLifespan is selfservice.flows.settings.lifespan (1h).
	FlowLifespan time.Duration
	// PrivilegedSessionMaxAge is
	// selfservice.flows.settings.privileged_session_max_age (1h): how long
	// after session.authenticated_at a password (or a protected profile
	// field) may be changed without signing in again.
	PrivilegedSessionMaxAge time.Duration
	// RequiredAAL is selfservice.flows.settings.required_aal: "aal1" or
	// "highest_available" (the default when empty).
	RequiredAAL string
	// RevokeOtherSessions: a password change deactivates every other
	// session of the identity. Latchkey's default is true (departure 2);
	// map it from config's SettingsFlow.PasswordChangeRevokesOtherSessions()
	// (revoke_other_sessions, or revoke_active_sessions in after.hooks or
	// after.password.hooks).
	RevokeOtherSessions bool
	// PasswordEnabled is selfservice.methods.password.enabled (true).
	PasswordEnabled bool
	// ProfileEnabled is selfservice.methods.profile.enabled (true).
	ProfileEnabled bool

	// AfterPasswordReturnURL, AfterProfileReturnURL, AfterTOTPReturnURL,
	// AfterLookupReturnURL and AfterDefaultReturnURL are
	// selfservice.flows.settings.after.password.default_browser_return_url,
	// …after.profile…, …after.totp…, …after.lookup_secret… and
	// …after.default_browser_return_url, each "" when unset (they do NOT
	// fall back to selfservice.default_browser_return_url: without them a
	// browser returns to the settings UI).
	AfterPasswordReturnURL string
	AfterProfileReturnURL  string
	AfterTOTPReturnURL     string
	AfterLookupReturnURL   string
	// AfterOIDCReturnURL is ...settings.after.oidc.default_browser_return_url.
	AfterOIDCReturnURL    string
	AfterDefaultReturnURL string

	// SettingsUIURL and LoginUIURL are the resolved
	// selfservice.flows.{settings,login}.ui_url.
	SettingsUIURL string
	LoginUIURL    string
}

// now is the clock at the precision the databases keep, so a flow
// answered at creation is identical to the one read back later.
func (c Config) now() time.Time { return c.Time().Truncate(time.Microsecond) }

// route joins a path to the public base URL.
func (c Config) route(path string) string { return c.Route(path) }

// actionURL is where a flow's form posts: PUB/self-service/settings?flow=<id>.
func (c Config) actionURL(id string) string {
	return flow.WithQuery(c.route("self-service/settings"), "flow", id)
}

// uiURL is the settings UI showing flow id.
func (c Config) uiURL(id string) string {
	return flow.WithQuery(c.SettingsUIURL, "flow", id)
}

// afterReturnURL is the configured return URL after a method succeeded,
// most specific first; "" when none is configured.
func (c Config) afterReturnURL(method string) string {
	switch {
	case method == MethodPassword && c.AfterPasswordReturnURL != "":
		return c.AfterPasswordReturnURL
	case method == MethodProfile && c.AfterProfileReturnURL != "":
		return c.AfterProfileReturnURL
	case method == MethodTOTP && c.AfterTOTPReturnURL != "":
		return c.AfterTOTPReturnURL
	case method == MethodLookup && c.AfterLookupReturnURL != "":
		return c.AfterLookupReturnURL
	case method == MethodOIDC && c.AfterOIDCReturnURL != "":
		return c.AfterOIDCReturnURL
	}
	return c.AfterDefaultReturnURL
}
