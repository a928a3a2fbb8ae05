package session

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/rowid"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/storeerr"
)

// Config is the session part of the configuration, resolved by the server
// (fallbacks to cookies.* and defaults already applied).
type Config struct {
	// Lifespan is session.lifespan: expires_at = authenticated_at + Lifespan.
	Lifespan time.Duration
	// EarliestPossibleExtend is session.earliest_possible_extend: an admin
	// extend works only when expires_at - EarliestPossibleExtend <= now.
	// Zero means Lifespan (always extendable).
	EarliestPossibleExtend time.Duration
	// Cookie holds the session cookie's attributes (session.cookie.*).
	Cookie CookieConfig
	// WhoamiRequiredAAL is session.whoami.required_aal: "aal1" or
	// "highest_available" (the default when empty).
	WhoamiRequiredAAL string
	// PublicBaseURL is serve.public.base_url (logout URLs, the aal2
	// redirect, the identity's schema_url).
	PublicBaseURL *url.URL
	// LogoutReturnURL is where a browser goes after logout without an
	// allowed return_to: selfservice.flows.logout.after.
	// default_browser_return_url, falling back to
	// selfservice.default_browser_return_url.
	LogoutReturnURL string
}

// CookieConfig holds the ory_kratos_session cookie attributes.
type CookieConfig struct {
	Name     string // default ory_kratos_session
	Domain   string
	Path     string // default "/"
	SameSite http.SameSite
	// Persistent sends Max-Age/Expires; false makes a browser-session cookie.
	Persistent bool
	// Secure is the resolved session.cookie.secure (true unless --dev by default).
	Secure bool
}

// Store persists sessions. sqlstore.SessionStore implements it. Methods
// called with a context from sqlstore.DB.InTx join that transaction.
// Missing rows are reported as storeerr.ErrNotFound.
type Store interface {
	// CreateSession inserts s; of its token only tokenHash is kept.
	CreateSession(ctx context.Context, s *Session, tokenHash string) error
	// SessionByTokenHash returns the session whose token hash is any of
	// hashes (one per secret of the rotation list), in one indexed lookup.
	SessionByTokenHash(ctx context.Context, hashes []string) (*Session, error)
	// SessionForWhoami is the whoami lookup: the session whose token hash
	// is any of hashes with its Identity set to the identity's public part
	// and addresses (no credentials), and whether that identity holds a
	// credential of one of the secondFactors types. The answer may be
	// shared with a short-lived cache that the store's own writes
	// invalidate: callers must not modify it.
	SessionForWhoami(ctx context.Context, hashes []string, secondFactors []identity.CredentialType) (*Session, bool, error)
	// GetSession returns a session by id.
	GetSession(ctx context.Context, id uuid.UUID) (*Session, error)
	// UpdateSession saves Active, AAL, AuthenticationMethods, Devices,
	// AuthenticatedAt, IssuedAt, ExpiresAt and UpdatedAt.
	UpdateSession(ctx context.Context, s *Session) error
	// RevokeSession sets active=false on session id; when identityID is not
	// uuid.Nil the session must also belong to that identity.
	RevokeSession(ctx context.Context, identityID, id uuid.UUID, at time.Time) error
	// RevokeIdentitySessions sets active=false on every active session of
	// the identity except `except` (may be uuid.Nil) and returns how many.
	RevokeIdentitySessions(ctx context.Context, identityID, except uuid.UUID, at time.Time) (int, error)
	// DeleteIdentitySessions deletes every session of the identity and
	// returns how many there were.
	DeleteIdentitySessions(ctx context.Context, identityID uuid.UUID) (int, error)
	// ListIdentitySessions returns one page (offset/limit) of an
	// identity's sessions, newest first, and the total matching q.
	ListIdentitySessions(ctx context.Context, q IdentityQuery) ([]*Session, int, error)
	// ListSessions returns up to q.Limit sessions of all identities, newest
	// first, starting after q.After (keyset pagination).
	ListSessions(ctx context.Context, q ListQuery) ([]*Session, error)
}

