package flow

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/httpx"
)

// Type is who drives a flow: a browser (cookies, CSRF, redirects) or a
// native app (JSON and session tokens).
type Type string

// Flow types.
const (
	TypeBrowser Type = "browser"
	TypeAPI     Type = "api"
)

// Client is how a request to a flow is answered.
type Client int

// Clients.
const (
	// BrowserForm: an HTML form post; answered with redirects.
	BrowserForm Client = iota
	// SPA: a browser flow driven with JSON (fetch/XHR); answered with JSON.
	SPA
	// Native: an API flow; always answered with JSON.
	Native
)

// JSON reports whether the client is answered with JSON.
func (c Client) JSON() bool { return c != BrowserForm }

// RedirectToUI sends a browser to the UI page showing flow id
// (uiURL?flow=<id>, 303).
func RedirectToUI(w http.ResponseWriter, r *http.Request, uiURL string, id uuid.UUID) {
	httpx.Redirect(w, r, WithQuery(uiURL, "flow", id.String()), http.StatusSeeOther)
}

// ParseFlowID reads ?flow= (or ?id=) as a UUID. Kratos's error for a missing
// or malformed id.
func ParseFlowID(r *http.Request, param string) (uuid.UUID, error) {
	v := r.URL.Query().Get(param)
	id, err := uuid.Parse(v)
	if v == "" || err != nil {
		return uuid.Nil, httpx.ErrBadRequest("The flow query parameter is missing or malformed.")
	}
	return id, nil
}

// Route joins a path to the public base URL (exactly one "/" between them).
func Route(publicBaseURL, path string) string {
	base := publicBaseURL
	if base != "" && base[len(base)-1] != '/' {
		base += "/"
	}
	if path != "" && path[0] == '/' {
		path = path[1:]
	}
	return base + path
}

// ReturnToOf extracts return_to from a recorded request URL.
func ReturnToOf(requestURL string) string {
	u, err := url.Parse(requestURL)
	if err != nil {
		return ""
	}
	return u.Query().Get("return_to")
}

// WithQuery appends query parameters (in the given order) to a URL.
func WithQuery(base string, kv ...string) string {
	var b strings.Builder
	b.WriteString(base)
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	for i := 0; i+1 < len(kv); i += 2 {
		b.WriteString(sep)
		b.WriteString(url.QueryEscape(kv[i]))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(kv[i+1]))
		sep = "&"
	}
	return b.String()
}

// ExpiredError is the JSON answer to a submission on an expired flow: 410
// self_service_flow_expired naming the replacement flow.
func ExpiredError(expiredAt, now time.Time, newFlowID uuid.UUID) *httpx.Error {
	since := now.Sub(expiredAt)
	return &httpx.Error{
		ID:      "self_service_flow_expired",
		Code:    http.StatusGone,
		Reason:  fmt.Sprintf("The self-service flow expired %.2f minutes ago, initialize a new one.", since.Minutes()),
		Message: "self-service flow expired",
		Extra: map[string]any{
			"expired_at":  expiredAt,
			"since":       since.Nanoseconds(),
			"use_flow_id": newFlowID,
		},
	}
}

// ReplacedError is the JSON answer to a submission that a new flow took
// over from (a verification flow submitted again after it passed): 410
// self_service_flow_replaced naming the new flow.
func ReplacedError(newFlowID uuid.UUID) *httpx.Error {
	return &httpx.Error{
		ID:      "self_service_flow_replaced",
		Code:    http.StatusGone,
		Reason:  "The flow was replaced by a new flow. Please use the new flow.",
		Message: "self-service flow replaced",
		Extra:   map[string]any{"use_flow_id": newFlowID},
	}
}

// ExpiredBrowserFetchError is Kratos's 410 for fetching an expired browser
// flow of kind ("login", "settings", ...): it names where to start again,
// the flow's init endpoint initURL carrying the flow's return_to.
func ExpiredBrowserFetchError(kind, initURL, returnTo string) *httpx.Error {
	redirect := initURL
	if returnTo != "" {
		redirect = WithQuery(redirect, "return_to", returnTo)
	}
	return httpx.ErrGone(fmt.Sprintf("The %[1]s flow has expired. Redirect the user to the %[1]s flow init endpoint to initialize a new %[1]s flow.", kind)).
		WithDetail("redirect_to", redirect).
		WithDetail("return_to", returnTo)
}

// ExpiredAPIFetchError is Kratos's 410 for fetching an expired API flow of
// login or registration: ExpiredError without a replacement flow, naming
// the init endpoint apiURL instead.
func ExpiredAPIFetchError(expiredAt, now time.Time, apiURL string) *httpx.Error {
	e := ExpiredError(expiredAt, now, uuid.Nil)
	e.Extra = nil
	return e.WithDetail("api", apiURL)
}

// MsgFromBadRequest is the message 4000001 a flow shows for a 400-class
// error, as Kratos shows them; ok is false for any other error, which the
// flow cannot show.
func MsgFromBadRequest(err error) (m Message, ok bool) {
	var he *httpx.Error
	if errors.As(err, &he) && he.Code == http.StatusBadRequest {
		return MsgGeneric(he.Reason), true
	}
	return Message{}, false
}

// ErrSessionAlreadyAvailable is the answer to starting or submitting a flow
// that needs no session while holding one.
func ErrSessionAlreadyAvailable(reason, message string) *httpx.Error {
	e := httpx.ErrBadRequest(reason).WithID("session_already_available")
	if message != "" {
		e = e.WithMessage(message)
	}
	return e
}

// BrowserLocationChangeRequired is Kratos's 422 telling a JSON client to
// navigate (used when continue_with transitions are off).
func BrowserLocationChangeRequired(to string) *httpx.Error {
	return (&httpx.Error{
		ID:      "browser_location_change_required",
		Code:    http.StatusUnprocessableEntity,
		Reason:  "In order to complete this flow please redirect the browser to: " + to,
		Message: "browser location change required",
	}).WithExtra("redirect_browser_to", to)
}
