package verification

import (
	"context"

	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/identity"
)

// AfterRegistration sends a code (or link) to every unverified address of a new
// identity, each in a verification flow of the registration's type, in
// the registration's transaction (so a rolled-back registration sends
// nothing). With the show_verification_ui hook the answer names the
// flows (registration.Verifier).
func (s *Service) AfterRegistration(ctx context.Context, q *flow.Request, t flow.Type, ident *identity.Identity) ([]flow.ContinueWith, error) {
	return s.sendForNew(ctx, q, t, ident, s.Config.ShowUIAfterRegistration)
}

// AfterSettings sends a code to every address of ident that was never
// sent one, after any settings change, as Kratos does (settings.Verifier).
func (s *Service) AfterSettings(ctx context.Context, q *flow.Request, t flow.Type, ident *identity.Identity) ([]flow.ContinueWith, error) {
	return s.sendForNew(ctx, q, t, ident, s.Config.ShowUIAfterSettings)
}

// sendForNew mails a code or link for each pending (never mailed,
// unverified) email address of ident, each in its own flow of type t.
func (s *Service) sendForNew(ctx context.Context, q *flow.Request, t flow.Type, ident *identity.Identity, show bool) ([]flow.ContinueWith, error) {
	if !s.Config.Enabled || !s.Config.methodEnabled(s.Config.method()) {
		return nil, nil
	}
	var out []flow.ContinueWith
	for i, va := range ident.VerifiableAddresses {
		if va.Verified || va.Via != "email" || va.Status != identity.VerifiableStatusPending {
			continue
		}
		cw, err := s.sendInNewFlow(ctx, q, t, ident, va)
		if err != nil {
			return nil, err
		}
		ident.VerifiableAddresses[i].Status = identity.VerifiableStatusSent
		if show {
			out = append(out, cw)
		}
	}
	return out, nil
}

// SendForLogin is require_verified_address's answer to a sign-in whose
// identity has no verified address: a verification flow of type t for
// its first unverified email address, a code or link sent to it, in the
// caller's transaction. ok is false when verification is off or the
// identity has no such address.
func (s *Service) SendForLogin(ctx context.Context, q *flow.Request, t flow.Type, ident *identity.Identity) (cw flow.ContinueWith, ok bool, err error) {
	if !s.Config.Enabled || !s.Config.methodEnabled(s.Config.method()) {
		return flow.ContinueWith{}, false, nil
	}
	for _, va := range ident.VerifiableAddresses {
		if va.Verified || va.Via != "email" || va.Value == "" {
			continue
		}
		cw, err := s.sendInNewFlow(ctx, q, t, ident, va)
		if err != nil {
			return flow.ContinueWith{}, false, err
		}
		// Kratos names the page here whatever the flow's type.
		cw.Flow.URL = flow.WithQuery(s.Config.UIURL, "flow", cw.Flow.ID.String())
		return cw, true, nil
	}
	return flow.ContinueWith{}, false, nil
}

// sendInNewFlow creates a flow of type t in sent_email for address va of
// ident and mails it a code or link. The identity is known (the caller
// authenticated it or just created it), so nothing is hidden here.
func (s *Service) sendInNewFlow(ctx context.Context, q *flow.Request, t flow.Type, ident *identity.Identity, va identity.VerifiableAddress) (flow.ContinueWith, error) {
	m := s.Config.method()
	f := s.newFlow(t, q.URL, "", q.CSRF.Fingerprint())
	a := &Address{ID: va.ID, IdentityID: ident.ID, Via: va.Via, Value: va.Value, Status: va.Status}
	f.State = StateSentEmail
	if m == MethodLink {
		f.UI.Nodes = emailNodes(t, m, va.Value)
		f.UI.AddMessage(flow.MsgVerificationLinkSent())
	} else {
		f.UI.Nodes = sentNodes(t, va.Value)
		f.UI.AddMessage(flow.MsgVerificationCodeSent())
	}
	if err := flow.Create(ctx, s.Flows, f); err != nil {
		return flow.ContinueWith{}, err
	}
	if err := s.issueAndMail(ctx, f, m, a, ident); err != nil {
		return flow.ContinueWith{}, err
	}
	if err := s.recordSent(ctx, f, m, a); err != nil {
		return flow.ContinueWith{}, err
	}
	url := ""
	if t == flow.TypeBrowser {
		url = flow.WithQuery(s.Config.UIURL, "flow", f.ID.String())
	}
	return flow.ShowVerificationUI(f.ID, va.Value, url), nil
}