// IdentityQuery selects sessions of one identity.
type IdentityQuery struct {
	IdentityID uuid.UUID
	// Except leaves one session out (the caller's own); uuid.Nil: none.
	Except uuid.UUID
	// Active nil: all; true: active and unexpired at Now; false: the others.
	Active        *bool
	Now           time.Time
	Offset, Limit int
}

// ListQuery selects a page of all sessions.
type ListQuery struct {
	Active *bool
	Now    time.Time
	// After is the position of the last session of the previous page.
	After *Cursor
	Limit int
}

// Cursor is a position in the newest-first order of sessions.
type Cursor struct {
	CreatedAt time.Time
	ID        uuid.UUID
}

// IdentityGetter loads identities; identity.Service implements it. The
// identity's credentials must be loaded (the aal check looks at them).
type IdentityGetter interface {
	Get(ctx context.Context, id uuid.UUID) (*identity.Identity, error)
}

// ErrNoActiveSession is returned by FromRequest when the request carries
// no token, an unknown one, or one of a revoked or expired session or of
// an inactive identity: every case is the same to the client. As an
// error it renders as Kratos's session_inactive; endpoints with their own
// wording (whoami) map it themselves.
var ErrNoActiveSession = &httpx.Error{
	ID:      "session_inactive",
	Code:    http.StatusUnauthorized,
	Reason:  "No active session was found in this request.",
	Message: "request does not have a valid authentication session",
}

// ErrIdentityDisabled is the answer to issuing a session for an identity
// that is not active.
func ErrIdentityDisabled(identityID uuid.UUID) *httpx.Error {
	return httpx.ErrUnauthorized("This account was disabled.").
		WithMessage("identity is disabled").
		WithDetail("identity_id", identityID.String())
}

// ErrAAL2Required is the 403 session_aal2_required error; redirectTo is
// the login URL asking for aal2 (both in details and at the top level).
func ErrAAL2Required(redirectTo string) *httpx.Error {
	return httpx.ErrForbidden("An active session was found but it does not fulfill the requested Authenticator Assurance Level. Please verify yourself with a second factor to resolve this issue.").
		WithID("session_aal2_required").
		WithMessage("Session does not fulfill the requested Authenticator Assurance Level").
		WithDetail("redirect_browser_to", redirectTo).
		WithExtra("redirect_browser_to", redirectTo)
}

// Manager issues, reads, refreshes and revokes sessions. All fields are
// set once by the server; a Manager is safe for concurrent use.
type Manager struct {
	Store      Store
	Identities IdentityGetter
	Config     Config
	// Tokens hashes session tokens and derives logout tokens
	// (secrets.default).
	Tokens secret.Hasher
	// Cookies signs the session cookie (secrets.cookie, falling back to
	// secrets.default; Tokens is used when empty).
	Cookies secret.Hasher
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Tx puts a revocation and its audit event in one transaction (nil:
	// none, for tests without a database).
	Tx Transactor
	// Audit records every revocation (nil records nothing).
	Audit *audit.Recorder
}

// Transactor runs fn in one transaction carried by the ctx fn gets,
// joining one ctx already carries (sqlstore.DB implements it).
type Transactor interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
}

// Token prefixes.
const (
	TokenPrefix       = "ory_st_"
	LogoutTokenPrefix = "ory_lo_"
)

// maxTokenLength bounds what is hashed and looked up: a real token is 39
// characters, anything far longer is not worth a database round trip.
const maxTokenLength = 256

// NewToken returns a fresh session token: ory_st_ and 32 random
// alphanumerics.
func NewToken() string { return TokenPrefix + secret.RandomAlphanumeric(32) }

// now is the clock at the precision the databases keep, so a session
// returned by Issue is identical to the one read back later.
func (m *Manager) now() time.Time {
	t := time.Now()
	if m.Now != nil {
		t = m.Now()
	}
	return t.UTC().Truncate(time.Microsecond)
}

