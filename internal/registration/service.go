package registration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/hook"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/internal/social"
)

// Identities is what registration needs of identity.Service.
type Identities interface {
	// ValidateTraits returns the schema violations of traits (nil when valid).
	ValidateTraits(schemaID string, traits json.RawMessage) []identity.FieldError
	// Create stores a new identity; identity.ErrConflict when one of its
	// identifiers or addresses is taken.
	Create(ctx context.Context, in identity.CreateInput) (*identity.Identity, error)
	// Preview builds, without storing, the identity Create would store.
	Preview(ctx context.Context, in identity.CreateInput) (*identity.Identity, error)
}

// Schemas gives the identity schema whose traits make the form.
// identity.Schemas implements it.
type Schemas interface {
	Get(id string) (*identity.Schema, error)
}

// Sessions issues the session of a new identity; session.Manager
// implements it.
type Sessions interface {
	// IssueVia stores a new session for ident, signed in with method
	// through provider ("" for none), and returns it with its token.
	IssueVia(ctx context.Context, ident *identity.Identity, method, provider string, caller httpx.Caller) (*session.Session, string, error)
	// JSON is the session object of API responses.
	JSON(s *session.Session) any
}

// Verifier starts verification for a new identity's addresses in the
// registration's transaction; the continue_with items it returns
// (show_verification_ui) go first in the answer. verification.Service
// implements it.
type Verifier interface {
	AfterRegistration(ctx context.Context, q *flow.Request, t flow.Type, ident *identity.Identity) ([]flow.ContinueWith, error)
}

// Method is one way to sign up. Each lives in its own file (password.go);
// the service dispatches a submission on its "method" field.
type Method interface {
	flow.Method
	// Nodes are the method's inputs on a new flow, made from the schema.
	Nodes(sch *identity.Schema) []flow.Node
	// Register turns a submission into the identity to create. A nil input
	// without error means the method rejected it and put its messages on f.
	Register(ctx context.Context, f *Flow, sch *identity.Schema, body *httpx.FormBody) (*identity.CreateInput, error)
}

// Service holds the rules of the registration flow. Its fields are set
// once by the server.
type Service struct {
	Config     Config
	Flows      flow.Store
	Identities Identities
	Schemas    Schemas
	Sessions   Sessions
	Tx         flow.Transactor
	// Verification sends codes to the new identity's addresses (nil when
	// verification is off).
	Verification Verifier
	// Methods are the registration methods, in the order their nodes appear.
	Methods []Method
	// Hooks runs the web_hooks (nil runs none).
	Hooks Hooks
	// Social runs social sign-in round trips and native apps' session
	// token exchanges (nil: no social sign-in).
	Social SocialTrips
	// SocialLinks finds the identity of a provider account.
	SocialLinks SocialLinks
	// SignIn signs in provider accounts that are linked already.
	SignIn SignIn
}

// Errors of the registration flow.
var (
	// ErrAlreadyLoggedIn: a flow was started while holding a session.
	ErrAlreadyLoggedIn = flow.ErrSessionAlreadyAvailable(
		"A valid session was detected and thus registration is not possible.",
		"you are already logged in")
	// ErrDisabled: selfservice.flows.registration.enabled is false.
	ErrDisabled = httpx.ErrBadRequest("Registration is not allowed because it was disabled.")
	// ErrFlowNotFound is the answer to a submission for an unknown flow.
	ErrFlowNotFound = httpx.ErrRouteNotFound("The registration request could not be found. Please restart the flow.")
)

// Start creates a registration flow of type t. A browser that holds a
// session is sent to its return URL.
func (s *Service) Start(ctx context.Context, q *flow.Request, t flow.Type, sess *session.Session) (*flow.Result, error) {
	if !s.Config.Enabled {
		return nil, ErrDisabled
	}
	rawReturnTo := q.Query.Get("return_to")
	returnTo, err := s.Config.ReturnTo.Validate(rawReturnTo)
	if err != nil {
		return nil, err
	}
	if sess != nil {
		return nil, flow.BrowserRedirect(ErrAlreadyLoggedIn, s.Config.ReturnTo.ValidOr(rawReturnTo, s.Config.DefaultBrowserReturnURL))
	}
	f, err := s.newFlow(ctx, q, t, q.URL, returnTo)
	if err != nil {
		return nil, err
	}
	if err := s.startExchange(ctx, q, f); err != nil {
		return nil, err
	}
	return s.flows().Show(f, 0), nil
}

