package oidc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"

	"golang.org/x/oauth2"
)

// ErrorKind says which part of a provider round trip failed, so the flow
// can choose its answer (502 for an unavailable provider, a flow error
// for the rest) without reading messages.
type ErrorKind int

const (
	// KindUnavailable: the provider could not be reached, timed out,
	// answered 5xx or served a discovery document Latchkey cannot use.
	// The flow answers 502.
	KindUnavailable ErrorKind = iota
	// KindTokenRejected: the token endpoint refused the code (invalid_grant,
	// a wrong client secret, a wrong PKCE verifier, a replayed code).
	KindTokenRejected
	// KindInvalidIDToken: the ID token failed verification (signature,
	// issuer, audience, expiry, nonce) or lacks a subject.
	KindInvalidIDToken
	// KindIDTokenUnsupported: the provider cannot verify an ID token a
	// native app obtained itself.
	KindIDTokenUnsupported
	// KindMissingClaim: the provider did not say who the user is (for
	// example a GitHub user without an id).
	KindMissingClaim
)

// String names the kind for logs.
func (k ErrorKind) String() string {
	switch k {
	case KindUnavailable:
		return "unavailable"
	case KindTokenRejected:
		return "token_rejected"
	case KindInvalidIDToken:
		return "invalid_id_token"
	case KindIDTokenUnsupported:
		return "id_token_unsupported"
	case KindMissingClaim:
		return "missing_claim"
	}
	return fmt.Sprintf("ErrorKind(%d)", int(k))
}

// Error is every failure of a provider round trip. Reason is written for
// a user or an operator; neither Reason nor Err ever holds the client
// secret, an authorization code, a PKCE verifier or a token, so the whole
// error may be logged and its Reason shown.
type Error struct {
	Kind   ErrorKind
	Reason string
	// Err is the underlying cause (a network error, a go-oidc
	// verification error), nil when Reason says it all.
	Err error
}

// Error is the reason followed by its cause.
func (e *Error) Error() string {
	if e.Err == nil {
		return e.Reason
	}
	return e.Reason + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

func newError(kind ErrorKind, err error, format string, args ...any) *Error {
	return &Error{Kind: kind, Reason: fmt.Sprintf(format, args...), Err: err}
}

// exchangeError classifies a failed call to the token endpoint.
func exchangeError(providerID string, err error) *Error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		// RetrieveError's own message carries the response body, which
		// providers fill with the code they refused; keep only the status
		// and the OAuth 2 error code.
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		code := re.ErrorCode
		if code == "" {
			code = "no error code"
		}
		if status >= 500 {
			return newError(KindUnavailable, nil, "the token endpoint of provider %q failed (HTTP %d, %s)", providerID, status, code)
		}
		return newError(KindTokenRejected, nil, "the token endpoint of provider %q refused the authorization code (HTTP %d, %s)", providerID, status, code)
	}
	if isTransport(err) {
		return newError(KindUnavailable, err, "the token endpoint of provider %q could not be reached", providerID)
	}
	// oauth2's remaining errors are about an unreadable answer (no
	// access_token, bad JSON); their messages carry no body.
	return newError(KindUnavailable, err, "the token endpoint of provider %q answered something that is not a token", providerID)
}

// isTransport reports whether err is a network failure or a deadline
// rather than an answer.
func isTransport(err error) bool {
	var ue *url.Error
	var ne net.Error
	return errors.As(err, &ue) || errors.As(err, &ne) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}
