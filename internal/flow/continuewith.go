package flow

import "github.com/google/uuid"

// ContinueWith is one item of a flow's continue_with list: what the client
// should do next. Exactly one of the pointer fields is set per action.
type ContinueWith struct {
	Action            string            `json:"action"`
	OrySessionToken   string            `json:"ory_session_token,omitempty"`
	Flow              *ContinueWithFlow `json:"flow,omitempty"`
	RedirectBrowserTo string            `json:"redirect_browser_to,omitempty"`
}

// ContinueWithFlow names a flow to show next.
type ContinueWithFlow struct {
	ID uuid.UUID `json:"id"`
	// VerifiableAddress is show_verification_ui's: the address the flow
	// verifies.
	VerifiableAddress string `json:"verifiable_address,omitempty"`
	URL               string `json:"url,omitempty"`
}

// SetSessionToken tells a native client its new session token.
func SetSessionToken(token string) ContinueWith {
	return ContinueWith{Action: "set_ory_session_token", OrySessionToken: token}
}

// ShowSettingsUI tells the client which settings flow to show.
func ShowSettingsUI(id uuid.UUID, url string) ContinueWith {
	return ContinueWith{Action: "show_settings_ui", Flow: &ContinueWithFlow{ID: id, URL: url}}
}

// ShowVerificationUI tells the client which verification flow verifies
// address (url is the flow's UI page; native clients get none).
func ShowVerificationUI(id uuid.UUID, address, url string) ContinueWith {
	return ContinueWith{Action: "show_verification_ui", Flow: &ContinueWithFlow{ID: id, VerifiableAddress: address, URL: url}}
}

// ShowRecoveryUI tells the client which (replacement) recovery flow to show.
func ShowRecoveryUI(id uuid.UUID) ContinueWith {
	return ContinueWith{Action: "show_recovery_ui", Flow: &ContinueWithFlow{ID: id}}
}

// RedirectBrowserTo tells an SPA where to navigate.
func RedirectBrowserTo(url string) ContinueWith {
	return ContinueWith{Action: "redirect_browser_to", RedirectBrowserTo: url}
}
