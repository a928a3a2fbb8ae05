package settings

import (
	"context"
	"net/http"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/session"
)

// submission is one POST /self-service/settings on its way through the
// checks and a method.
type submission struct {
	q       *flow.Request
	session *session.Session
	body    *httpx.FormBody
}

// Submit applies a settings submission (POST /self-service/settings).
// Checks run in this order: a session; the body decodes; the flow
// exists; the session's assurance level; the flow belongs to the
// session's identity; it has not expired; the method; the method's
// required fields; CSRF (browser) or the absence of browser signals
// (api); the privileged-session window; then the method's own rules.
func (s *Service) Submit(ctx context.Context, q *flow.Request, id uuid.UUID, body *httpx.FormBody, bodyErr error, sess *session.Session) (*flow.Result, error) {
	if sess == nil {
		return nil, s.noSession()
	}
	if bodyErr != nil {
		return nil, bodyErr
	}
	f, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	res, err := s.submit(ctx, f, submission{q: q, session: sess, body: body})
	return flow.OfType(f.Type, res, err)
}

func (s *Service) submit(ctx context.Context, f *Flow, sub submission) (*flow.Result, error) {
	sess := sub.session
	if err := s.checkAAL(sess, s.Config.actionURL(f.ID.String())); err != nil {
		return nil, err
	}
	if f.IdentityID != sess.IdentityID {
		return nil, errSubmitOtherIdentity
	}
	now := s.Config.now()
	if f.Expired(now) {
		nf, err := s.newFlow(ctx, sess.Identity, f.Type, f.RequestURL, f.ReturnTo)
		if err != nil {
			return nil, err
		}
		nf.UI.AddMessage(flow.MsgSettingsExpired(f.ExpiresAt, now))
		if err := flow.Create(ctx, s.Flows, nf); err != nil {
			return nil, err
		}
		return flow.ExpiredReplacement(s.view(nf), f.ExpiresAt, now, s.Config.SettingsUIURL), nil
	}
	f.Identity = sess.Identity
	f.UI.ResetMessages()
	if tp, ok := sub.body.Raw["transient_payload"]; ok && sub.body.JSON {
		f.TransientPayload = tp
	}
	switch method := sub.body.Get("method"); {
	case method == MethodPassword && s.Config.PasswordEnabled:
		return s.updatePassword(ctx, f, sub)
	case method == MethodProfile && s.Config.ProfileEnabled:
		return s.updateProfile(ctx, f, sub)
	case method == MethodPassword, method == MethodProfile:
		return nil, httpx.ErrMethodDisabled()
	}
	for _, m := range s.Methods {
		if !flow.Claims(m, sub.body.Get("method"), sub.body) {
			continue
		}
		if !m.Enabled() {
			return nil, httpx.ErrMethodDisabled()
		}
		return m.Update(ctx, s, f, sub)
	}
	f.UI.AddMessage(flow.MsgSettingsNoStrategy())
	return s.reject(ctx, f)
}

// checkOrigin applies the flow type's protection against cross-site
// requests. A failed CSRF check is an error (403); browser signals on an
// api flow reject the submission with a message on the flow (400).
// It returns (nil, nil) when the request may go on.
func (s *Service) checkOrigin(ctx context.Context, f *Flow, sub submission) (*flow.Result, error) {
	err := f.CheckOrigin(sub.q, true)
	switch {
	case err == nil:
		return nil, nil
	case f.Type == flow.TypeBrowser:
		return nil, err
	}
	f.UI.AddMessage(flow.MsgGeneric(httpx.AsError(err).Reason))
	return s.reject(ctx, f)
}

// reject saves f with the messages of a rejected submission and answers 400.
func (s *Service) reject(ctx context.Context, f *Flow) (*flow.Result, error) {
	f.State = StateShowForm
	return flow.Reject(ctx, s.Flows, s.view(f), s.Config.SettingsUIURL)
}

// succeed marks f saved. Like Kratos, the answer keeps f's id but shows
// the form of a fresh flow (whose action names the fresh flow) with
// message 1050001, and the updated identity. A browser goes on to the
// return URL; an SPA is told to; a browser flow driven by a session
// cookie gets the cookie again.
func (s *Service) succeed(ctx context.Context, sub submission, f *Flow, ident *identity.Identity, method string) (*flow.Result, error) {
	fresh, err := s.newFlow(ctx, ident, f.Type, f.RequestURL, f.ReturnTo)
	if err != nil {
		return nil, err
	}
	if err := flow.Create(ctx, s.Flows, fresh); err != nil {
		return nil, err
	}
	f.UI, f.Pending = fresh.UI, fresh.Pending
	f.UI.AddMessage(flow.MsgSettingsSaved())
	f.State = StateSuccess
	f.Identity = ident
	if err := flow.Save(ctx, s.Flows, f); err != nil {
		return nil, err
	}
	var verify []flow.ContinueWith
	if s.Verification != nil {
		if verify, err = s.Verification.AfterSettings(ctx, sub.q, f.Type, ident); err != nil {
			return nil, err
		}
		if method != MethodProfile {
			// show_verification_ui is a hook of the profile method only.
			verify = nil
		}
	}
	res := &flow.Result{Outcome: flow.Done, Flow: s.view(f), Status: http.StatusOK, RedirectTo: s.returnTarget(f, method)}
	f.ContinueWith = verify
	if sub.q.ClientFor(f.Type) == flow.SPA {
		f.ContinueWith = append(f.ContinueWith, flow.RedirectBrowserTo(res.RedirectTo))
	}
	if sess := sub.session; f.Type == flow.TypeBrowser && sess.Carrier() == session.CarrierCookie {
		res.Session = &flow.SessionGrant{Token: sess.RequestToken(), ExpiresAt: sess.ExpiresAt}
	}
	return res, nil
}

// returnTarget is where a browser goes after a successful submission: the
// flow's return_to, the configured after-URL of the method, the general
// after-URL, or else the settings UI showing this flow.
func (s *Service) returnTarget(f *Flow, method string) string {
	if f.ReturnTo != "" {
		return f.ReturnTo
	}
	if rt, err := s.Config.ReturnTo.Validate(flow.ReturnToOf(f.RequestURL)); err == nil && rt != "" {
		return rt
	}
	if u := s.Config.afterReturnURL(method); u != "" {
		return u
	}
	return s.Config.uiURL(f.ID.String())
}
