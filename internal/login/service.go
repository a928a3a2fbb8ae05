package login

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/internal/storeerr"
)

// Store persists login flows. flow.Store (sqlstore.FlowStore) implements it.
type Store interface {
	CreateFlow(ctx context.Context, r *flow.Record) error
	// GetFlow returns storeerr.ErrNotFound for an unknown flow.
	GetFlow(ctx context.Context, kind string, id uuid.UUID) (*flow.Record, error)
	UpdateFlow(ctx context.Context, r *flow.Record) error
}

// Identities is what login needs of identity.Service.
type Identities interface {
	// FindByIdentifier returns the identity (with credentials) owning a
	// password identifier, or an error matching storeerr.ErrNotFound.
	FindByIdentifier(ctx context.Context, ct identity.CredentialType, identifier string) (*identity.Identity, error)
	// SetPassword replaces the identity's password hash (re-hash on login).
	SetPassword(ctx context.Context, id uuid.UUID, hashedPassword string) error
	// Get loads an identity with its credentials (the identifier shown
	// in a refresh flow).
	Get(ctx context.Context, id uuid.UUID) (*identity.Identity, error)
}

// Schemas gives the identity schema whose identifier trait labels the
// identifier input. identity.Schemas implements it.
type Schemas interface {
	Get(id string) (*identity.Schema, error)
}

// Sessions is what login needs of session.Manager.
type Sessions interface {
	Issue(ctx context.Context, ident *identity.Identity, method string, r *http.Request) (*session.Session, string, error)
	Reauthenticate(ctx context.Context, s *session.Session, method string) error
}

// Passwords checks and (re)hashes passwords; password.Hasher implements
// it. Compare and CompareDummy do the same work, so a login for an unknown
// identifier costs what a wrong password costs.
type Passwords interface {
	Hash(ctx context.Context, plain []byte) (string, error)
	// Compare is (false, nil) for a wrong password.
	Compare(ctx context.Context, plain []byte, encoded string) (bool, error)
	CompareDummy(ctx context.Context, plain []byte) (bool, error)
	NeedsRehash(encoded string) bool
}

// Transactor runs fn in one database transaction carried by ctx
// (sqlstore.DB implements it).
type Transactor interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
}

// Service holds the rules of the login flow. Its fields are set once by
// the server.
type Service struct {
	Config     Config
	Flows      Store
	Identities Identities
	Schemas    Schemas
	Sessions   Sessions
	Passwords  Passwords
	Tx         Transactor
	// CSRF checks the csrf_token of browser submissions.
	CSRF *flow.CSRF
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
	// ErrAALAlreadyFulfilled: the session has the requested level already.
	ErrAALAlreadyFulfilled = httpx.ErrUnauthorized("The session has the requested AAL already.").
				WithID("session_aal_already_fulfilled")
	// ErrFlowNotFound is the answer to a submission for an unknown flow.
	ErrFlowNotFound = httpx.ErrRouteNotFound("The login request could not be found. Please restart the flow.")
)

// StartRequest is what a new login flow is made from.
type StartRequest struct {
	Type flow.Type
	// RequestURL is the full URL the client called (flow.RequestURL).
	RequestURL string
	// ReturnTo, Refresh and AAL are the query parameters return_to,
	// refresh and aal, unchecked.
	ReturnTo string
	Refresh  bool
	AAL      string
	// Session is the request's active session, or nil.
	Session *session.Session
	// CSRFToken returns the browser's CSRF token, setting its cookie when
	// the request has none (browser flows only).
	CSRFToken func() []byte
}

// Start creates a login flow. It fails with ErrAlreadyLoggedIn when the
// request holds a session and neither refresh nor a higher AAL is asked
// for, and with a 400 self_service_flow_return_to_forbidden error for a
// return_to that is not allowed.
func (s *Service) Start(ctx context.Context, req StartRequest) (*Flow, error) {
	returnTo, err := s.Config.ReturnTo.Validate(req.ReturnTo)
	if err != nil {
		return nil, err
	}
	aal, err := parseAAL(req.AAL)
	if err != nil {
		return nil, err
	}
	if err := checkSession(req.Session, req.Refresh, aal); err != nil {
		return nil, err
	}
	f, err := s.newFlow(ctx, flowSpec{
		Type: req.Type, RequestURL: req.RequestURL, ReturnTo: returnTo,
		Refresh: req.Refresh, AAL: aal, Session: req.Session, CSRFToken: req.CSRFToken,
	})
	if err != nil {
		return nil, err
	}
	return f, nil
}

