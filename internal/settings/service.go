package settings

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
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
}

// Schemas gives the compiled identity schemas (*identity.Schemas).
type Schemas interface {
	Get(id string) (*identity.Schema, error)
}

// Sessions is the part of session.Manager the settings flow uses.
type Sessions interface {
	// FromRequest returns the request's active session with its identity,
	// or session.ErrNoActiveSession.
	FromRequest(ctx context.Context, r *http.Request) (*session.Session, error)
	// SetCookie (re-)issues the session cookie.
	SetCookie(w http.ResponseWriter, r *http.Request, s *session.Session, token string)
	// SatisfiesAAL checks the session against required_aal.
	SatisfiesAAL(s *session.Session, required string) bool
	// Privileged reports whether s authenticated within maxAge.
	Privileged(s *session.Session, maxAge time.Duration) bool
	// RevokeOthers deactivates the identity's sessions except keep.
	RevokeOthers(ctx context.Context, identityID, keep uuid.UUID) (int, error)
	// AAL2LoginURL is PUB/self-service/login/browser?aal=aal2.
	AAL2LoginURL() string
}

// Transactor runs fn in one database transaction carried by ctx
// (sqlstore.DB.InTx); nested calls join it.
type Transactor interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
}

// Service holds the rules of the settings flow. Its fields are set once
// by the server.
type Service struct {
	Config     Config
	Flows      flow.Store
	Identities Identities
	Schemas    Schemas
	Sessions   Sessions
	Passwords  PasswordHasher
	Policy     PasswordPolicy
	Tx         Transactor
}

// Start creates a settings flow of type t for the session's identity.
// requestURL is the URL of the request that asked for it; returnTo its
// return_to query parameter (validated here).
func (s *Service) Start(ctx context.Context, sess *session.Session, t flow.Type, requestURL, returnTo string) (*Flow, error) {
	if err := s.checkAAL(sess, requestURL); err != nil {
		return nil, err
	}
	rt, err := s.Config.ReturnTo.Validate(returnTo)
	if err != nil {
		return nil, err
	}
	f, err := s.newFlow(sess.Identity, t, requestURL, rt)
	if err != nil {
		return nil, err
	}
	if err := s.create(ctx, f); err != nil {
		return nil, err
	}
	return f, nil
}

// StartAfterRecovery creates the settings flow a successful recovery hands
// over to: of type t, for ident, whose recovery session is sess, with
// requestURL as its request_url and returnTo (already validated by the
// caller, who also applies the fallback) as its return_to. The flow shows
// message 1060001 with the end of the privileged window. It writes through
// ctx, so it joins the caller's transaction.
func (s *Service) StartAfterRecovery(ctx context.Context, ident *identity.Identity, sess *session.Session, t flow.Type, requestURL, returnTo string) (uuid.UUID, error) {
	f, err := s.newFlow(ident, t, requestURL, returnTo)
	if err != nil {
		return uuid.Nil, err
	}
	until := sess.AuthenticatedAt.Add(s.Config.PrivilegedSessionMaxAge)
	f.UI.AddMessage(flow.MsgRecoverySuccessful(until, s.Config.now()))
	if err := s.create(ctx, f); err != nil {
		return uuid.Nil, err
	}
	return f.ID, nil
}

// Fetch returns flow id for the session's identity
// (GET /self-service/settings/flows).
func (s *Service) Fetch(ctx context.Context, sess *session.Session, id uuid.UUID) (*Flow, error) {
	if err := s.checkAAL(sess, s.Config.actionURL(id.String())); err != nil {
		return nil, err
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
	return f, nil
}

// SchemaURL is the public URL of the schema of the flow's identity.
func (s *Service) SchemaURL(f *Flow) string {
	if f.Identity == nil {
		return ""
	}
	return identity.SchemaURL(s.Config.PublicBaseURL, f.Identity.SchemaID)
}

// newFlow builds (without storing) a flow showing ident's current traits.
func (s *Service) newFlow(ident *identity.Identity, t flow.Type, requestURL, returnTo string) (*Flow, error) {
	sch, err := s.Schemas.Get(ident.SchemaID)
	if err != nil {
		return nil, fmt.Errorf("settings flow for identity %s: %w", ident.ID, err)
	}
	now := s.Config.now()
	id := uuid.New()
	return &Flow{
		ID: id, Type: t, IssuedAt: now, ExpiresAt: now.Add(s.Config.FlowLifespan),
		RequestURL: requestURL, ReturnTo: returnTo,
		UI:    s.Config.container(id.String(), sch, ident.Traits),
		State: StateShowForm, IdentityID: ident.ID, Identity: ident,
	}, nil
}

func (s *Service) create(ctx context.Context, f *Flow) error {
	rec, err := f.record()
	if err != nil {
		return err
	}
	return s.Flows.CreateFlow(ctx, rec)
}

func (s *Service) save(ctx context.Context, f *Flow) error {
	rec, err := f.record()
	if err != nil {
		return err
	}
	return s.Flows.UpdateFlow(ctx, rec)
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
	return redirectingError(session.ErrAAL2Required(to), to)
}

// checkPrivileged enforces the privileged-session window for flow f.
func (s *Service) checkPrivileged(sess *session.Session, f *Flow) error {
	if s.Sessions.Privileged(sess, s.Config.PrivilegedSessionMaxAge) {
		return nil
	}
	to := flow.WithQuery(s.Config.route("self-service/login/browser"),
		"refresh", "true", "return_to", s.Config.actionURL(f.ID.String()))
	return redirectingError(errRefreshRequired(to), to)
}

// replaceExpired answers a submission of an expired flow: a new flow of
// the same type and request URL that says how long ago the old one
// expired. JSON clients get a 410 naming it, browsers are sent to it.
func (s *Service) replaceExpired(ctx context.Context, old *Flow, ident *identity.Identity) error {
	f, err := s.newFlow(ident, old.Type, old.RequestURL, old.ReturnTo)
	if err != nil {
		return err
	}
	now := s.Config.now()
	f.UI.AddMessage(flow.MsgSettingsExpired(old.ExpiresAt, now))
	if err := s.create(ctx, f); err != nil {
		return err
	}
	return redirectingError(flow.ExpiredError(old.ExpiresAt, now, f.ID), s.Config.uiURL(f.ID.String()))
}

// errIsConflict reports whether err says an identifier or address is taken.
func errIsConflict(err error) bool {
	return errors.Is(err, storeerr.ErrConflict) || errors.Is(err, identity.ErrConflict)
}
