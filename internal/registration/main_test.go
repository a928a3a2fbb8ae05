package registration_test

import "github.com/latchkey/latchkey/internal/server/servertest"

// The registration tests' server and URLs are servertest's, shared with the
// other flow that starts without a session.
var options = servertest.EntryOptions

const (
	loginUI        = servertest.EntryLoginUI
	registrationUI = servertest.EntryRegisterUI
	errorUI        = servertest.EntryErrorUI
	defaultReturn  = servertest.EntryDefaultReturn
	allowedReturn  = servertest.EntryAllowedReturn
)
