package audit

// Results of refusals and failures, shared by the event types that use
// them (docs/audit.md lists which).
const (
	// ResultInvalidCredentials: a wrong password or an unknown identifier.
	ResultInvalidCredentials = "invalid_credentials"
	// ResultRateLimited: refused by a rate limit before anything was checked.
	ResultRateLimited = "rate_limited"
	// ResultInvalidCode: a recovery code that matches none of the flow's.
	ResultInvalidCode = "invalid_code"
	// ResultInvalidTOTP: a TOTP code that does not match.
	ResultInvalidTOTP = "invalid_totp"
	// ResultInvalidBackupCode: a backup code that matches no unused code.
	ResultInvalidBackupCode = "invalid_backup_code"
	// ResultInvalidToken: a recovery link whose token or flow is unknown.
	ResultInvalidToken = "invalid_token"
	// ResultAlreadyUsed: a code, link or backup code that was spent before.
	ResultAlreadyUsed = "already_used"
	// ResultExpired: the flow, code or link expired.
	ResultExpired = "expired"
	// ResultTooManyAttempts: the flow's submissions ran out.
	ResultTooManyAttempts = "too_many_attempts"
	// ResultIdentityInactive: the identity is disabled.
	ResultIdentityInactive = "identity_inactive"
	// ResultUnknownAddress: recovery was asked for an address of no account.
	ResultUnknownAddress = "unknown_address"
	// ResultAddressNotVerified: require_verified_address refused a sign-in
	// (no verified address).
	ResultAddressNotVerified = "address_not_verified"
	// ResultRefusedByHook: a web_hook answered with messages that stop the
	// flow.
	ResultRefusedByHook = "refused_by_hook"
	// ResultHookFailed: a web_hook the flow waits for failed or timed out.
	ResultHookFailed = "hook_failed"
)
