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

// Body is a decoded login submission (updateLoginFlowWithPasswordMethod).
type Body struct {
	Method string
	// Identifier is "identifier", or the deprecated "password_identifier".
	Identifier string
	Password   string
	CSRFToken  string
	// Err is why the body could not be decoded (a 400 the flow shows).
	Err error
}

// Submission is one POST /self-service/login.
type Submission struct {
	FlowID uuid.UUID
	Body   Body
	// Session is the request's active session, or nil.
	Session *session.Session
	// Request is the HTTP request: browser submissions are checked against
	// its CSRF cookie, native ones for browser signals, and a new session
	// records its device.
	Request *http.Request
	// CSRFToken returns the browser's CSRF token, setting its cookie when
	// needed (used when an expired browser flow is replaced).
	CSRFToken func() []byte
}

// Outcome is what a submission led to.
type Outcome int

// Outcomes of a submission.
const (
	// Succeeded: the user signed in. Result.Session is set; Result.Token
	// is the session's token (new, or the one the request presented for a
	// refresh); Result.NewSession tells whether a session was created.
	Succeeded Outcome = iota
	// Rejected: the flow carries messages saying what was wrong (HTTP 400).
	Rejected
	// Replaced: the flow had expired; Result.Flow is a new flow carrying
	// the "expired" message and Result.ExpiredAt the old flow's expiry.
	Replaced
	// AlreadyLoggedIn: an HTML form was submitted while holding a session;
	// the browser is sent to the default return URL.
	AlreadyLoggedIn
)

// Result is the outcome of Submit.
type Result struct {
	Outcome    Outcome
	Flow       *Flow
	ExpiredAt  time.Time
	Session    *session.Session
	Token      string
	NewSession bool
	// ReturnTo is where a browser goes after signing in.
	ReturnTo string
}

// Submit runs one login submission. Failures the user can fix come back as
// a Rejected result; errors are for what the flow cannot show (unknown
// flow, CSRF violation, disabled identity, storage failures). Once the
// flow was found the Result names it even when an error is returned, so
// the caller knows which kind of client to answer.
//
// An unknown identifier, an identity without a password and a wrong
// password give the same message and cost the same hashing work.
func (s *Service) Submit(ctx context.Context, sub Submission) (*Result, error) {
	f, err := s.load(ctx, sub.FlowID)
	if errors.Is(err, storeerr.ErrNotFound) {
		return nil, ErrFlowNotFound
	}
	if err != nil {
		return nil, err
	}
	res, err := s.submit(ctx, f, sub)
	if err != nil {
		return &Result{Flow: f}, err
	}
	return res, nil
}

// submit runs the checks of Submit on a loaded flow, in Kratos's order.
func (s *Service) submit(ctx context.Context, f *Flow, sub Submission) (*Result, error) {
	now := s.Config.now()
	f.UI.ResetMessages()
	if sub.Session != nil && !f.Refresh && aalRank(f.RequestedAAL) <= aalRank(sub.Session.AAL) {
		if flow.ClientOf(sub.Request, f.Type) == flow.BrowserForm {
			return &Result{Outcome: AlreadyLoggedIn, Flow: f, ReturnTo: s.Config.DefaultBrowserReturnURL}, nil
		}
		return s.reject(ctx, f, flow.MsgGeneric(ErrAlreadyLoggedIn.Reason))
	}
	if f.Expired(now) {
		return s.replace(ctx, f, sub, now)
	}
	if f.State == StatePassedChallenge {
		return s.reject(ctx, f, flow.MsgLoginRetrySuccess())
	}
	if sub.Body.Err != nil {
		return s.rejectError(ctx, f, sub.Body.Err)
	}
	if sub.Body.Method != MethodPassword || f.RequestedAAL != AAL1 {
		return s.reject(ctx, f, flow.MsgLoginNoStrategy())
	}
	if !s.Config.PasswordEnabled {
		return nil, httpx.ErrMethodDisabled()
	}
	if f.Type == flow.TypeBrowser {
		if err := s.CSRF.Check(sub.Request, sub.Body.CSRFToken); err != nil {
			return nil, err
		}
	} else if err := flow.CheckNativeRequest(sub.Request); err != nil {
		return s.rejectError(ctx, f, err)
	}
	return s.loginWithPassword(ctx, f, sub)
}

