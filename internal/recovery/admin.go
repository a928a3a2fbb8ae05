package recovery

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/courier"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/ratelimit"
	"github.com/latchkey/latchkey/internal/storeerr"
)

// AdminRequest is a POST /admin/recovery/code or /admin/recovery/link.
type AdminRequest struct {
	IdentityID uuid.UUID
	// ExpiresIn is the raw Go duration ("" = the method's lifespan).
	ExpiresIn string
	// FlowType is "browser" (default) or "api" (code only).
	FlowType string
	// ReturnTo is the return_to query of the admin call.
	ReturnTo string
	// Send (Latchkey only) emails the code or link to the identity's
	// recovery address.
	Send bool
	// Reason (Latchkey only) is the admin's free-text reason, kept in the
	// audit log with the event (at most audit.MaxReason bytes).
	Reason string
}

// AdminCaller describes who called the admin API.
type AdminCaller struct {
	// RequestURL becomes the flow's request_url.
	RequestURL string
	// IP is counted by the per-IP send limit when Send is set.
	IP string
	// RemoteAddr is logged with the event: the client address as a
	// session's device records it (httpx.Caller.Address).
	RemoteAddr string
}

// AdminCode is the answer of POST /admin/recovery/code (201).
type AdminCode struct {
	RecoveryLink string    `json:"recovery_link"`
	RecoveryCode string    `json:"recovery_code"`
	ExpiresAt    time.Time `json:"expires_at"`
}

// AdminLink is the answer of POST /admin/recovery/link (200).
type AdminLink struct {
	RecoveryLink string    `json:"recovery_link"`
	ExpiresAt    time.Time `json:"expires_at"`
}

// CreateAdminCode creates a recovery flow and code for an identity
// (admin-recovery.md §1). It works for identities without any recovery
// address; nothing is mailed unless Send is set.
func (s *Service) CreateAdminCode(ctx context.Context, in AdminRequest, caller AdminCaller) (*AdminCode, error) {
	if !s.Config.CodeEnabled {
		return nil, httpx.ErrMethodDisabled()
	}
	lifespan, err := s.adminLifespan(in.ExpiresIn, s.Config.CodeLifespan, MethodCode)
	if err != nil {
		return nil, err
	}
	t := flow.TypeBrowser
	switch in.FlowType {
	case "", string(flow.TypeBrowser):
	case string(flow.TypeAPI):
		t = flow.TypeAPI
	default:
		return nil, httpx.ErrBadRequest(fmt.Sprintf("Value from \"flow_type\" is not valid: %q", in.FlowType))
	}
	returnTo, err := s.Config.ReturnTo.Validate(in.ReturnTo)
	if err != nil {
		return nil, err
	}
	f := s.adminFlow(t, MethodCode, lifespan, caller.RequestURL, returnTo)
	w, err := s.createAdmin(ctx, f, MethodCode, lifespan, in, caller, httpx.ErrNotFound("could not find identity"))
	if err != nil {
		return nil, err
	}
	httpx.Logger(ctx).Info("admin recovery code created", "flow_id", f.ID, "identity_id", w.ident.ID, "flow_type", t,
		"sent", in.Send, "remote_addr", caller.RemoteAddr)
	return &AdminCode{RecoveryLink: flow.WithQuery(s.Config.RecoveryUIURL, "flow", f.ID.String()), RecoveryCode: w.code, ExpiresAt: f.ExpiresAt}, nil
}

