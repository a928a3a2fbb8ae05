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

// Submission is one POST /self-service/settings, decoded by the handler.
type Submission struct {
	FlowID  uuid.UUID
	Session *session.Session
	Body    *httpx.FormBody
	// CSRF is the verdict on the body's csrf_token (nil: it matches the
	// cookie). Only browser flows need a valid one.
	CSRF error
	// BrowserSignals is flow.CheckNativeRequest's verdict (nil: the
	// request carries no cookie or Origin). Only api flows need it nil.
	BrowserSignals error
}

// Result is what a submission led to.
type Result struct {
	// Type is the type of the submitted flow; set whenever the flow could
	// be loaded, even when Submit also returns an error, so the handler
	// knows how to answer.
	Type flow.Type
	// Flow is the flow to show: saved (state success) or with the
	// validation messages of a rejected submission.
	Flow *Flow
	// Status is 200 for a saved change, 400 for a rejected one.
	Status int
	// Succeeded reports a saved change.
	Succeeded bool
	// RedirectTo is where a browser goes next: the return URL after a
	// success, the flow's UI after a rejection.
	RedirectTo string
}

// Submit applies a settings submission. Checks run in this order: the
// flow exists; the session's assurance level; the flow belongs to the
// session's identity; it has not expired; the method; the method's
// required fields; CSRF (browser) or the absence of browser signals (api);
// the privileged-session window; then the method's own rules.
func (s *Service) Submit(ctx context.Context, sub Submission) (*Result, error) {
	f, err := s.load(ctx, sub.FlowID)
	if err != nil {
		return nil, err
	}
	res := &Result{Type: f.Type}
	sess := sub.Session
	if err := s.checkAAL(sess, s.Config.actionURL(f.ID.String())); err != nil {
		return res, err
	}
	if f.IdentityID != sess.IdentityID {
		return res, errSubmitOtherIdentity
	}
	if f.Expired(s.Config.now()) {
		return res, s.replaceExpired(ctx, f, sess.Identity)
	}
	f.Identity = sess.Identity
	f.UI.ResetMessages()
	if tp, ok := sub.Body.Raw["transient_payload"]; ok && sub.Body.JSON {
		f.TransientPayload = tp
	}
	switch method := sub.Body.Get("method"); {
	case method == MethodPassword && s.Config.PasswordEnabled:
		return s.updatePassword(ctx, f, sub, res)
	case method == MethodProfile && s.Config.ProfileEnabled:
		return s.updateProfile(ctx, f, sub, res)
	case method == MethodPassword, method == MethodProfile:
		return res, httpx.ErrMethodDisabled()
	}
	f.UI.AddMessage(flow.MsgSettingsNoStrategy())
	return s.reject(ctx, f, res)
}

// checkOrigin applies the flow type's protection against cross-site
// requests. A failed CSRF check is an error (403); browser signals on an
// api flow reject the submission with a message on the flow (400).
// It returns (nil, nil) when the request may go on.
func (s *Service) checkOrigin(ctx context.Context, f *Flow, sub Submission, res *Result) (*Result, error) {
	if f.Type == flow.TypeBrowser && sub.CSRF != nil {
		return res, sub.CSRF
	}
	if f.Type == flow.TypeAPI && sub.BrowserSignals != nil {
		f.UI.AddMessage(flow.MsgGeneric(httpx.AsError(sub.BrowserSignals).Reason))
		return s.reject(ctx, f, res)
	}
	return nil, nil
}

// reject saves f with the messages of a rejected submission and answers 400.
func (s *Service) reject(ctx context.Context, f *Flow, res *Result) (*Result, error) {
	f.State = StateShowForm
	if err := s.save(ctx, f); err != nil {
		return res, err
	}
	res.Flow, res.Status, res.RedirectTo = f, http.StatusBadRequest, s.Config.uiURL(f.ID.String())
	return res, nil
}

// succeed marks f saved. Like Kratos, the answer keeps f's id but shows
// the form of a fresh flow (whose action names the fresh flow) with
// message 1050001, and the updated identity.
func (s *Service) succeed(ctx context.Context, f *Flow, ident *identity.Identity, method string, res *Result) error {
	fresh, err := s.newFlow(ident, f.Type, f.RequestURL, f.ReturnTo)
	if err != nil {
		return err
	}
	if err := s.create(ctx, fresh); err != nil {
		return err
	}
	f.UI = fresh.UI
	f.UI.AddMessage(flow.MsgSettingsSaved())
	f.State = StateSuccess
	f.Identity = ident
	if err := s.save(ctx, f); err != nil {
		return err
	}
	res.Flow, res.Status, res.Succeeded = f, http.StatusOK, true
	res.RedirectTo = s.returnTarget(f, method)
	return nil
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
