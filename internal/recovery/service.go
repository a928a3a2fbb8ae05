package recovery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/courier"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/internal/storeerr"
)

// codeLength and tokenLength are Kratos's formats: 6 digits, 32 alphanumerics.
const (
	codeLength  = 6
	tokenLength = 32
)

// Transactor runs fn in one database transaction carried by ctx
// (sqlstore.DB implements it). Everything a submission changes commits
// together: flow, code, mail, session, verified address, settings flow.
type Transactor interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
}

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
	Issue(ctx context.Context, ident *identity.Identity, method string, r *http.Request) (*session.Session, string, error)
	RevokeAll(ctx context.Context, identityID uuid.UUID) (int, error)
}

// SettingsStarter creates the settings flow a recovered user lands in
// (settings.Service implements it). The flow carries message 1060001.
type SettingsStarter interface {
	StartAfterRecovery(ctx context.Context, ident *identity.Identity, sess *session.Session, t flow.Type, requestURL, returnTo string) (uuid.UUID, error)
}

// Mailer queues an email in the transaction carried by ctx
// (courier.Queue implements it). Mail is never sent on the request path.
type Mailer interface {
	Enqueue(ctx context.Context, e courier.Email) (uuid.UUID, error)
}

// Requester is what the service may learn about the request it serves,
// without seeing the request: the handler implements it. Each check is
// made only where the rules of the flow ask for it.
type Requester interface {
	// URL is the full URL of the request as the client sent it.
	URL() string
	// ClientIP is the client's address for the per-IP send limit ("" when
	// unknown: the limit is then not applied).
	ClientIP() string
	// HasSession reports whether the request carries an active session.
	HasSession(ctx context.Context) (bool, error)
	// CSRFFingerprint is the fingerprint of the browser's anti-CSRF token;
	// a token cookie is set when the request has none.
	CSRFFingerprint() string
	// RotateCSRF issues a new anti-CSRF token cookie and returns its
	// fingerprint (after a successful recovery).
	RotateCSRF() string
	// CheckFlowCSRF verifies that the browser's cookie is the one the flow
	// was created with (fetching a browser flow).
	CheckFlowCSRF(fingerprint string) error
	// CheckCSRF verifies the submitted csrf_token against the cookie.
	CheckCSRF() error
	// CheckNative rejects API-flow requests carrying cookies or Origin.
	CheckNative() error
	// Device is the request handed to Sessions.Issue, which records the
	// device (IP address, user agent) of the new session.
	Device() *http.Request
}

// Service holds every rule of recovery. All fields are set by the server.
type Service struct {
	Config     Config
	Tx         Transactor
	Flows      flow.Store
	Store      Store
	Identities Identities
	Sessions   Sessions
	Settings   SettingsStarter
	Mail       Mailer
	// Hasher makes the keyed hashes of codes, link tokens and rate-limit
	// keys (secrets.default; every secret of the list verifies).
	Hasher secret.Hasher
	// SchemaURL returns the public URL of an identity schema (identity
	// JSON in email templates); nil leaves it empty.
	SchemaURL func(schemaID string) string
}

// Errors with Kratos's wording.
var (
	// ErrDisabled: selfservice.flows.recovery.enabled is false.
	ErrDisabled = httpx.ErrBadRequest("Recovery is not allowed because it was disabled.")
	// ErrFlowNotFound: a submission names a flow that does not exist.
	ErrFlowNotFound = httpx.ErrRouteNotFound("The recovery request could not be found. Please restart the flow.")
	// errFlowMissing: fetching a flow that does not exist (no reason).
	errFlowMissing = &httpx.Error{Code: http.StatusNotFound, Message: httpx.MsgNotLocated}
)

// Reasons turned into UI messages when a flow is replaced.
const (
	reasonTooOften   = "The request was submitted too often. Please request another code."
	reasonCodeUsed   = "The code was already used. Please request another code."
	reasonDoneBefore = "The request was already completed successfully and can not be retried."
)

// Outcome says what a submission led to; the handler answers each kind
// per client (recovery.md §7.1).
type Outcome int

// Outcomes of a submission or a link.
const (
	// Shown: the (updated) flow is the answer, with Result.Status.
	Shown Outcome = iota
	// Replaced: the flow cannot go on; Result.Flow is its replacement and
	// Result.Err the reason (also shown as a message on the new flow).
	Replaced
	// Expired: the flow had expired; Result.Flow is its replacement.
	Expired
	// Recovered: the user is logged in; a settings flow waits.
	Recovered
	// ConfirmLink: a valid link was opened; Result.Flow.UI is the form
	// that spends it (departure 5).
	ConfirmLink
)

