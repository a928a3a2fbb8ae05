package registration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/password"
	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/internal/storeerr"
)

// Store persists registration flows. flow.Store (sqlstore.FlowStore)
// implements it.
type Store interface {
	CreateFlow(ctx context.Context, r *flow.Record) error
	// GetFlow returns storeerr.ErrNotFound for an unknown flow.
	GetFlow(ctx context.Context, kind string, id uuid.UUID) (*flow.Record, error)
	UpdateFlow(ctx context.Context, r *flow.Record) error
}

// Identities is what registration needs of identity.Service.
type Identities interface {
	// ValidateTraits returns the schema violations of traits (nil when valid).
	ValidateTraits(schemaID string, traits json.RawMessage) []identity.FieldError
	// Create stores a new identity; identity.ErrConflict when one of its
	// identifiers or addresses is taken.
	Create(ctx context.Context, in identity.CreateInput) (*identity.Identity, error)
}

// Schemas gives the identity schema whose traits make the form.
// identity.Schemas implements it.
type Schemas interface {
	Get(id string) (*identity.Schema, error)
}

// Sessions issues the session of a new identity; session.Manager
// implements it.
type Sessions interface {
	Issue(ctx context.Context, ident *identity.Identity, method string, r *http.Request) (*session.Session, string, error)
}

// Passwords hashes new passwords; password.Hasher implements it.
type Passwords interface {
	Hash(ctx context.Context, plain []byte) (string, error)
}

// Policy decides whether a new password is acceptable; password.Policy
// implements it.
type Policy interface {
	Validate(identifiers []string, password string) *password.Violation
}

// Transactor runs fn in one database transaction carried by ctx
// (sqlstore.DB implements it).
type Transactor interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
}

// Service holds the rules of the registration flow. Its fields are set
// once by the server.
type Service struct {
	Config     Config
	Flows      Store
	Identities Identities
	Schemas    Schemas
	Sessions   Sessions
	Passwords  Passwords
	Policy     Policy
	Tx         Transactor
	// CSRF checks the csrf_token of browser submissions.
	CSRF *flow.CSRF
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

// StartRequest is what a new registration flow is made from.
type StartRequest struct {
	Type flow.Type
	// RequestURL is the full URL the client called (flow.RequestURL).
	RequestURL string
	// ReturnTo is the return_to query parameter, unchecked.
	ReturnTo string
	// HasSession tells whether the request holds an active session.
	HasSession bool
	// CSRFToken returns the browser's CSRF token, setting its cookie when
	// the request has none (browser flows only).
	CSRFToken func() []byte
}

// Start creates a registration flow. It fails with ErrDisabled, with
// ErrAlreadyLoggedIn when the request holds a session, and with a 400
// self_service_flow_return_to_forbidden error for a return_to that is not
// allowed.
func (s *Service) Start(ctx context.Context, req StartRequest) (*Flow, error) {
	if !s.Config.Enabled {
		return nil, ErrDisabled
	}
	returnTo, err := s.Config.ReturnTo.Validate(req.ReturnTo)
	if err != nil {
		return nil, err
	}
	if req.HasSession {
		return nil, ErrAlreadyLoggedIn
	}
	return s.newFlow(ctx, req.Type, req.RequestURL, returnTo, req.CSRFToken)
}

// BrowserReturnURL is where a browser that already has a session is
// sent: its return_to when allowed, else the default browser return URL.
func (s *Service) BrowserReturnURL(rawReturnTo string) string {
	return s.Config.ReturnTo.ValidOr(rawReturnTo, s.Config.DefaultBrowserReturnURL)
}

// newFlow builds, stores and returns a flow; msgs are shown on it.
func (s *Service) newFlow(ctx context.Context, typ flow.Type, requestURL, returnTo string, csrfToken func() []byte, msgs ...flow.Message) (*Flow, error) {
	now := s.Config.now().Truncate(time.Microsecond)
	f := &Flow{
		ID:         uuid.New(),
		Type:       typ,
		IssuedAt:   now,
		ExpiresAt:  now.Add(s.Config.Lifespan),
		RequestURL: requestURL,
		ReturnTo:   returnTo,
		State:      StateChooseMethod,
	}
	f.UI = flow.Container{
		Action: flow.WithQuery(s.Config.route("self-service/registration"), "flow", f.ID.String()),
		Method: http.MethodPost,
		Nodes:  []flow.Node{flow.CSRFNode("")},
	}
	if typ == flow.TypeBrowser && csrfToken != nil {
		f.CSRF = flow.Fingerprint(csrfToken())
	}
	if s.Config.PasswordEnabled {
		sch, err := s.Schemas.Get(s.Config.SchemaID)
		if err != nil {
			return nil, fmt.Errorf("registration schema %q: %w", s.Config.SchemaID, err)
		}
		f.UI.Nodes = append(f.UI.Nodes, passwordMethodNodes(sch)...)
	}
	for _, m := range msgs {
		f.UI.AddMessage(m)
	}
	rec, err := f.record()
	if err != nil {
		return nil, err
	}
	if err := s.Flows.CreateFlow(ctx, rec); err != nil {
		return nil, fmt.Errorf("create registration flow: %w", err)
	}
	f.CreatedAt, f.UpdatedAt = rec.CreatedAt, rec.UpdatedAt
	return f, nil
}

// Fetch returns a flow for GET /self-service/registration/flows. checkCSRF
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
		return nil, flow.ExpiredBrowserFetchError(Kind, s.Config.route("self-service/registration/browser"), f.ReturnTo)
	default:
		return nil, flow.ExpiredAPIFetchError(f.ExpiresAt, now, s.Config.route("self-service/registration/api"))
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
		return fmt.Errorf("update registration flow: %w", err)
	}
	f.UpdatedAt = rec.UpdatedAt
	return nil
}