// Issue creates a session for ident after it authenticated with method,
// recording the device of caller, and returns it with its token (the only time
// the token exists outside the client). The session is stored through
// ctx, so it joins a transaction the caller started.
func (m *Manager) Issue(ctx context.Context, ident *identity.Identity, method string, caller httpx.Caller) (*Session, string, error) {
	s, token, err := m.New(ident, method, caller)
	if err != nil {
		return nil, "", err
	}
	if err := m.Create(ctx, s, token); err != nil {
		return nil, "", err
	}
	return s, token, nil
}

// IssueVia is Issue for a method with a provider (a social sign-in:
// authentication_methods[].provider).
func (m *Manager) IssueVia(ctx context.Context, ident *identity.Identity, method, provider string, caller httpx.Caller) (*Session, string, error) {
	s, token, err := m.New(ident, method, caller)
	if err != nil {
		return nil, "", err
	}
	s.AuthenticationMethods[0].Provider = provider
	if err := m.Create(ctx, s, token); err != nil {
		return nil, "", err
	}
	return s, token, nil
}

// New is Issue without the write: the session and its token, to be
// stored by Create (login's web_hooks see the session before it exists,
// as Kratos's do).
func (m *Manager) New(ident *identity.Identity, method string, caller httpx.Caller) (*Session, string, error) {
	if ident.State != identity.StateActive {
		return nil, "", ErrIdentityDisabled(ident.ID)
	}
	now := m.now()
	methods := []AuthMethod{{Method: method, AAL: MethodAAL(method), CompletedAt: now}}
	s := &Session{
		ID:                    rowid.New(),
		IdentityID:            ident.ID,
		Active:                true,
		ExpiresAt:             now.Add(m.Config.Lifespan),
		AuthenticatedAt:       now,
		IssuedAt:              now,
		AAL:                   ComputeAAL(methods),
		AuthenticationMethods: methods,
		Devices:               []Device{deviceOf(caller)},
		Identity:              ident,
		CreatedAt:             now,
		UpdatedAt:             now,
	}
	return s, NewToken(), nil
}

// Create stores a session New made, with the keyed hash of its token,
// through ctx (joining the caller's transaction).
func (m *Manager) Create(ctx context.Context, s *Session, token string) error {
	if err := m.Store.CreateSession(ctx, s, m.Tokens.Hash(token)); err != nil {
		return fmt.Errorf("store session: %w", err)
	}
	return nil
}

// FromRequest returns the active session the request presents, looking at
// the X-Session-Token header, then the session cookie, then an
// "Authorization: Bearer" header; the first one present is used. The
// session's identity is loaded. Any reason for not having a usable
// session gives ErrNoActiveSession; other errors are infrastructure
// failures.
//
// This is the whoami hot path: one indexed lookup by token hash, then the
// identity; nothing is written.
func (m *Manager) FromRequest(ctx context.Context, r *http.Request) (*Session, error) {
	token, carrier, cookieExpiry := m.tokenOf(r)
	if token == "" || len(token) > maxTokenLength {
		return nil, ErrNoActiveSession
	}
	s, err := m.Store.SessionByTokenHash(ctx, m.Tokens.Candidates(token))
	if errors.Is(err, storeerr.ErrNotFound) {
		return nil, ErrNoActiveSession
	}
	if err != nil {
		return nil, fmt.Errorf("load session: %w", err)
	}
	if !s.Active || !s.ExpiresAt.After(m.now()) {
		return nil, ErrNoActiveSession
	}
	ident, err := m.Identities.Get(ctx, s.IdentityID)
	if errors.Is(err, storeerr.ErrNotFound) {
		return nil, ErrNoActiveSession
	}
	if err != nil {
		return nil, fmt.Errorf("load session identity: %w", err)
	}
	if ident.State != identity.StateActive {
		return nil, ErrNoActiveSession
	}
	s.Identity = ident
	s.token, s.carrier, s.cookieExpiry = token, carrier, cookieExpiry
	return s, nil
}