// Result is what a submission or an opened link led to.
type Result struct {
	Outcome Outcome
	// FlowType is the type of the flow the request was about (it decides
	// how errors are answered).
	FlowType flow.Type
	Flow     *Flow
	// Status is the HTTP status for Shown (200, 400 or 429).
	Status int
	// RetryAfter is set with status 429.
	RetryAfter time.Duration
	// Err is why the flow was replaced (Replaced).
	Err *httpx.Error
	// ExpiredAt is when the replaced flow expired (Expired).
	ExpiredAt time.Time
	// Session and SessionToken are the new session (Recovered).
	Session      *session.Session
	SessionToken string
	// BrowserSession: answer with the session cookie (browser flows and
	// every link recovery); otherwise the token goes to continue_with.
	BrowserSession bool
	// SettingsFlowID and SettingsURL name the settings flow (Recovered).
	SettingsFlowID uuid.UUID
	SettingsURL    string
}

// Submission is a POST to /self-service/recovery?flow=.
type Submission struct {
	FlowID uuid.UUID
	Method string
	Email  string
	Code   string
	// Token is set when the link confirm page posts a link token back.
	Token            string
	TransientPayload json.RawMessage
	// DecodeErr is set when the body could not be decoded.
	DecodeErr error
}

func (s *Service) now() time.Time { return s.Config.now() }

// CreateFlow starts a recovery flow of type t. returnTo is the raw
// return_to query value.
func (s *Service) CreateFlow(ctx context.Context, t flow.Type, returnTo string, req Requester) (*Flow, error) {
	if !s.Config.Enabled {
		return nil, ErrDisabled
	}
	if !s.Config.methodEnabled(s.Config.Use) {
		return nil, httpx.ErrBadRequest(fmt.Sprintf("You attempted recovery using `%s`, which is not enabled or does not exist. An administrator needs to enable this recovery method.", s.Config.Use))
	}
	has, err := req.HasSession(ctx)
	if err != nil {
		return nil, err
	}
	if has {
		return nil, flow.ErrSessionAlreadyAvailable("A valid session was detected and thus recovery is not possible.", "")
	}
	rt, err := s.Config.ReturnTo.Validate(returnTo)
	if err != nil {
		return nil, err
	}
	f := s.newFlow(t, req.URL(), rt, req)
	if err := s.createFlow(ctx, f); err != nil {
		return nil, err
	}
	httpx.Logger(ctx).Info("recovery flow created", "flow_id", f.ID, "flow_type", f.Type, "method", f.Active)
	return f, nil
}

// newFlow builds a flow in choose_method with the configured method.
func (s *Service) newFlow(t flow.Type, requestURL, returnTo string, req Requester) *Flow {
	now := s.now()
	f := &Flow{
		ID: uuid.New(), Type: t, IssuedAt: now, ExpiresAt: now.Add(s.Config.FlowLifespan),
		RequestURL: requestURL, ReturnTo: returnTo, Active: string(s.Config.Use), State: StateChooseMethod,
	}
	f.UI = flow.Container{Action: s.actionURL(f.ID), Method: "POST", Nodes: chooseMethodNodes(s.Config.Use)}
	if t == flow.TypeBrowser && req != nil {
		f.csrf = req.CSRFFingerprint()
	}
	return f
}

// replacementFlow is newFlow for a flow that takes over after a failure
// (§7.6): like Kratos, it comes with a new anti-CSRF cookie, whatever the
// flow's type. (An expired flow's successor keeps the cookie.)
func (s *Service) replacementFlow(t flow.Type, requestURL, returnTo string, req Requester) *Flow {
	fingerprint := req.RotateCSRF()
	f := s.newFlow(t, requestURL, returnTo, nil)
	if t == flow.TypeBrowser {
		f.csrf = fingerprint
	}
	return f
}

func (s *Service) actionURL(id uuid.UUID) string {
	return flow.WithQuery(s.Config.PublicBaseURL+"self-service/recovery", "flow", id.String())
}

