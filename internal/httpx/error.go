// Package httpx holds what every HTTP handler shares: the Kratos error
// envelope, JSON and form decoding, content negotiation and small response
// helpers. It knows nothing about identities or flows.
package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
)

// Error is the one error type handlers render. Its JSON form is the Kratos
// error envelope: {"error":{"id","code","status","reason","details","message"}}
// plus optional top-level keys (Extra) such as "redirect_browser_to".
type Error struct {
	ID      string         // Kratos error id, e.g. "session_inactive"; often empty
	Code    int            // HTTP status code
	Reason  string         // human readable detail
	Details map[string]any // optional structured detail
	Message string         // fixed text per error kind
	// Extra holds top-level keys written next to "error".
	Extra map[string]any
	// Cause is logged, never sent.
	Cause error
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%d %s", e.Code, e.Message)
	if e.ID != "" {
		s = e.ID + ": " + s
	}
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	if e.Cause != nil {
		s += ": " + e.Cause.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Cause }

// WithID returns a copy of e with the given error id.
func (e *Error) WithID(id string) *Error { c := e.clone(); c.ID = id; return c }

// WithReason returns a copy of e with the given reason.
func (e *Error) WithReason(format string, args ...any) *Error {
	c := e.clone()
	if len(args) == 0 {
		c.Reason = format
	} else {
		c.Reason = fmt.Sprintf(format, args...)
	}
	return c
}

// WithDetail returns a copy of e with one more detail.
func (e *Error) WithDetail(key string, value any) *Error {
	c := e.clone()
	c.Details = with(c.Details, key, value)
	return c
}

// WithExtra returns a copy of e with one more top-level key.
func (e *Error) WithExtra(key string, value any) *Error {
	c := e.clone()
	c.Extra = with(c.Extra, key, value)
	return c
}

// with returns a copy of m with key set: errors are shared values (the
// package's variables), so their maps are never written in place.
func with(m map[string]any, key string, value any) map[string]any {
	out := make(map[string]any, len(m)+1)
	maps.Copy(out, m)
	out[key] = value
	return out
}

// WithCause returns a copy of e carrying an internal cause for the log.
func (e *Error) WithCause(err error) *Error { c := e.clone(); c.Cause = err; return c }

// WithMessage returns a copy of e with another message text.
func (e *Error) WithMessage(m string) *Error { c := e.clone(); c.Message = m; return c }

func (e *Error) clone() *Error { c := *e; return &c }

// Body is the inner error object in Kratos key order.
type Body struct {
	ID      string         `json:"id,omitempty"`
	Code    int            `json:"code"`
	Status  string         `json:"status,omitempty"`
	Request string         `json:"request,omitempty"`
	Reason  string         `json:"reason,omitempty"`
	Details map[string]any `json:"details,omitempty"`
	Message string         `json:"message"`
}

// Body returns the flat error object (used by the error flow endpoint).
func (e *Error) Body() Body {
	return Body{ID: e.ID, Code: e.Code, Status: http.StatusText(e.Code), Reason: e.Reason, Details: e.Details, Message: e.Message}
}

// MarshalJSON writes the envelope with "error" first and the extra keys after.
func (e *Error) MarshalJSON() ([]byte, error) {
	inner, err := MarshalNoEscape(e.Body())
	if err != nil {
		return nil, err
	}
	out := []byte(`{"error":`)
	out = append(out, inner...)
	for _, k := range sortedKeys(e.Extra) {
		kb, _ := json.Marshal(k)
		vb, err := MarshalNoEscape(e.Extra[k])
		if err != nil {
			return nil, err
		}
		out = append(out, ',')
		out = append(out, kb...)
		out = append(out, ':')
		out = append(out, vb...)
	}
	return append(out, '}'), nil
}

// Default messages per status, as Kratos writes them.
const (
	MsgBadRequest   = "The request was malformed or contained invalid parameters"
	MsgUnauthorized = "The request could not be authorized"
	MsgForbidden    = "The requested action was forbidden"
	MsgNotFound     = "The requested resource could not be found"
	MsgNotLocated   = "Unable to locate the resource"
	MsgConflict     = "The resource could not be created due to a conflict"
	MsgGone         = "The requested resource is no longer available because it has expired or is otherwise invalid."
	MsgInternal     = "An internal server error occurred, please contact the system administrator"
	MsgTooMany      = "The request was rate limited"
	MsgTooLarge     = "The request body is too large"
	MsgUnsupported  = "The request content type is not supported"
	MsgNotAllowed   = "The request method is not allowed"
)

// Constructors for the common kinds. Each returns a fresh value.
func ErrBadRequest(reason string) *Error {
	return &Error{Code: http.StatusBadRequest, Reason: reason, Message: MsgBadRequest}
}
func ErrUnauthorized(reason string) *Error {
	return &Error{Code: http.StatusUnauthorized, Reason: reason, Message: MsgUnauthorized}
}
func ErrForbidden(reason string) *Error {
	return &Error{Code: http.StatusForbidden, Reason: reason, Message: MsgForbidden}
}

// ErrNotFound is for a record that does not exist ("Unable to locate the resource").
func ErrNotFound(reason string) *Error {
	return &Error{Code: http.StatusNotFound, Reason: reason, Message: MsgNotLocated}
}

// ErrRouteNotFound is for a path or feature that does not exist.
func ErrRouteNotFound(reason string) *Error {
	return &Error{Code: http.StatusNotFound, Reason: reason, Message: MsgNotFound}
}
func ErrConflict(reason string) *Error {
	return &Error{Code: http.StatusConflict, Reason: reason, Message: MsgConflict}
}
func ErrGone(reason string) *Error {
	return &Error{Code: http.StatusGone, Reason: reason, Message: MsgGone}
}
func ErrInternal(cause error) *Error {
	return &Error{Code: http.StatusInternalServerError, Message: MsgInternal, Cause: cause}
}
func ErrTooManyRequests(reason string) *Error {
	return &Error{Code: http.StatusTooManyRequests, Reason: reason, Message: MsgTooMany}
}

// ErrMethodDisabled is Kratos's answer for a strategy or endpoint turned off in config.
func ErrMethodDisabled() *Error {
	return ErrRouteNotFound("This endpoint was disabled by system administrator. Please check your url or contact the system administrator to enable it.")
}

// AsError turns any error into an *Error; unknown errors become 500s.
func AsError(err error) *Error {
	var he *Error
	if errors.As(err, &he) {
		return he
	}
	return ErrInternal(err)
}

// MarshalNoEscape is json.Marshal without HTML escaping, as every answer
// is written: URLs keep their '&' as Kratos writes them.
func MarshalNoEscape(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