// loginWithPassword checks the identifier and password and signs in.
func (s *Service) loginWithPassword(ctx context.Context, f *Flow, sub Submission) (*Result, error) {
	identifier, password := sub.Body.Identifier, sub.Body.Password
	if f.IdentityID == nil {
		f.UI.SetNodeValue(nodeIdentifier, identifier)
	}
	if identifier == "" || password == "" {
		if identifier == "" {
			f.UI.AddNodeMessage(nodeIdentifier, flow.MsgMissingProperty(nodeIdentifier))
		}
		if password == "" {
			f.UI.AddNodeMessage(nodePassword, flow.MsgMissingProperty(nodePassword))
		}
		return s.reject(ctx, f)
	}

	ident, hash, err := s.verify(ctx, identifier, password)
	if err != nil {
		return nil, err
	}
	// A refresh flow re-authenticates its own identity only.
	if ident == nil || (f.IdentityID != nil && *f.IdentityID != ident.ID) {
		return s.reject(ctx, f, flow.MsgInvalidCredentials())
	}
	if ident.State != identity.StateActive {
		return nil, session.ErrIdentityDisabled(ident.ID)
	}
	rehashed := s.rehash(ctx, hash, password)

	res := &Result{Outcome: Succeeded, Flow: f, ReturnTo: f.ReturnTo}
	if res.ReturnTo == "" {
		res.ReturnTo = s.Config.AfterReturnURL
	}
	err = s.Tx.InTx(ctx, func(ctx context.Context) error {
		if rehashed != "" {
			if err := s.Identities.SetPassword(ctx, ident.ID, rehashed); err != nil {
				return fmt.Errorf("store re-hashed password: %w", err)
			}
		}
		if sub.Session != nil && sub.Session.IdentityID == ident.ID {
			if err := s.Sessions.Reauthenticate(ctx, sub.Session, MethodPassword); err != nil {
				return fmt.Errorf("re-authenticate session: %w", err)
			}
			res.Session, res.Token = sub.Session, sub.Session.RequestToken()
		} else {
			sess, token, err := s.Sessions.Issue(ctx, ident, MethodPassword, sub.Request)
			if err != nil {
				return err
			}
			res.Session, res.Token, res.NewSession = sess, token, true
		}
		f.State = StatePassedChallenge
		return s.save(ctx, f)
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// verify finds the identity of identifier and checks password against its
// hash. It returns a nil identity when either is wrong; in every case one
// password hash comparison has been made.
func (s *Service) verify(ctx context.Context, identifier, password string) (*identity.Identity, string, error) {
	plain := []byte(password)
	ident, err := s.Identities.FindByIdentifier(ctx, identity.CredentialPassword, identifier)
	if errors.Is(err, storeerr.ErrNotFound) {
		return nil, "", s.compareDummy(ctx, plain)
	}
	if err != nil {
		return nil, "", fmt.Errorf("find identity by identifier: %w", err)
	}
	hash := ident.HashedPassword()
	if hash == "" {
		return nil, "", s.compareDummy(ctx, plain)
	}
	ok, err := s.Passwords.Compare(ctx, plain, hash)
	if err != nil {
		if ctx.Err() != nil {
			return nil, "", ctx.Err()
		}
		// An unusable stored hash cannot match; it still costs a comparison.
		httpx.Logger(ctx).Error("stored password hash is unusable", "identity_id", ident.ID, "error", err)
		return nil, "", s.compareDummy(ctx, plain)
	}
	if !ok {
		return nil, "", nil
	}
	return ident, hash, nil
}

// compareDummy spends the time of one comparison; only the pool's context
// error is worth reporting.
func (s *Service) compareDummy(ctx context.Context, plain []byte) error {
	if _, err := s.Passwords.CompareDummy(ctx, plain); err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return nil
}

// rehash returns a new hash of password when hash was made with another
// algorithm or cost than the configured ones, "" otherwise. A failure only
// postpones the upgrade to the next login.
func (s *Service) rehash(ctx context.Context, hash, password string) string {
	if !s.Passwords.NeedsRehash(hash) {
		return ""
	}
	h, err := s.Passwords.Hash(ctx, []byte(password))
	if err != nil {
		httpx.Logger(ctx).Warn("could not re-hash password on login", "error", err)
		return ""
	}
	return h
}

// reject saves the flow with its messages (flow-level msgs after any
// already attached) and reports it as Rejected.
func (s *Service) reject(ctx context.Context, f *Flow, msgs ...flow.Message) (*Result, error) {
	for _, m := range msgs {
		f.UI.AddMessage(m)
	}
	if err := s.save(ctx, f); err != nil {
		return nil, err
	}
	return &Result{Outcome: Rejected, Flow: f}, nil
}

// rejectError shows a 400-class error on the flow as message 4000001, as
// Kratos does; other errors are returned as they are.
func (s *Service) rejectError(ctx context.Context, f *Flow, err error) (*Result, error) {
	if m, ok := flow.MsgFromBadRequest(err); ok {
		return s.reject(ctx, f, m)
	}
	return nil, err
}

// replace answers a submission of an expired flow with a new flow of the
// same kind carrying the "expired" message.
func (s *Service) replace(ctx context.Context, old *Flow, sub Submission, now time.Time) (*Result, error) {
	nf, err := s.newFlow(ctx, flowSpec{
		Type: old.Type, RequestURL: old.RequestURL, ReturnTo: old.ReturnTo,
		Refresh: old.Refresh, AAL: old.RequestedAAL, Session: sub.Session, CSRFToken: sub.CSRFToken,
		Messages: []flow.Message{flow.MsgLoginExpired(old.ExpiresAt, now)},
	})
	if err != nil {
		return nil, err
	}
	return &Result{Outcome: Replaced, Flow: nf, ExpiredAt: old.ExpiresAt}, nil
}
