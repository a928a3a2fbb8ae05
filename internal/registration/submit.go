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
	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/internal/storeerr"
)

// Body is a decoded registration submission
// (updateRegistrationFlowWithPasswordMethod).
type Body struct {
	Method    string
	Password  string
	CSRFToken string
	// Traits is the traits object of a JSON body.
	Traits json.RawMessage
	// TraitFields are the traits.<path> fields of a form body, by name.
	TraitFields map[string]string
	// Err is why the body could not be decoded (a 400 the flow shows).
	Err error
}

// Submission is one POST /self-service/registration.
type Submission struct {
	FlowID uuid.UUID
	Body   Body
	// HasSession tells whether the request holds an active session.
	HasSession bool
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
	// Succeeded: the identity was created (Result.Identity); with the
	// session hook it is signed in (Result.Session and Result.Token).
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
	Outcome   Outcome
	Flow      *Flow
	ExpiredAt time.Time
	Identity  *identity.Identity
	Session   *session.Session
	Token     string
	// ReturnTo is where a browser goes after signing up.
	ReturnTo string
}

// Submit runs one registration submission. Failures the user can fix
// (schema violations, a weak password, a taken identifier) come back as a
// Rejected result; errors are for what the flow cannot show. Once the
// flow was found the Result names it even when an error is returned, so
// the caller knows which kind of client to answer.
func (s *Service) Submit(ctx context.Context, sub Submission) (*Result, error) {
	if !s.Config.Enabled {
		return nil, ErrDisabled
	}
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
	if sub.HasSession {
		if flow.ClientOf(sub.Request, f.Type) == flow.BrowserForm {
			return &Result{Outcome: AlreadyLoggedIn, Flow: f, ReturnTo: s.Config.DefaultBrowserReturnURL}, nil
		}
		return s.reject(ctx, f, flow.MsgGeneric(ErrAlreadyLoggedIn.Reason))
	}
	if f.Expired(now) {
		nf, err := s.newFlow(ctx, f.Type, f.RequestURL, f.ReturnTo, sub.CSRFToken, flow.MsgRegistrationExpired(f.ExpiresAt, now))
		if err != nil {
			return nil, err
		}
		return &Result{Outcome: Replaced, Flow: nf, ExpiredAt: f.ExpiresAt}, nil
	}
	if f.State == StatePassedChallenge {
		return s.reject(ctx, f, flow.MsgRegistrationRetrySuccess())
	}
	if sub.Body.Err != nil {
		return s.rejectError(ctx, f, sub.Body.Err)
	}
	if sub.Body.Method != MethodPassword {
		return s.reject(ctx, f, flow.MsgRegistrationNoStrategy())
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
	return s.registerWithPassword(ctx, f, sub)
}

// registerWithPassword validates the traits and the password, creates the
// identity and, with the session hook, signs it in.
func (s *Service) registerWithPassword(ctx context.Context, f *Flow, sub Submission) (*Result, error) {
	sch, err := s.Schemas.Get(s.Config.SchemaID)
	if err != nil {
		return nil, fmt.Errorf("registration schema %q: %w", s.Config.SchemaID, err)
	}
	traits := sub.Body.Traits
	if sub.Body.TraitFields != nil {
		traits = formTraits(sch, sub.Body.TraitFields)
	}
	if len(traits) == 0 {
		traits = json.RawMessage("{}")
	}
	decoded := decodeTraits(traits)
	showTraits(f, sch, decoded)

	if sub.Body.Password == "" {
		f.UI.AddNodeMessage(nodePassword, flow.MsgMissingProperty(nodePassword))
		return s.reject(ctx, f)
	}
	if errs := s.Identities.ValidateTraits(sch.ID, traits); len(errs) > 0 {
		for _, fe := range errs {
			f.UI.AddNodeMessage(fe.Field, flow.Message{ID: fe.MessageID, Text: fe.Text, Type: flow.MessageError, Context: fe.Context})
		}
		return s.reject(ctx, f)
	}
	identifiers := passwordIdentifiers(sch, decoded)
	if len(identifiers) == 0 {
		return s.reject(ctx, f, flow.MsgNoIdentifiers())
	}
	if v := s.Policy.Validate(identifiers, sub.Body.Password); v != nil {
		f.UI.AddNodeMessage(nodePassword, flow.MsgFromPolicy(v.ID, v.Text, v.Context))
		return s.reject(ctx, f)
	}
	// Hashing is slow: it runs before the transaction, not inside it.
	hashed, err := s.Passwords.Hash(ctx, []byte(sub.Body.Password))
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}

	res := &Result{Outcome: Succeeded, Flow: f, ReturnTo: f.ReturnTo}
	if res.ReturnTo == "" {
		res.ReturnTo = s.Config.AfterReturnURL
	}
	err = s.Tx.InTx(ctx, func(ctx context.Context) error {
		ident, err := s.Identities.Create(ctx, identity.CreateInput{
			SchemaID: sch.ID,
			Traits:   traits,
			Credentials: &identity.CredentialsInput{Password: &identity.PasswordCredentialsInput{
				Config: identity.PasswordInputConfig{HashedPassword: hashed},
			}},
		})
		if err != nil {
			return err
		}
		res.Identity = ident
		if s.Config.SessionAfterRegistration {
			if res.Session, res.Token, err = s.Sessions.Issue(ctx, ident, MethodPassword, sub.Request); err != nil {
				return err
			}
		}
		f.State = StatePassedChallenge
		return s.save(ctx, f)
	})
	var ve *identity.ValidationError
	switch {
	case errors.Is(err, storeerr.ErrConflict):
		// Nothing was written: the transaction rolled back.
		return s.reject(ctx, f, flow.MsgDuplicateIdentifier())
	case errors.As(err, &ve):
		for _, fe := range ve.Fields {
			f.UI.AddNodeMessage(fe.Field, flow.Message{ID: fe.MessageID, Text: fe.Text, Type: flow.MessageError, Context: fe.Context})
		}
		return s.reject(ctx, f)
	case err != nil:
		return nil, err
	}
	return res, nil
}

// showTraits puts the submitted trait values back into the form, so the
// user does not type them again (the password never is).
func showTraits(f *Flow, sch *identity.Schema, traits map[string]any) {
	for i := range f.UI.Nodes {
		n := &f.UI.Nodes[i]
		path, ok := traitPath(n.Attributes.Name)
		if !ok {
			continue
		}
		if _, known := sch.Trait(path); !known {
			continue
		}
		if v, ok := valueAt(traits, path); ok {
			n.Attributes.Value = v
		}
	}
}

func traitPath(name string) (string, bool) {
	const prefix = "traits."
	if len(name) <= len(prefix) || name[:len(prefix)] != prefix {
		return "", false
	}
	return name[len(prefix):], true
}

// reject saves the flow with the extra flow-level messages and reports it
// as Rejected.
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
