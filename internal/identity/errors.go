package identity

import (
	"net/http"
	"strings"

	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/storeerr"
)

// Errors the service returns. They are *httpx.Error values, so handlers
// render them as they are; test for them with errors.Is.
var (
	// ErrNotFound: no identity (or address) matches. It also matches
	// storeerr.ErrNotFound with errors.Is.
	ErrNotFound = &httpx.Error{Code: http.StatusNotFound, Reason: "The requested identity does not exist.", Message: httpx.MsgNotLocated, Cause: storeerr.ErrNotFound}
	// ErrConflict: an identifier, recovery or verifiable address or
	// external id is already taken by another identity (Kratos's exact body).
	ErrConflict = &httpx.Error{Code: http.StatusConflict, Reason: "This identity conflicts with another identity that already exists.", Message: httpx.MsgConflict, Cause: storeerr.ErrConflict}
	// ErrInvalidState: a state other than active or inactive.
	ErrInvalidState = httpx.ErrBadRequest("identity state is not valid")
	// ErrUnknownHashFormat: an imported hashed_password in no known format.
	ErrUnknownHashFormat = httpx.ErrBadRequest("The imported password does not match any known hash format. For more information see https://www.ory.sh/dr/2")
)

// Kratos UI message ids for schema violations.
const (
	MsgIDGeneric          = 4000001
	MsgIDRequired         = 4000002
	MsgIDMinLength        = 4000003
	MsgIDPattern          = 4000004
	MsgIDMaxLength        = 4000017
	MsgIDMinimum          = 4000018
	MsgIDExclusiveMinimum = 4000019
	MsgIDMaximum          = 4000020
	MsgIDExclusiveMaximum = 4000021
	MsgIDMultipleOf       = 4000022
	MsgIDMaxItems         = 4000023
	MsgIDMinItems         = 4000024
	MsgIDUniqueItems      = 4000025
	MsgIDWrongType        = 4000026
	MsgIDConst            = 4000029
	MsgIDInvalidEmail     = 4000040
)

// FieldError is one schema violation, ready to be shown as a UI message on
// the node it names.
type FieldError struct {
	// Field is the form field: "traits.email", or "traits" for errors about
	// the traits object itself (e.g. an unknown property).
	Field string
	// MessageID, Text and Context form the Kratos UI message.
	MessageID int
	Text      string
	Context   map[string]any
	// Reason is the validator-style line used in API error reasons, e.g.
	// `I[#/traits/email] S[#/properties/traits/properties/email/format] "x" is not valid "email"`.
	Reason string
}

// ValidationError is returned when traits (or the addresses derived from
// them) break the identity schema. Admin handlers render it as 400 with the
// validator message as reason; self-service flows put Fields on their nodes.
type ValidationError struct {
	Fields []FieldError
}

// Error joins the field reasons.
func (e *ValidationError) Error() string {
	reasons := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		reasons[i] = f.Reason
	}
	return strings.Join(reasons, "; ")
}

// Unwrap exposes the 400 error the handlers render.
func (e *ValidationError) Unwrap() error { return httpx.ErrBadRequest(e.Error()) }

// badRequest is a 400 with the given reason.
func badRequest(format string, args ...any) *httpx.Error {
	return httpx.ErrBadRequest("").WithReason(format, args...)
}