// whoamiSession is FromRequest for /sessions/whoami, which shows the
// identity but needs none of its credentials: one store lookup (often
// answered from the store's cache) instead of the session and then the
// whole identity. It returns whether the identity has a second factor,
// for the aal check.
func (m *Manager) whoamiSession(ctx context.Context, r *http.Request) (*Session, bool, error) {
	token, carrier, cookieExpiry := m.tokenOf(r)
	if token == "" || len(token) > maxTokenLength {
		return nil, false, ErrNoActiveSession
	}
	hashes := m.Tokens.Candidates(token)
	found, secondFactor, err := m.activeForWhoami(ctx, hashes)
	if err != nil {
		return nil, false, err
	}
	s := *found // the store's copy may be shared
	s.token, s.carrier, s.cookieExpiry = token, carrier, cookieExpiry
	s.shared, s.tokenHash = found, hashes[0]
	return &s, secondFactor, nil
}

// activeForWhoami is the whoami lookup of a token by its hashes: the
// store's session, which may be shared and must not be modified, when it
// is active and unexpired and its identity active, else
// ErrNoActiveSession; and whether the identity has a second factor.
func (m *Manager) activeForWhoami(ctx context.Context, hashes []string) (*Session, bool, error) {
	found, secondFactor, err := m.Store.SessionForWhoami(ctx, hashes, secondFactors)
	if errors.Is(err, storeerr.ErrNotFound) {
		return nil, false, ErrNoActiveSession
	}
	if err != nil {
		return nil, false, fmt.Errorf("load session: %w", err)
	}
	if !found.Active || !found.ExpiresAt.After(m.now()) || found.Identity == nil || found.Identity.State != identity.StateActive {
		return nil, false, ErrNoActiveSession
	}
	return found, secondFactor, nil
}

// tokenOf finds the token in the request, in Kratos's order of precedence.
func (m *Manager) tokenOf(r *http.Request) (string, Carrier, int64) {
	if t := r.Header.Get("X-Session-Token"); t != "" {
		return t, CarrierHeader, 0
	}
	if c, err := r.Cookie(m.cookieName()); err == nil {
		if t, exp, ok := m.decodeCookie(c.Value); ok {
			return t, CarrierCookie, exp
		}
	}
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, t, ok := strings.Cut(h, " ")
		if ok && strings.EqualFold(scheme, "bearer") && t != "" && !strings.Contains(t, " ") {
			return t, CarrierBearer, 0
		}
	}
	return "", CarrierNone, 0
}

// Get returns a session by id (without its identity).
func (m *Manager) Get(ctx context.Context, id uuid.UUID) (*Session, error) {
	return m.Store.GetSession(ctx, id)
}

// Reauthenticate records that the holder of s authenticated again with
// method (login with refresh=true, or a second factor): the session keeps
// its id and token, authenticated_at becomes now, expires_at now +
// lifespan, and method is appended to authentication_methods. Callers
// re-issue the cookie with SetCookie.
func (m *Manager) Reauthenticate(ctx context.Context, s *Session, method string) error {
	return m.ReauthenticateVia(ctx, s, method, "")
}

// ReauthenticateVia is Reauthenticate for a method with a provider (a
// social sign-in: authentication_methods[].provider).
func (m *Manager) ReauthenticateVia(ctx context.Context, s *Session, method, provider string) error {
	now := m.now()
	s.AuthenticationMethods = append(s.AuthenticationMethods, AuthMethod{Method: method, AAL: MethodAAL(method), CompletedAt: now, Provider: provider})
	s.AAL = ComputeAAL(s.AuthenticationMethods)
	s.AuthenticatedAt = now
	s.ExpiresAt = now.Add(m.Config.Lifespan)
	s.UpdatedAt = now
	return m.Store.UpdateSession(ctx, s)
}

