package recovery

import (
	"context"
	"errors"

	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/hook"
	"github.com/latchkey/latchkey/internal/identity"
)

// Hooks runs the recovery flow's web_hooks (*hook.Runner, set by the
// server; docs/hooks.md).
type Hooks = hook.Hooks

// runBeforeHooks runs before.hooks on a flow a user starts, before it is
// stored (flows the admin API creates run none, as in Kratos).
func (s *Service) runBeforeHooks(ctx context.Context, q *flow.Request, f *Flow) error {
	if s.Hooks == nil {
		return nil
	}
	return s.Hooks.RunBefore(ctx, &hook.Event{FlowID: f.ID, Flow: f, Request: q})
}

// runAfterHooks runs the blocking after-hooks once a secret proved the
// recovery and before anything is written: the secret is not spent, no
// session issued. They see the identity (as Kratos's, without a
// session). A refusal shows the hook's messages on the flow (400); a
// failure answers 502/504; both are recorded as recovery.failed. nil,
// nil: go on.
func (s *Service) runAfterHooks(ctx context.Context, q *flow.Request, f *Flow, sec *Secret, m Method) (*flow.Result, error) {
	if s.Hooks == nil || !s.Hooks.HasBlockingAfter(string(m)) {
		return nil, nil
	}
	ident, err := s.Identities.Get(ctx, sec.IdentityID)
	if err != nil {
		return nil, err
	}
	if ident.State != identity.StateActive {
		return nil, nil // the recovery's transaction refuses it
	}
	// A parsing hook may stop a recovery, not change the identity: the
	// recovery writes none (as in Kratos).
	_, err = s.Hooks.RunAfter(ctx, &hook.Event{FlowID: f.ID, Flow: f, Request: q, Identity: ident, Method: string(m)})
	var stop *hook.Interrupted
	switch {
	case errors.As(err, &stop):
		f.UI.ResetMessages()
		stop.ShowOn(&f.UI)
		var res *flow.Result
		err := s.Tx.InTx(ctx, func(ctx context.Context) error {
			if err := s.recordFailed(ctx, f, m, ident.ID, audit.ResultRefusedByHook); err != nil {
				return err
			}
			var err error
			res, err = flow.Reject(ctx, s.Flows, f, s.Config.RecoveryUIURL)
			return err
		})
		return res, err
	case err != nil:
		if rerr := s.Tx.InTx(ctx, func(ctx context.Context) error {
			return s.recordFailed(ctx, f, m, ident.ID, audit.ResultHookFailed)
		}); rerr != nil {
			return nil, rerr
		}
		return nil, err
	}
	return nil, nil
}

// afterCommit queues the response.ignore hooks with the recovered
// identity.
func (s *Service) afterCommit(ctx context.Context, q *flow.Request, f *Flow, ident *identity.Identity, m Method) {
	if s.Hooks != nil && ident != nil {
		s.Hooks.AfterCommit(ctx, &hook.Event{FlowID: f.ID, Flow: f, Request: q, Identity: ident, Method: string(m)})
	}
}
