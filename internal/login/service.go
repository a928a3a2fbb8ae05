package login

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/internal/social"
)

// Method is one way to sign in. Each lives in its own file (password.go);
// the service dispatches a submission on its "method" field.
type Method interface {
	flow.Method
	// Nodes are the method's inputs on a new flow; with refresh set, sess
	// signs in again and only its own identity may.
	Nodes(ctx context.Context, f *Flow, sess *session.Session) ([]flow.Node, error)
	// Authenticate checks a submission from caller. A nil result without
	// error means the submission was incomplete and the method put its
	// messages on f; a *refusal (refused) that it checked the credentials
	// and they failed; a *ratelimit.ExceededError that it refused to
	// check them.
	Authenticate(ctx context.Context, f *Flow, body *httpx.FormBody, caller httpx.Caller) (*Authenticated, error)
}

// Authenticated is an identity that proved itself with a method.
type Authenticated struct {
	Identity *identity.Identity
	// Commit, when set, runs in the transaction that signs the identity
	// in (storing a re-hashed password, say).
	Commit func(ctx context.Context) error
	// Provider is the social sign-in provider it came through, if any
	// (authentication_methods[].provider).
	Provider string
}

// Sessions is what login needs of session.Manager.
type Sessions interface {
	Issue(ctx context.Context, ident *identity.Identity, method string, caller httpx.Caller) (*session.Session, string, error)
	// New builds, without storing, the session Issue would; Create stores it.
	New(ident *identity.Identity, method string, caller httpx.Caller) (*session.Session, string, error)
	Create(ctx context.Context, s *session.Session, token string) error
	// RevokeOthers deactivates the identity's sessions except keep.
	RevokeOthers(ctx context.Context, identityID, keep uuid.UUID) (int, error)
	Reauthenticate(ctx context.Context, s *session.Session, method string) error
	// ReauthenticateVia is Reauthenticate through a provider.
	ReauthenticateVia(ctx context.Context, s *session.Session, method, provider string) error
	// JSON is the session object of API responses.
	JSON(s *session.Session) any
	// SatisfiesAAL checks the session (identity loaded) against a
	// required_aal.
	SatisfiesAAL(s *session.Session, required string) bool
	// AAL2LoginURL is PUB/self-service/login/browser?aal=aal2.
	AAL2LoginURL() string
}

// Service holds the rules of the login flow. Its fields are set once by
// the server.
type Service struct {
	Config   Config
	Flows    flow.Store
	Sessions Sessions
	Tx       flow.Transactor
	// Methods are the login methods, in the order their nodes appear.
	Methods []Method
	// Audit records successful and failed logins (nil records nothing).
	Audit *audit.Recorder
	// Hooks runs the web_hooks (nil runs none).
	Hooks Hooks
	// Verification sends the code require_verified_address asks for
	// (verification.Service; nil: the legacy answer).
	Verification Verifier
	// Social runs social sign-in round trips and native apps' session
	// token exchanges (nil: no social sign-in).
	Social SocialTrips
	// SocialLinks finds the identity of a provider account.
	SocialLinks SocialLinks
	// Registrar signs up provider accounts nobody linked yet.
	Registrar Registrar
}

// Verifier starts the verification of an identity that signed in
// without a verified address (verification.Service implements it).
type Verifier interface {
	// SendForLogin creates a verification flow of type t for an
	// unverified address of ident and mails it a code or link, in the
	// transaction carried by ctx; ok is false when verification is off.
	SendForLogin(ctx context.Context, q *flow.Request, t flow.Type, ident *identity.Identity) (cw flow.ContinueWith, ok bool, err error)
}

// Errors of the login flow.
var (
	// ErrAlreadyLoggedIn: a flow was started or submitted while holding a
	// session, without refresh=true.
	ErrAlreadyLoggedIn = flow.ErrSessionAlreadyAvailable(
		"A valid session was detected and thus login is not possible. Did you forget to set `?refresh=true`?",
		"you are already logged in")
	// ErrAAL1Required: aal=aal2 was requested without a session.
	ErrAAL1Required = httpx.ErrUnauthorized("You can not requested a higher AAL (AAL2/AAL3) without an active session.").
			WithID("session_aal1_required")
	// ErrFlowNotFound is the answer to a submission for an unknown flow.
	ErrFlowNotFound = httpx.ErrRouteNotFound("The login request could not be found. Please restart the flow.")
)

