package servertest

// The URLs the login and registration tests point their flows at.
// Nothing serves them: tests read the redirects to them.
const (
	EntryUI            = "http://ui.test/"
	EntryLoginUI       = EntryUI + "login"
	EntryRegisterUI    = EntryUI + "registration"
	EntryErrorUI       = EntryUI + "error"
	EntryDefaultReturn = EntryUI + "welcome"
	// EntryAllowedReturn is the one return_to host allowed besides the UI's.
	EntryAllowedReturn = "http://app.test/"
)

// EntryOptions is the server the login and registration tests run
// against (UI at EntryUI, no SMTP), with extra configuration variables.
func EntryOptions(env ...string) Options {
	base := append(UIAt(EntryUI),
		"SELFSERVICE_DEFAULT_BROWSER_RETURN_URL="+EntryDefaultReturn,
		`SELFSERVICE_ALLOWED_RETURN_URLS=["`+EntryAllowedReturn+`"]`,
	)
	return Options{NoSMTP: true, Env: append(base, env...)}
}
