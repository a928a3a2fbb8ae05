package recovery

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/session"
)

// matching returns the secret whose keyed hash matches value. Every
// candidate is compared, in constant time, whatever matched before.
func matching(h secret.Hasher, secrets []Secret, value string) *Secret {
	var found *Secret
	for i := range secrets {
		if h.Matches(value, secrets[i].Hash) && found == nil {
			found = &secrets[i]
		}
	}
	return found
}

var errAlreadyUsed = errors.New("recovery: code or token already used")

// succeed completes the flow (§7.4) in one transaction: the secret is
// spent with use (exactly one concurrent caller wins, the others get
// errAlreadyUsed), the flow passes, a self-service address is verified,
// other sessions are revoked, a session is issued and a settings flow
// started.
//
// Browsers are sent to the settings flow. JSON clients get the flow with
// continue_with, or Kratos's 422 naming the settings UI when continue_with
// transitions are off. When the settings flow needs a second factor
// first (StepUpAfterRecovery), browsers are sent to the aal2 login that
// leads back to it (an SPA by the 422), and a native app finds message
// 1010004 on the flow beside the usual continue_with. Browser flows, and
// every link recovery, hand the session over as a cookie; a native code
// recovery gets its token in continue_with.
func (s *Service) succeed(ctx context.Context, q *flow.Request, f *Flow, sec *Secret, m Method, use func(context.Context, uuid.UUID, time.Time) (bool, error)) (*flow.Result, error) {
	if res, err := s.runAfterHooks(ctx, q, f, sec, m); res != nil || err != nil {
		return res, err
	}
	// The sessions revoked here are logged as part of this flow.
	ctx = audit.InFlow(ctx, f.ID, string(m))
	var done completion
	err := s.Tx.InTx(ctx, func(ctx context.Context) error {
		return s.complete(ctx, q, f, sec, m, use, &done)
	})
	return s.answerSuccess(ctx, q, f, sec, m, &done, err, false)
}

// completion is what completing a recovery leaves for its answer.
type completion struct {
	recovered      *identity.Identity
	sess           *session.Session
	token          string
	settingsFlowID uuid.UUID
	stepUp         string
	revoked        int
	failed         string // the audit result of a refusal
}

// complete does succeed's writes in the transaction carried by ctx (made
// audit.InFlow of f),
// leaving in done what the answer needs. A refusal (the secret used
// meanwhile, the identity no longer active) sets done.failed and returns
// an error, which rolls the transaction back.
func (s *Service) complete(ctx context.Context, q *flow.Request, f *Flow, sec *Secret, m Method, use func(context.Context, uuid.UUID, time.Time) (bool, error), done *completion) error {
	*done = completion{} // a transaction run again completes again
	browserSession := f.Type == flow.TypeBrowser || m == MethodLink
	ok, err := use(ctx, sec.ID, s.now())
	if err != nil {
		return err
	}
	if !ok {
		done.failed = audit.ResultAlreadyUsed
		return errAlreadyUsed
	}
	ident, err := s.Identities.Get(ctx, sec.IdentityID)
	if err != nil {
		return err
	}
	if ident.State != identity.StateActive {
		done.failed = audit.ResultIdentityInactive
		return session.ErrIdentityDisabled(ident.ID)
	}
	done.recovered = ident
	if sec.Kind == KindSelf && sec.AddressID != nil {
		for _, a := range ident.RecoveryAddresses {
			if a.ID == *sec.AddressID {
				if err := s.Identities.MarkVerified(ctx, ident.ID, a.Via, a.Value); err != nil {
					return err
				}
			}
		}
	}
	if s.Config.RevokeOtherSessions {
		// Before the new session exists, so it survives.
		if done.revoked, err = s.Sessions.RevokeAll(ctx, ident.ID); err != nil {
			return err
		}
	}
	method := session.MethodCodeRecovery
	if m == MethodLink {
		method = session.MethodLinkRecovery
	}
	if done.sess, done.token, err = s.Sessions.Issue(ctx, ident, method, q.Caller); err != nil {
		return err
	}
	if m == MethodLookup {
		// The code is the identity's second factor (lookup.go).
		if err := s.Sessions.Reauthenticate(ctx, done.sess, session.MethodLookupSecret); err != nil {
			return err
		}
	}
	settingsType := f.Type
	if browserSession {
		settingsType = flow.TypeBrowser
		// A token planted in the browser before is useless afterwards.
		f.CSRF = q.CSRF.Rotate()
	}
	returnTo := f.ReturnTo
	if returnTo == "" {
		returnTo = s.Config.AfterDefaultReturnURL
	}
	if done.settingsFlowID, err = s.Settings.StartAfterRecovery(ctx, ident, done.sess, settingsType, q.URL, returnTo); err != nil {
		return err
	}
	if err := s.Audit.Record(ctx, audit.Event{Type: audit.RecoverySucceeded, IdentityID: &ident.ID, FlowID: &f.ID, Method: string(m),
		Details: map[string]any{"issued_by": string(sec.Kind), "session_id": done.sess.ID.String(), "revoked_sessions": done.revoked}}); err != nil {
		return err
	}
	f.State = StatePassedChallenge
	f.UI.ResetMessages()
	if done.stepUp = s.Settings.StepUpAfterRecovery(done.sess, done.settingsFlowID); done.stepUp != "" {
		// A native app learns here that the token needs an aal2
		// login before the settings flow (continue_with keeps
		// Kratos's actions, which the SDKs decode).
		f.UI.AddMessage(flow.MsgLoginSecondFactor())
	}
	return flow.Save(ctx, s.Flows, f)
}