// CreateAdminLink creates a recovery flow and link for an identity
// (admin-recovery.md §2). Its status codes differ from the code endpoint
// exactly as Kratos's do (unknown identity: 400 here, 404 there).
func (s *Service) CreateAdminLink(ctx context.Context, in AdminRequest, caller AdminCaller) (*AdminLink, error) {
	if !s.Config.LinkEnabled {
		return nil, httpx.ErrMethodDisabled()
	}
	lifespan, err := s.adminLifespan(in.ExpiresIn, s.Config.LinkLifespan, MethodLink)
	if err != nil {
		return nil, err
	}
	returnTo, err := s.Config.ReturnTo.Validate(in.ReturnTo)
	if err != nil {
		return nil, err
	}
	f := s.adminFlow(flow.TypeBrowser, MethodLink, lifespan, caller.RequestURL, returnTo)
	// Kratos answers an unknown identity with 400 here, 404 for a code.
	w, err := s.createAdmin(ctx, f, MethodLink, lifespan, in, caller, httpx.ErrBadRequest("The requested identity id does not exist."))
	if err != nil {
		return nil, err
	}
	httpx.Logger(ctx).Info("admin recovery link created", "flow_id", f.ID, "identity_id", w.ident.ID,
		"sent", in.Send, "remote_addr", caller.RemoteAddr)
	return &AdminLink{RecoveryLink: w.link, ExpiresAt: f.ExpiresAt}, nil
}

// adminWrites is what an admin-created code or link writes, prepared
// before its transaction (prepareAdmin) so that the transaction holds
// the writer — SQLite's one connection, the rows PostgreSQL and MariaDB
// lock — for the inserts only: the secret and its keyed hash, the mail
// of "send" rendered and sealed, the audit event with its notification
// (lockdown token, mail).
type adminWrites struct {
	// ident is the identity as read, public view.
	ident      *identity.Identity
	secret     *Secret
	code, link string
	// address and mail: "send" mails the code or link there.
	address string
	mail    *courier.Prepared
	event   *audit.Pending
}

// createAdmin writes flow f and its code or link for in.IdentityID
// (notFound when there is no such identity), in one transaction with the
// audit event, its notification and the mail of "send". The identity is
// read and everything prepared before the transaction; the secret's
// insert checks the identity is unchanged, and when it changed
// meanwhile, the transaction reads it again and prepares anew, so what
// is written follows the identity at commit, as when all of it was done
// in the transaction.
func (s *Service) createAdmin(ctx context.Context, f *Flow, m Method, lifespan time.Duration, in AdminRequest, caller AdminCaller, notFound error) (*adminWrites, error) {
	read := func(ctx context.Context) (*identity.Identity, error) {
		ident, err := s.Identities.GetPublic(ctx, in.IdentityID)
		if errors.Is(err, storeerr.ErrNotFound) {
			return nil, notFound
		}
		return ident, err
	}
	ident, err := read(ctx)
	if err != nil {
		return nil, err
	}
	w, err := s.prepareAdmin(ctx, f, m, ident, in, lifespan)
	if err != nil {
		return nil, err
	}
	rec, err := f.Record()
	if err != nil {
		return nil, err
	}
	err = s.Tx.InTx(ctx, func(ctx context.Context) error {
		if err := s.Flows.CreateFlow(ctx, rec); err != nil {
			return fmt.Errorf("create recovery flow: %w", err)
		}
		stored, err := s.storeSecretAsOf(ctx, m, w.secret, w.ident.UpdatedAt)
		if err != nil {
			return err
		}
		if !stored {
			ident, err := read(ctx)
			if err != nil {
				return err
			}
			if w, err = s.prepareAdmin(ctx, f, m, ident, in, lifespan); err != nil {
				return err
			}
			if err := s.storeSecret(ctx, m, w.secret); err != nil {
				return err
			}
		}
		if in.Send {
			if err := s.countAdminSend(ctx, w, caller); err != nil {
				return err
			}
			if err := w.mail.Enqueue(ctx); err != nil {
				return err
			}
		}
		return w.event.Record(ctx)
	})
	if err != nil {
		return nil, s.adminRefused(ctx, err, in, m)
	}
	return w, nil
}

