package settings

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/internal/social"
)

// MethodOIDC is the social sign-in method's name (and its node group).
const MethodOIDC = social.Method

// Node names of the oidc method.
const (
	nodeLink   = "link"
	nodeUnlink = "unlink"
)

// SocialTrips is what settings needs of social.Service.
type SocialTrips interface {
	List() social.Providers
	// Begin stores a trip to provider for f and returns a *flow.Away.
	Begin(ctx context.Context, f *flow.Base, kind, provider string, upstream map[string]string) error
}

// SocialLinks links and unlinks provider accounts (identity.Service).
type SocialLinks interface {
	Get(ctx context.Context, id uuid.UUID) (*identity.Identity, error)
	FindBySocialLink(ctx context.Context, provider, subject string) (*identity.Identity, error)
	LinkSocial(ctx context.Context, id uuid.UUID, link identity.SocialLink) error
	UnlinkSocial(ctx context.Context, id uuid.UUID, provider string) error
}

// OIDC links and unlinks social sign-in provider accounts: the way a user
// who recovered an account adds a provider to sign in with. Linking leaves
// for the provider and comes back through Service.CompleteSocial.
// Unlinking is offered only while another way to sign in remains.
type OIDC struct {
	flow.Switch // selfservice.methods.oidc.enabled
	Trips       SocialTrips
	Links       SocialLinks
}

// ID implements flow.Method.
func (o *OIDC) ID() string { return MethodOIDC }

// Claims implements flow.Claimer: the buttons submit link=<id> or unlink=<id>
// without a method field.
func (o *OIDC) Claims(body *httpx.FormBody) bool {
	return body.Get(nodeLink) != "" || body.Get(nodeUnlink) != ""
}

// Nodes implements Method: per provider, link or (while another way to
// sign in remains) unlink.
func (o *OIDC) Nodes(_ context.Context, f *Flow) ([]flow.Node, error) {
	var nodes []flow.Node
	for _, p := range o.Trips.List() {
		switch {
		case !f.Identity.LinkedTo(p.ID()):
			nodes = append(nodes, flow.Input(flow.GroupOIDC, nodeLink, "submit", flow.LabelLink(p.Label())).WithValue(p.ID()))
		case canUnlink(f.Identity, p.ID()):
			nodes = append(nodes, flow.Input(flow.GroupOIDC, nodeUnlink, "submit", flow.LabelUnlink(p.Label())).WithValue(p.ID()))
		}
	}
	return nodes, nil
}

// Show implements Method (nothing to fill in).
func (o *OIDC) Show(*Flow) {}

// canUnlink reports whether ident keeps a way to sign in without
// provider: a password, or another linked provider.
func canUnlink(ident *identity.Identity, provider string) bool {
	if ident.HasPassword() {
		return true
	}
	for _, l := range ident.SocialLinks() {
		if l.Provider != provider {
			return true
		}
	}
	return false
}

// Update implements Method.
func (o *OIDC) Update(ctx context.Context, s *Service, f *Flow, sub submission) (*flow.Result, error) {
	if r, err := s.checkOrigin(ctx, f, sub); r != nil || err != nil {
		return r, err
	}
	if err := s.checkPrivileged(sub.session, f); err != nil {
		return nil, err
	}
	if id := sub.body.Get(nodeUnlink); id != "" {
		return o.unlink(ctx, s, f, sub, id)
	}
	id := sub.body.Get(nodeLink)
	p, ok := o.Trips.List().Get(id)
	switch {
	case !ok:
		f.UI.AddMessage(flow.MsgGeneric(fmt.Sprintf("Unable to find OpenID Connect Provider %q", id)))
		return s.reject(ctx, f)
	case f.Identity.LinkedTo(id):
		f.UI.AddMessage(flow.MsgGeneric("This account is already linked to " + p.Label() + "."))
		return s.reject(ctx, f)
	}
	// A settings flow is not bound to a browser's anti-CSRF token (the
	// session is its owner); the trip is, to the one that just proved it.
	trip := f.Base
	if f.Type == flow.TypeBrowser {
		trip.CSRF = sub.q.CSRF.Fingerprint()
	}
	err := o.Trips.Begin(ctx, &trip, Kind, id, social.Upstream(sub.body))
	if res, ok := flow.AwayResult(err); ok {
		return res, nil
	}
	var fm *social.FlowMessage
	if errors.As(err, &fm) {
		f.UI.AddMessage(fm.Msg)
		return s.reject(ctx, f)
	}
	return nil, err
}

