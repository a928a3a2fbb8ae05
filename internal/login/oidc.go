package login

import (
	"context"
	"errors"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/internal/social"
)

// MethodOIDC is the social sign-in method's name.
const MethodOIDC = social.Method

// Node names of the oidc method.
const (
	nodeProvider = "provider"
	nodeIDToken  = "id_token"
	nodeNonce    = "id_token_nonce"
)

// SocialTrips is what login needs of social.Service.
type SocialTrips interface {
	List() social.Providers
	// Begin stores a trip to provider for f and returns a *flow.Away.
	Begin(ctx context.Context, f *flow.Base, kind, provider string, upstream map[string]string) error
	VerifyIDToken(ctx context.Context, provider, idToken, nonce string) (*social.External, error)
	NewExchange(ctx context.Context, f *flow.Base) (string, error)
	MoveExchange(ctx context.Context, from, to uuid.UUID) error
	CompleteExchange(ctx context.Context, flowID uuid.UUID, sess *session.Session, token, returnTo string) (string, error)
}

// SocialLinks finds and links provider accounts (identity.Service).
type SocialLinks interface {
	FindBySocialLink(ctx context.Context, provider, subject string) (*identity.Identity, error)
	LinkSocial(ctx context.Context, id uuid.UUID, link identity.SocialLink) error
}

// Registrar signs up who signed in with a provider account no identity
// has linked (registration.Service).
type Registrar interface {
	// SignUpSocial registers ext in a new registration flow carrying on
	// from flow from (its type, request and return_to); with exchange, the
	// sign-up completes from's session token exchange.
	SignUpSocial(ctx context.Context, q *flow.Request, from *flow.Base, exchange bool, ext *social.External) (*flow.Result, error)
}

// OIDC is social sign-in: one button per provider; pressing one leaves
// for the provider (the callback comes back through CompleteSocial); a
// native app may instead submit an ID token it got itself.
type OIDC struct {
	flow.Switch // selfservice.methods.oidc.enabled
	Trips       SocialTrips
	Links       SocialLinks
}

// ID implements Method.
func (o *OIDC) ID() string { return MethodOIDC }

// Claims implements flow.Claimer: a provider button submits
// provider=<id> without a method field.
func (o *OIDC) Claims(body *httpx.FormBody) bool { return body.Get(nodeProvider) != "" }

// Nodes implements Method: a submit button per provider. A refresh shows
// only the providers the identity linked.
func (o *OIDC) Nodes(_ context.Context, f *Flow, sess *session.Session) ([]flow.Node, error) {
	var nodes []flow.Node
	for _, p := range o.Trips.List() {
		if f.Refresh && sess != nil && sess.Identity != nil && len(sess.Identity.Credentials) > 0 && !sess.Identity.LinkedTo(p.ID()) {
			continue
		}
		nodes = append(nodes, flow.Input(flow.GroupOIDC, nodeProvider, "submit", flow.LabelLoginWith(p.Label(), p.ID())).WithValue(p.ID()))
	}
	return nodes, nil
}

// unknownSubject: an ID token named a provider account nobody linked; the
// service signs it up.
type unknownSubject struct{ ext *social.External }

func (unknownSubject) Error() string { return "no identity linked this provider account" }

// Authenticate implements Method: with an id_token, the identity that
// linked its subject; else the trip to the provider (*flow.Away).
func (o *OIDC) Authenticate(ctx context.Context, f *Flow, body *httpx.FormBody, _ httpx.Caller) (*Authenticated, error) {
	provider := body.Get(nodeProvider)
	if provider == "" {
		f.UI.AddMessage(flow.MsgMissingProperty(nodeProvider))
		return nil, nil
	}
	token := body.Get(nodeIDToken)
	if token == "" {
		err := o.Trips.Begin(ctx, &f.Base, Kind, provider, social.Upstream(body))
		return nil, social.ShowOn(&f.UI, err)
	}
	ext, err := o.Trips.VerifyIDToken(ctx, provider, token, body.Get(nodeNonce))
	if err != nil {
		return nil, social.ShowOn(&f.UI, err)
	}
	ident, err := o.Links.FindBySocialLink(ctx, provider, ext.Subject)
	if errors.Is(err, identity.ErrNotFound) {
		return nil, unknownSubject{ext}
	}
	if err != nil {
		return nil, err
	}
	return o.authenticated(f, ident, ext)
}

// authenticated checks that ident may sign in on f.
func (o *OIDC) authenticated(f *Flow, ident *identity.Identity, ext *social.External) (*Authenticated, error) {
	if f.Refresh && f.IdentityID != nil && *f.IdentityID != ident.ID {
		f.UI.AddMessage(flow.MsgGeneric("You signed in with a different account than the one you are refreshing. Please use the account you are signed in with."))
		return nil, nil
	}
	if ident.State != identity.StateActive {
		return nil, inactive(ident.ID)
	}
	return &Authenticated{Identity: ident, Provider: ext.Provider.ID()}, nil
}

