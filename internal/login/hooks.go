package login

import (
	"context"
	"errors"
	"net/http"

	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/hook"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/session"
)

// Hooks runs the login flow's web_hooks (*hook.Runner, set by the
// server; docs/hooks.md).
type Hooks = hook.Hooks

// AfterHooks are the hooks other than web_hook after a sign-in with one
// method (selfservice.flows.login.after[.<method>].hooks).
type AfterHooks struct {
	// RevokeOtherSessions: revoke_active_sessions, the identity's other
	// sessions end when it signs in.
	RevokeOtherSessions bool
	// RequireVerifiedAddress: require_verified_address, a password
	// sign-in of an identity none of whose addresses is verified is
	// refused, and a verification code or link is sent (requireVerified).
	RequireVerifiedAddress bool
}

// runBeforeHooks runs before.hooks on a new flow, before it is stored.
func (s *Service) runBeforeHooks(ctx context.Context, q *flow.Request, f *Flow) error {
	if s.Hooks == nil {
		return nil
	}
	return s.Hooks.RunBefore(ctx, &hook.Event{FlowID: f.ID, Flow: f, Request: q})
}

// ErrNoVerifiableAddress is Kratos's answer to require_verified_address
// for an identity whose schema gives it no address to verify: the
// configuration can never let it sign in.
var ErrNoVerifiableAddress = &httpx.Error{Code: http.StatusInternalServerError, Message: httpx.MsgInternal,
	Reason: "A misconfiguration prevents login. Expected to find a verification address but this identity does not have one assigned."}

// checkAfter applies the after-hooks of method before anything is
// written: require_verified_address, then the blocking web_hooks, which
// see the identity and the session the sign-in will store (seen). A
// refusal is recorded as login.failed and answered (nil, nil: go on).
func (s *Service) checkAfter(ctx context.Context, q *flow.Request, f *Flow, ident *identity.Identity, seen *session.Session, method string) (*flow.Result, error) {
	if s.Config.After(method).RequireVerifiedAddress && method == MethodPassword {
		if len(ident.VerifiableAddresses) == 0 {
			return s.failed(ctx, f, method, &refusal{identityID: ident.ID, result: audit.ResultAddressNotVerified, answer: ErrNoVerifiableAddress})
		}
		if !anyVerified(ident.VerifiableAddresses) {
			return s.requireVerified(ctx, q, f, ident, method)
		}
	}
	if s.Hooks == nil || !s.Hooks.HasBlockingAfter(method) {
		return nil, nil
	}
	// Like Kratos's login hooks, a parsing hook may refuse the sign-in but
	// not change the identity: a sign-in writes no identity.
	_, err := s.Hooks.RunAfter(ctx, s.hookEvent(q, f, ident, seen, method))
	var stop *hook.Interrupted
	switch {
	case errors.As(err, &stop):
		stop.ShowOn(&f.UI)
		return s.failed(ctx, f, method, refused(ident.ID, audit.ResultRefusedByHook))
	case err != nil:
		return s.failed(ctx, f, method, &refusal{identityID: ident.ID, result: audit.ResultHookFailed, answer: err})
	}
	return nil, nil
}

// ErrAddressNotVerified is Kratos's answer to a sign-in refused by
// require_verified_address; details.continue_with names the
// verification flow that was sent.
func ErrAddressNotVerified(cw flow.ContinueWith) error {
	return &httpx.Error{Code: http.StatusForbidden, ID: "session_verified_address_required", Message: "your email or phone address is not yet verified",
		Reason:  "Your account's email or phone address are not verified yet. Please check your email or phone inbox or re-request verification.",
		Details: map[string]any{"continue_with": []flow.ContinueWith{cw}}}
}

// requireVerified refuses a sign-in without a verified address, as
// Kratos does: a verification flow of the login flow's type is created
// for the first unverified address and a code (or link) mailed to it, in
// the transaction that records the refusal; JSON clients get 403
// session_verified_address_required naming it (continue_with
// show_verification_ui), browsers are sent to its page. No session is
// written. With feature_flags.legacy_require_verified_login_error, or
// with verification off, the flow shows message 4000010 instead.
func (s *Service) requireVerified(ctx context.Context, q *flow.Request, f *Flow, ident *identity.Identity, method string) (*flow.Result, error) {
	if !s.Config.LegacyRequireVerifiedError && s.Verification != nil {
		var (
			cw flow.ContinueWith
			ok bool
		)
		err := s.Tx.InTx(ctx, func(ctx context.Context) error {
			var err error
			cw, ok, err = s.Verification.SendForLogin(ctx, q, f.Type, ident)
			if err != nil || !ok {
				return err
			}
			return s.Audit.Record(ctx, audit.Event{Type: audit.LoginFailed, IdentityID: &ident.ID, FlowID: &f.ID, Method: method, Result: audit.ResultAddressNotVerified})
		})
		if err != nil {
			return nil, err
		}
		if ok {
			httpx.Logger(ctx).Info("login refused: no verified address; verification sent", "flow_id", f.ID, "identity_id", ident.ID, "verification_flow_id", cw.Flow.ID)
			return nil, flow.BrowserRedirect(ErrAddressNotVerified(cw), cw.Flow.URL)
		}
	}
	f.UI.AddMessage(flow.MsgAddressNotVerified())
	return s.failed(ctx, f, method, refused(ident.ID, audit.ResultAddressNotVerified))
}

func anyVerified(addrs []identity.VerifiableAddress) bool {
	for _, a := range addrs {
		if a.Verified {
			return true
		}
	}
	return false
}

// hookEvent is what the after-hooks of a sign-in see.
func (s *Service) hookEvent(q *flow.Request, f *Flow, ident *identity.Identity, sess *session.Session, method string) *hook.Event {
	return &hook.Event{FlowID: f.ID, Flow: f, TransientPayload: f.transientPayload, Request: q, Identity: ident, Session: sess, Method: method}
}
