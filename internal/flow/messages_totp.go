package flow

// GroupTOTP is the node group of the totp method.
const GroupTOTP = "totp"

// Labels and messages of the totp method (Kratos's ids and texts).
var (
	LabelTOTPQRCode = func() *Message { return label(1050005, "Authenticator app QR code") }
	LabelTOTPSecret = func() *Message {
		return label(1050017, "This is your authenticator app secret. Use it if you can not scan the QR code.")
	}
	LabelTOTPUnlink    = func() *Message { return label(1050004, "Unlink TOTP Authenticator App") }
	LabelVerifyCode    = func() *Message { return label(1070006, "Verify code") }
	LabelLoginTOTPCode = func() *Message { return label(1010006, "Authentication code") }
	LabelLoginUseTOTP  = func() *Message { return label(1010009, "Use Authenticator") }
	MsgTOTPCodeInvalid = func() Message { return fail(4000008, "The provided authentication code is invalid, please try again.") }
	MsgNoTOTPDevice    = func() Message { return fail(4000011, "You have no TOTP device set up.") }
)

// MsgTOTPSecret is the text of the totp_secret_key node: the base32
// secret, also in context.secret (1050006).
func MsgTOTPSecret(secret string) Message {
	m := info(1050006, secret)
	m.Context = map[string]any{"secret": secret}
	return m
}
