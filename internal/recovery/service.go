package recovery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

// Identities is what recovery needs from identity.Service.
type Identities interface {
	Get(ctx context.Context, id uuid.UUID) (*identity.Identity, error)
	// GetPublic loads an identity without its credentials (the admin
	// endpoints need only its id and recovery addresses).
	GetPublic(ctx context.Context, id uuid.UUID) (*identity.Identity, error)
	// FindRecoveryAddress looks a recovery address up by channel and
	// (lower-cased) value; identity.ErrNotFound when there is none.
	FindRecoveryAddress(ctx context.Context, via, value string) (*identity.RecoveryAddress, *identity.Identity, error)
	// MarkVerified marks the identity's verifiable address verified.
	MarkVerified(ctx context.Context, identityID uuid.UUID, via, value string) error
}

// Sessions is what recovery needs from session.Manager to log the user in.
type Sessions interface {
	Issue(ctx context.Context, ident *identity.Identity, method string, caller httpx.Caller) (*session.Session, string, error)
	RevokeAll(ctx context.Context, identityID uuid.UUID) (int, error)
	// Reauthenticate records one more completed method on s (the backup
	// code of a backup-code recovery).
	Reauthenticate(ctx context.Context, s *session.Session, method string) error
}

// SettingsStarter creates the settings flow a recovered user lands in
// (settings.Service implements it). The flow carries message 1060001.
type SettingsStarter interface {
	StartAfterRecovery(ctx context.Context, ident *identity.Identity, sess *session.Session, t flow.Type, requestURL, returnTo string) (uuid.UUID, error)
	// StepUpAfterRecovery is the aal2 login that must come before settings
	// flow id, "" when the recovery session may use it as it is.
	StepUpAfterRecovery(sess *session.Session, id uuid.UUID) string
}

// Mailer queues an email in the transaction carried by ctx
// (courier.Queue implements it). Mail is never sent on the request path.
type Mailer interface {
	Enqueue(ctx context.Context, e courier.Email) (uuid.UUID, error)
	// Prepare renders and seals a mail before the transaction that
	// queues it (with Prepared.Enqueue).
	Prepare(ctx context.Context, e courier.Email) (*courier.Prepared, error)
	// EnqueueInternal queues a message the courier hands back to a
	// Preparer instead of sending it (request.go).
	EnqueueInternal(ctx context.Context, tt courier.TemplateType, data any) (uuid.UUID, error)
}

// Service holds every rule of recovery; it is the flow.Service of the
// recovery routes. All fields are set by the server.
type Service struct {
	Config Config
	// Tx commits everything a submission changes together: flow, code,
	// mail, session, verified address, settings flow.
	Tx         flow.Transactor
	Flows      flow.Store
	Store      Store
	Identities Identities
	Sessions   Sessions
	Settings   SettingsStarter
	// BackupCodes checks backup codes when Config.BackupCodes is on.
	BackupCodes *BackupCodes
	Mail        Mailer
	// Limits counts recovery emails against the send limits.
	Limits *ratelimit.Counter
	// Hasher makes the keyed hashes of codes and link tokens (secrets.default; every secret of the list verifies).
	Hasher secret.Hasher
	// SchemaURL returns the public URL of an identity schema (identity
	// JSON in email templates); nil leaves it empty.
	SchemaURL func(schemaID string) string
	// Audit records the security events of recovery in the transaction
	// of the change (nil records nothing).
	Audit *audit.Recorder
	// Log receives the events of work done off the request path (the
	// courier's preparation of a request); nil is slog.Default.
	Log *slog.Logger
	// Hooks runs the web_hooks (nil runs none).
	Hooks Hooks
}

var _ flow.Service[*session.Session] = (*Service)(nil)

// Errors with Kratos's wording.
var (
	// ErrDisabled: selfservice.flows.recovery.enabled is false.
	ErrDisabled = httpx.ErrBadRequest("Recovery is not allowed because it was disabled.")
	// ErrFlowNotFound: a submission names a flow that does not exist.
	ErrFlowNotFound = httpx.ErrRouteNotFound("The recovery request could not be found. Please restart the flow.")
	// ErrSessionAvailable: a flow was started, or an email submitted,
	// while holding a session.
	ErrSessionAvailable = flow.ErrSessionAlreadyAvailable("A valid session was detected and thus recovery is not possible.", "")
	// errFlowMissing: fetching a flow that does not exist (no reason).
	errFlowMissing = &httpx.Error{Code: http.StatusNotFound, Message: httpx.MsgNotLocated}
)

