package login

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/hook"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/session"
)

// Submit runs one login submission. Failures the user can fix come back
// as a flow showing messages (400); errors are for what the flow cannot
// show (unknown flow, CSRF violation, disabled identity, storage
// failures). Checks run in Kratos's order.
func (s *Service) Submit(ctx context.Context, q *flow.Request, id uuid.UUID, body *httpx.FormBody, bodyErr error, sess *session.Session) (*flow.Result, error) {
	return s.flows().Submit(ctx, id, ErrFlowNotFound, func(f *Flow) (*flow.Result, error) {
		f.transientPayload = hook.TransientPayload(body)
		return s.submit(ctx, q, f, body, bodyErr, sess)
	})
}

func (s *Service) submit(ctx context.Context, q *flow.Request, f *Flow, body *httpx.FormBody, bodyErr error, sess *session.Session) (*flow.Result, error) {
	now := s.Config.now()
	f.UI.ResetMessages()
	if sess != nil && !f.Refresh && aalRank(f.RequestedAAL) <= aalRank(sess.AAL) {
		if q.ClientFor(f.Type) == flow.BrowserForm {
			return nil, flow.BrowserRedirect(ErrAlreadyLoggedIn, s.Config.DefaultBrowserReturnURL)
		}
		return s.flows().Reject(ctx, f, flow.MsgGeneric(ErrAlreadyLoggedIn.Reason))
	}
	if f.Expired(now) {
		var typed url.Values
		if body != nil {
			typed = body.Values
		}
		return s.replaceExpired(ctx, q, f, sess, now, typed)
	}
	if f.RequestedAAL != AAL1 && (sess == nil || f.IdentityID == nil || sess.IdentityID != *f.IdentityID) {
		// A second factor only raises the session of the identity that
		// started the flow; on its own it signs nobody in.
		return nil, ErrAAL1Required
	}
	if f.State == StatePassedChallenge {
		return s.flows().Reject(ctx, f, flow.MsgLoginRetrySuccess())
	}
	if bodyErr == nil && s.identifierFirst(f) && body.Get("method") == MethodIdentifierFirst {
		return s.identify(ctx, q, f, body)
	}
	m, res, err := flow.Gate(ctx, s.Flows, f, s.Config.UIURL, q, s.methodsFor(f.RequestedAAL), body, bodyErr, flow.MsgLoginNoStrategy())
	if m == nil {
		return res, err
	}
	auth, err := m.Authenticate(ctx, f, body, q.Caller)
	if res, ok := flow.AwayResult(err); ok {
		return res, nil
	}
	var unknown unknownSubject
	if errors.As(err, &unknown) && s.Registrar != nil {
		return s.Registrar.SignUpSocial(ctx, q, &f.Base, false, unknown.ext)
	}
	if err != nil {
		return s.failed(ctx, f, m.ID(), err)
	}
	if auth == nil {
		return s.flows().Reject(ctx, f)
	}
	return s.signIn(ctx, q, f, auth, m.ID(), sess)
}

// signIn completes the flow for an authenticated identity: the
// after-hooks may refuse it first; then, in one transaction, a refresh
// re-authenticates the request's own session and anything else stores a
// new session (revoke_active_sessions ends the others).
func (s *Service) signIn(ctx context.Context, q *flow.Request, f *Flow, auth *Authenticated, method string, sess *session.Session) (*flow.Result, error) {
	ident := auth.Identity
	reauth := sess != nil && sess.IdentityID == ident.ID
	var (
		token      string
		newSession bool
		issued     *session.Session
	)
	seen := sess
	if !reauth {
		var err error
		if issued, token, err = s.Sessions.New(ident, method, q.Caller); err != nil {
			return nil, err
		}
		issued.AuthenticationMethods[0].Provider = auth.Provider
		seen = issued
	}
	if res, err := s.checkAfter(ctx, q, f, ident, seen, method); res != nil || err != nil {
		return res, err
	}
	revoked, exchangeTo := 0, ""
	err := s.Tx.InTx(ctx, func(ctx context.Context) error {
		if auth.Commit != nil {
			if err := auth.Commit(ctx); err != nil {
				return err
			}
		}
		if f.PendingLink != nil {
			if err := s.linkPending(ctx, f, ident); err != nil {
				return err
			}
		}
		if reauth {
			if err := s.Sessions.ReauthenticateVia(ctx, sess, method, auth.Provider); err != nil {
				return fmt.Errorf("re-authenticate session: %w", err)
			}
			token = sess.RequestToken()
		} else {
			if err := s.Sessions.Create(ctx, issued, token); err != nil {
				return err
			}
			sess, newSession = issued, true
		}
		if s.Config.After(method).RevokeOtherSessions {
			var err error
			if revoked, err = s.Sessions.RevokeOthers(ctx, ident.ID, sess.ID); err != nil {
				return fmt.Errorf("revoke other sessions: %w", err)
			}
		}
		if f.callback && f.TokenExchange {
			var err error
			if exchangeTo, err = s.Social.CompleteExchange(ctx, f.ID, sess, token, s.returnTo(f)); err != nil {
				return err
			}
		}
		f.State = StatePassedChallenge
		if err := flow.Save(ctx, s.Flows, f); err != nil {
			return err
		}
		details := map[string]any{"session_id": sess.ID.String(), "aal": sess.AAL}
		if auth.Provider != "" {
			details["provider"] = auth.Provider
		}
		if revoked > 0 {
			details["revoked_sessions"] = revoked
		}
		return s.Audit.Record(ctx, audit.Event{Type: audit.LoginSucceeded, IdentityID: &ident.ID, FlowID: &f.ID, Method: method, Details: details})
	})
	if err != nil {
		return nil, err
	}
	if s.Hooks != nil {
		s.Hooks.AfterCommit(ctx, s.hookEvent(q, f, ident, sess, method))
	}
	returnTo := s.returnTo(f)
	if exchangeTo != "" {
		// The app's system browser goes back to the app, which trades the
		// code for the session token.
		return &flow.Result{Outcome: flow.Done, RedirectTo: exchangeTo}, nil
	}
	res := &flow.Result{Outcome: flow.Done, RedirectTo: returnTo}
	client := q.ClientFor(f.Type)
	// A session that whoami would refuse (an identity with a second
	// factor, signed in with the first) is kept, but the client is sent
	// to the second step, and the identity is not shown to whoever holds
	// only the first factor.
	secondStep := ""
	if !s.Sessions.SatisfiesAAL(sess, s.Config.WhoamiRequiredAAL) {
		secondStep = s.secondStepURL(f)
	}
	if client == flow.Native {
		res.Body = loginResponse{SessionToken: token, Session: s.sessionJSON(sess, secondStep == "")}
		return res, nil
	}
	if newSession {
		// A new login gets a new CSRF token, so a token planted before
		// login is useless afterwards.
		q.CSRF.Rotate()
	}
	if token != "" {
		res.Session = &flow.SessionGrant{Token: token, ExpiresAt: sess.ExpiresAt}
	}
	switch {
	case secondStep != "":
		res.RedirectTo, res.Err = secondStep, flow.BrowserLocationChangeRequired(secondStep)
	case client == flow.SPA:
		res.Body = loginResponse{Session: s.Sessions.JSON(sess), ContinueWith: []flow.ContinueWith{flow.RedirectBrowserTo(returnTo)}}
	}
	return res, nil
}