// BrowserReturnURL is where a browser that already has a session is
// sent: its return_to when allowed, else the default browser return URL.
func (s *Service) BrowserReturnURL(rawReturnTo string) string {
	return s.Config.ReturnTo.ValidOr(rawReturnTo, s.Config.DefaultBrowserReturnURL)
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
	case aal == AAL1:
		return ErrAlreadyLoggedIn
	case aalRank(aal) <= aalRank(sess.AAL):
		return ErrAALAlreadyFulfilled
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

// flowSpec describes a flow to create.
type flowSpec struct {
	Type       flow.Type
	RequestURL string
	ReturnTo   string
	Refresh    bool
	AAL        string
	Session    *session.Session
	CSRFToken  func() []byte
	// Messages are added to the new flow (e.g. "the last flow expired").
	Messages []flow.Message
}

// newFlow builds, stores and returns a flow.
func (s *Service) newFlow(ctx context.Context, spec flowSpec) (*Flow, error) {
	now := s.Config.now().Truncate(time.Microsecond)
	f := &Flow{
		ID:           uuid.New(),
		Type:         spec.Type,
		IssuedAt:     now,
		ExpiresAt:    now.Add(s.Config.Lifespan),
		RequestURL:   spec.RequestURL,
		ReturnTo:     spec.ReturnTo,
		Refresh:      spec.Refresh,
		RequestedAAL: spec.AAL,
		State:        StateChooseMethod,
	}
	f.UI = flow.Container{
		Action: flow.WithQuery(s.Config.route("self-service/login"), "flow", f.ID.String()),
		Method: http.MethodPost,
		Nodes:  []flow.Node{flow.CSRFNode("")},
	}
	if spec.Type == flow.TypeBrowser && spec.CSRFToken != nil {
		f.CSRF = flow.Fingerprint(spec.CSRFToken())
	}
	if spec.Refresh {
		f.UI.AddMessage(flow.MsgLoginRefresh())
	}
	switch {
	case spec.AAL == AAL2:
		// Latchkey has no second factor: the flow can only say what it asks for.
		f.UI.AddMessage(flow.MsgLoginSecondFactor())
	case !s.Config.PasswordEnabled:
	case spec.Refresh && spec.Session != nil:
		f.IdentityID = &spec.Session.IdentityID
		nodes, err := s.refreshNodesFor(ctx, spec.Session)
		if err != nil {
			return nil, err
		}
		f.UI.Nodes = append(f.UI.Nodes, nodes...)
	default:
		f.UI.Nodes = append(f.UI.Nodes, firstFactorNodes(s.identifierLabel())...)
	}
	for _, m := range spec.Messages {
		f.UI.AddMessage(m)
	}
	rec, err := f.record()
	if err != nil {
		return nil, err
	}
	if err := s.Flows.CreateFlow(ctx, rec); err != nil {
		return nil, fmt.Errorf("create login flow: %w", err)
	}
	f.CreatedAt, f.UpdatedAt = rec.CreatedAt, rec.UpdatedAt
	return f, nil
}

// refreshNodesFor shows the session's identity its fixed identifier.
// Identities without a password get no password inputs (they cannot
// re-authenticate with one).
func (s *Service) refreshNodesFor(ctx context.Context, sess *session.Session) ([]flow.Node, error) {
	ident := sess.Identity
	if ident == nil || ident.Credentials == nil {
		var err error
		if ident, err = s.Identities.Get(ctx, sess.IdentityID); err != nil {
			return nil, fmt.Errorf("load session identity: %w", err)
		}
	}
	ids := ident.PasswordIdentifiers()
	if ident.HashedPassword() == "" || len(ids) == 0 {
		return nil, nil
	}
	return refreshNodes(ids[0]), nil
}

// identifierLabel is the label of the identifier input: the title of the
// schema's password identifier trait when exactly one such trait has a
// title (1070002), "ID" (1070004) otherwise.
func (s *Service) identifierLabel() *flow.Message {
	sch, err := s.Schemas.Get(s.Config.SchemaID)
	if err != nil {
		return flow.LabelID()
	}
	var found []identity.TraitProperty
	for _, p := range sch.Traits {
		if p.Extension.PasswordIdentifier && p.Title != "" {
			found = append(found, p)
		}
	}
	if len(found) != 1 {
		return flow.LabelID()
	}
	return flow.LabelTrait(found[0].Title, found[0].Name())
}

// Fetch returns a flow for GET /self-service/login/flows. checkCSRF
// verifies that the request's CSRF cookie is the one a browser flow was
// created with (a 403 security_csrf_violation otherwise).
func (s *Service) Fetch(ctx context.Context, id uuid.UUID, checkCSRF func(fingerprint string) error) (*Flow, error) {
	f, err := s.load(ctx, id)
	if errors.Is(err, storeerr.ErrNotFound) {
		return nil, httpx.ErrNotFound("")
	}
	if err != nil {
		return nil, err
	}
	if f.Type == flow.TypeBrowser {
		if err := checkCSRF(f.CSRF); err != nil {
			return nil, err
		}
	}
	// An expired flow names where to start again: browser flows their init
	// endpoint, api flows the init API endpoint.
	now := s.Config.now()
	switch {
	case !f.Expired(now):
		return f, nil
	case f.Type == flow.TypeBrowser:
		return nil, flow.ExpiredBrowserFetchError(Kind, s.Config.route("self-service/login/browser"), f.ReturnTo)
	default:
		return nil, flow.ExpiredAPIFetchError(f.ExpiresAt, now, s.Config.route("self-service/login/api"))
	}
}

func (s *Service) load(ctx context.Context, id uuid.UUID) (*Flow, error) {
	rec, err := s.Flows.GetFlow(ctx, Kind, id)
	if err != nil {
		return nil, err
	}
	return fromRecord(rec)
}

func (s *Service) save(ctx context.Context, f *Flow) error {
	rec, err := f.record()
	if err != nil {
		return err
	}
	if err := s.Flows.UpdateFlow(ctx, rec); err != nil {
		return fmt.Errorf("update login flow: %w", err)
	}
	f.UpdatedAt = rec.UpdatedAt
	return nil
}
