package registration

import (
	"context"
	"errors"
	"strings"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/internal/social"
)

// MethodOIDC is the social sign-in method's name.
const MethodOIDC = social.Method

// SocialTrips is what registration needs of social.Service.
type SocialTrips interface {
	List() social.Providers
	// Begin stores a trip to provider for f and returns a *flow.Away.
	Begin(ctx context.Context, f *flow.Base, kind, provider string, upstream map[string]string) error
	VerifyIDToken(ctx context.Context, provider, idToken, nonce string) (*social.External, error)
	NewExchange(ctx context.Context, f *flow.Base) (string, error)
	MoveExchange(ctx context.Context, from, to uuid.UUID) error
	CompleteExchange(ctx context.Context, flowID uuid.UUID, sess *session.Session, token, returnTo string) (string, error)
}

// SocialLinks finds the identity of a provider account (identity.Service).
type SocialLinks interface {
	FindBySocialLink(ctx context.Context, provider, subject string) (*identity.Identity, error)
}

// SignIn signs in a provider account that is linked already, or sends a
// sign-up whose address is taken to sign in (login.Service).
type SignIn interface {
	SignInSocial(ctx context.Context, q *flow.Request, from *flow.Base, exchange bool, ext *social.External, sess *session.Session) (*flow.Result, error)
	SuggestLink(ctx context.Context, q *flow.Request, from *flow.Base, ext *social.External, identifier string) (*flow.Result, error)
}

// OIDC signs up with a provider account: one button per provider;
// pressing one leaves for the provider (the callback comes back through
// CompleteSocial); a native app may instead submit an ID token.
type OIDC struct {
	flow.Switch // selfservice.methods.oidc.enabled
	Trips       SocialTrips
	Links       SocialLinks
}

// ID implements Method.
func (o *OIDC) ID() string { return MethodOIDC }

// Claims implements flow.Claimer: a provider button submits
// provider=<id> without a method field.
func (o *OIDC) Claims(body *httpx.FormBody) bool { return body.Get("provider") != "" }

// Nodes implements Method: a submit button per provider.
func (o *OIDC) Nodes(*identity.Schema) []flow.Node {
	var nodes []flow.Node
	for _, p := range o.Trips.List() {
		nodes = append(nodes, flow.Input(flow.GroupOIDC, "provider", "submit", flow.LabelRegisterWith(p.Label(), p.ID())).WithValue(p.ID()))
	}
	return nodes
}

// knownSubject: the provider account is linked already; the service signs
// its identity in.
type knownSubject struct{ ext *social.External }

func (knownSubject) Error() string { return "this provider account is linked already" }

// Register implements Method: with an id_token, the identity its claims
// map to; else the trip to the provider (*flow.Away).
func (o *OIDC) Register(ctx context.Context, f *Flow, sch *identity.Schema, body *httpx.FormBody) (*identity.CreateInput, error) {
	provider := body.Get("provider")
	if provider == "" {
		f.UI.AddMessage(flow.MsgMissingProperty("provider"))
		return nil, nil
	}
	token := body.Get("id_token")
	if token == "" {
		return nil, social.ShowOn(&f.UI, o.Trips.Begin(ctx, &f.Base, Kind, provider, social.Upstream(body)))
	}
	ext, err := o.Trips.VerifyIDToken(ctx, provider, token, body.Get("id_token_nonce"))
	if err != nil {
		return nil, social.ShowOn(&f.UI, err)
	}
	return socialInput(ctx, o.Links, f, sch, ext)
}

