package registration

import (
	"context"
	"errors"

	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/internal/storeerr"
)

// create runs the after-hooks, then stores the new identity and, with
// the session hook, signs it in, in one transaction. A taken identifier
// rolls everything back and shows Kratos's duplicate message.
func (s *Service) create(ctx context.Context, q *flow.Request, f *Flow, in *identity.CreateInput, method string) (*flow.Result, error) {
	if res, err := s.runAfterHooks(ctx, q, f, in, method); res != nil || err != nil {
		return res, err
	}
	var (
		ident  *identity.Identity
		sess   *session.Session
		token  string
		verify []flow.ContinueWith
		// exchangeTo is where an app's system browser goes back to after a
		// social sign-up (return_to?code=...).
		exchangeTo string
		provider   string
	)
	if f.social != nil {
		provider = f.social.Provider.ID()
	}
	// A browser that gets a session gets a new CSRF token (succeeded). It
	// is issued now, so the verification flows created below are bound to
	// the token the browser will hold; a failure puts the old one back.
	signIn := s.Config.sessionAfter(method)
	rotate := signIn && f.Type == flow.TypeBrowser
	before := q.CSRF.Snapshot()
	if rotate {
		q.CSRF.Rotate()
	}
	err := s.Tx.InTx(ctx, func(ctx context.Context) error {
		var err error
		if ident, err = s.Identities.Create(ctx, *in); err != nil {
			return err
		}
		if s.Verification != nil {
			if verify, err = s.Verification.AfterRegistration(ctx, q, f.Type, ident); err != nil {
				return err
			}
		}
		// A web_hook may have made the identity inactive (awaiting
		// approval, say): it is registered, not signed in.
		if signIn && ident.State == identity.StateActive {
			if sess, token, err = s.Sessions.IssueVia(ctx, ident, method, provider, q.Caller); err != nil {
				return err
			}
			if f.callback && f.TokenExchange {
				if exchangeTo, err = s.Social.CompleteExchange(ctx, f.ID, sess, token, s.returnTo(f)); err != nil {
					return err
				}
			}
		}
		f.State = StatePassedChallenge
		return flow.Save(ctx, s.Flows, f)
	})
	if err != nil {
		q.CSRF.Restore(before)
	}
	if res, err := s.refused(ctx, q, f, err); res != nil || err != nil {
		return res, err
	}
	if s.Hooks != nil {
		s.Hooks.AfterCommit(ctx, s.hookEvent(q, f, ident, method))
	}
	if exchangeTo != "" {
		return &flow.Result{Outcome: flow.Done, RedirectTo: exchangeTo}, nil
	}
	return s.succeeded(q, f, ident, sess, token, verify), nil
}

// refused answers what the identity store refused: a taken identifier
// (Kratos's duplicate message) or schema violations, shown on the form
// (400); other errors are returned as they are; nil, nil for no error.
func (s *Service) refused(ctx context.Context, q *flow.Request, f *Flow, err error) (*flow.Result, error) {
	var ve *identity.ValidationError
	switch {
	case errors.Is(err, storeerr.ErrConflict) && f.social != nil && s.SignIn != nil:
		return s.suggestLink(ctx, q, f)
	case errors.Is(err, storeerr.ErrConflict):
		return s.flows().Reject(ctx, f, flow.MsgDuplicateIdentifier())
	case errors.As(err, &ve):
		showFieldErrors(f, ve.Fields)
		return s.flows().Reject(ctx, f)
	}
	return nil, err
}

// registrationResponse is successfulNativeRegistration.
type registrationResponse struct {
	SessionToken string              `json:"session_token,omitempty"`
	Session      any                 `json:"session,omitempty"`
	Identity     any                 `json:"identity"`
	ContinueWith []flow.ContinueWith `json:"continue_with"`
}

// succeeded answers a registration: native clients get the new identity
// (and, with the session hook, the session and its token); browsers get
// the session cookie and go on to the return URL (or, with the
// show_verification_ui hook, to the verification page). verify are the
// show_verification_ui items, first in continue_with.
func (s *Service) succeeded(q *flow.Request, f *Flow, ident *identity.Identity, sess *session.Session, token string, verify []flow.ContinueWith) *flow.Result {
	returnTo := s.returnTo(f)
	if len(verify) > 0 && verify[0].Flow.URL != "" && q.ClientFor(f.Type) != flow.Native {
		returnTo = verify[0].Flow.URL
	}
	body := registrationResponse{Identity: ident.JSON(identity.PublicView, identity.SchemaURL(s.Config.PublicBaseURL, ident.SchemaID))}
	if sess != nil {
		body.Session = s.Sessions.JSON(sess)
	}
	res := &flow.Result{Outcome: flow.Done, RedirectTo: returnTo}
	if q.ClientFor(f.Type) == flow.Native {
		body.ContinueWith = verify
		if sess != nil {
			body.SessionToken = token
			body.ContinueWith = append(body.ContinueWith, flow.SetSessionToken(token))
		}
		res.Body = body
		return res
	}
	if sess != nil {
		// A new session got a new CSRF token (create), so a token planted
		// before sign-up is useless afterwards.
		res.Session = &flow.SessionGrant{Token: token, ExpiresAt: sess.ExpiresAt}
	}
	body.ContinueWith = append(verify, flow.RedirectBrowserTo(returnTo))
	res.Body = body
	return res
}

// showFieldErrors puts schema violations on their inputs.
func showFieldErrors(f *Flow, errs []identity.FieldError) {
	for _, fe := range errs {
		f.UI.AddNodeMessage(fe.Field, flow.Message{ID: fe.MessageID, Text: fe.Text, Type: flow.MessageError, Context: fe.Context})
	}
}

// returnTo is where a browser goes after signing up on f.
func (s *Service) returnTo(f *Flow) string {
	if f.ReturnTo != "" {
		return f.ReturnTo
	}
	return s.Config.AfterReturnURL
}