// Reasons turned into UI messages when a flow is replaced.
const (
	reasonTooOften   = "The request was submitted too often. Please request another code."
	reasonCodeUsed   = "The code was already used. Please request another code."
	reasonDoneBefore = "The request was already completed successfully and can not be retried."
)

func (s *Service) now() time.Time { return s.Config.now() }

// sessionAvailable is ErrSessionAvailable as answered: a browser form is
// sent to the default return URL with a 302, as Kratos does.
func (s *Service) sessionAvailable() error {
	return &flow.RedirectError{Err: ErrSessionAvailable, To: s.Config.DefaultBrowserReturnURL, Code: http.StatusFound}
}

// Start creates a recovery flow of type t for GET
// /self-service/recovery/{browser,api} (return_to from the query).
func (s *Service) Start(ctx context.Context, q *flow.Request, t flow.Type, sess *session.Session) (*flow.Result, error) {
	if !s.Config.Enabled {
		return nil, ErrDisabled
	}
	if !s.Config.methodEnabled(s.Config.Use) {
		return nil, httpx.ErrBadRequest(fmt.Sprintf("You attempted recovery using `%s`, which is not enabled or does not exist. An administrator needs to enable this recovery method.", s.Config.Use))
	}
	if sess != nil {
		return nil, s.sessionAvailable()
	}
	returnTo, err := s.Config.ReturnTo.Validate(q.Query.Get("return_to"))
	if err != nil {
		return nil, err
	}
	f := s.newFlow(t, q.URL, returnTo, q)
	if err := s.runBeforeHooks(ctx, q, f); err != nil {
		return nil, err
	}
	if err := flow.Create(ctx, s.Flows, f); err != nil {
		return nil, err
	}
	httpx.Logger(ctx).LogAttrs(ctx, slog.LevelInfo, "recovery flow created",
		slog.String("flow_id", f.ID.String()), slog.String("flow_type", string(f.Type)), slog.String("method", f.Active))
	return s.show(f, http.StatusOK), nil
}

// newFlow builds a flow in choose_method with the configured method. A
// browser flow is bound to q's anti-CSRF token; with q nil the caller
// binds it.
func (s *Service) newFlow(t flow.Type, requestURL, returnTo string, q *flow.Request) *Flow {
	f := &Flow{
		Base:   flow.NewBase(t, s.now(), s.Config.FlowLifespan, requestURL, returnTo, s.Config.route("self-service/recovery")),
		Active: string(s.Config.Use), State: StateChooseMethod,
	}
	f.UI.Nodes = chooseMethodNodes(s.Config.Use)
	if s.backupCodesOn() {
		f.UI.Nodes = append(f.UI.Nodes, lookupNodes()...)
	}
	if t == flow.TypeBrowser && q != nil {
		f.CSRF = q.CSRF.Fingerprint()
	}
	return f
}

// Fetch returns flow id for GET /self-service/recovery/flows?id=: a
// browser flow only to the browser it was created for (admin-created
// flows to anyone).
func (s *Service) Fetch(ctx context.Context, q *flow.Request, id string, _ *session.Session) (*flow.Result, error) {
	if !s.Config.Enabled {
		return nil, ErrDisabled
	}
	f, err := s.load(ctx, id, errFlowMissing)
	if err != nil {
		return nil, err
	}
	// Kratos explains a cookie that does not match as a token never sent.
	err = f.CheckFetch(q, s.now(), FlowKind, s.Config.route("self-service/recovery/browser"), s.Config.route("self-service/recovery/api"), !f.AdminCreated, false)
	if err != nil {
		return nil, err
	}
	return s.show(f, http.StatusOK), nil
}

// submission is a POST to /self-service/recovery?flow=, read from its body.
type submission struct {
	Method string
	Email  string
	Code   string
	// LookupSecret is a backup code (lookup.go).
	LookupSecret string
	// Token is set when the link confirm page posts a link token back.
	Token            string
	TransientPayload json.RawMessage
	// DecodeErr is set when the body was not JSON.
	DecodeErr error
}

