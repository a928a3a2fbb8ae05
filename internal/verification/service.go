package verification

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/courier"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/ratelimit"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/session"
)

// Identities is what verification needs of identity.Service: the identity
// a code is mailed about (for the templates).
type Identities interface {
	GetPublic(ctx context.Context, id uuid.UUID) (*identity.Identity, error)
}

// Mailer queues an email in the transaction carried by ctx
// (courier.Queue implements it).
type Mailer interface {
	Enqueue(ctx context.Context, e courier.Email) (uuid.UUID, error)
	// EnqueueInternal queues a message the courier hands back to
	// PrepareRequest instead of sending it (request.go).
	EnqueueInternal(ctx context.Context, tt courier.TemplateType, data any) (uuid.UUID, error)
}

// Service holds every rule of verification; it is the flow.Service of the
// verification routes. All fields are set by the server.
type Service struct {
	Config     Config
	Tx         flow.Transactor
	Flows      flow.Store
	Store      Store
	Identities Identities
	Mail       Mailer
	// Limits counts verification mail against the send limits.
	Limits *ratelimit.Counter
	// Hasher makes the keyed hashes of codes.
	Hasher secret.Hasher
	// SchemaURL returns the public URL of an identity schema (templates).
	SchemaURL func(schemaID string) string
	// Audit records verification's events in the transaction of the
	// change (nil records nothing).
	Audit *audit.Recorder
	// Log receives the events of the courier's preparation of a request;
	// nil is slog.Default.
	Log *slog.Logger
	// Hooks runs the web_hooks (nil runs none).
	Hooks Hooks
}

var _ flow.Service[*session.Session] = (*Service)(nil)

// Errors with Kratos's wording.
var (
	// ErrDisabled: selfservice.flows.verification.enabled is false.
	ErrDisabled = httpx.ErrBadRequest("Verification is not allowed because it was disabled.")
	// ErrFlowNotFound: a submission names a flow that does not exist.
	ErrFlowNotFound = httpx.ErrRouteNotFound("The verification request could not be found. Please restart the flow.")
	errFlowMissing  = &httpx.Error{Code: http.StatusNotFound, Message: httpx.MsgNotLocated}
)

const reasonTooOften = "The request was submitted too often. Please request another code."

func (s *Service) now() time.Time { return s.Config.now() }

func (s *Service) kind() flow.Kind[*Flow] {
	return flow.Kind[*Flow]{Name: FlowKind, Store: s.Flows, Decode: fromRecord, UIURL: s.Config.UIURL, PublicBaseURL: s.Config.PublicBaseURL}
}

func (s *Service) start() error {
	if !s.Config.Enabled {
		return ErrDisabled
	}
	return s.methodEnabled(s.Config.method())
}

// methodEnabled refuses a method selfservice.methods.<m>.enabled turns off.
func (s *Service) methodEnabled(m Method) error {
	if !s.Config.methodEnabled(m) {
		return httpx.ErrBadRequest("You attempted verification using `" + string(m) + "`, which is not enabled or does not exist. An administrator needs to enable this verification method.")
	}
	return nil
}

// Start creates a verification flow of type t for GET
// /self-service/verification/{browser,api}. Unlike recovery, a session
// does not stop it: a signed-in user verifies a new address.
func (s *Service) Start(ctx context.Context, q *flow.Request, t flow.Type, _ *session.Session) (*flow.Result, error) {
	if err := s.start(); err != nil {
		return nil, err
	}
	returnTo, err := s.Config.ReturnTo.Validate(q.Query.Get("return_to"))
	if err != nil {
		return nil, err
	}
	f := s.newFlow(t, q.URL, returnTo, q.CSRF.Fingerprint())
	if err := s.runBeforeHooks(ctx, q, f); err != nil {
		return nil, err
	}
	if err := flow.Create(ctx, s.Flows, f); err != nil {
		return nil, err
	}
	httpx.Logger(ctx).Info("verification flow created", "flow_id", f.ID, "flow_type", f.Type)
	return s.kind().Show(f, http.StatusOK), nil
}

