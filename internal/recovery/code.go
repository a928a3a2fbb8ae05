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
// recovery.failed event written in one transaction. Without blocking
// after hooks (which must run between the check and the completion, out
// of any transaction) the right code completes the flow in the same
// transaction that counted it: one commit instead of two.
func (s *Service) checkCode(ctx context.Context, q *flow.Request, f *Flow, in submission) (*flow.Result, error) {
	var (
		match      *Secret
		failed     string // the audit result of a refused code
		completing bool   // the transaction went on to complete the flow
		done       completion
	)
	together := s.Hooks == nil || !s.Hooks.HasBlockingAfter(string(MethodCode))
	// The sessions revoked on success are logged as part of this flow
	// (the refusals below name their flow and method themselves).
	inFlow := audit.InFlow(ctx, f.ID, string(MethodCode))
	err := s.Tx.InTx(inFlow, func(ctx context.Context) error {
		match, failed, completing = nil, "", false
		n, codes, err := s.Store.CountCodeSubmission(ctx, f.ID)
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
		case together:
			completing = true
			f.TransientPayload = orEmptyObject(in.TransientPayload)
			return s.complete(ctx, q, f, match, MethodCode, s.Store.UseCode, &done)
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
	if completing {
		res, err := s.answerSuccess(inFlow, q, f, match, MethodCode, &done, err, true)
		return s.codeUsedOr(ctx, q, f, res, err)
	}
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
	return s.codeUsedOr(ctx, q, f, res, err)
}

// codeUsedOr is the answer to a right code whose completion ended with
// res and err: a code spent meanwhile replaces the flow.
func (s *Service) codeUsedOr(ctx context.Context, q *flow.Request, f *Flow, res *flow.Result, err error) (*flow.Result, error) {
	if errors.Is(err, errAlreadyUsed) {
		return s.replace(ctx, q, f, f.Type, httpx.ErrBadRequest(reasonCodeUsed), flow.MsgGeneric(reasonCodeUsed))
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}
