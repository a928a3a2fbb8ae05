package settings

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/internal/storeerr"
)

// Identities is the part of identity.Service the settings flow uses.
type Identities interface {
	// Get loads an identity with its credentials.
	Get(ctx context.Context, id uuid.UUID) (*identity.Identity, error)
	// UpdateTraits validates and saves new traits, re-deriving credential
	// identifiers, recovery and verifiable addresses.
	UpdateTraits(ctx context.Context, id uuid.UUID, traits json.RawMessage) (*identity.Identity, error)
	// SetPassword replaces the password hash, keeping the identifiers.
	SetPassword(ctx context.Context, id uuid.UUID, hashed string) error
	// Update validates and saves a changed identity (what a web_hook
	// changed: metadata, state, external id).
	Update(ctx context.Context, i *identity.Identity) error
}

// Schemas gives the compiled identity schemas (*identity.Schemas).
type Schemas interface {
	Get(id string) (*identity.Schema, error)
}

// Sessions is the part of session.Manager the settings flow uses.
type Sessions interface {
	// SatisfiesAAL checks the session against required_aal.
	SatisfiesAAL(s *session.Session, required string) bool
	// Privileged reports whether s authenticated within maxAge.
	Privileged(s *session.Session, maxAge time.Duration) bool
	// RevokeOthers deactivates the identity's sessions except keep.
	RevokeOthers(ctx context.Context, identityID, keep uuid.UUID) (int, error)
	// AAL2LoginURL is PUB/self-service/login/browser?aal=aal2.
	AAL2LoginURL() string
	// Reauthenticate records one more completed method on s (enrolling a
	// second factor proves it, raising the session to aal2).
	Reauthenticate(ctx context.Context, s *session.Session, method string) error
	// ReauthenticateVia is Reauthenticate through a provider (linking a
	// social sign-in account proves it).
	ReauthenticateVia(ctx context.Context, s *session.Session, method, provider string) error
}

// Verifier mails a verification code to each address of an identity
// that was never sent one (status pending), in the transaction of a
// settings change, as Kratos does after every settings update;
// verification.Service implements it.
type Verifier interface {
	AfterSettings(ctx context.Context, q *flow.Request, t flow.Type, ident *identity.Identity) ([]flow.ContinueWith, error)
}

// Service holds the rules of the settings flow. Its fields are set once
// by the server.
type Service struct {
	Config Config
	// Verification sends codes to unverified, never-mailed addresses after
	// a change (nil when verification is off).
	Verification Verifier
	Flows        flow.Store
	Identities   Identities
	Schemas      Schemas
	Sessions     Sessions
	Passwords    PasswordHasher
	Policy       PasswordPolicy
	Tx           flow.Transactor
	// Methods are the methods beyond password and profile (totp,
	// lookup_secret), in the order their groups appear.
	Methods []Method
	// Audit records password, second-factor and address changes in
	// their transaction (nil records nothing).
	Audit *audit.Recorder
	// Hooks runs the web_hooks (nil runs none).
	Hooks Hooks
}

// Start creates a settings flow of type t for the session's identity
// (GET /self-service/settings/{browser,api}). Without a session a browser
// is sent to sign in first.
func (s *Service) Start(ctx context.Context, q *flow.Request, t flow.Type, sess *session.Session) (*flow.Result, error) {
	if t == flow.TypeBrowser {
		q.CSRF.Token() // a browser gets its anti-CSRF cookie, signed in or not
	}
	if sess == nil && t == flow.TypeAPI {
		return nil, errNoSessionAPIInit
	}
	if sess == nil {
		to := s.Config.route("self-service/login/browser")
		if rt := q.Query.Get("return_to"); rt != "" {
			to = flow.WithQuery(to, "return_to", rt)
		}
		return nil, flow.BrowserRedirect(errNoSessionBrowserInit, to)
	}
	if err := s.checkAAL(sess, q.URL); err != nil {
		return nil, err
	}
	rt, err := s.Config.ReturnTo.Validate(q.Query.Get("return_to"))
	if err != nil {
		return nil, err
	}
	f, err := s.newFlow(ctx, sess.Identity, t, q.URL, rt)
	if err != nil {
		return nil, err
	}
	if err := s.runBeforeHooks(ctx, q, f, sess); err != nil {
		return nil, err
	}
	if err := flow.Create(ctx, s.Flows, f); err != nil {
		return nil, err
	}
	return flow.ShowFlow(s.view(f), 0, s.Config.SettingsUIURL), nil
}

// StartAfterRecovery creates the settings flow a successful recovery hands
// over to: of type t, for ident, whose recovery session is sess, with
// requestURL as its request_url and returnTo (already validated by the
// caller, who also applies the fallback) as its return_to. The flow shows
// message 1060001 with the end of the privileged window. It writes through
// ctx, so it joins the caller's transaction.
func (s *Service) StartAfterRecovery(ctx context.Context, ident *identity.Identity, sess *session.Session, t flow.Type, requestURL, returnTo string) (uuid.UUID, error) {
	f, err := s.newFlow(ctx, ident, t, requestURL, returnTo)
	if err != nil {
		return uuid.Nil, err
	}
	until := sess.AuthenticatedAt.Add(s.Config.PrivilegedSessionMaxAge)
	f.UI.AddMessage(flow.MsgRecoverySuccessful(until, s.Config.now()))
	if err := flow.Create(ctx, s.Flows, f); err != nil {
		return uuid.Nil, err
	}
	return f.ID, nil
}

