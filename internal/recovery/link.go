package recovery

import (
	"context"
	"errors"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/storeerr"
)

// OpenLink handles GET /self-service/recovery?flow=&token= (§9), the link
// of the email. With RequireConfirmation (departure 5) a valid link
// changes nothing: confirm is a copy of its flow whose UI is the form
// that posts the token to Submit. Otherwise res is the answer: the link
// was spent (Done), or it was unknown, used or expired and a new flow
// explains why (Replaced).
func (s *Service) OpenLink(ctx context.Context, q *flow.Request) (confirm *Flow, res *flow.Result, err error) {
	rawID, token := q.Query.Get("flow"), q.Query.Get("token")
	id, err := uuid.Parse(rawID)
	if rawID == "" || err != nil {
		return nil, nil, httpx.ErrBadRequest("The flow query parameter is missing or malformed.")
	}
	f, err := s.load(ctx, id.String(), storeerr.ErrNotFound)
	if errors.Is(err, storeerr.ErrNotFound) {
		res, err := s.replaceLink(ctx, q, nil, flow.MsgRecoveryTokenInvalid(), rejected{result: audit.ResultInvalidToken})
		return nil, res, err
	}
	if err != nil {
		return nil, nil, err
	}
	if !s.Config.RequireConfirmation {
		res, err := s.useLink(ctx, q, f, token, nil)
		return nil, res, err
	}
	tok, res, err := s.validLink(ctx, q, f, token)
	if tok == nil {
		return nil, res, err
	}
	c := *f
	c.UI = flow.ConfirmLinkUI(flow.WithQuery(s.Config.route("self-service/recovery"), "flow", f.ID.String()), token, flow.LabelConfirmRecoveryOK(), flow.MsgConfirmRecoveryLink())
	return &c, nil, nil
}

// validLink finds the unused, unexpired token of the flow; otherwise it
// replaces the flow (4060004 unknown or used, 4060005 expired).
func (s *Service) validLink(ctx context.Context, q *flow.Request, f *Flow, token string) (*Secret, *flow.Result, error) {
	now := s.now()
	tokens, err := s.Store.FlowTokens(ctx, f.ID)
	if err != nil {
		return nil, nil, err
	}
	owner := secretsIdentity(tokens)
	if f.Expired(now) {
		res, err := s.replaceLink(ctx, q, f, flow.MsgRecoveryExpired(f.ExpiresAt, now), rejected{audit.ResultExpired, owner})
		return nil, res, err
	}
	t := matching(s.Hasher, tokens, token)
	if t == nil || t.UsedAt != nil || token == "" {
		why := audit.ResultInvalidToken
		if t != nil && t.UsedAt != nil && token != "" {
			why = audit.ResultAlreadyUsed
		}
		res, err := s.replaceLink(ctx, q, f, flow.MsgRecoveryTokenInvalid(), rejected{why, owner})
		return nil, res, err
	}
	if !now.Before(t.ExpiresAt) {
		res, err := s.replaceLink(ctx, q, f, flow.MsgRecoveryExpired(t.ExpiresAt, now), rejected{audit.ResultExpired, owner})
		return nil, res, err
	}
	return t, nil, nil
}

// rejected is why a link was refused, for its recovery.failed event
// (zero: already recorded).
type rejected struct {
	result     string
	identityID uuid.UUID
}

// useLink spends a link token and completes the flow; check, when set,
// must pass before the token is spent.
func (s *Service) useLink(ctx context.Context, q *flow.Request, f *Flow, token string, check func() error) (*flow.Result, error) {
	t, res, err := s.validLink(ctx, q, f, token)
	if t == nil {
		return res, err
	}
	if check != nil {
		if err := check(); err != nil {
			return nil, err
		}
	}
	res, err = s.succeed(ctx, q, f, t, MethodLink, s.Store.UseToken)
	if errors.Is(err, errAlreadyUsed) {
		// succeed recorded it.
		return s.replaceLink(ctx, q, f, flow.MsgRecoveryTokenInvalid(), rejected{})
	}
	return res, err
}

// replaceLink answers a bad link with a new browser flow showing msg
// (old is nil when the link named no flow). JSON clients (the confirm
// page posted by an SPA) get the 400 with continue_with transitions, or
// are sent to fetch the new flow.
func (s *Service) replaceLink(ctx context.Context, q *flow.Request, old *Flow, msg flow.Message, why rejected) (*flow.Result, error) {
	returnTo, oldID := "", uuid.Nil
	if old != nil {
		returnTo, oldID = old.ReturnTo, old.ID
	}
	nf := s.replacementFlow(q, flow.TypeBrowser, returnTo)
	nf.UI.AddMessage(msg)
	err := s.Tx.InTx(ctx, func(ctx context.Context) error {
		if why.result != "" {
			if err := s.recordFailed(ctx, old, MethodLink, why.identityID, why.result); err != nil {
				return err
			}
		}
		return flow.Create(ctx, s.Flows, nf)
	})
	if err != nil {
		return nil, err
	}
	httpx.Logger(ctx).Info("recovery link rejected", "flow_id", oldID, "new_flow_id", nf.ID, "message_id", msg.ID)
	res := s.replaced(nf)
	if s.Config.ContinueWithTransitions {
		res.Err = httpx.ErrBadRequest(msg.Text)
	}
	return res, nil
}
