package verification

import (
	"context"
	"net/http"

	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/httpx"
)

// checkCode handles a code submission: every submission counts against
// the flow's guessing limit; a wrong, used or expired code is shown on the
// flow (200, as Kratos); the right one verifies its address and passes
// the flow, in one transaction.
func (s *Service) checkCode(ctx context.Context, f *Flow, code string) (*flow.Result, error) {
	passed, tooOften := false, false
	err := s.Tx.InTx(ctx, func(ctx context.Context) error {
		passed, tooOften = false, false
		n, err := s.Flows.IncrementSubmissions(ctx, f.ID)
		if err != nil {
			return err
		}
		if n > s.Config.MaxSubmissions {
			tooOften = true
			return nil
		}
		codes, err := s.Store.FlowCodes(ctx, f.ID)
		if err != nil {
			return err
		}
		var match *Code
		if code != "" {
			for i := range codes {
				// Every candidate is compared, so the time taken does not
				// say which one matched.
				if s.Hasher.Matches(code, codes[i].Hash) && match == nil {
					match = &codes[i]
				}
			}
		}
		now := s.now()
		if match != nil && match.UsedAt == nil && now.Before(match.ExpiresAt) {
			won, err := s.Store.UseCode(ctx, match.ID, now)
			if err != nil {
				return err
			}
			if won {
				a := &Address{ID: match.AddressID, IdentityID: match.IdentityID}
				if err := s.Store.MarkVerified(ctx, a, now); err != nil {
					return err
				}
				passed = true
				s.pass(f)
				return flow.Save(ctx, s.Flows, f)
			}
		}
		httpx.Logger(ctx).Info("verification code wrong", "flow_id", f.ID, "submissions", n)
		f.UI.ResetMessages()
		f.UI.AddMessage(flow.MsgVerificationCodeInvalid())
		return flow.Save(ctx, s.Flows, f)
	})
	if err != nil {
		return nil, err
	}
	if tooOften {
		// The flow is spent; a new one (and a new code) takes over.
		return s.replaceWith(ctx, f, f.RequestURL, flow.MsgGeneric(reasonTooOften), false)
	}
	if passed {
		httpx.Logger(ctx).Info("verification passed", "flow_id", f.ID)
	}
	return s.kind().Show(f, http.StatusOK), nil
}

// pass moves f to passed_challenge: its form becomes a link on to the
// return URL (also for api flows, as Kratos).
func (s *Service) pass(f *Flow) {
	to := f.ReturnTo
	if to == "" {
		to = s.Config.AfterReturnURL
	}
	f.State = StatePassedChallenge
	f.UI.Action, f.UI.Method = to, http.MethodGet
	f.UI.Nodes = passedNodes(f.Type, to)
	f.UI.ResetMessages()
	f.UI.AddMessage(flow.MsgVerificationSucceeded())
}
