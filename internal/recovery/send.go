package recovery

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/mail"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/courier"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/ratelimit"
	"github.com/latchkey/latchkey/internal/rowid"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/session"
)

// codeLength and tokenLength are Kratos's formats: 6 digits, 32 alphanumerics.
const (
	codeLength  = 6
	tokenLength = 32
)

// submitEmail handles an email submission (§7.2): send or resend, within
// the send limits.
func (s *Service) submitEmail(ctx context.Context, q *flow.Request, f *Flow, in submission, sess *session.Session) (*flow.Result, error) {
	if sess != nil {
		return nil, s.sessionAvailable()
	}
	m := Method(in.Method)
	if m != MethodCode && m != MethodLink {
		f.Active = flow.GroupDefault
		return s.reject(ctx, f, flow.MsgRecoveryNoStrategy())
	}
	if !s.Config.methodEnabled(m) {
		// Kratos makes the flow the method's before refusing it, so the
		// next answer shows "active": "link" (e-errors-base, step 42).
		f.Active = string(m)
		if err := flow.Save(ctx, s.Flows, f); err != nil {
			return nil, err
		}
		return nil, httpx.ErrMethodDisabled()
	}
	if in.Email == "" {
		return s.rejectInput(ctx, f, "email", flow.MsgMissingProperty("email"))
	}
	if f.State == StatePassedChallenge {
		return s.replace(ctx, q, f, f.Type, httpx.ErrBadRequest(reasonDoneBefore), flow.MsgRecoveryRetrySuccess())
	}
	payload, err := transientPayload(in.TransientPayload)
	if err != nil {
		return s.reject(ctx, f, flow.MsgGeneric(err.Error()))
	}

	err = s.Tx.InTx(ctx, func(ctx context.Context) error {
		if err := s.countSend(ctx, in.Email, q.Caller.IP); err != nil {
			return err
		}
		// Recorded before the address is looked up (the courier does
		// that), so known and unknown addresses write the same event.
		if err := s.Audit.Record(ctx, audit.Event{Type: audit.RecoveryRequested, FlowID: &f.ID, Method: string(m),
			Details: map[string]any{"address": in.Email}}); err != nil {
			return err
		}
		if err := s.requestEmail(ctx, f, m, in.Email, payload); err != nil {
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
		return flow.Save(ctx, s.Flows, f)
	})
	var limited *ratelimit.ExceededError
	if errors.As(err, &limited) {
		return s.showLimited(ctx, f, limited, "recovery send limit hit", m, in.Email)
	}
	if err != nil {
		return nil, err
	}
	// Whether the address is known is not known yet: the courier's
	// preparation (request.go) logs it.
	httpx.Logger(ctx).Info("recovery email requested", "flow_id", f.ID, "method", m)
	return s.accepted(f, in.TransientPayload), nil
}

// issueAndMail creates a code or link token for ident and queues the
// "valid" mail to address.
func (s *Service) issueAndMail(ctx context.Context, f *Flow, m Method, ident *identity.Identity, addressID *uuid.UUID, address string, kind Kind, notAfter time.Time, payload map[string]any) error {
	row, code, link, lifespan := s.newSecret(f, m, ident.ID, addressID, kind, notAfter)
	if err := s.storeSecret(ctx, m, row); err != nil {
		return err
	}
	_, err := s.Mail.Enqueue(ctx, s.validMail(f, ident, address, code, link, lifespan, payload))
	return err
}

// validMail is the recovery_code_valid (code) or recovery_valid (link)
// mail.
func (s *Service) validMail(f *Flow, ident *identity.Identity, address, code, link string, lifespan time.Duration, payload map[string]any) courier.Email {
	data := courier.TemplateData{
		To: address, RecoveryCode: code, RecoveryURL: link, Identity: s.identityData(ident),
		RequestURL: f.RequestURL, TransientPayload: payload, ExpiresInMinutes: int(math.Ceil(lifespan.Minutes())),
	}
	tmpl := courier.TemplateRecoveryCodeValid
	if link != "" {
		tmpl = courier.TemplateRecoveryValid
	}
	return courier.Email{To: address, Template: tmpl, Data: data}
}

// newSecret makes a new code or link token for the flow: the row to
// store (its keyed hash only) and, in clear, the code or the link
// carrying the token (the only time either exists outside the mail or
// the admin response). It expires after the method's lifespan, and never
// after notAfter.
func (s *Service) newSecret(f *Flow, m Method, identityID uuid.UUID, addressID *uuid.UUID, kind Kind, notAfter time.Time) (row *Secret, code, link string, lifespan time.Duration) {
	now := s.now()
	lifespan = s.Config.CodeLifespan
	if m == MethodLink {
		lifespan = s.Config.LinkLifespan
	}
	expires := now.Add(lifespan)
	switch {
	case kind == KindAdmin:
		// expires_in sets both the flow's and the secret's lifetime.
		expires, lifespan = notAfter, notAfter.Sub(now)
	case expires.After(notAfter):
		// A mailed secret, issued when the courier prepares the mail, never
		// outlives its flow. The mail still names the method's lifespan,
		// as Kratos's does.
		expires = notAfter
	}
	row = &Secret{ID: rowid.New(), FlowID: f.ID, IdentityID: identityID, AddressID: addressID, Kind: kind, ExpiresAt: expires, CreatedAt: now}
	if m == MethodLink {
		token := secret.RandomAlphanumeric(tokenLength)
		row.Hash = s.Hasher.Hash(token)
		link = flow.WithQuery(flow.Route(s.linkBase(), "self-service/recovery"), "flow", f.ID.String(), "token", token)
		return row, "", link, lifespan
	}
	code = secret.RandomDigits(codeLength)
	row.Hash = s.Hasher.Hash(code)
	return row, code, "", lifespan
}

// storeSecret inserts a code (MethodCode) or link token.
func (s *Service) storeSecret(ctx context.Context, m Method, row *Secret) error {
	if m == MethodLink {
		return s.Store.CreateToken(ctx, row)
	}
	return s.Store.CreateCode(ctx, row)
}

func (s *Service) linkBase() string {
	if s.Config.LinkBaseURL != "" {
		return s.Config.LinkBaseURL
	}
	return s.Config.PublicBaseURL
}

// identityData is the identity as email templates see it (public view).
func (s *Service) identityData(ident *identity.Identity) map[string]any {
	return ident.TemplateData(s.SchemaURL)
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
