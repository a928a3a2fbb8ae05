package settings

import (
	"net/http"

	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/session"
)

// Errors of the settings endpoints, with Kratos's exact texts.
var (
	// errNoSessionBrowserInit answers GET /self-service/settings/browser
	// from a JSON client without a session. Kratos writes this one with a
	// capitalised "CredentialsMissing" key next to "error"; clients may
	// match on the whole body, so it is reproduced.
	errNoSessionBrowserInit = session.ErrNoActiveSession.WithExtra("CredentialsMissing", false)
	// errNoSessionAPIInit answers GET /self-service/settings/api without a session.
	errNoSessionAPIInit = session.ErrNoActiveSession.
				WithReason("This endpoint can only be accessed with a valid session. Please log in and try again.")
	// errNoSession answers fetching or submitting a flow without a session.
	errNoSession = httpx.ErrUnauthorized("A valid Ory Session Cookie or Ory Session Token is missing.")
	// errFlowNotFound: no settings flow has this id.
	errFlowNotFound = httpx.ErrNotFound("The settings request could not be found. Please restart the flow.")
	// errFetchOtherIdentity: fetching a flow of another identity.
	errFetchOtherIdentity = httpx.ErrForbidden("The request was made for another identity and has been blocked for security reasons.").
				WithID("security_identity_mismatch")
	// errSubmitOtherIdentity: submitting a flow of another identity.
	errSubmitOtherIdentity = httpx.ErrForbidden("The request was initiated by someone else and has been blocked for security reasons. Please go back and try again.").
				WithID("security_identity_mismatch")
	// errExpiredAPI answers fetching an expired API flow (an expired
	// browser flow gets flow.ExpiredBrowserFetchError).
	errExpiredAPI = httpx.ErrGone("The settings flow has expired. Call the settings flow init API endpoint to initialize a new settings flow.")
)

// errRefreshRequired is the 403 session_refresh_required: the session
// signed in too long ago for this change; loginURL signs in again and
// comes back to the flow.
func errRefreshRequired(loginURL string) *httpx.Error {
	return &httpx.Error{
		ID:      "session_refresh_required",
		Code:    http.StatusForbidden,
		Reason:  "The login session is too old and thus not allowed to update these fields. Please re-authenticate.",
		Message: httpx.MsgForbidden,
		Extra:   map[string]any{"redirect_browser_to": loginURL},
	}
}