// GetFlow returns a flow for GET /self-service/recovery/flows?id=.
func (s *Service) GetFlow(ctx context.Context, rawID string, req Requester) (*Flow, error) {
	if !s.Config.Enabled {
		return nil, ErrDisabled
	}
	id, err := uuid.Parse(rawID)
	if err != nil {
		return nil, errFlowMissing
	}
	f, err := s.loadFlow(ctx, id)
	if errors.Is(err, storeerr.ErrNotFound) {
		return nil, errFlowMissing
	}
	if err != nil {
		return nil, err
	}
	if f.checksCSRF() {
		if err := req.CheckFlowCSRF(f.csrf); err != nil {
			return nil, err
		}
	}
	if now := s.now(); f.Expired(now) {
		return nil, s.expiredFetchError(f, now)
	}
	return f, nil
}

// expiredFetchError is the 410 for fetching an expired flow.
func (s *Service) expiredFetchError(f *Flow, now time.Time) *httpx.Error {
	if f.Type == flow.TypeAPI {
		return &httpx.Error{
			ID:      "self_service_flow_expired",
			Code:    http.StatusGone,
			Reason:  fmt.Sprintf("The self-service flow expired %.2f minutes ago, initialize a new one.", now.Sub(f.ExpiresAt).Minutes()),
			Details: map[string]any{"api": s.Config.PublicBaseURL + "self-service/recovery/api"},
			Message: "self-service flow expired",
		}
	}
	redirect := s.Config.PublicBaseURL + "self-service/recovery/browser"
	if f.ReturnTo != "" {
		redirect = flow.WithQuery(redirect, "return_to", f.ReturnTo)
	}
	return httpx.ErrGone("The recovery flow has expired. Redirect the user to the recovery flow init endpoint to initialize a new recovery flow.").
		WithDetail("redirect_to", redirect).WithDetail("return_to", f.ReturnTo)
}

// Submit processes POST /self-service/recovery?flow= (recovery.md §7):
// an email (send or resend a code or link), a code, or a link token
// posted back from the confirm page.
//
// Once the flow is loaded the Result is never nil, even with an error:
// its FlowType tells the handler how to answer the error.
func (s *Service) Submit(ctx context.Context, in Submission, req Requester) (*Result, error) {
	f, err := s.loadFlow(ctx, in.FlowID)
	if errors.Is(err, storeerr.ErrNotFound) {
		return nil, ErrFlowNotFound
	}
	if err != nil {
		return nil, err
	}
	res, err := s.submit(ctx, f, in, req)
	if res == nil {
		res = &Result{}
	}
	res.FlowType = f.Type
	return res, err
}

func (s *Service) submit(ctx context.Context, f *Flow, in Submission, req Requester) (*Result, error) {
	now := s.now()
	if f.Expired(now) {
		return s.replaceExpired(ctx, f, now, req)
	}
	if in.Token != "" {
		// The confirm page of a link always comes from a browser: its POST
		// must carry the CSRF token of the page (checked once the link is
		// known to be valid, so a stale page still explains the link is used).
		return s.useLink(ctx, f, in.Token, req, req.CheckCSRF)
	}
	if in.DecodeErr != nil {
		f.UI.ResetMessages()
		f.UI.AddMessage(flow.MsgGeneric(httpx.AsError(in.DecodeErr).Reason))
		return s.show(ctx, f, http.StatusBadRequest)
	}
	if in.Email != "" && !validEmail(in.Email) {
		f.UI.ResetMessages()
		f.UI.AddNodeMessage("email", flow.MsgInvalidEmail(in.Email))
		return s.show(ctx, f, http.StatusBadRequest)
	}
	if err := s.checkSubmitter(f, req); err != nil {
		return s.retryOrFail(ctx, f, err, req)
	}
	// Kratos dispatches on the fields sent, not on the state: after an
	// email was accepted, anything without an email is a code.
	if f.State != StateChooseMethod && in.Email == "" {
		return s.checkCode(ctx, f, in, req)
	}
	return s.submitEmail(ctx, f, in, req)
}

// checkSubmitter applies the CSRF rules of the flow's type.
func (s *Service) checkSubmitter(f *Flow, req Requester) error {
	switch {
	case f.Type == flow.TypeAPI:
		if err := req.CheckNative(); err != nil {
			return err
		}
	case f.checksCSRF():
		return req.CheckCSRF()
	}
	return nil
}