// Extend is the admin extend: when the session expires within
// earliest_possible_extend, expires_at becomes now + lifespan; otherwise
// nothing changes (a silent no-op). It returns the session either way.
func (m *Manager) Extend(ctx context.Context, id uuid.UUID) (*Session, error) {
	s, err := m.Store.GetSession(ctx, id)
	if err != nil {
		return nil, err
	}
	now := m.now()
	window := m.Config.EarliestPossibleExtend
	if window <= 0 {
		window = m.Config.Lifespan
	}
	if !s.ExpiresAt.Add(-window).After(now) {
		s.ExpiresAt = now.Add(m.Config.Lifespan)
		s.UpdatedAt = now
		if err := m.Store.UpdateSession(ctx, s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Privileged reports whether s authenticated recently enough for
// privileged changes: authenticated_at + maxAge is in the future
// (selfservice.flows.settings.privileged_session_max_age).
func (m *Manager) Privileged(s *Session, maxAge time.Duration) bool {
	return s.AuthenticatedAt.Add(maxAge).After(m.now())
}

// SatisfiesAAL reports whether s meets required: "aal1", "aal2", or
// "highest_available", where an aal1 session falls short exactly when its
// identity has a second factor (TOTP, WebAuthn or lookup secrets). The
// identity must be loaded for highest_available (FromRequest does it);
// without it only an aal2 session passes.
func (m *Manager) SatisfiesAAL(s *Session, required string) bool {
	return satisfiesAAL(s.AAL, s.Identity != nil, s.Identity != nil && hasSecondFactor(s.Identity), required)
}

// satisfiesAAL is SatisfiesAAL on what it looks at: the session's aal,
// whether its identity is known and whether that has a second factor.
func satisfiesAAL(aal string, identityKnown, secondFactor bool, required string) bool {
	if required == "" || required == HighestAvailable {
		if aalRank(aal) >= 2 {
			return true
		}
		return identityKnown && !secondFactor && aalRank(aal) >= 1
	}
	return aalRank(aal) >= aalRank(required)
}

// AAL2LoginURL is where a browser upgrades its session to aal2:
// PUB/self-service/login/browser?aal=aal2.
func (m *Manager) AAL2LoginURL() string {
	return m.publicURL("self-service/login/browser") + "?aal=aal2"
}

// LogoutToken returns the logout token of a session: ory_lo_ and 32
// alphanumerics derived from the session id with the first secret, so
// nothing extra is stored.
func (m *Manager) LogoutToken(s *Session) string {
	return LogoutTokenPrefix + m.Tokens.Derive(logoutInput(s.ID))
}

// ValidLogoutToken reports whether token is the logout token of s under
// any secret of the rotation list (constant-time comparison).
func (m *Manager) ValidLogoutToken(s *Session, token string) bool {
	rest, ok := strings.CutPrefix(token, LogoutTokenPrefix)
	return ok && m.Tokens.DerivedMatches(logoutInput(s.ID), rest)
}

// logoutInput separates logout tokens from any other value derived from
// the same secrets.
func logoutInput(id uuid.UUID) string { return "latchkey/logout_token/" + id.String() }

// publicURL joins path onto the public base URL.
func (m *Manager) publicURL(path string) string {
	if m.Config.PublicBaseURL == nil {
		return "/" + path
	}
	return m.Config.PublicBaseURL.JoinPath(path).String()
}

// deviceOf records where a session is created from. Kratos stores the
// client address as seen (with the port when no proxy header names the
// client); the record is informational only and never used for a
// security decision.
func deviceOf(c httpx.Caller) Device {
	d := Device{ID: uuid.New(), Location: &c.Location}
	if c.Address != "" {
		d.IPAddress = &c.Address
	}
	if c.UserAgent != "" {
		d.UserAgent = &c.UserAgent
	}
	return d
}