// StepUpAfterRecovery is where a recovered browser goes before it can use
// the settings flow id: the aal2 login, coming back to the settings UI
// showing that flow, when the recovery session sess (aal1) is below
// required_aal (an identity with a second factor under
// highest_available); "" when the flow can be used right away. Kratos
// hands out the flow regardless and answers 403 on its first use.
func (s *Service) StepUpAfterRecovery(sess *session.Session, id uuid.UUID) string {
	if s.Sessions.SatisfiesAAL(sess, s.Config.RequiredAAL) {
		return ""
	}
	return flow.WithQuery(s.Sessions.AAL2LoginURL(), "return_to", s.Config.uiURL(id.String()))
}

// Fetch returns flow id for the session's identity
// (GET /self-service/settings/flows); a malformed id is an unknown flow.
func (s *Service) Fetch(ctx context.Context, q *flow.Request, rawID string, sess *session.Session) (*flow.Result, error) {
	if sess == nil {
		return nil, s.noSession()
	}
	id, _ := uuid.Parse(rawID)
	if err := s.checkAAL(sess, s.Config.actionURL(id.String())); err != nil {
		return nil, errors.Unwrap(err) // a fetch answers JSON, even to a browser
	}
	f, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if f.IdentityID != sess.IdentityID {
		return nil, errFetchOtherIdentity
	}
	if f.Expired(s.Config.now()) {
		if f.Type == flow.TypeAPI {
			return nil, errExpiredAPI.WithDetail("api", s.Config.route("self-service/settings/api"))
		}
		return nil, flow.ExpiredBrowserFetchError(Kind, s.Config.route("self-service/settings/browser"), f.ReturnTo)
	}
	f.Identity = sess.Identity
	return flow.ShowFlow(s.view(f), 0, s.Config.SettingsUIURL), nil
}

// noSession answers a request without a session: JSON clients get the
// 401, browsers go to sign in.
func (s *Service) noSession() error {
	return &flow.RedirectError{Err: errNoSession, To: s.Config.LoginUIURL, Code: http.StatusFound}
}

// view prepares f to be answered: its JSON shows the identity with the
// public URL of its schema, and each method fills in the secrets it shows
// (never stored in clear with the flow).
func (s *Service) view(f *Flow) *Flow {
	if f.Identity != nil {
		f.schemaURL = identity.SchemaURL(s.Config.PublicBaseURL, f.Identity.SchemaID)
	}
	for _, m := range s.Methods {
		if m.Enabled() {
			m.Show(f)
		}
	}
	return f
}

// newFlow builds (without storing) a flow showing ident's current traits
// and the groups of the enabled methods.
func (s *Service) newFlow(ctx context.Context, ident *identity.Identity, t flow.Type, requestURL, returnTo string) (*Flow, error) {
	sch, err := s.Schemas.Get(ident.SchemaID)
	if err != nil {
		return nil, fmt.Errorf("settings flow for identity %s: %w", ident.ID, err)
	}
	f := &Flow{
		Base:  flow.NewBase(t, s.Config.now(), s.Config.FlowLifespan, requestURL, returnTo, s.Config.route("self-service/settings")),
		State: StateShowForm, IdentityID: ident.ID, Identity: ident,
	}
	f.UI.Nodes = s.Config.nodes(sch, ident.Traits)
	for _, m := range s.Methods {
		if !m.Enabled() {
			continue
		}
		nodes, err := m.Nodes(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("settings flow: %s nodes: %w", m.ID(), err)
		}
		f.UI.Nodes = append(f.UI.Nodes, nodes...)
	}
	return f, nil
}

func (s *Service) load(ctx context.Context, id uuid.UUID) (*Flow, error) {
	rec, err := s.Flows.GetFlow(ctx, Kind, id)
	if errors.Is(err, storeerr.ErrNotFound) {
		return nil, errFlowNotFound
	}
	if err != nil {
		return nil, err
	}
	return fromRecord(rec)
}

// checkAAL enforces required_aal: a session below it is sent to sign in
// with a second factor and come back to returnTo.
func (s *Service) checkAAL(sess *session.Session, returnTo string) error {
	if s.Sessions.SatisfiesAAL(sess, s.Config.RequiredAAL) {
		return nil
	}
	to := flow.WithQuery(s.Sessions.AAL2LoginURL(), "return_to", returnTo)
	return flow.BrowserRedirect(session.ErrAAL2Required(to), to)
}

// checkPrivileged enforces the privileged-session window for flow f.
func (s *Service) checkPrivileged(sess *session.Session, f *Flow) error {
	if s.Sessions.Privileged(sess, s.Config.PrivilegedSessionMaxAge) {
		return nil
	}
	to := flow.WithQuery(s.Config.route("self-service/login/browser"),
		"refresh", "true", "return_to", s.Config.actionURL(f.ID.String()))
	return flow.BrowserRedirect(errRefreshRequired(to), to)
}

// errIsConflict reports whether err says an identifier or address is taken.
func errIsConflict(err error) bool {
	return errors.Is(err, storeerr.ErrConflict) || errors.Is(err, identity.ErrConflict)
}
