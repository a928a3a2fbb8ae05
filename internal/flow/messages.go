package flow

import (
	"fmt"
	"strings"
	"time"
)

// Message types.
const (
	MessageInfo    = "info"
	MessageError   = "error"
	MessageSuccess = "success"
)

// Message is a UI text with a stable numeric id that UIs translate by.
type Message struct {
	ID      int            `json:"id"`
	Text    string         `json:"text"`
	Type    string         `json:"type"`
	Context map[string]any `json:"context,omitempty"`
}

func info(id int, text string) Message   { return Message{ID: id, Text: text, Type: MessageInfo} }
func fail(id int, text string) Message   { return Message{ID: id, Text: text, Type: MessageError} }
func label(id int, text string) *Message { m := info(id, text); return &m }

// Labels (meta.label of nodes).
var (
	LabelPassword          = func() *Message { return label(1070001, "Password") }
	LabelSave              = func() *Message { return label(1070003, "Save") }
	LabelID                = func() *Message { return label(1070004, "ID") }
	LabelEmail             = func() *Message { return label(1070007, "Email") }
	LabelResendCode        = func() *Message { return label(1070008, "Resend code") }
	LabelContinue          = func() *Message { return label(1070009, "Continue") }
	LabelRecoveryCode      = func() *Message { return label(1070010, "Recovery code") }
	LabelSignIn            = func() *Message { return label(1010001, "Sign in") }
	LabelSignInPassword    = func() *Message { return label(1010022, "Sign in with password") }
	LabelSignUp            = func() *Message { return label(1040001, "Sign up") }
	LabelRecoveryAddress   = func() *Message { return label(1070016, "Recovery address") }
	LabelConfirmRecoveryOK = func() *Message { return label(1070009, "Continue") }
)

// LabelTrait is the label of a schema-generated trait input.
func LabelTrait(title, name string) *Message {
	m := info(1070002, title)
	m.Context = map[string]any{"title": title, "name": name}
	return &m
}

// Recovery messages.
func MsgRecoverySuccessful(privilegedUntil time.Time, now time.Time) Message {
	m := Message{ID: 1060001, Type: MessageSuccess, Text: fmt.Sprintf(
		"You successfully recovered your account. Please change your password or set up an alternative login method (e.g. social sign in) within the next %.2f minutes.",
		privilegedUntil.Sub(now).Minutes())}
	m.Context = map[string]any{
		"privilegedSessionExpiresAt":         privilegedUntil,
		"privileged_session_expires_at":      privilegedUntil,
		"privileged_session_expires_at_unix": privilegedUntil.Unix(),
	}
	return m
}
func MsgRecoveryLinkSent() Message {
	return info(1060002, "An email containing a recovery link has been sent to the email address you provided. If you have not received an email, check the spelling of the address and make sure to use the address you registered with.")
}
func MsgRecoveryCodeSent() Message {
	return info(1060003, "An email containing a recovery code has been sent to the email address you provided. If you have not received an email, check the spelling of the address and make sure to use the address you registered with.")
}
func MsgRecoveryRetrySuccess() Message {
	return fail(4060001, "The request was already completed successfully and can not be retried.")
}
func MsgRecoveryTokenInvalid() Message {
	return fail(4060004, "The recovery token is invalid or has already been used. Please retry the flow.")
}
func MsgRecoveryExpired(expiredAt, now time.Time) Message {
	return expired(4060005, "The recovery flow expired %.2f minutes ago, please try again.", expiredAt, now)
}
func MsgRecoveryCodeInvalid() Message {
	return fail(4060006, "The recovery code is invalid or has already been used. Please try again.")
}

// WithAttemptsLeft adds to a wrong-code message how many more codes the
// flow takes (context.attempts_left, Latchkey's addition to Kratos's
// message: the built-in UI says "2 attempts left").
func (m Message) WithAttemptsLeft(n int) Message {
	ctx := make(map[string]any, len(m.Context)+1)
	for k, v := range m.Context {
		ctx[k] = v
	}
	ctx["attempts_left"] = max(n, 0)
	m.Context = ctx
	return m
}
func MsgRecoveryNoStrategy() Message {
	return fail(4010005, "Could not find a strategy to recover your account with. Did you fill out the form correctly?")
}

// MsgRateLimited is Latchkey's message when recovery mail is rate limited
// (departure 4; no Kratos equivalent, so an id in Latchkey's own range).
func MsgRateLimited(retryAfter time.Duration) Message {
	m := fail(4060100, fmt.Sprintf("Too many recovery requests. Please wait %s and try again.", humanDuration(retryAfter)))
	m.Context = map[string]any{"retry_after_seconds": int(retryAfter.Seconds())}
	return m
}