// answerSuccess answers a recovery whose completion's transaction ended
// with err. A refusal rolled that transaction back and is recorded in one
// of its own; with recount, that one also counts the submission again,
// which the rolled-back transaction had counted (checkCode's).
func (s *Service) answerSuccess(ctx context.Context, q *flow.Request, f *Flow, sec *Secret, m Method, done *completion, err error, recount bool) (*flow.Result, error) {
	if done.failed != "" {
		if rerr := s.Tx.InTx(ctx, func(ctx context.Context) error {
			if recount {
				if _, err := s.Flows.IncrementSubmissions(ctx, f.ID); err != nil {
					return err
				}
			}
			return s.recordFailed(ctx, f, m, sec.IdentityID, done.failed)
		}); rerr != nil {
			return nil, rerr
		}
	}
	if err != nil {
		return nil, err
	}
	browserSession := f.Type == flow.TypeBrowser || m == MethodLink
	sess, token, settingsFlowID, stepUp := done.sess, done.token, done.settingsFlowID, done.stepUp
	settingsURL := flow.WithQuery(s.Config.SettingsUIURL, "flow", settingsFlowID.String())
	// With a second factor under required_aal highest_available the
	// settings flow wants aal2 first: browsers are sent to that login,
	// which returns them to the settings flow (see stepUp).
	next := settingsURL
	if stepUp != "" {
		next = stepUp
	}
	res := &flow.Result{Outcome: flow.Done, FlowType: f.Type, RedirectTo: next}
	if browserSession {
		res.Session = &flow.SessionGrant{Token: token, ExpiresAt: sess.ExpiresAt}
	} else {
		f.ContinueWith = append(f.ContinueWith, flow.SetSessionToken(token))
	}
	f.ContinueWith = append(f.ContinueWith, flow.ShowSettingsUI(settingsFlowID, settingsURL))
	switch {
	case stepUp != "" && f.Type == flow.TypeBrowser, !s.Config.ContinueWithTransitions:
		res.Err = flow.BrowserLocationChangeRequired(next)
	default:
		res.Flow = f
	}
	s.afterCommit(ctx, q, f, done.recovered, m)
	httpx.Logger(ctx).Info("recovery succeeded", "flow_id", f.ID, "identity_id", sec.IdentityID, "session_id", sess.ID,
		"method", string(m), "issued_by", string(sec.Kind), "revoked_sessions", done.revoked, "settings_flow_id", settingsFlowID,
		"second_factor_required", stepUp != "")
	return res, nil
}
