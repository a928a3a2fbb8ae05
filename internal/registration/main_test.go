package registration_test

import (
	"github.com/latchkey/latchkey/internal/server/servertest"
)

// Where the flows send browsers. Nothing serves these URLs: tests read
// the redirects to them.
const (
	uiBase         = "http://ui.test/"
	loginUI        = uiBase + "login"
	registrationUI = uiBase + "registration"
	errorUI        = uiBase + "error"
	defaultReturn  = uiBase + "welcome"
	// allowedReturn is the one return_to host allowed besides the UI's.
	allowedReturn = "http://app.test/"
)

// options is the server the registration tests run against, with extra
// configuration variables.
func options(env ...string) servertest.Options {
	base := append(servertest.UIAt(uiBase),
		"SELFSERVICE_DEFAULT_BROWSER_RETURN_URL="+defaultReturn,
		`SELFSERVICE_ALLOWED_RETURN_URLS=["`+allowedReturn+`"]`,
	)
	return servertest.Options{NoSMTP: true, Env: append(base, env...)}
}