// MsgConfirmRecoveryLink is shown on the confirm page of a recovery link
// (departure 5).
func MsgConfirmRecoveryLink() Message {
	return info(1060100, "Confirm that you want to recover your account with this link.")
}

// Settings messages.
func MsgSettingsSaved() Message {
	return Message{ID: 1050001, Text: "Your changes have been saved!", Type: MessageSuccess}
}
func MsgSettingsExpired(expiredAt, now time.Time) Message {
	return expired(4050001, "The settings flow expired %.2f minutes ago, please try again.", expiredAt, now)
}
func MsgSettingsNoStrategy() Message {
	return fail(4010004, "Could not find a strategy to update your settings. Did you fill out the form correctly?")
}

// Login and registration messages.
func MsgLoginExpired(expiredAt, now time.Time) Message {
	return expired(4010001, "The login flow expired %.2f minutes ago, please try again.", expiredAt, now)
}
func MsgLoginNoStrategy() Message {
	return fail(4010002, "Could not find a strategy to log you in with. Did you fill out the form correctly?")
}
func MsgRegistrationNoStrategy() Message {
	return fail(4010003, "Could not find a strategy to sign you up with. Did you fill out the form correctly?")
}
func MsgLoginRetrySuccess() Message {
	return fail(4010007, "The request was already completed successfully and can not be retried.")
}
func MsgRegistrationExpired(expiredAt, now time.Time) Message {
	return expired(4040001, "The registration flow expired %.2f minutes ago, please try again.", expiredAt, now)
}
func MsgRegistrationRetrySuccess() Message {
	return fail(4040002, "The request was already completed successfully and can not be retried.")
}

// MsgLoginRateLimited is Latchkey's message when a login is refused
// because too many attempts failed (no Kratos equivalent, so an id in
// Latchkey's own range). It does not say which budget was spent.
func MsgLoginRateLimited(retryAfter time.Duration) Message {
	m := fail(4010100, fmt.Sprintf("Too many failed sign-in attempts. Please wait %s and try again.", humanDuration(retryAfter)))
	m.Context = map[string]any{"retry_after_seconds": int(retryAfter.Seconds())}
	return m
}
func MsgLoginRefresh() Message {
	return info(1010003, "Please confirm this action by verifying that it is you.")
}
func MsgLoginSecondFactor() Message {
	return info(1010004, "Please complete the second authentication challenge.")
}

// Validation messages.

// MsgGeneric turns a reason into a message (4000001).
func MsgGeneric(reason string) Message {
	m := fail(4000001, reason)
	m.Context = map[string]any{"reason": reason}
	return m
}
func MsgMissingProperty(property string) Message {
	m := fail(4000002, fmt.Sprintf("Property %s is missing.", property))
	m.Context = map[string]any{"property": property}
	return m
}
func MsgInvalidCredentials() Message {
	return fail(4000006, "The provided credentials are invalid, check for spelling mistakes in your password or username, email address, or phone number.")
}
func MsgDuplicateIdentifier() Message {
	return fail(4000007, "An account with the same identifier (email, phone, username, ...) exists already.")
}
func MsgNoIdentifiers() Message {
	return fail(4000009, "Could not find any login identifiers. Did you forget to set them? This could also be caused by a server misconfiguration.")
}
func MsgAddressNotVerified() Message { // require_verified_address (Kratos's legacy answer)
	return fail(4000010, "Account not active yet. Did you forget to verify your email address?")
}
func MsgPasswordSameAsOld() Message {
	return fail(4000039, "The new password must be different from the old password.")
}
func MsgInvalidEmail(value string) Message {
	m := fail(4000040, "Enter a valid email address")
	m.Context = map[string]any{"value": value}
	return m
}

// MsgFromPolicy builds a message from a password policy violation.
func MsgFromPolicy(id int, text string, ctx map[string]any) Message {
	return Message{ID: id, Text: text, Type: MessageError, Context: ctx}
}

func expired(id int, format string, expiredAt, now time.Time) Message {
	m := fail(id, fmt.Sprintf(format, now.Sub(expiredAt).Minutes()))
	m.Context = map[string]any{"expired_at": expiredAt, "expired_at_unix": expiredAt.Unix()}
	return m
}

func humanDuration(d time.Duration) string {
	if d < time.Minute {
		s := int(d.Seconds())
		if s < 1 {
			s = 1
		}
		return plural(s, "second")
	}
	m := int((d + time.Minute - 1) / time.Minute)
	return plural(m, "minute")
}

func plural(n int, unit string) string {
	s := fmt.Sprintf("%d %s", n, unit)
	if n != 1 {
		s += "s"
	}
	return strings.TrimSpace(s)
}
