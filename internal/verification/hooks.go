package verification

import (
	"context"

	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/hook"
	"github.com/latchkey/latchkey/internal/identity"
)

// Hooks runs the verification flow's web_hooks (*hook.Runner, set by the
// server; docs/hooks.md): before.hooks when a user starts a flow,
// after.hooks when an address is verified (verify.go).
type Hooks = hook.Hooks

// runBeforeHooks runs before.hooks on a flow a user starts, before it is
// stored (flows sent after a registration or sign-in run none).
func (s *Service) runBeforeHooks(ctx context.Context, q *flow.Request, f *Flow) error {
	if s.Hooks == nil {
		return nil
	}
	return s.Hooks.RunBefore(ctx, &hook.Event{FlowID: f.ID, Flow: f, Request: q})
}

// hookEvent is what the after-hooks see: the flow (with the submission's
// transient_payload), the request and the identity whose address was
// proved.
func (s *Service) hookEvent(q *flow.Request, f *Flow, ident *identity.Identity, m Method) *hook.Event {
	return &hook.Event{FlowID: f.ID, Flow: f, TransientPayload: f.TransientPayload, Request: q, Identity: ident, Method: string(m)}
}

// hookMessages are the messages of a refusing hook, for a flow that has
// none of the nodes they may name.
func hookMessages(stop *hook.Interrupted) []flow.Message {
	out := make([]flow.Message, 0, len(stop.Messages))
	for _, m := range stop.Messages {
		out = append(out, m.Message)
	}
	return out
}
