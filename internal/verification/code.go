package verification

import (
	"context"
	"net/http"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/httpx"
)

// checkCode handles a code submission: every submission counts against
// the flow's guessing limit; a wrong, used or expired code is shown on the
// flow (200, as Kratos); the right one verifies its address (verify.go).
func (s *Service) checkCode(ctx context.Context, f *Flow, q *flow.Request, code string) (*flow.Result, error) {
	var match *Secret
	tooOften := false
	err := s.Tx.InTx(ctx, func(ctx context.Context) error {
		match, tooOften = nil, false
		n, err := s.Flows.IncrementSubmissions(ctx, f.ID)
		if err != nil {
			return err
		}
		codes, err := s.Store.FlowCodes(ctx, f.ID)
		if err != nil {
			return err
		}
		owner := secretsIdentity(codes)
		if n > s.Config.MaxSubmissions {
			tooOften = true
			return s.recordFailed(ctx, f, MethodCode, owner, audit.ResultTooManyAttempts)
		}
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
			return nil
		}
		why := audit.ResultInvalidCode
		switch {
		case match != nil && match.UsedAt != nil:
			why = audit.ResultAlreadyUsed
		case match != nil:
			why = audit.ResultExpired
		}
		match = nil
		httpx.Logger(ctx).Info("verification code wrong", "flow_id", f.ID, "submissions", n)
		if err := s.recordFailed(ctx, f, MethodCode, owner, why); err != nil {
			return err
		}
		f.UI.ResetMessages()
		f.UI.AddMessage(flow.MsgVerificationCodeInvalid().WithAttemptsLeft(s.Config.MaxSubmissions - n))
		return flow.Save(ctx, s.Flows, f)
	})
	if err != nil {
		return nil, err
	}
	if tooOften {
		// The flow is spent; a new one (and a new code) takes over.
		return s.replaceWith(ctx, f, f.RequestURL, flow.MsgGeneric(reasonTooOften), false)
	}
	if match == nil {
		return s.kind().Show(f, http.StatusOK), nil
	}
	won, stopped, err := s.verify(ctx, q, f, match, MethodCode, s.Store.UseCode)
	if err != nil {
		return nil, err
	}
	if stopped != nil {
		f.UI.ResetMessages()
		stopped.ShowOn(&f.UI)
		return s.kind().Reject(ctx, f)
	}
	if !won {
		// Another submission spent the code first.
		f.UI.ResetMessages()
		f.UI.AddMessage(flow.MsgVerificationCodeInvalid())
		return s.saveAndShow(ctx, f, http.StatusOK)
	}
	return s.kind().Show(f, http.StatusOK), nil
}

// secretsIdentity is the identity the first of secrets was issued for
// (all of a flow's belong to one address); uuid.Nil when none.
func secretsIdentity(secrets []Secret) uuid.UUID {
	if len(secrets) > 0 {
		return secrets[0].IdentityID
	}
	return uuid.Nil
}