// retryOrFail answers an error: 400-class errors replace the flow (a
// native request with browser headers continues in a browser flow), the
// others are returned as they are.
func (s *Service) retryOrFail(ctx context.Context, f *Flow, err error, req Requester) (*Result, error) {
	he := httpx.AsError(err)
	if he.Code != http.StatusBadRequest {
		return nil, err
	}
	t := f.Type
	if t == flow.TypeAPI {
		t = flow.TypeBrowser
	}
	return s.replace(ctx, f, t, he, flow.MsgGeneric(he.Reason), req)
}

// submitEmail handles an email submission (§7.2): send or resend.
func (s *Service) submitEmail(ctx context.Context, f *Flow, in Submission, req Requester) (*Result, error) {
	has, err := req.HasSession(ctx)
	if err != nil {
		return nil, err
	}
	if has {
		return nil, flow.ErrSessionAlreadyAvailable("A valid session was detected and thus recovery is not possible.", "")
	}
	m := Method(in.Method)
	if m != MethodCode && m != MethodLink {
		f.Active = flow.GroupDefault
		f.UI.ResetMessages()
		f.UI.AddMessage(flow.MsgRecoveryNoStrategy())
		return s.show(ctx, f, http.StatusBadRequest)
	}
	if !s.Config.methodEnabled(m) {
		// Kratos makes the flow the method's before refusing it, so the
		// next answer shows "active": "link" (e-errors-base, step 42).
		f.Active = string(m)
		if err := s.saveFlow(ctx, f); err != nil {
			return nil, err
		}
		return nil, httpx.ErrMethodDisabled()
	}
	if in.Email == "" {
		f.UI.ResetMessages()
		f.UI.AddNodeMessage("email", flow.MsgMissingProperty("email"))
		return s.show(ctx, f, http.StatusBadRequest)
	}
	if f.State == StatePassedChallenge {
		return s.replace(ctx, f, f.Type, httpx.ErrBadRequest(reasonDoneBefore), flow.MsgRecoveryRetrySuccess(), req)
	}
	payload, err := transientPayload(in.TransientPayload)
	if err != nil {
		f.UI.ResetMessages()
		f.UI.AddMessage(flow.MsgGeneric(err.Error()))
		return s.show(ctx, f, http.StatusBadRequest)
	}

	var identityID uuid.UUID
	err = s.Tx.InTx(ctx, func(ctx context.Context) error {
		if err := s.countSend(ctx, in.Email, req.ClientIP()); err != nil {
			return err
		}
		var err error
		identityID, err = s.sendEmail(ctx, f, m, in.Email, payload)
		if err != nil {
			return err
		}
		f.Active, f.State = string(m), StateSentEmail
		f.UI.Nodes = sentNodes(m, in.Email)
		f.UI.ResetMessages()
		if m == MethodLink {
			f.UI.AddMessage(flow.MsgRecoveryLinkSent())
		} else {
			f.UI.AddMessage(flow.MsgRecoveryCodeSent())
		}
		return s.saveFlow(ctx, f)
	})
	var limited *limitError
	if errors.As(err, &limited) {
		httpx.Logger(ctx).Warn("recovery send limit hit", "flow_id", f.ID, "limit", limited.scope, "retry_after_seconds", int(limited.retryAfter.Seconds()))
		f.UI.ResetMessages()
		f.UI.AddMessage(flow.MsgRateLimited(limited.retryAfter))
		res, err := s.show(ctx, f, http.StatusTooManyRequests)
		if res != nil {
			res.RetryAfter = limited.retryAfter
		}
		return res, err
	}
	if err != nil {
		return nil, err
	}
	event := "recovery code sent"
	if m == MethodLink {
		event = "recovery link sent"
	}
	// Whether the address is known is logged (operators need it), the
	// address itself never is.
	log := httpx.Logger(ctx).With("flow_id", f.ID, "recipient_known", identityID != uuid.Nil)
	if identityID != uuid.Nil {
		log = log.With("identity_id", identityID)
	}
	log.Info(event)
	return s.shown(f, http.StatusOK, in.TransientPayload), nil
}