// socialInput is the identity a provider account signs up as: traits,
// metadata and verified addresses from the provider's mapper, and the
// link. knownSubject when an identity linked the account already.
func socialInput(ctx context.Context, links SocialLinks, f *Flow, sch *identity.Schema, ext *social.External) (*identity.CreateInput, error) {
	if _, err := links.FindBySocialLink(ctx, ext.Provider.ID(), ext.Subject); err == nil {
		return nil, knownSubject{ext}
	} else if !errors.Is(err, identity.ErrNotFound) {
		return nil, err
	}
	mapped, err := ext.Map(ctx)
	if err != nil {
		httpx.Logger(ctx).Warn("social sign-up: mapper failed", "provider", ext.Provider.ID(), "error", err)
		f.UI.AddMessage(flow.MsgGeneric("Your " + ext.Provider.Label() + " account could not be used to sign up: " + firstLine(err.Error())))
		return nil, nil
	}
	in := &identity.CreateInput{
		SchemaID: sch.ID, Traits: mapped.Traits,
		MetadataPublic: mapped.MetadataPublic, MetadataAdmin: mapped.MetadataAdmin,
		Credentials: &identity.CredentialsInput{OIDC: &identity.SocialCredentialsInput{}},
	}
	in.Credentials.OIDC.Config.Providers = []identity.SocialLink{ext.Link()}
	for _, a := range mapped.VerifiedAddresses {
		in.VerifiableAddresses = append(in.VerifiableAddresses, identity.VerifiableAddress{
			Via: a.Via, Value: a.Value, Verified: true, Status: identity.VerifiableStatusCompleted,
		})
	}
	f.social = ext
	return in, nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// CompleteSocial implements social.Completer: the browser came back from
// the provider for registration flow flowID. A provider account linked
// already signs its identity in (as in Kratos).
func (s *Service) CompleteSocial(ctx context.Context, q *flow.Request, flowID uuid.UUID, ext *social.External, sess *session.Session) (*flow.Result, error) {
	f, res, err := s.socialFlow(ctx, q, flowID)
	if f == nil {
		return res, err
	}
	return s.signUpSocial(ctx, q, f, ext, sess)
}

// SignUpSocial implements login.Registrar: ext signs up in a new
// registration flow carrying on from flow from.
func (s *Service) SignUpSocial(ctx context.Context, q *flow.Request, from *flow.Base, exchange bool, ext *social.External) (*flow.Result, error) {
	if !s.Config.Enabled {
		return nil, ErrDisabled
	}
	f, err := s.newFlow(ctx, q, from.Type, from.RequestURL, from.ReturnTo)
	if err != nil {
		return nil, err
	}
	if exchange {
		if err := s.Social.MoveExchange(ctx, from.ID, f.ID); err != nil {
			return nil, err
		}
		f.TokenExchange, f.callback = true, true
	}
	return s.signUpSocial(ctx, q, f, ext, nil)
}

func (s *Service) signUpSocial(ctx context.Context, q *flow.Request, f *Flow, ext *social.External, sess *session.Session) (*flow.Result, error) {
	sch, err := s.schema()
	if err != nil {
		return nil, err
	}
	in, err := socialInput(ctx, s.SocialLinks, f, sch, ext)
	var known knownSubject
	if errors.As(err, &known) {
		return s.SignIn.SignInSocial(ctx, q, &f.Base, f.TokenExchange && f.callback, ext, sess)
	}
	if err != nil {
		return nil, err
	}
	if in == nil {
		return s.flows().Reject(ctx, f)
	}
	if errs := s.Identities.ValidateTraits(sch.ID, in.Traits); len(errs) > 0 {
		for _, fe := range errs {
			f.UI.AddMessage(flow.MsgGeneric("Your " + ext.Provider.Label() + " account does not give " + fe.Field + ": " + fe.Text))
		}
		return s.flows().Reject(ctx, f)
	}
	return s.create(ctx, q, f, in, MethodOIDC)
}

// socialFlow loads the registration flow a trip comes back to; an expired
// or spent flow is answered instead (f nil).
func (s *Service) socialFlow(ctx context.Context, q *flow.Request, flowID uuid.UUID) (*Flow, *flow.Result, error) {
	f, err := s.flows().Load(ctx, flowID.String(), ErrFlowNotFound)
	if err != nil {
		return nil, nil, err
	}
	now := s.Config.now()
	f.UI.ResetMessages()
	if f.Expired(now) {
		res, err := s.replaceExpired(ctx, q, f, now, nil)
		return nil, res, err
	}
	if f.State == StatePassedChallenge {
		res, err := s.flows().Reject(ctx, f, flow.MsgRegistrationRetrySuccess())
		return nil, res, err
	}
	f.callback = true
	return f, nil, nil
}

// FailSocial implements social.Completer: msg is shown on the flow.
func (s *Service) FailSocial(ctx context.Context, q *flow.Request, flowID uuid.UUID, msg flow.Message, _ *session.Session) (*flow.Result, error) {
	f, res, err := s.socialFlow(ctx, q, flowID)
	if f == nil {
		return res, err
	}
	return s.flows().Reject(ctx, f, msg)
}

// suggestLink answers a social sign-up whose address is taken: sign in
// to that account to link the provider (no silent account merge).
func (s *Service) suggestLink(ctx context.Context, q *flow.Request, f *Flow) (*flow.Result, error) {
	identifier := ""
	if f.social.Claims != nil {
		identifier = f.social.Claims.Email
	}
	return s.SignIn.SuggestLink(ctx, q, &f.Base, f.social, identifier)
}
