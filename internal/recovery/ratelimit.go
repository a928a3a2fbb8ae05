package recovery

import (
	"context"
	"fmt"
	"time"
)

// Send limits (departure 4). Counters live in the database, so every
// instance sharing it counts together. Keys are keyed hashes of the
// lower-cased address string or of the client IP: the table reveals no
// address, and an address is counted whether or not it belongs to an
// account, so a 429 says nothing about accounts either.
//
// Windows are fixed and aligned to the Unix epoch: at most Max sends are
// accepted per key in each window.

// Scopes of the send counters.
const (
	scopeAddress = "recovery_address"
	scopeIP      = "recovery_ip"
)

// limitError is returned when a send limit is reached.
type limitError struct {
	scope      string
	retryAfter time.Duration
}

func (e *limitError) Error() string {
	return fmt.Sprintf("recovery: %s send limit reached, retry in %s", e.scope, e.retryAfter)
}

// countSend counts one recovery email to address from ip against both
// limits, in the transaction carried by ctx (a rejected send is rolled
// back with it, so it does not count).
func (s *Service) countSend(ctx context.Context, address, ip string) error {
	if err := s.countOne(ctx, scopeIP, ip, s.Config.RateLimit.PerIP); err != nil {
		return err
	}
	return s.countOne(ctx, scopeAddress, normalizeEmail(address), s.Config.RateLimit.PerAddress)
}

func (s *Service) countOne(ctx context.Context, scope, key string, l RateLimit) error {
	if l.Max <= 0 || l.Window <= 0 || key == "" {
		return nil
	}
	now := s.now()
	start := now.Truncate(l.Window)
	n, err := s.Store.CountSend(ctx, scope, s.Hasher.Hash(scope+":"+key), start)
	if err != nil {
		return err
	}
	if n > l.Max {
		wait := start.Add(l.Window).Sub(now)
		if r := wait % time.Second; r != 0 {
			wait += time.Second - r // Retry-After is in whole seconds, rounded up
		}
		return &limitError{scope: scope, retryAfter: wait}
	}
	return nil
}