// sendEmail creates a code or link for the address if it belongs to an
// identity and queues the mail; unknown addresses get the "invalid" mail
// when notify_unknown_recipients is on. The response does not depend on
// which case happened.
//
// It returns the identity the address belongs to (uuid.Nil if none).
func (s *Service) sendEmail(ctx context.Context, f *Flow, m Method, email string, payload map[string]any) (uuid.UUID, error) {
	if m == MethodCode {
		// A resend supersedes every earlier code of the flow.
		if err := s.Store.DeleteFlowCodes(ctx, f.ID); err != nil {
			return uuid.Nil, err
		}
	}
	addr, ident, err := s.Identities.FindRecoveryAddress(ctx, identity.ViaEmail, normalizeEmail(email))
	if errors.Is(err, storeerr.ErrNotFound) {
		// Do the work a known address costs, so timing tells nothing.
		_ = s.Hasher.Hash(secret.RandomDigits(codeLength))
		if !s.Config.NotifyUnknownRecipients {
			return uuid.Nil, nil
		}
		tmpl := courier.TemplateRecoveryCodeInvalid
		if m == MethodLink {
			tmpl = courier.TemplateRecoveryInvalid
		}
		_, err := s.Mail.Enqueue(ctx, courier.Email{To: email, Template: tmpl, Data: courier.TemplateData{
			To: email, RequestURL: f.RequestURL, TransientPayload: payload,
		}})
		return uuid.Nil, err
	}
	if err != nil {
		return uuid.Nil, err
	}
	return ident.ID, s.issueAndMail(ctx, f, m, ident, &addr.ID, addr.Value, KindSelf, f.ExpiresAt, payload)
}

// issueAndMail creates a code or link token for ident and queues the
// "valid" mail to address.
func (s *Service) issueAndMail(ctx context.Context, f *Flow, m Method, ident *identity.Identity, addressID *uuid.UUID, address string, kind Kind, notAfter time.Time, payload map[string]any) error {
	code, link, lifespan, err := s.issue(ctx, f, m, ident.ID, addressID, kind, notAfter)
	if err != nil {
		return err
	}
	return s.mailValid(ctx, f, ident, address, code, link, lifespan, payload)
}

// mailValid queues the recovery_code_valid (code) or recovery_valid
// (link) mail.
func (s *Service) mailValid(ctx context.Context, f *Flow, ident *identity.Identity, address, code, link string, lifespan time.Duration, payload map[string]any) error {
	data := courier.TemplateData{
		To: address, RecoveryCode: code, RecoveryURL: link, Identity: s.identityData(ident),
		RequestURL: f.RequestURL, TransientPayload: payload, ExpiresInMinutes: int(lifespan.Minutes()),
	}
	tmpl := courier.TemplateRecoveryCodeValid
	if link != "" {
		tmpl = courier.TemplateRecoveryValid
	}
	_, err := s.Mail.Enqueue(ctx, courier.Email{To: address, Template: tmpl, Data: data})
	return err
}

// issue stores a new code or link token for the flow and returns it in
// clear (the only time it exists outside the mail or the admin response).
// It expires after the method's lifespan, and never after notAfter.
func (s *Service) issue(ctx context.Context, f *Flow, m Method, identityID uuid.UUID, addressID *uuid.UUID, kind Kind, notAfter time.Time) (code, link string, lifespan time.Duration, err error) {
	now := s.now()
	lifespan = s.Config.CodeLifespan
	if m == MethodLink {
		lifespan = s.Config.LinkLifespan
	}
	expires := now.Add(lifespan)
	if kind == KindAdmin {
		// expires_in sets both the flow's and the secret's lifetime.
		expires, lifespan = notAfter, notAfter.Sub(now)
	}
	row := &Secret{ID: uuid.New(), FlowID: f.ID, IdentityID: identityID, AddressID: addressID, Kind: kind, ExpiresAt: expires, CreatedAt: now}
	if m == MethodLink {
		token := secret.RandomAlphanumeric(tokenLength)
		row.Hash = s.Hasher.Hash(token)
		link = flow.WithQuery(s.linkBase()+"self-service/recovery", "flow", f.ID.String(), "token", token)
		return "", link, lifespan, s.Store.CreateToken(ctx, row)
	}
	code = secret.RandomDigits(codeLength)
	row.Hash = s.Hasher.Hash(code)
	return code, "", lifespan, s.Store.CreateCode(ctx, row)
}

func (s *Service) linkBase() string {
	if s.Config.LinkBaseURL != "" {
		return s.Config.LinkBaseURL
	}
	return s.Config.PublicBaseURL
}