// Start creates a login flow of type t (the query names return_to,
// refresh and aal). A browser that holds a session and asks for neither
// refresh nor a higher AAL is sent to its return URL.
func (s *Service) Start(ctx context.Context, q *flow.Request, t flow.Type, sess *session.Session) (*flow.Result, error) {
	rawReturnTo, refresh := q.Query.Get("return_to"), q.Query.Get("refresh") == "true"
	returnTo, err := s.Config.ReturnTo.Validate(rawReturnTo)
	if err != nil {
		return nil, err
	}
	aal, err := parseAAL(q.Query.Get("aal"))
	if err != nil {
		return nil, err
	}
	if err := checkSession(sess, refresh, aal); err != nil {
		if errors.Is(err, ErrAlreadyLoggedIn) {
			err = flow.BrowserRedirect(err, s.Config.ReturnTo.ValidOr(rawReturnTo, s.Config.DefaultBrowserReturnURL))
		}
		return nil, err
	}
	f, err := s.newFlow(ctx, q, t, q.URL, returnTo, refresh, aal, sess)
	if err != nil {
		return nil, err
	}
	if err := s.startExchange(ctx, q, f); err != nil {
		return nil, err
	}
	return s.flows().Show(f, 0), nil
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

// parseAAL reads the aal query parameter ("" means aal1).
func parseAAL(v string) (string, error) {
	switch v {
	case "", AAL1:
		return AAL1, nil
	case AAL2:
		return AAL2, nil
	}
	return "", httpx.ErrBadRequest(fmt.Sprintf("Unable to parse AuthenticationMethod Assurance Level (AAL): expected one of [aal1, aal2] but got %s", v))
}

// checkSession applies Kratos's rules for starting a login while holding
// (or not holding) a session.
func checkSession(sess *session.Session, refresh bool, aal string) error {
	if sess == nil {
		if aal != AAL1 {
			return ErrAAL1Required
		}
		return nil
	}
	switch {
	case refresh:
		return nil
	case aal == AAL1, aalRank(aal) <= aalRank(sess.AAL):
		// Kratos v26.2.0 answers an aal2 request of an aal2 session as
		// any login with a session: 400 session_already_available.
		return ErrAlreadyLoggedIn
	}
	return nil
}

func aalRank(aal string) int {
	switch aal {
	case session.AAL1:
		return 1
	case session.AAL2:
		return 2
	case session.AAL3:
		return 3
	}
	return 0
}

// newFlow builds, stores and returns a flow; msgs are shown on it.
func (s *Service) newFlow(ctx context.Context, q *flow.Request, t flow.Type, requestURL, returnTo string, refresh bool, aal string, sess *session.Session, msgs ...flow.Message) (*Flow, error) {
	now := s.Config.now().Truncate(time.Microsecond)
	f := &Flow{
		Base:    flow.NewBase(t, now, s.Config.Lifespan, requestURL, returnTo, s.Config.route("self-service/login")),
		Refresh: refresh, RequestedAAL: aal, State: StateChooseMethod,
	}
	if t == flow.TypeBrowser {
		f.CSRF = q.CSRF.Fingerprint()
	}
	if refresh {
		f.UI.AddMessage(flow.MsgLoginRefresh())
	}
	if aal == AAL2 && sess != nil {
		f.IdentityID = &sess.IdentityID
		if aalRank(aal) > aalRank(sess.AAL) {
			f.UI.AddMessage(flow.MsgLoginSecondFactor())
		}
	}
	for _, m := range s.methodsFor(aal) {
		if s.identifierFirst(f) {
			f.UI.Nodes = s.identifierScreen()
			// A provider needs no identifier: its buttons show at once.
			for _, o := range s.Methods {
				if o.ID() == MethodOIDC && o.Enabled() {
					nodes, err := o.Nodes(ctx, f, sess)
					if err != nil {
						return nil, err
					}
					f.UI.Nodes = append(f.UI.Nodes, nodes...)
				}
			}
			break
		}
		if !m.Enabled() {
			continue
		}
		if refresh && sess != nil {
			f.IdentityID = &sess.IdentityID
		}
		nodes, err := m.Nodes(ctx, f, sess)
		if err != nil {
			return nil, err
		}
		f.UI.Nodes = append(f.UI.Nodes, nodes...)
	}
	// As in Kratos, the csrf_token node comes with the methods; a native
	// aal2 flow for an identity without a second factor has no nodes
	// (Kratos writes null, Latchkey keeps nodes an array).
	if t == flow.TypeBrowser || aal == AAL1 || len(f.UI.Nodes) > 0 {
		f.UI.Nodes = append([]flow.Node{flow.CSRFNode("")}, f.UI.Nodes...)
	}
	for _, m := range msgs {
		f.UI.AddMessage(m)
	}
	if err := s.runBeforeHooks(ctx, q, f); err != nil {
		return nil, err
	}
	return f, flow.Create(ctx, s.Flows, f)
}

// methodsFor are the methods a flow asking for aal offers: first factors
// for aal1, second factors (session.MethodAAL) for aal2. A second-factor
// method shows nodes only to an identity that has it.
func (s *Service) methodsFor(aal string) []Method {
	var out []Method
	for _, m := range s.Methods {
		if session.MethodAAL(m.ID()) == aal {
			out = append(out, m)
		}
	}
	return out
}

// Fetch returns flow id for GET /self-service/login/flows: a browser flow
// only to the browser it was created for.
func (s *Service) Fetch(ctx context.Context, q *flow.Request, id string, _ *session.Session) (*flow.Result, error) {
	return s.flows().Fetch(ctx, q, id, s.Config.now())
}

// flows is the login kind for the shared flow machinery.
func (s *Service) flows() flow.Kind[*Flow] {
	return flow.Kind[*Flow]{Name: Kind, Store: s.Flows, Decode: fromRecord, UIURL: s.Config.UIURL, PublicBaseURL: s.Config.PublicBaseURL}
}
