package recovery

import (
	"context"
	"net/http"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/ratelimit"
)

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

// showLimited answers a flow submission that hit a send or guess limit:
// the flow shows the retry time (message 4060100) with status 429. The
// refused submission's own transaction rolled back, so the
// recovery.rate_limited event is written here, with the flow.
func (s *Service) showLimited(ctx context.Context, f *Flow, limited *ratelimit.ExceededError, what string, m Method, address string) (*flow.Result, error) {
	httpx.Logger(ctx).Warn(what, "flow_id", f.ID, "limit", limited.Scope, "retry_after_seconds", int(limited.RetryAfter.Seconds()))
	f.UI.ResetMessages()
	f.UI.AddMessage(flow.MsgRateLimited(limited.RetryAfter))
	// The address stays in its input, to send again once the wait is over.
	f.UI.SetNodeValue("email", address)
	var res *flow.Result
	err := s.Tx.InTx(ctx, func(ctx context.Context) error {
		if err := s.recordLimited(ctx, f, m, uuid.Nil, limited, address, ""); err != nil {
			return err
		}
		var err error
		res, err = s.saveAndShow(ctx, f, http.StatusTooManyRequests)
		return err
	})
	if err != nil {
		return nil, err
	}
	res.RetryAfter = limited.RetryAfter
	return res, nil
}

// recordLimited writes the recovery.rate_limited event of a refused send
// (f nil, identityID and the admin's reason set for the admin API's).
func (s *Service) recordLimited(ctx context.Context, f *Flow, m Method, identityID uuid.UUID, limited *ratelimit.ExceededError, address, reason string) error {
	e := audit.Event{Type: audit.RecoveryRateLimited, IdentityID: audit.ID(identityID), Method: string(m), Result: audit.ResultRateLimited,
		Reason: reason, Details: map[string]any{"limit": limited.Scope}}
	if f != nil {
		e.FlowID = &f.ID
	}
	if address != "" {
		e.Details["address"] = address
	}
	return s.Audit.Record(ctx, e)
}