// identityData is the identity as email templates see it (public view).
func (s *Service) identityData(ident *identity.Identity) map[string]any {
	schemaURL := ""
	if s.SchemaURL != nil {
		schemaURL = s.SchemaURL(ident.SchemaID)
	}
	b, err := json.Marshal(ident.JSON(identity.PublicView, schemaURL))
	if err != nil {
		return nil
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

// checkCode handles a code submission (§7.3).
func (s *Service) checkCode(ctx context.Context, f *Flow, in Submission, req Requester) (*Result, error) {
	n, err := s.Flows.IncrementSubmissions(ctx, f.ID)
	if err != nil {
		return nil, err
	}
	if n > s.Config.MaxSubmissions {
		return s.replace(ctx, f, f.Type, httpx.ErrBadRequest(reasonTooOften), flow.MsgGeneric(reasonTooOften), req)
	}
	codes, err := s.Store.FlowCodes(ctx, f.ID)
	if err != nil {
		return nil, err
	}
	match := matching(s.Hasher, codes, in.Code)
	now := s.now()
	if match == nil || (match.UsedAt == nil && !now.Before(match.ExpiresAt)) {
		httpx.Logger(ctx).Info("recovery code wrong", "flow_id", f.ID, "submissions", n)
		f.UI.ResetMessages()
		f.UI.AddMessage(flow.MsgRecoveryCodeInvalid())
		if err := s.saveFlow(ctx, f); err != nil {
			return nil, err
		}
		return s.shown(f, http.StatusOK, in.TransientPayload), nil
	}
	if match.UsedAt != nil {
		return s.replace(ctx, f, f.Type, httpx.ErrBadRequest(reasonCodeUsed), flow.MsgGeneric(reasonCodeUsed), req)
	}
	res, err := s.succeed(ctx, f, match, MethodCode, req, s.Store.UseCode)
	if errors.Is(err, errAlreadyUsed) {
		return s.replace(ctx, f, f.Type, httpx.ErrBadRequest(reasonCodeUsed), flow.MsgGeneric(reasonCodeUsed), req)
	}
	if res != nil {
		res.Flow.TransientPayload = orEmptyObject(in.TransientPayload)
	}
	return res, err
}

// matching returns the secret whose keyed hash matches value. Every
// candidate is compared, in constant time, whatever matched before.
func matching(h secret.Hasher, secrets []Secret, value string) *Secret {
	var found *Secret
	for i := range secrets {
		if h.Matches(value, secrets[i].Hash) && found == nil {
			found = &secrets[i]
		}
	}
	return found
}

var errAlreadyUsed = errors.New("recovery: code or token already used")

// succeed completes the flow (§7.4) in one transaction: the secret is
// spent (exactly one concurrent caller wins), the flow passes, a
// self-service address is verified, other sessions are revoked, a
// session is issued and a settings flow started.
func (s *Service) succeed(ctx context.Context, f *Flow, sec *Secret, m Method, req Requester, use func(context.Context, uuid.UUID, time.Time) (bool, error)) (*Result, error) {
	res := &Result{Outcome: Recovered, Flow: f, BrowserSession: f.Type == flow.TypeBrowser || m == MethodLink}
	var revoked int
	err := s.Tx.InTx(ctx, func(ctx context.Context) error {
		ok, err := use(ctx, sec.ID, s.now())
		if err != nil {
			return err
		}
		if !ok {
			return errAlreadyUsed
		}
		ident, err := s.Identities.Get(ctx, sec.IdentityID)
		if err != nil {
			return err
		}
		if ident.State != identity.StateActive {
			return session.ErrIdentityDisabled(ident.ID)
		}
		if sec.Kind == KindSelf && sec.AddressID != nil {
			for _, a := range ident.RecoveryAddresses {
				if a.ID == *sec.AddressID {
					if err := s.Identities.MarkVerified(ctx, ident.ID, a.Via, a.Value); err != nil {
						return err
					}
				}
			}
		}
		if s.Config.RevokeOtherSessions {
			// Before the new session exists, so it survives.
			if revoked, err = s.Sessions.RevokeAll(ctx, ident.ID); err != nil {
				return err
			}
		}
		method := session.MethodCodeRecovery
		if m == MethodLink {
			method = session.MethodLinkRecovery
		}
		sess, token, err := s.Sessions.Issue(ctx, ident, method, req.Device())
		if err != nil {
			return err
		}
		res.Session, res.SessionToken = sess, token
		settingsType := f.Type
		if res.BrowserSession {
			settingsType = flow.TypeBrowser
			f.csrf = req.RotateCSRF()
		}
		returnTo := f.ReturnTo
		if returnTo == "" {
			returnTo = s.Config.AfterDefaultReturnURL
		}
		id, err := s.Settings.StartAfterRecovery(ctx, ident, sess, settingsType, req.URL(), returnTo)
		if err != nil {
			return err
		}
		res.SettingsFlowID = id
		res.SettingsURL = flow.WithQuery(s.Config.SettingsUIURL, "flow", id.String())
		f.State = StatePassedChallenge
		f.UI.ResetMessages()
		return s.saveFlow(ctx, f)
	})
	if err != nil {
		return nil, err
	}
	if !res.BrowserSession {
		f.ContinueWith = append(f.ContinueWith, flow.SetSessionToken(res.SessionToken))
	}
	f.ContinueWith = append(f.ContinueWith, flow.ShowSettingsUI(res.SettingsFlowID, res.SettingsURL))
	httpx.Logger(ctx).Info("recovery succeeded", "flow_id", f.ID, "identity_id", sec.IdentityID, "session_id", res.Session.ID,
		"method", string(m), "issued_by", string(sec.Kind), "revoked_sessions", revoked, "settings_flow_id", res.SettingsFlowID)
	return res, nil
}

// OpenLink handles GET /self-service/recovery?flow=&token= (§9). With
// RequireConfirmation (departure 5) a valid link changes nothing and
// returns ConfirmLink; the confirm page posts the token to Submit.
func (s *Service) OpenLink(ctx context.Context, rawFlowID, token string, req Requester) (*Result, error) {
	id, err := uuid.Parse(rawFlowID)
	if rawFlowID == "" || err != nil {
		return nil, httpx.ErrBadRequest("The flow query parameter is missing or malformed.")
	}
	f, err := s.loadFlow(ctx, id)
	if errors.Is(err, storeerr.ErrNotFound) {
		return s.replaceLink(ctx, nil, flow.MsgRecoveryTokenInvalid(), req)
	}
	if err != nil {
		return nil, err
	}
	if !s.Config.RequireConfirmation {
		return s.useLink(ctx, f, token, req, nil)
	}
	tok, res, err := s.validLink(ctx, f, token, req)
	if tok == nil {
		return res, err
	}
	c := *f
	c.UI = confirmLinkUI(s.actionURL(f.ID), token)
	return &Result{Outcome: ConfirmLink, Flow: &c}, nil
}

// validLink finds the unused, unexpired token of the flow; otherwise it
// replaces the flow (4060004 unknown or used, 4060005 expired).
func (s *Service) validLink(ctx context.Context, f *Flow, token string, req Requester) (*Secret, *Result, error) {
	now := s.now()
	if f.Expired(now) {
		res, err := s.replaceLink(ctx, f, flow.MsgRecoveryExpired(f.ExpiresAt, now), req)
		return nil, res, err
	}
	tokens, err := s.Store.FlowTokens(ctx, f.ID)
	if err != nil {
		return nil, nil, err
	}
	t := matching(s.Hasher, tokens, token)
	if t == nil || t.UsedAt != nil || token == "" {
		res, err := s.replaceLink(ctx, f, flow.MsgRecoveryTokenInvalid(), req)
		return nil, res, err
	}
	if !now.Before(t.ExpiresAt) {
		res, err := s.replaceLink(ctx, f, flow.MsgRecoveryExpired(t.ExpiresAt, now), req)
		return nil, res, err
	}
	return t, nil, nil
}

// useLink spends a link token and completes the flow; check, when set,
// must pass before the token is spent.
func (s *Service) useLink(ctx context.Context, f *Flow, token string, req Requester, check func() error) (*Result, error) {
	t, res, err := s.validLink(ctx, f, token, req)
	if t == nil {
		return res, err
	}
	if check != nil {
		if err := check(); err != nil {
			return nil, err
		}
	}
	res, err = s.succeed(ctx, f, t, MethodLink, req, s.Store.UseToken)
	if errors.Is(err, errAlreadyUsed) {
		return s.replaceLink(ctx, f, flow.MsgRecoveryTokenInvalid(), req)
	}
	return res, err
}

// replaceLink answers a bad link with a new browser flow showing msg.
func (s *Service) replaceLink(ctx context.Context, old *Flow, msg flow.Message, req Requester) (*Result, error) {
	returnTo := ""
	if old != nil {
		returnTo = old.ReturnTo
	}
	nf := s.replacementFlow(flow.TypeBrowser, req.URL(), returnTo, req)
	nf.UI.AddMessage(msg)
	if err := s.createFlow(ctx, nf); err != nil {
		return nil, err
	}
	oldID := uuid.Nil
	if old != nil {
		oldID = old.ID
	}
	httpx.Logger(ctx).Info("recovery link rejected", "flow_id", oldID, "new_flow_id", nf.ID, "message_id", msg.ID)
	return &Result{Outcome: Replaced, Flow: nf, Err: httpx.ErrBadRequest(msg.Text)}, nil
}

// replace creates the flow that takes over from f (§7.6): state
// choose_method, showing msg.
func (s *Service) replace(ctx context.Context, f *Flow, t flow.Type, cause *httpx.Error, msg flow.Message, req Requester) (*Result, error) {
	nf := s.replacementFlow(t, req.URL(), f.ReturnTo, req)
	nf.UI.AddMessage(msg)
	if err := s.createFlow(ctx, nf); err != nil {
		return nil, err
	}
	httpx.Logger(ctx).Info("recovery flow replaced", "flow_id", f.ID, "new_flow_id", nf.ID, "reason", cause.Reason)
	return &Result{Outcome: Replaced, Flow: nf, Err: cause.WithDetail("continue_with", []flow.ContinueWith{flow.ShowRecoveryUI(nf.ID)})}, nil
}

// replaceExpired creates the flow that takes over from an expired one
// (§7.5): same type (api link flows continue in a browser), same
// request_url, message 4060005.
func (s *Service) replaceExpired(ctx context.Context, f *Flow, now time.Time, req Requester) (*Result, error) {
	t := f.Type
	if t == flow.TypeAPI && f.method() == MethodLink {
		t = flow.TypeBrowser
	}
	nf := s.newFlow(t, f.RequestURL, f.ReturnTo, req)
	nf.UI.AddMessage(flow.MsgRecoveryExpired(f.ExpiresAt, now))
	if err := s.createFlow(ctx, nf); err != nil {
		return nil, err
	}
	httpx.Logger(ctx).Info("recovery flow expired", "flow_id", f.ID, "new_flow_id", nf.ID)
	return &Result{Outcome: Expired, Flow: nf, ExpiredAt: f.ExpiresAt}, nil
}

// show saves f and answers it with status.
func (s *Service) show(ctx context.Context, f *Flow, status int) (*Result, error) {
	if err := s.saveFlow(ctx, f); err != nil {
		return nil, err
	}
	return &Result{Outcome: Shown, Flow: f, Status: status}, nil
}

// shown answers an accepted submission: Kratos echoes the transient
// payload ({} when none was sent).
func (s *Service) shown(f *Flow, status int, payload json.RawMessage) *Result {
	f.TransientPayload = orEmptyObject(payload)
	return &Result{Outcome: Shown, Flow: f, Status: status}
}

func orEmptyObject(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || string(raw) == "null" {
		return json.RawMessage("{}")
	}
	return raw
}

func (s *Service) loadFlow(ctx context.Context, id uuid.UUID) (*Flow, error) {
	r, err := s.Flows.GetFlow(ctx, FlowKind, id)
	if err != nil {
		return nil, err
	}
	return flowFromRecord(r)
}

func (s *Service) createFlow(ctx context.Context, f *Flow) error {
	r, err := f.record()
	if err != nil {
		return err
	}
	return s.Flows.CreateFlow(ctx, r)
}

func (s *Service) saveFlow(ctx context.Context, f *Flow) error {
	r, err := f.record()
	if err != nil {
		return err
	}
	return s.Flows.UpdateFlow(ctx, r)
}

// validEmail is the JSON schema "email" format Kratos applies: a bare
// address, nothing around it (leading or trailing spaces fail).
func validEmail(v string) bool {
	a, err := mail.ParseAddress(v)
	return err == nil && a.Address == v
}

// normalizeEmail is how recovery addresses are stored and looked up.
func normalizeEmail(v string) string { return strings.ToLower(strings.TrimSpace(v)) }

// transientPayload decodes the transient_payload object for templates.
func transientPayload(raw json.RawMessage) (map[string]any, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, errors.New("transient_payload must be a JSON object.")
	}
	return m, nil
}