// prepareAdmin makes the secret of f for ident and prepares what its
// creation writes but the flow (adminWrites).
func (s *Service) prepareAdmin(ctx context.Context, f *Flow, m Method, ident *identity.Identity, in AdminRequest, lifespan time.Duration) (*adminWrites, error) {
	w := &adminWrites{ident: ident}
	w.secret, w.code, w.link, _ = s.newSecret(f, m, ident.ID, nil, KindAdmin, f.ExpiresAt)
	if in.Send {
		for _, a := range ident.RecoveryAddresses {
			if a.Via == identity.ViaEmail {
				w.address = a.Value
				break
			}
		}
		if w.address == "" {
			return nil, httpx.ErrBadRequest("The identity has no recovery email address, so Latchkey cannot send it anything. Create the code or link without \"send\" and hand it over yourself.")
		}
		var err error
		if w.mail, err = s.Mail.Prepare(ctx, s.validMail(f, ident, w.address, w.code, w.link, lifespan, nil)); err != nil {
			return nil, err
		}
	}
	t := audit.AdminRecoveryCodeCreated
	if m == MethodLink {
		t = audit.AdminRecoveryLinkCreated
	}
	var err error
	w.event, err = s.Audit.Prepare(ctx, audit.Event{Type: t, IdentityID: &ident.ID, FlowID: &f.ID, Method: string(m), Reason: in.Reason,
		Details: map[string]any{"flow_type": string(f.Type), "sent": in.Send, "expires_at": f.ExpiresAt}}, ident)
	return w, err
}

// storeSecretAsOf is storeSecret while the identity's updated_at is asOf
// (Store.CreateCodeAsOf).
func (s *Service) storeSecretAsOf(ctx context.Context, m Method, row *Secret, asOf time.Time) (bool, error) {
	if m == MethodLink {
		return s.Store.CreateTokenAsOf(ctx, row, asOf)
	}
	return s.Store.CreateCodeAsOf(ctx, row, asOf)
}

// adminLifespan parses expires_in with Kratos's two (different) messages.
func (s *Service) adminLifespan(raw string, def time.Duration, m Method) (time.Duration, error) {
	if raw == "" {
		return def, nil
	}
	d, err := time.ParseDuration(raw)
	if err != nil {
		return 0, httpx.ErrBadRequest(fmt.Sprintf("Unable to parse \"expires_in\" whose format should match \"[0-9]+(ns|us|ms|s|m|h)\" but did not: %s", raw))
	}
	if d <= 0 {
		if m == MethodLink {
			return 0, httpx.ErrBadRequest(fmt.Sprintf("Value from \"expires_in\" must be result to a future time: %s", raw))
		}
		return 0, httpx.ErrBadRequest(fmt.Sprintf("Value from \"expires_in\" must result to a future time: %s", d))
	}
	return d, nil
}

// adminFlow builds a flow created by the admin API: no CSRF, expiring
// after the requested lifespan. A code flow waits for its code; a link
// flow shows the email form (as Kratos does).
func (s *Service) adminFlow(t flow.Type, m Method, lifespan time.Duration, requestURL, returnTo string) *Flow {
	f := &Flow{
		Base:   flow.NewBase(t, s.now(), lifespan, requestURL, returnTo, s.Config.route("self-service/recovery")),
		Active: string(m), State: StateChooseMethod, AdminCreated: true,
	}
	if m == MethodCode {
		f.State, f.UI.Nodes = StateSentEmail, adminCodeNodes()
	} else {
		f.UI.Nodes = chooseMethodNodes(MethodLink)
	}
	return f
}

// countAdminSend counts the mail of "send" against the send limits.
func (s *Service) countAdminSend(ctx context.Context, w *adminWrites, caller AdminCaller) error {
	err := s.countSend(ctx, w.address, caller.IP)
	var limited *ratelimit.ExceededError
	if errors.As(err, &limited) {
		httpx.Logger(ctx).Warn("recovery send limit hit", "identity_id", w.ident.ID, "limit", limited.Scope,
			"retry_after_seconds", int(limited.RetryAfter.Seconds()), "remote_addr", caller.RemoteAddr)
	}
	return err
}