// readSubmission reads a submission from the decoded body. A body that
// is not JSON is not an error here: Kratos shows it on the flow (4000001
// "Unable to decode form as JSON."); any other bodyErr is.
func readSubmission(body *httpx.FormBody, bodyErr error) (submission, error) {
	// DecodeForm returns a copy of ErrUndecodableJSON carrying the cause.
	var he *httpx.Error
	if errors.As(bodyErr, &he) && he.Reason == httpx.ErrUndecodableJSON.Reason {
		return submission{DecodeErr: bodyErr}, nil
	}
	if bodyErr != nil {
		return submission{}, bodyErr
	}
	in := submission{Method: body.Get("method"), Email: body.Get("email"), Code: body.Get("code"), Token: body.Get("token"), LookupSecret: body.Get(nodeLookup)}
	if in.Method == string(MethodLookup) {
		in.Email = typedEmail(body.Values)
	}
	if raw, ok := body.Raw["transient_payload"]; ok {
		in.TransientPayload = raw
	} else if v := body.Get("transient_payload"); v != "" {
		// Forms carry the object as a JSON string.
		in.TransientPayload = json.RawMessage(v)
	}
	return in, nil
}

// Submit processes POST /self-service/recovery?flow= (recovery.md §7):
// an email (send or resend a code or link), a code, or a link token
// posted back from the confirm page. Once the flow is loaded the Result
// names its type, even alongside an error.
func (s *Service) Submit(ctx context.Context, q *flow.Request, id uuid.UUID, body *httpx.FormBody, bodyErr error, sess *session.Session) (*flow.Result, error) {
	in, err := readSubmission(body, bodyErr)
	if err != nil {
		return nil, err
	}
	f, err := s.load(ctx, id.String(), ErrFlowNotFound)
	if err != nil {
		return nil, err
	}
	res, err := s.submit(ctx, q, f, in, sess)
	return flow.OfType(f.Type, res, err)
}

func (s *Service) submit(ctx context.Context, q *flow.Request, f *Flow, in submission, sess *session.Session) (*flow.Result, error) {
	now := s.now()
	if f.Expired(now) {
		return s.replaceExpired(ctx, q, f, now, url.Values{"email": {in.Email}})
	}
	if in.Token != "" {
		// The confirm page of a link always comes from a browser: its POST
		// must carry the CSRF token of the page (checked once the link is
		// known to be valid, so a stale page still explains the link is used).
		return s.useLink(ctx, q, f, in.Token, q.CSRF.Check)
	}
	if in.DecodeErr != nil {
		return s.reject(ctx, f, flow.MsgGeneric(httpx.AsError(in.DecodeErr).Reason))
	}
	if in.Email != "" && !validEmail(in.Email) {
		return s.rejectInput(ctx, f, "email", flow.MsgInvalidEmail(in.Email))
	}
	if err := f.CheckOrigin(q, f.checksCSRF()); err != nil {
		return s.retryOrFail(ctx, q, f, err)
	}
	if in.Method == string(MethodLookup) && s.backupCodesOn() {
		return s.useBackupCode(ctx, q, f, in, sess)
	}
	// Kratos dispatches on the fields sent, not on the state: after an
	// email was accepted, anything without an email is a code.
	if f.State != StateChooseMethod && in.Email == "" {
		return s.checkCode(ctx, q, f, in)
	}
	return s.submitEmail(ctx, q, f, in, sess)
}

// retryOrFail answers an error: 400-class errors replace the flow (a
// native request with browser headers continues in a browser flow), the
// others are returned as they are.
func (s *Service) retryOrFail(ctx context.Context, q *flow.Request, f *Flow, err error) (*flow.Result, error) {
	he := httpx.AsError(err)
	if he.Code != http.StatusBadRequest {
		return nil, err
	}
	t := f.Type
	if t == flow.TypeAPI {
		t = flow.TypeBrowser
	}
	return s.replace(ctx, q, f, t, he, flow.MsgGeneric(he.Reason))
}

// replacementFlow is newFlow for a flow that takes over after a failure
// (§7.6): like Kratos, it comes with a new anti-CSRF cookie, whatever the
// flow's type. (An expired flow's successor keeps the cookie.)
func (s *Service) replacementFlow(q *flow.Request, t flow.Type, returnTo string) *Flow {
	fingerprint := q.CSRF.Rotate()
	f := s.newFlow(t, q.URL, returnTo, nil)
	if t == flow.TypeBrowser {
		f.CSRF = fingerprint
	}
	return f
}

// replace creates the flow that takes over from f (§7.6): state
// choose_method, showing msg. JSON clients get cause naming it (with
// continue_with transitions) or are sent to fetch it.
func (s *Service) replace(ctx context.Context, q *flow.Request, f *Flow, t flow.Type, cause *httpx.Error, msg flow.Message) (*flow.Result, error) {
	nf := s.replacementFlow(q, t, f.ReturnTo)
	nf.UI.AddMessage(msg)
	if err := flow.Create(ctx, s.Flows, nf); err != nil {
		return nil, err
	}
	httpx.Logger(ctx).Info("recovery flow replaced", "flow_id", f.ID, "new_flow_id", nf.ID, "reason", cause.Reason)
	res := s.replaced(nf)
	if s.Config.ContinueWithTransitions {
		res.Err = cause.WithDetail("continue_with", []flow.ContinueWith{flow.ShowRecoveryUI(nf.ID)})
	}
	return res, nil
}