// CompleteSocial implements social.Completer: the browser came back from
// the provider for login flow flowID. The identity that linked the
// provider account signs in; an account nobody linked signs up (as in
// Kratos).
func (s *Service) CompleteSocial(ctx context.Context, q *flow.Request, flowID uuid.UUID, ext *social.External, sess *session.Session) (*flow.Result, error) {
	f, res, err := s.socialFlow(ctx, q, flowID, sess)
	if f == nil {
		return res, err
	}
	return s.signInSocial(ctx, q, f, ext, sess)
}

// SignInSocial signs ext's identity in through a new login flow carrying
// on from flow from (a registration with a provider account that is
// linked already signs in); with exchange, the sign-in completes from's
// session token exchange.
func (s *Service) SignInSocial(ctx context.Context, q *flow.Request, from *flow.Base, exchange bool, ext *social.External, sess *session.Session) (*flow.Result, error) {
	f, err := s.carryOn(ctx, q, from, exchange)
	if err != nil {
		return nil, err
	}
	return s.signInSocial(ctx, q, f, ext, sess)
}

// SuggestLink answers a social sign-up whose address belongs to an
// identity already: no second identity; a new login flow says so (1010016)
// and remembers the provider account, which a sign-in there links.
func (s *Service) SuggestLink(ctx context.Context, q *flow.Request, from *flow.Base, ext *social.External, identifier string) (*flow.Result, error) {
	f, err := s.carryOn(ctx, q, from, false)
	if err != nil {
		return nil, err
	}
	link := ext.Link()
	f.PendingLink = &link
	f.UI.AddMessage(flow.MsgLoginLink(identifier, ext.Provider.Label(), f.UI.Action, []string{MethodPassword}, []string{ext.Provider.ID()}))
	if identifier != "" {
		f.UI.SetNodeValue(nodeIdentifier, identifier)
	}
	if err := flow.Save(ctx, s.Flows, f); err != nil {
		return nil, err
	}
	return s.flows().Show(f, 0), nil
}

// carryOn creates the login flow a hand-over continues in, with the
// exchange of flow from when it had one.
func (s *Service) carryOn(ctx context.Context, q *flow.Request, from *flow.Base, exchange bool) (*Flow, error) {
	f, err := s.newFlow(ctx, q, from.Type, from.RequestURL, from.ReturnTo, false, AAL1, nil)
	if err != nil {
		return nil, err
	}
	if exchange {
		if err := s.Social.MoveExchange(ctx, from.ID, f.ID); err != nil {
			return nil, err
		}
		f.TokenExchange, f.callback = true, true
	}
	return f, nil
}

// socialFlow loads the login flow a trip comes back to; an expired or
// spent flow is answered instead (f nil).
func (s *Service) socialFlow(ctx context.Context, q *flow.Request, flowID uuid.UUID, sess *session.Session) (*Flow, *flow.Result, error) {
	f, err := s.flows().Load(ctx, flowID.String(), ErrFlowNotFound)
	if err != nil {
		return nil, nil, err
	}
	now := s.Config.now()
	f.UI.ResetMessages()
	if f.Expired(now) {
		res, err := s.replaceExpired(ctx, q, f, sess, now, nil)
		return nil, res, err
	}
	if f.State == StatePassedChallenge {
		res, err := s.flows().Reject(ctx, f, flow.MsgLoginRetrySuccess())
		return nil, res, err
	}
	f.callback = true
	return f, nil, nil
}

// FailSocial implements social.Completer: msg is shown on the login flow.
func (s *Service) FailSocial(ctx context.Context, q *flow.Request, flowID uuid.UUID, msg flow.Message, sess *session.Session) (*flow.Result, error) {
	f, res, err := s.socialFlow(ctx, q, flowID, sess)
	if f == nil {
		return res, err
	}
	return s.flows().Reject(ctx, f, msg)
}

func (s *Service) signInSocial(ctx context.Context, q *flow.Request, f *Flow, ext *social.External, sess *session.Session) (*flow.Result, error) {
	ident, err := s.SocialLinks.FindBySocialLink(ctx, ext.Provider.ID(), ext.Subject)
	if errors.Is(err, identity.ErrNotFound) {
		if f.Refresh || s.Registrar == nil {
			return s.flows().Reject(ctx, f, flow.MsgGeneric("No account is linked to this "+ext.Provider.Label()+" account."))
		}
		return s.Registrar.SignUpSocial(ctx, q, &f.Base, f.TokenExchange && f.callback, ext)
	}
	if err != nil {
		return nil, err
	}
	auth, err := (&OIDC{}).authenticated(f, ident, ext)
	if err != nil {
		return s.failed(ctx, f, MethodOIDC, err)
	}
	if auth == nil {
		return s.flows().Reject(ctx, f)
	}
	return s.signIn(ctx, q, f, auth, MethodOIDC, sess)
}
