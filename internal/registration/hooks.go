package registration

import (
	"context"
	"errors"

	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/hook"
	"github.com/latchkey/latchkey/internal/identity"
)

// Hooks runs the registration flow's web_hooks (*hook.Runner, set by the
// server; docs/hooks.md).
type Hooks = hook.Hooks

// runBeforeHooks runs before.hooks on a new flow, before it is stored.
func (s *Service) runBeforeHooks(ctx context.Context, q *flow.Request, f *Flow) error {
	if s.Hooks == nil {
		return nil
	}
	return s.Hooks.RunBefore(ctx, &hook.Event{FlowID: f.ID, Flow: f, Request: q})
}

// runAfterHooks runs the blocking after-hooks on the identity about to be
// created, before the transaction: the hooks see it with the id it will
// have; a parsing hook's changes are made on in. A refusing hook's
// messages go on the form (400); a failing hook's error is the answer.
// Either way nothing is written. A nil result and error: go on.
func (s *Service) runAfterHooks(ctx context.Context, q *flow.Request, f *Flow, in *identity.CreateInput, method string) (*flow.Result, error) {
	if s.Hooks == nil || !s.Hooks.HasBlockingAfter(method) {
		return nil, nil
	}
	preview, err := s.Identities.Preview(ctx, *in)
	if res, err := s.refused(ctx, q, f, err); res != nil || err != nil {
		return res, err
	}
	changes, err := s.Hooks.RunAfter(ctx, s.hookEvent(q, f, preview, method))
	var stop *hook.Interrupted
	if errors.As(err, &stop) {
		stop.ShowOn(&f.UI)
		return s.flows().Reject(ctx, f)
	}
	if err != nil {
		return nil, err
	}
	changes.ApplyToCreate(in)
	in.ID = preview.ID
	return nil, nil
}

// hookEvent is what the hooks of a submission see.
func (s *Service) hookEvent(q *flow.Request, f *Flow, ident *identity.Identity, method string) *hook.Event {
	return &hook.Event{FlowID: f.ID, Flow: f, TransientPayload: f.transientPayload, Request: q, Identity: ident, Method: method}
}
