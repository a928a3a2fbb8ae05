package recovery

import (
	"context"
	"errors"

	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/httpx"
)

// checkCode handles a code submission (§7.3): a wrong code is shown on
// the flow until the submissions run out, a used one replaces the flow,
// the right one completes it.
func (s *Service) checkCode(ctx context.Context, q *flow.Request, f *Flow, in submission) (*flow.Result, error) {
	n, err := s.Flows.IncrementSubmissions(ctx, f.ID)
	if err != nil {
		return nil, err
	}
	if n > s.Config.MaxSubmissions {
		return s.replace(ctx, q, f, f.Type, httpx.ErrBadRequest(reasonTooOften), flow.MsgGeneric(reasonTooOften))
	}
	codes, err := s.Store.FlowCodes(ctx, f.ID)
	if err != nil {
		return nil, err
	}
	match := matching(s.Hasher, codes, in.Code)
	now := s.now()
	if match == nil || (match.UsedAt == nil && !now.Before(match.ExpiresAt)) {
		httpx.Logger(ctx).Info("recovery code wrong", "flow_id", f.ID, "submissions", n)
		f.UI.ResetMessages()
		f.UI.AddMessage(flow.MsgRecoveryCodeInvalid())
		if err := flow.Save(ctx, s.Flows, f); err != nil {
			return nil, err
		}
		// Kratos answers a wrong code with 200: the flow goes on.
		return s.accepted(f, in.TransientPayload), nil
	}
	if match.UsedAt != nil {
		return s.replace(ctx, q, f, f.Type, httpx.ErrBadRequest(reasonCodeUsed), flow.MsgGeneric(reasonCodeUsed))
	}
	res, err := s.succeed(ctx, q, f, match, MethodCode, s.Store.UseCode)
	if errors.Is(err, errAlreadyUsed) {
		return s.replace(ctx, q, f, f.Type, httpx.ErrBadRequest(reasonCodeUsed), flow.MsgGeneric(reasonCodeUsed))
	}
	if err != nil {
		return nil, err
	}
	f.TransientPayload = orEmptyObject(in.TransientPayload)
	return res, nil
}
