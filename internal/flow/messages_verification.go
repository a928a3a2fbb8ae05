package flow

import "time"

// Verification messages, with Kratos's ids and texts.

// LabelVerificationCode labels the code input of a verification flow.
func LabelVerificationCode() *Message { return label(1070011, "Verification code") }

func MsgVerificationCodeSent() Message {
	return info(1080003, "An email containing a verification code has been sent to the email address you provided. If you have not received an email, check the spelling of the address and make sure to use the address you registered with.")
}
func MsgVerificationSucceeded() Message {
	return info(1080002, "You successfully verified your email address.")
}
func MsgVerificationRetrySuccess() Message {
	return fail(4070002, "The request was already completed successfully and can not be retried.")
}
func MsgVerificationExpired(expiredAt, now time.Time) Message {
	return expired(4070005, "The verification flow expired %.2f minutes ago, please try again.", expiredAt, now)
}
func MsgVerificationCodeInvalid() Message {
	return fail(4070006, "The verification code is invalid or has already been used. Please try again.")
}
func MsgVerificationNoStrategy() Message {
	return fail(4010005, "Could not find a strategy to verify your account with. Did you fill out the form correctly?")
}

// MsgVerificationRateLimited is Latchkey's message when verification mail
// is rate limited (no Kratos equivalent; an id in Latchkey's own range).
func MsgVerificationRateLimited(retryAfter time.Duration) Message {
	m := fail(4070100, "Too many verification requests. Please wait "+humanDuration(retryAfter)+" and try again.")
	m.Context = map[string]any{"retry_after_seconds": int(retryAfter.Seconds())}
	return m
}

// Link method.

func MsgVerificationLinkSent() Message {
	return info(1080001, "An email containing a verification link has been sent to the email address you provided. If you have not received an email, check the spelling of the address and make sure to use the address you registered with.")
}
func MsgVerificationTokenInvalid() Message {
	return fail(4070001, "The verification token is invalid or has already been used. Please retry the flow.")
}

// MsgConfirmVerificationLink is shown on the confirm page of a
// verification link (Latchkey's id, as recovery's 1060100).
func MsgConfirmVerificationLink() Message {
	return info(1080100, "Confirm that you want to verify your email address with this link.")
}

// LabelConfirmVerificationOK labels the confirm page's button.
func LabelConfirmVerificationOK() *Message { return label(1070009, "Continue") }