// replaceExpired creates the flow that takes over from an expired one
// (§7.5): same type (api link flows continue in a browser), same
// request_url, message 4060005, the address typed kept (flow.KeepTyped).
// A native app with continue_with transitions gets the 410 naming it;
// other JSON clients fetch it.
func (s *Service) replaceExpired(ctx context.Context, q *flow.Request, f *Flow, now time.Time, typed url.Values) (*flow.Result, error) {
	t := f.Type
	if t == flow.TypeAPI && f.method() == MethodLink {
		t = flow.TypeBrowser
	}
	nf := s.newFlow(t, f.RequestURL, f.ReturnTo, q)
	nf.UI.AddMessage(flow.MsgRecoveryExpired(f.ExpiresAt, now))
	flow.KeepTyped(q, &f.Base, &nf.UI, typed)
	err := s.Tx.InTx(ctx, func(ctx context.Context) error {
		owner, err := s.flowIdentity(ctx, f)
		if err != nil {
			return err
		}
		m := f.method()
		if f.Active == string(MethodLookup) {
			m = MethodLookup
		}
		if err := s.recordFailed(ctx, f, m, owner, audit.ResultExpired); err != nil {
			return err
		}
		return flow.Create(ctx, s.Flows, nf)
	})
	if err != nil {
		return nil, err
	}
	httpx.Logger(ctx).Info("recovery flow expired", "flow_id", f.ID, "new_flow_id", nf.ID)
	res := s.replaced(nf)
	if q.ClientFor(f.Type) == flow.Native && s.Config.ContinueWithTransitions {
		res.Err = flow.ExpiredError(f.ExpiresAt, s.now(), nf.ID).
			WithDetail("continue_with", []flow.ContinueWith{flow.ShowRecoveryUI(nf.ID)})
	}
	return res, nil
}

// replaced answers with nf, which took over from another flow: browsers
// are sent to its page, JSON clients to fetch it (unless the caller sets
// the Err they get instead).
func (s *Service) replaced(nf *Flow) *flow.Result {
	res := s.show(nf, 0)
	res.Outcome = flow.Replaced
	res.FetchURL = flow.WithQuery(s.Config.route("self-service/recovery/flows"), "id", nf.ID.String())
	return res
}

// show answers with f: JSON clients get it with status, browsers its
// page in the recovery UI.
func (s *Service) show(f *Flow, status int) *flow.Result {
	return flow.ShowFlow(f, status, s.Config.RecoveryUIURL)
}

// saveAndShow stores f's changes and shows it with status.
func (s *Service) saveAndShow(ctx context.Context, f *Flow, status int) (*flow.Result, error) {
	if err := flow.Save(ctx, s.Flows, f); err != nil {
		return nil, err
	}
	return s.show(f, status), nil
}

// reject shows f with 400 and msg as its only message.
func (s *Service) reject(ctx context.Context, f *Flow, msg flow.Message) (*flow.Result, error) {
	f.UI.ResetMessages()
	return flow.Reject(ctx, s.Flows, f, s.Config.RecoveryUIURL, msg)
}

// rejectInput shows f with 400 and msg on its input name as its only
// message.
func (s *Service) rejectInput(ctx context.Context, f *Flow, name string, msg flow.Message) (*flow.Result, error) {
	f.UI.ResetMessages()
	f.UI.AddNodeMessage(name, msg)
	return flow.Reject(ctx, s.Flows, f, s.Config.RecoveryUIURL)
}

// accepted answers an accepted submission with f: Kratos echoes the
// transient payload ({} when none was sent).
func (s *Service) accepted(f *Flow, payload json.RawMessage) *flow.Result {
	f.TransientPayload = orEmptyObject(payload)
	return s.show(f, http.StatusOK)
}

func orEmptyObject(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || string(raw) == "null" {
		return json.RawMessage("{}")
	}
	return raw
}

// load reads flow rawID; notFound answers an unknown or malformed id.
func (s *Service) load(ctx context.Context, rawID string, notFound error) (*Flow, error) {
	rec, err := flow.Load(ctx, s.Flows, FlowKind, rawID, notFound)
	if err != nil {
		return nil, err
	}
	return fromRecord(rec)
}
