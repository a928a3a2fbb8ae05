package recovery

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/audit"
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
	var (
		code  string
		ident *identity.Identity
	)
	err = s.Tx.InTx(ctx, func(ctx context.Context) error {
		// Read in the transaction: on SQLite it runs on the writer's
		// connection, whose page cache the stream of writes never empties.
		var err error
		ident, err = s.Identities.GetPublic(ctx, in.IdentityID)
		if errors.Is(err, storeerr.ErrNotFound) {
			return httpx.ErrNotFound("could not find identity")
		}
		if err != nil {
			return err
		}
		if err := flow.Create(ctx, s.Flows, f); err != nil {
			return err
		}
		code, _, _, err = s.issue(ctx, f, MethodCode, ident.ID, nil, KindAdmin, f.ExpiresAt)
		if err != nil {
			return err
		}
		if in.Send {
			if err := s.adminSend(ctx, f, ident, caller, code, "", lifespan); err != nil {
				return err
			}
		}
		return s.recordAdmin(ctx, audit.AdminRecoveryCodeCreated, f, MethodCode, ident.ID, in)
	})
	if err != nil {
		return nil, s.adminRefused(ctx, err, in, MethodCode)
	}
	httpx.Logger(ctx).Info("admin recovery code created", "flow_id", f.ID, "identity_id", ident.ID, "flow_type", t,
		"sent", in.Send, "remote_addr", caller.RemoteAddr)
	return &AdminCode{RecoveryLink: flow.WithQuery(s.Config.RecoveryUIURL, "flow", f.ID.String()), RecoveryCode: code, ExpiresAt: f.ExpiresAt}, nil
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
	var (
		link  string
		ident *identity.Identity
	)
	err = s.Tx.InTx(ctx, func(ctx context.Context) error {
		var err error
		ident, err = s.Identities.GetPublic(ctx, in.IdentityID) // in the transaction, as CreateAdminCode
		if errors.Is(err, storeerr.ErrNotFound) {
			return httpx.ErrBadRequest("The requested identity id does not exist.")
		}
		if err != nil {
			return err
		}
		if err := flow.Create(ctx, s.Flows, f); err != nil {
			return err
		}
		_, link, _, err = s.issue(ctx, f, MethodLink, ident.ID, nil, KindAdmin, f.ExpiresAt)
		if err != nil {
			return err
		}
		if in.Send {
			if err := s.adminSend(ctx, f, ident, caller, "", link, lifespan); err != nil {
				return err
			}
		}
		return s.recordAdmin(ctx, audit.AdminRecoveryLinkCreated, f, MethodLink, ident.ID, in)
	})
	if err != nil {
		return nil, s.adminRefused(ctx, err, in, MethodLink)
	}
	httpx.Logger(ctx).Info("admin recovery link created", "flow_id", f.ID, "identity_id", ident.ID,
		"sent", in.Send, "remote_addr", caller.RemoteAddr)
	return &AdminLink{RecoveryLink: link, ExpiresAt: f.ExpiresAt}, nil
}

// recordAdmin writes the audit event of an admin-created code or link,
// with the admin's reason, in the transaction that created it.
func (s *Service) recordAdmin(ctx context.Context, t audit.Type, f *Flow, m Method, identityID uuid.UUID, in AdminRequest) error {
	return s.Audit.Record(ctx, audit.Event{Type: t, IdentityID: &identityID, FlowID: &f.ID, Method: string(m), Reason: in.Reason,
		Details: map[string]any{"flow_type": string(f.Type), "sent": in.Send, "expires_at": f.ExpiresAt}})
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
	f.UI.Nodes = chooseMethodNodes(MethodLink)
	if m == MethodCode {
		f.State, f.UI.Nodes = StateSentEmail, adminCodeNodes()
	}
	return f
}

// adminSend mails an admin-created code or link to the identity's
// recovery email address ("send": true), within the send limits.
func (s *Service) adminSend(ctx context.Context, f *Flow, ident *identity.Identity, caller AdminCaller, code, link string, lifespan time.Duration) error {
	address := ""
	for _, a := range ident.RecoveryAddresses {
		if a.Via == identity.ViaEmail {
			address = a.Value
			break
		}
	}
	if address == "" {
		return httpx.ErrBadRequest("The identity has no recovery email address, so Latchkey cannot send it anything. Create the code or link without \"send\" and hand it over yourself.")
	}
	if err := s.countSend(ctx, address, caller.IP); err != nil {
		var limited *ratelimit.ExceededError
		if errors.As(err, &limited) {
			httpx.Logger(ctx).Warn("recovery send limit hit", "identity_id", ident.ID, "limit", limited.Scope,
				"retry_after_seconds", int(limited.RetryAfter.Seconds()), "remote_addr", caller.RemoteAddr)
		}
		return err
	}
	return s.mailValid(ctx, f, ident, address, code, link, lifespan, nil)
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