// adminRefused answers the error of an admin creation. A send refused by
// the send limits rolled the whole creation back: its
// recovery.rate_limited event is written on its own (the refusal is what
// happened) and the admin gets 429.
func (s *Service) adminRefused(ctx context.Context, err error, in AdminRequest, m Method) error {
	var limited *ratelimit.ExceededError
	if !errors.As(err, &limited) {
		return err
	}
	if err := s.Tx.InTx(ctx, func(ctx context.Context) error {
		return s.recordLimited(ctx, nil, m, in.IdentityID, limited, "", in.Reason)
	}); err != nil {
		return err
	}
	secs := int(limited.RetryAfter.Seconds())
	return httpx.ErrTooManyRequests(fmt.Sprintf("Too many recovery emails were sent to this address or from this client. Retry in %d seconds.", secs)).
		WithDetail("retry_after_seconds", secs)
}

// adminBody is the JSON body of both admin endpoints. identity_id is read
// as a string so a malformed one gets Kratos's message.
type adminBody struct {
	IdentityID string `json:"identity_id"`
	ExpiresIn  string `json:"expires_in"`
	FlowType   string `json:"flow_type"`
	Send       bool   `json:"send"`
	Reason     string `json:"reason"`
}

// linkBody is the body of the link endpoint: no flow_type.
type linkBody struct {
	IdentityID string `json:"identity_id"`
	ExpiresIn  string `json:"expires_in"`
	Send       bool   `json:"send"`
	Reason     string `json:"reason"`
}

// POST /admin/recovery/code
func (h *Handler) adminCreateCode(w http.ResponseWriter, r *http.Request) {
	var b adminBody
	if err := httpx.DecodeJSONStrict(r, &b); err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	in, err := adminRequest(r, b.IdentityID, b.ExpiresIn, b.FlowType, b.Send, b.Reason)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	res, err := h.Service.CreateAdminCode(r.Context(), in, adminCaller(r))
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusCreated, res)
}

// POST /admin/recovery/link
func (h *Handler) adminCreateLink(w http.ResponseWriter, r *http.Request) {
	var b linkBody
	if err := httpx.DecodeJSONStrict(r, &b); err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	in, err := adminRequest(r, b.IdentityID, b.ExpiresIn, "", b.Send, b.Reason)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	res, err := h.Service.CreateAdminLink(r.Context(), in, adminCaller(r))
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, res)
}

func adminRequest(r *http.Request, rawID, expiresIn, flowType string, send bool, reason string) (AdminRequest, error) {
	id, err := parseIdentityID(rawID)
	if err != nil {
		return AdminRequest{}, err
	}
	if len(reason) > audit.MaxReason {
		return AdminRequest{}, httpx.ErrBadRequest(fmt.Sprintf("\"reason\" must be at most %d bytes long, got %d.", audit.MaxReason, len(reason)))
	}
	return AdminRequest{IdentityID: id, ExpiresIn: expiresIn, FlowType: flowType, ReturnTo: r.URL.Query().Get("return_to"), Send: send, Reason: reason}, nil
}

// parseIdentityID reads identity_id; missing means the nil UUID (which
// then is not found), malformed is Kratos's decode error.
func parseIdentityID(raw string) (uuid.UUID, error) {
	if raw == "" {
		return uuid.Nil, nil
	}
	id, err := uuid.Parse(raw)
	if err == nil {
		return id, nil
	}
	reason := fmt.Sprintf("uuid: incorrect UUID format in string %q", raw)
	switch len(raw) {
	case 32, 36, 38, 45:
	default:
		reason = fmt.Sprintf("uuid: incorrect UUID length %d in string %q", len(raw), raw)
	}
	return uuid.Nil, httpx.ErrBadRequest("Unable to decode JSON payload: " + reason)
}

// adminCaller reads the AdminCaller of r; its IP is the one client IP
// every limit counts (httpx.ClientIP).
func adminCaller(r *http.Request) AdminCaller {
	c := httpx.CallerOf(r)
	return AdminCaller{RequestURL: flow.RequestURL(r), IP: c.IP, RemoteAddr: c.Address}
}