// newFlow builds a flow in choose_method; a browser flow is bound to the
// anti-CSRF token with fingerprint csrf.
func (s *Service) newFlow(t flow.Type, requestURL, returnTo, csrf string) *Flow {
	m := s.Config.method()
	f := &Flow{
		Base:   flow.NewBase(t, s.now(), s.Config.FlowLifespan, requestURL, returnTo, s.Config.route("self-service/verification")),
		Active: string(m), State: StateChooseMethod,
	}
	f.UI.Nodes = chooseMethodNodes(t, m)
	if t == flow.TypeBrowser {
		f.CSRF = csrf
	}
	return f
}

// Fetch returns flow id for GET /self-service/verification/flows?id=.
func (s *Service) Fetch(ctx context.Context, q *flow.Request, id string, _ *session.Session) (*flow.Result, error) {
	if !s.Config.Enabled {
		return nil, ErrDisabled
	}
	f, err := s.kind().Load(ctx, id, errFlowMissing)
	if err != nil {
		return nil, err
	}
	err = f.CheckFetch(q, s.now(), FlowKind, s.Config.route("self-service/verification/browser"), s.Config.route("self-service/verification/api"), true, false)
	if err != nil {
		return nil, err
	}
	return s.kind().Show(f, http.StatusOK), nil
}

// OpenCodeLink answers the link of a code mail with where the browser goes:
// the verification page of the flow, the code filled in. A flow the
// browser cannot use — an api flow (the app's registration), one bound
// to another browser's cookie, or an expired one — continues in a new
// browser flow that accepts the same codes, so the link works wherever
// the mail is read. An unknown flow starts over.
func (s *Service) OpenCodeLink(ctx context.Context, q *flow.Request, rawID, code string) (string, error) {
	if err := s.start(); err != nil {
		return "", err
	}
	f, err := s.kind().Load(ctx, rawID, errFlowMissing)
	if err != nil {
		return s.Config.route("self-service/verification/browser"), nil
	}
	id := f.ID
	usable := f.Type == flow.TypeBrowser && f.State == StateSentEmail && !f.Expired(s.now()) &&
		q.CSRF.CheckFingerprint(f.CSRF, false) == nil
	if !usable && f.State == StateSentEmail {
		nf := s.newFlow(flow.TypeBrowser, q.URL, f.ReturnTo, q.CSRF.Fingerprint())
		nf.State = StateSentEmail
		nf.UI.Nodes = sentNodes(flow.TypeBrowser, "")
		nf.UI.AddMessage(flow.MsgVerificationCodeSent())
		err := s.Tx.InTx(ctx, func(ctx context.Context) error {
			if err := flow.Create(ctx, s.Flows, nf); err != nil {
				return err
			}
			return s.Store.CopyCodes(ctx, f.ID, nf.ID)
		})
		if err != nil {
			return "", err
		}
		id = nf.ID
	}
	to := flow.WithQuery(s.Config.UIURL, "flow", id.String())
	if len(code) == codeLength {
		to = flow.WithQuery(to, "code", code)
	}
	return to, nil
}

// submission is a POST to /self-service/verification?flow=.
type submission struct {
	Method, Email, Code string
}

// Submit processes POST /self-service/verification?flow=: an email (send
// or resend a code) or a code.
func (s *Service) Submit(ctx context.Context, q *flow.Request, id uuid.UUID, body *httpx.FormBody, bodyErr error, _ *session.Session) (*flow.Result, error) {
	if !s.Config.Enabled {
		return nil, ErrDisabled
	}
	if bodyErr == nil && body.Get("token") != "" {
		// A link's token proves the mailbox by itself: it works for any
		// flow type from any browser, and is answered as a browser flow
		// (link.go).
		res, err := s.submitToken(ctx, q, id, body.Get("token"), transientPayload(body))
		return flow.OfType(flow.TypeBrowser, res, err)
	}
	return s.kind().Submit(ctx, id, ErrFlowNotFound, func(f *Flow) (*flow.Result, error) {
		if bodyErr != nil {
			var he *httpx.Error
			if errors.As(bodyErr, &he) && he.Reason == httpx.ErrUndecodableJSON.Reason {
				return s.reject(ctx, f, flow.MsgGeneric(he.Reason))
			}
			return nil, bodyErr
		}
		f.TransientPayload = transientPayload(body)
		return s.submit(ctx, q, f, submission{Method: body.Get("method"), Email: body.Get("email"), Code: body.Get("code")})
	})
}

