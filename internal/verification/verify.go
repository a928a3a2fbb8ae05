package verification

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/hook"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/identity"
)

// verify proves the address sec was issued for. The blocking after-hooks
// run first, with nothing written (difference 26); then one transaction
// spends sec (spend is the store's conditional UPDATE), marks the address
// verified, passes f and records verification.succeeded; then the
// response.ignore hooks are queued. won is false when another request
// spent sec first; stopped is set when a hook refused.
func (s *Service) verify(ctx context.Context, q *flow.Request, f *Flow, sec *Secret, m Method, spend func(context.Context, uuid.UUID, time.Time) (bool, error)) (won bool, stopped *hook.Interrupted, err error) {
	// The identity is only read for the hooks.
	hooks := s.Hooks != nil && s.Hooks.HasAfter(string(m))
	var ident *identity.Identity
	if hooks {
		if ident, err = s.Identities.GetPublic(ctx, sec.IdentityID); err != nil {
			return false, nil, err
		}
	}
	if hooks && s.Hooks.HasBlockingAfter(string(m)) {
		_, err := s.Hooks.RunAfter(ctx, s.hookEvent(q, f, ident, m))
		if err != nil {
			why := audit.ResultHookFailed
			if errors.As(err, &stopped) {
				why, err = audit.ResultRefusedByHook, nil
			}
			if rerr := s.Tx.InTx(ctx, func(ctx context.Context) error {
				return s.recordFailed(ctx, f, m, sec.IdentityID, why)
			}); rerr != nil {
				return false, nil, rerr
			}
			return false, stopped, err
		}
	}
	err = s.Tx.InTx(ctx, func(ctx context.Context) error {
		won = false
		now := s.now()
		ok, err := spend(ctx, sec.ID, now)
		if err != nil || !ok {
			return err
		}
		if err := s.Store.MarkVerified(ctx, &Address{ID: sec.AddressID, IdentityID: sec.IdentityID}, now); err != nil {
			return err
		}
		if err := s.Audit.Record(ctx, audit.Event{Type: audit.VerificationSucceeded, IdentityID: &sec.IdentityID, FlowID: &f.ID,
			Method: string(m), Result: audit.ResultSuccess}); err != nil {
			return err
		}
		s.pass(f, m)
		if err := flow.Save(ctx, s.Flows, f); err != nil {
			return err
		}
		won = true
		return nil
	})
	if err != nil || !won {
		return false, nil, err
	}
	httpx.Logger(ctx).Info("verification passed", "flow_id", f.ID, "method", m, "identity_id", sec.IdentityID)
	if hooks {
		s.Hooks.AfterCommit(ctx, s.hookEvent(q, f, ident, m))
	}
	return true, nil, nil
}

// pass moves f to passed_challenge: its form becomes a link on to the
// return URL (also for api flows, as Kratos).
func (s *Service) pass(f *Flow, m Method) {
	to := f.ReturnTo
	if to == "" {
		to = s.Config.AfterReturnURL
	}
	f.Active, f.State = string(m), StatePassedChallenge
	f.UI.Action, f.UI.Method = to, http.MethodGet
	f.UI.Nodes = passedNodes(f.Type, m, to)
	f.UI.ResetMessages()
	f.UI.AddMessage(flow.MsgVerificationSucceeded())
}
