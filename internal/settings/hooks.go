package settings

import (
	"context"
	"errors"

	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/hook"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/session"
)

// Hooks runs the settings flow's web_hooks (*hook.Runner, set by the
// server; docs/hooks.md). Every method that writes runs them: password,
// profile, totp (enrol, unlink) and lookup_secret (confirm, disable).
type Hooks = hook.Hooks

// runBeforeHooks runs before.hooks on a flow a user starts, before it
// is stored.
func (s *Service) runBeforeHooks(ctx context.Context, q *flow.Request, f *Flow, sess *session.Session) error {
	if s.Hooks == nil {
		return nil
	}
	return s.Hooks.RunBefore(ctx, s.hookEvent(q, f, nil, sess, ""))
}

// runAfterHooks runs the blocking after-hooks of method before the
// change is written; next is the identity as the change leaves it. It
// returns what parsing hooks changed, or the answer when a hook refused
// (its messages on the form, 400) or failed (502/504): then nothing is
// written.
func (s *Service) runAfterHooks(ctx context.Context, f *Flow, sub submission, next *identity.Identity, method string) (*hook.Changes, *flow.Result, error) {
	if s.Hooks == nil || !s.Hooks.HasBlockingAfter(method) {
		return nil, nil, nil
	}
	changes, err := s.Hooks.RunAfter(ctx, s.hookEvent(sub.q, f, next, sub.session, method))
	var stop *hook.Interrupted
	if errors.As(err, &stop) {
		stop.ShowOn(&f.UI)
		res, err := s.reject(ctx, f)
		return nil, res, err
	}
	if err != nil {
		return nil, nil, err
	}
	return changes, nil, nil
}

// applyHookChanges saves what parsing hooks changed (traits, metadata,
// state, external id) in the caller's transaction and returns the
// identity as stored.
func (s *Service) applyHookChanges(ctx context.Context, ident *identity.Identity, ch *hook.Changes) (*identity.Identity, error) {
	if ch.Empty() {
		return ident, nil
	}
	next := *ident
	ch.Apply(&next)
	if err := s.Identities.Update(ctx, &next); err != nil {
		return nil, err
	}
	return s.Identities.Get(ctx, ident.ID)
}

// afterCommit queues the response.ignore hooks of method, with the
// identity as stored.
func (s *Service) afterCommit(ctx context.Context, f *Flow, sub submission, ident *identity.Identity, method string) {
	if s.Hooks != nil {
		s.Hooks.AfterCommit(ctx, s.hookEvent(sub.q, f, ident, sub.session, method))
	}
}

// saveWithHooks is a second factor's change with its hooks, as password
// changes have them: method's blocking after-hooks first (a refusal or
// failure answers and nothing is written), then write, what parsing hooks
// changed and the answer in one transaction, then the response.ignore
// hooks. write returns the identity as stored.
func (s *Service) saveWithHooks(ctx context.Context, f *Flow, sub submission, method string, write func(ctx context.Context) (*identity.Identity, error)) (*flow.Result, error) {
	changes, refused, err := s.runAfterHooks(ctx, f, sub, sub.session.Identity, method)
	if refused != nil || err != nil {
		return refused, err
	}
	var (
		res     *flow.Result
		updated *identity.Identity
	)
	err = s.Tx.InTx(ctx, func(ctx context.Context) error {
		var err error
		if updated, err = write(ctx); err != nil {
			return err
		}
		if updated, err = s.applyHookChanges(ctx, updated, changes); err != nil {
			return err
		}
		res, err = s.succeed(ctx, sub, f, updated, method)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.afterCommit(ctx, f, sub, updated, method)
	return res, nil
}

// hookEvent is what the hooks see: the flow (with the identity's schema
// URL, without the secrets methods show), the request, the identity and
// the session.
func (s *Service) hookEvent(q *flow.Request, f *Flow, ident *identity.Identity, sess *session.Session, method string) *hook.Event {
	if f.Identity != nil {
		f.schemaURL = identity.SchemaURL(s.Config.PublicBaseURL, f.Identity.SchemaID)
	}
	return &hook.Event{FlowID: f.ID, Flow: f, Request: q, Identity: ident, Session: sess, Method: method}
}
