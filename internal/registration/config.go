package registration

import (
	"time"

	"github.com/latchkey/latchkey/internal/flow"
)

// Config is everything the registration flow reads from the
// configuration. internal/server maps config.Config onto it; the keys are
// named on each field.
type Config struct {
	flow.Site
	// Enabled is selfservice.flows.registration.enabled (true).
	Enabled bool
	// Lifespan is selfservice.flows.registration.lifespan (1h).
	Lifespan time.Duration
	// SchemaID is identity.default_schema_id: new identities use it and its
	// traits become the form's inputs.
	SchemaID string
	// Style is selfservice.flows.registration.style: StyleProfileFirst
	// (traits, then credentials) or StyleUnified (one form).
	Style string
	// SessionAfterRegistration: selfservice.flows.registration.after.
	// password.hooks (or after.hooks) contains {hook: session}, so a new
	// identity is signed in at once (Latchkey default true).
	SessionAfterRegistration bool
	// SessionAfterSocial: after.oidc.hooks (or after.hooks) contains
	// {hook: session}, so a social sign-up is signed in at once (Latchkey
	// default true).
	SessionAfterSocial bool

	// UIURL is the resolved selfservice.flows.registration.ui_url.
	UIURL string
	// AfterReturnURL is where a browser goes after signing up when the flow
	// has no return_to (config.ReturnURLs.RegistrationPassword).
	AfterReturnURL string
}

// sessionAfter reports whether a sign-up with method signs the new
// identity in.
func (c Config) sessionAfter(method string) bool {
	if method == MethodOIDC {
		return c.SessionAfterSocial
	}
	return c.SessionAfterRegistration
}

func (c Config) now() time.Time { return c.Time() }

func (c Config) route(path string) string { return c.Route(path) }