func (o *OIDC) unlink(ctx context.Context, s *Service, f *Flow, sub submission, provider string) (*flow.Result, error) {
	switch {
	case !f.Identity.LinkedTo(provider):
		f.UI.AddMessage(flow.MsgGeneric("This account is not linked to " + provider + "."))
		return s.reject(ctx, f)
	case !canUnlink(f.Identity, provider):
		f.UI.AddMessage(flow.MsgGeneric("You can not unlink this provider: it is the only way left to sign in to your account. Set a password or link another provider first."))
		return s.reject(ctx, f)
	}
	return s.saveWithHooks(ctx, f, sub, MethodOIDC, func(ctx context.Context) (*identity.Identity, error) {
		if err := o.Links.UnlinkSocial(ctx, f.IdentityID, provider); err != nil {
			return nil, fmt.Errorf("unlink %s: %w", provider, err)
		}
		id := f.IdentityID
		if err := s.Audit.Record(ctx, audit.Event{Type: audit.SocialUnlinked, IdentityID: &id, FlowID: &f.ID, Method: MethodOIDC,
			Details: map[string]any{"provider": provider}}); err != nil {
			return nil, err
		}
		return o.Links.Get(ctx, f.IdentityID)
	})
}

// CompleteSocial implements social.Completer: the browser came back from
// the provider with the account to link to the flow's identity. An
// account another identity linked is refused (4000007), nothing linked.
func (s *Service) CompleteSocial(ctx context.Context, q *flow.Request, flowID uuid.UUID, ext *social.External, sess *session.Session) (*flow.Result, error) {
	f, sub, res, err := s.socialFlow(ctx, q, flowID, sess)
	if f == nil {
		return res, err
	}
	links := s.socialLinks()
	owner, err := links.FindBySocialLink(ctx, ext.Provider.ID(), ext.Subject)
	switch {
	case err == nil && owner.ID != f.IdentityID:
		f.UI.AddMessage(flow.MsgDuplicateIdentifier())
		return s.reject(ctx, f)
	case err != nil && !errors.Is(err, identity.ErrNotFound):
		return nil, err
	}
	return s.saveWithHooks(ctx, f, sub, MethodOIDC, func(ctx context.Context) (*identity.Identity, error) {
		err := links.LinkSocial(ctx, f.IdentityID, ext.Link())
		if err != nil {
			return nil, fmt.Errorf("link %s: %w", ext.Provider.ID(), err)
		}
		// Linking proved the provider account: the session records it.
		if err := s.Sessions.ReauthenticateVia(ctx, sub.session, MethodOIDC, ext.Provider.ID()); err != nil {
			return nil, fmt.Errorf("record %s on session: %w", ext.Provider.ID(), err)
		}
		id := f.IdentityID
		if err := s.Audit.Record(ctx, audit.Event{Type: audit.SocialLinked, IdentityID: &id, FlowID: &f.ID, Method: MethodOIDC,
			Details: map[string]any{"provider": ext.Provider.ID()}}); err != nil {
			return nil, err
		}
		return links.Get(ctx, f.IdentityID)
	})
}

// FailSocial implements social.Completer: msg is shown on the flow.
func (s *Service) FailSocial(ctx context.Context, q *flow.Request, flowID uuid.UUID, msg flow.Message, sess *session.Session) (*flow.Result, error) {
	f, _, res, err := s.socialFlow(ctx, q, flowID, sess)
	if f == nil {
		return res, err
	}
	f.UI.AddMessage(msg)
	return s.reject(ctx, f)
}

// socialFlow loads the settings flow a trip comes back to, for the
// session's identity; anything else is answered instead (f nil).
func (s *Service) socialFlow(ctx context.Context, q *flow.Request, flowID uuid.UUID, sess *session.Session) (*Flow, submission, *flow.Result, error) {
	sub := submission{q: q, session: sess, body: &httpx.FormBody{}}
	if sess == nil {
		return nil, sub, nil, s.noSession()
	}
	f, err := s.load(ctx, flowID)
	if err != nil {
		return nil, sub, nil, err
	}
	if f.IdentityID != sess.IdentityID {
		return nil, sub, nil, errSubmitOtherIdentity
	}
	now := s.Config.now()
	if f.Expired(now) {
		nf, err := s.newFlow(ctx, sess.Identity, f.Type, f.RequestURL, f.ReturnTo)
		if err != nil {
			return nil, sub, nil, err
		}
		nf.UI.AddMessage(flow.MsgSettingsExpired(f.ExpiresAt, now))
		if err := flow.Create(ctx, s.Flows, nf); err != nil {
			return nil, sub, nil, err
		}
		return nil, sub, flow.ExpiredReplacement(s.view(nf), f.ExpiresAt, now, s.Config.SettingsUIURL), nil
	}
	ident, err := s.Identities.Get(ctx, sess.IdentityID)
	if err != nil {
		return nil, sub, nil, err
	}
	f.Identity = ident
	f.UI.ResetMessages()
	return f, sub, nil, nil
}

// socialLinks is the oidc method's link store.
func (s *Service) socialLinks() SocialLinks {
	for _, m := range s.Methods {
		if o, ok := m.(*OIDC); ok {
			return o.Links
		}
	}
	return nil
}
