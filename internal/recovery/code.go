package recovery

import (
	"context"
	"errors"

	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/httpx"
)

// checkCode handles a code submission (§7.3): a wrong code is shown on
// the flow until the submissions run out, a used one replaces the flow,
// the right one completes it. A refused submission is counted and its
// recovery.failed event written in one transaction.
func (s *Service) checkCode(ctx context.Context, q *flow.Request, f *Flow, in submission) (*flow.Result, error) {
	var (
		match  *Secret
		failed string // the audit result of a refused code
	)
	err := s.Tx.InTx(ctx, func(ctx context.Context) error {
		match, failed = nil, ""
		n, err := s.Flows.IncrementSubmissions(ctx, f.ID)
		if err != nil {
			return err
		}
		codes, err := s.Store.FlowCodes(ctx, f.ID)
		if err != nil {
			return err
		}
		if n > s.Config.MaxSubmissions {
			failed = audit.ResultTooManyAttempts
			return s.recordFailed(ctx, f, MethodCode, secretsIdentity(codes), failed)
		}
		match = matching(s.Hasher, codes, in.Code)
		switch {
		case match == nil:
			failed = audit.ResultInvalidCode
		case match.UsedAt != nil:
			failed = audit.ResultAlreadyUsed
			return s.recordFailed(ctx, f, MethodCode, match.IdentityID, failed)
		case !s.now().Before(match.ExpiresAt):
			failed = audit.ResultExpired
		default:
			return nil
		}
		httpx.Logger(ctx).Info("recovery code wrong", "flow_id", f.ID, "submissions", n)
		f.UI.ResetMessages()
		f.UI.AddMessage(flow.MsgRecoveryCodeInvalid().WithAttemptsLeft(s.Config.MaxSubmissions - n))
		if err := flow.Save(ctx, s.Flows, f); err != nil {
			return err
		}
		return s.recordFailed(ctx, f, MethodCode, secretsIdentity(codes), failed)
	})
	if err != nil {
		return nil, err
	}
	switch failed {
	case audit.ResultTooManyAttempts:
		return s.replace(ctx, q, f, f.Type, httpx.ErrBadRequest(reasonTooOften), flow.MsgGeneric(reasonTooOften))
	case audit.ResultAlreadyUsed:
		return s.replace(ctx, q, f, f.Type, httpx.ErrBadRequest(reasonCodeUsed), flow.MsgGeneric(reasonCodeUsed))
	case "":
	default:
		// Kratos answers a wrong code with 200: the flow goes on.
		return s.accepted(f, in.TransientPayload), nil
	}
	// Set before the hooks run: they see it in ctx.flow, as in Kratos.
	f.TransientPayload = orEmptyObject(in.TransientPayload)
	res, err := s.succeed(ctx, q, f, match, MethodCode, s.Store.UseCode)
	if errors.Is(err, errAlreadyUsed) {
		return s.replace(ctx, q, f, f.Type, httpx.ErrBadRequest(reasonCodeUsed), flow.MsgGeneric(reasonCodeUsed))
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}
