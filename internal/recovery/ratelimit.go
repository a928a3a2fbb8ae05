package recovery

import "context"

// Send limits (departure 4), counted by internal/ratelimit: by the
// lower-cased address string, whether or not it belongs to an account (a
// 429 says nothing about accounts), and by client IP.

// Scopes of the send counters.
const (
	scopeAddress = "recovery_address"
	scopeIP      = "recovery_ip"
)

// countSend counts one recovery email to address from ip against both
// limits, in the transaction carried by ctx (a rejected send is rolled
// back with it, so it does not count). Over a limit it returns a
// *ratelimit.ExceededError.
func (s *Service) countSend(ctx context.Context, address, ip string) error {
	if err := s.Limits.Take(ctx, scopeIP, ip, s.Config.RateLimit.PerIP); err != nil {
		return err
	}
	return s.Limits.Take(ctx, scopeAddress, normalizeEmail(address), s.Config.RateLimit.PerAddress)
}