// replaceExpired answers a request for f, which expired: a new flow like
// it takes over, showing why, with what was typed (flow.KeepTyped).
func (s *Service) replaceExpired(ctx context.Context, q *flow.Request, f *Flow, sess *session.Session, now time.Time, typed url.Values) (*flow.Result, error) {
	nf, err := s.newFlow(ctx, q, f.Type, f.RequestURL, f.ReturnTo, f.Refresh, f.RequestedAAL, sess, flow.MsgLoginExpired(f.ExpiresAt, now))
	if err != nil {
		return nil, err
	}
	if flow.KeepTyped(q, &f.Base, &nf.UI, typed) {
		if err := flow.Save(ctx, s.Flows, nf); err != nil {
			return nil, err
		}
	}
	return flow.ExpiredReplacement(nf, f.ExpiresAt, now, s.Config.UIURL), nil
}

// returnTo is where a browser goes after signing in on f.
func (s *Service) returnTo(f *Flow) string {
	if f.ReturnTo != "" {
		return f.ReturnTo
	}
	return s.Config.AfterReturnURL
}

// linkPending links the provider account a social sign-up left on f to
// ident, which just proved itself. An account linked elsewhere meanwhile
// is left alone: the sign-in itself is still good.
func (s *Service) linkPending(ctx context.Context, f *Flow, ident *identity.Identity) error {
	l := f.PendingLink
	owner, err := s.SocialLinks.FindBySocialLink(ctx, l.Provider, l.Subject)
	switch {
	case err == nil && owner.ID == ident.ID:
		return nil
	case err == nil:
		httpx.Logger(ctx).Warn("social account linked to another identity meanwhile; not linked", "flow_id", f.ID, "provider", l.Provider)
		return nil
	case !errors.Is(err, identity.ErrNotFound):
		return err
	}
	return s.SocialLinks.LinkSocial(ctx, ident.ID, *l)
}

// secondStepURL is the aal2 login a browser goes on to, carrying the
// return_to (and login_challenge) of the flow's request, as in Kratos.
func (s *Service) secondStepURL(f *Flow) string {
	to := s.Sessions.AAL2LoginURL()
	u, err := url.Parse(f.RequestURL)
	if err != nil {
		return to
	}
	for _, k := range []string{"login_challenge", "return_to"} {
		if v := u.Query().Get(k); v != "" {
			to = flow.WithQuery(to, k, v)
		}
	}
	return to
}

// sessionJSON is the session of a login answer; without the identity when
// withIdentity is false.
func (s *Service) sessionJSON(sess *session.Session, withIdentity bool) any {
	if withIdentity {
		return s.Sessions.JSON(sess)
	}
	anonymous := *sess
	anonymous.Identity = nil
	return s.Sessions.JSON(&anonymous)
}

// loginResponse is successfulNativeLogin: the token only for native
// clients, continue_with null for them and a redirect for SPAs.
type loginResponse struct {
	SessionToken string              `json:"session_token,omitempty"`
	Session      any                 `json:"session"`
	ContinueWith []flow.ContinueWith `json:"continue_with"`
}
