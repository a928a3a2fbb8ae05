package verification

import (
	"context"

	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/identity"
)

// AfterRegistration sends a code to every unverified address of a new
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

// sendForNew mails a code for each pending (never mailed, unverified)
// email address of ident, each in its own flow of type t.
func (s *Service) sendForNew(ctx context.Context, q *flow.Request, t flow.Type, ident *identity.Identity, show bool) ([]flow.ContinueWith, error) {
	if !s.Config.Enabled || !s.Config.CodeEnabled {
		return nil, nil
	}
	var out []flow.ContinueWith
	for i, va := range ident.VerifiableAddresses {
		if va.Verified || va.Via != "email" || va.Status != identity.VerifiableStatusPending {
			continue
		}
		f := s.newFlow(t, q.URL, "", q.CSRF.Fingerprint())
		a := &Address{ID: va.ID, IdentityID: ident.ID, Via: va.Via, Value: va.Value, Status: va.Status}
		f.State = StateSentEmail
		f.UI.Nodes = sentNodes(t, va.Value)
		f.UI.AddMessage(flow.MsgVerificationCodeSent())
		if err := flow.Create(ctx, s.Flows, f); err != nil {
			return nil, err
		}
		if err := s.issueAndMail(ctx, f, a); err != nil {
			return nil, err
		}
		ident.VerifiableAddresses[i].Status = identity.VerifiableStatusSent
		if show {
			url := ""
			if t == flow.TypeBrowser {
				url = flow.WithQuery(s.Config.UIURL, "flow", f.ID.String())
			}
			out = append(out, flow.ShowVerificationUI(f.ID, va.Value, url))
		}
	}
	return out, nil
}