// replaceExpired answers a request for f, which expired: a new flow like
// it takes over, showing why, with what was typed (flow.KeepTyped).
func (s *Service) replaceExpired(ctx context.Context, q *flow.Request, f *Flow, now time.Time, typed url.Values) (*flow.Result, error) {
	nf, err := s.newFlow(ctx, q, f.Type, f.RequestURL, f.ReturnTo, flow.MsgRegistrationExpired(f.ExpiresAt, now))
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

// startExchange gives a native app's flow created with
// return_session_token_exchange_code=true its init code, shown once in
// the creation answer (session_token_exchange_code).
func (s *Service) startExchange(ctx context.Context, q *flow.Request, f *Flow) error {
	if s.Social == nil || !social.ExchangeRequested(q, &f.Base) {
		return nil
	}
	code, err := s.Social.NewExchange(ctx, &f.Base)
	if err != nil {
		return err
	}
	f.TokenExchange, f.exchangeCode = true, code
	return flow.Save(ctx, s.Flows, f)
}

// newFlow builds, stores and returns a flow; msgs are shown on it.
func (s *Service) newFlow(ctx context.Context, q *flow.Request, t flow.Type, requestURL, returnTo string, msgs ...flow.Message) (*Flow, error) {
	now := s.Config.now().Truncate(time.Microsecond)
	f := &Flow{Base: flow.NewBase(t, now, s.Config.Lifespan, requestURL, returnTo, s.Config.route("self-service/registration")), State: StateChooseMethod}
	f.UI.Nodes = []flow.Node{flow.CSRFNode("")}
	if t == flow.TypeBrowser {
		f.CSRF = q.CSRF.Fingerprint()
	}
	if s.Config.Style == StyleProfileFirst {
		sch, err := s.schema()
		if err != nil {
			return nil, err
		}
		profileScreen(f, sch, nil)
		// A provider needs no second screen: its buttons show on the first.
		for _, m := range s.Methods {
			if m.ID() == MethodOIDC && m.Enabled() {
				f.UI.Nodes = append(f.UI.Nodes, m.Nodes(sch)...)
			}
		}
	} else {
		for _, m := range s.Methods {
			if !m.Enabled() {
				continue
			}
			sch, err := s.schema()
			if err != nil {
				return nil, err
			}
			f.UI.Nodes = append(f.UI.Nodes, m.Nodes(sch)...)
		}
	}
	for _, m := range msgs {
		f.UI.AddMessage(m)
	}
	if err := s.runBeforeHooks(ctx, q, f); err != nil {
		return nil, err
	}
	return f, flow.Create(ctx, s.Flows, f)
}

func (s *Service) schema() (*identity.Schema, error) {
	sch, err := s.Schemas.Get(s.Config.SchemaID)
	if err != nil {
		return nil, fmt.Errorf("registration schema %q: %w", s.Config.SchemaID, err)
	}
	return sch, nil
}

// Fetch returns flow id for GET /self-service/registration/flows: a
// browser flow only to the browser it was created for.
func (s *Service) Fetch(ctx context.Context, q *flow.Request, id string, _ *session.Session) (*flow.Result, error) {
	return s.flows().Fetch(ctx, q, id, s.Config.now())
}

// flows is the registration kind for the shared flow machinery.
func (s *Service) flows() flow.Kind[*Flow] {
	return flow.Kind[*Flow]{Name: Kind, Store: s.Flows, Decode: fromRecord, UIURL: s.Config.UIURL, PublicBaseURL: s.Config.PublicBaseURL}
}

// Submit runs one registration submission. Failures the user can fix
// (schema violations, a weak password, a taken identifier) come back as a
// flow showing messages (400); errors are for what the flow cannot show.
// Checks run in Kratos's order.
func (s *Service) Submit(ctx context.Context, q *flow.Request, id uuid.UUID, body *httpx.FormBody, bodyErr error, sess *session.Session) (*flow.Result, error) {
	if !s.Config.Enabled {
		return nil, ErrDisabled
	}
	return s.flows().Submit(ctx, id, ErrFlowNotFound, func(f *Flow) (*flow.Result, error) {
		f.transientPayload = hook.TransientPayload(body)
		return s.submit(ctx, q, f, body, bodyErr, sess)
	})
}

func (s *Service) submit(ctx context.Context, q *flow.Request, f *Flow, body *httpx.FormBody, bodyErr error, sess *session.Session) (*flow.Result, error) {
	now := s.Config.now()
	f.UI.ResetMessages()
	if sess != nil {
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
		return s.replaceExpired(ctx, q, f, now, typed)
	}
	if f.State == StatePassedChallenge {
		return s.flows().Reject(ctx, f, flow.MsgRegistrationRetrySuccess())
	}
	if s.Config.Style == StyleProfileFirst && bodyErr == nil && isProfileSubmission(body) {
		return s.profile(ctx, q, f, body)
	}
	m, res, err := flow.Gate(ctx, s.Flows, f, s.Config.UIURL, q, s.Methods, body, bodyErr, flow.MsgRegistrationNoStrategy())
	if m == nil {
		return res, err
	}
	sch, err := s.schema()
	if err != nil {
		return nil, err
	}
	in, err := m.Register(ctx, f, sch, body)
	if res, ok := flow.AwayResult(err); ok {
		return res, nil
	}
	var known knownSubject
	if errors.As(err, &known) && s.SignIn != nil {
		return s.SignIn.SignInSocial(ctx, q, &f.Base, false, known.ext, sess)
	}
	if err != nil {
		return nil, err
	}
	if in == nil {
		return s.flows().Reject(ctx, f)
	}
	return s.create(ctx, q, f, in, m.ID())
}