func (s *Service) submit(ctx context.Context, q *flow.Request, f *Flow, in submission) (*flow.Result, error) {
	now := s.now()
	if f.Expired(now) {
		nf := s.newFlow(f.Type, f.RequestURL, f.ReturnTo, q.CSRF.Fingerprint())
		nf.UI.AddMessage(flow.MsgVerificationExpired(f.ExpiresAt, now))
		flow.KeepTyped(q, &f.Base, &nf.UI, url.Values{"email": {in.Email}})
		if err := flow.Create(ctx, s.Flows, nf); err != nil {
			return nil, err
		}
		return flow.ExpiredReplacement(nf, f.ExpiresAt, now, s.Config.UIURL), nil
	}
	if err := f.CheckOrigin(q, f.Type == flow.TypeBrowser); err != nil {
		return nil, err
	}
	m := s.Config.method()
	if in.Method != string(m) {
		f.Active = flow.GroupDefault
		return s.reject(ctx, f, flow.MsgVerificationNoStrategy())
	}
	if err := s.methodEnabled(m); err != nil {
		return nil, err
	}
	if f.State == StatePassedChallenge {
		return s.replaceDone(ctx, q, f)
	}
	if in.Email != "" && !validEmail(in.Email) {
		return s.rejectInput(ctx, f, "email", flow.MsgInvalidEmail(in.Email))
	}
	// As recovery, Kratos dispatches on the fields sent: after an email
	// was accepted, anything without an email is a code.
	if m == MethodCode && f.State == StateSentEmail && in.Email == "" {
		return s.checkCode(ctx, f, q, in.Code)
	}
	if in.Email == "" {
		return s.rejectInput(ctx, f, "email", flow.MsgMissingProperty("email"))
	}
	return s.submitEmail(ctx, q, f, in.Email)
}

// transientPayload is the submission's transient_payload, for the hooks
// (a form carries the object as a JSON string).
func transientPayload(body *httpx.FormBody) json.RawMessage {
	if raw, ok := body.Raw["transient_payload"]; ok {
		return raw
	}
	if v := body.Get("transient_payload"); v != "" {
		return json.RawMessage(v)
	}
	return nil
}

// replaceDone answers a submission to a flow that already passed: a new
// flow takes over (410 self_service_flow_replaced with use_flow_id).
func (s *Service) replaceDone(ctx context.Context, q *flow.Request, f *Flow) (*flow.Result, error) {
	return s.replaceWith(ctx, f, q.URL, flow.MsgVerificationRetrySuccess(), true)
}

// replaceWith creates the flow that takes over from f, showing msg.
// Browsers are sent to its page; JSON clients get the 410 naming it
// (gone) or are sent to fetch it.
func (s *Service) replaceWith(ctx context.Context, f *Flow, requestURL string, msg flow.Message, gone bool) (*flow.Result, error) {
	nf := s.newFlow(f.Type, requestURL, f.ReturnTo, f.CSRF)
	nf.UI.AddMessage(msg)
	if err := flow.Create(ctx, s.Flows, nf); err != nil {
		return nil, err
	}
	httpx.Logger(ctx).Info("verification flow replaced", "flow_id", f.ID, "new_flow_id", nf.ID)
	res := s.kind().Show(nf, 0)
	res.Outcome = flow.Replaced
	res.FetchURL = flow.WithQuery(s.Config.route("self-service/verification/flows"), "id", nf.ID.String())
	if gone {
		res.Err = flow.ReplacedError(nf.ID)
	}
	return res, nil
}

func (s *Service) reject(ctx context.Context, f *Flow, msg flow.Message) (*flow.Result, error) {
	f.UI.ResetMessages()
	return s.kind().Reject(ctx, f, msg)
}

func (s *Service) rejectInput(ctx context.Context, f *Flow, name string, msg flow.Message) (*flow.Result, error) {
	f.UI.ResetMessages()
	f.UI.AddNodeMessage(name, msg)
	return s.kind().Reject(ctx, f)
}

// saveAndShow stores f and shows it with status.
func (s *Service) saveAndShow(ctx context.Context, f *Flow, status int) (*flow.Result, error) {
	if err := flow.Save(ctx, s.Flows, f); err != nil {
		return nil, err
	}
	return s.kind().Show(f, status), nil
}
