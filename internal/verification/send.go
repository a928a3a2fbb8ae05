package verification

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/mail"
	"strings"

	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/courier"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/ratelimit"
	"github.com/latchkey/latchkey/internal/rowid"
	"github.com/latchkey/latchkey/internal/secret"
)

// codeLength and tokenLength are Kratos's formats: 6 digits, 32
// alphanumerics.
const (
	codeLength  = 6
	tokenLength = 32
)

// Scopes of the send counters (internal/ratelimit): by the lower-cased
// address, known or not (a 429 says nothing about accounts), and by IP.
const (
	scopeAddress = "verification_address"
	scopeIP      = "verification_ip"
)

// submitEmail sends (or resends) a code or link to email. A known and an
// unknown address get the same answer, in the same time: the request path
// does the same work for both (the limits, one internal message, the
// flow), and the courier's preparation (request.go) looks the address up.
func (s *Service) submitEmail(ctx context.Context, q *flow.Request, f *Flow, email string) (*flow.Result, error) {
	m := s.Config.method()
	err := s.Tx.InTx(ctx, func(ctx context.Context) error {
		if err := s.Limits.Take(ctx, scopeIP, q.Caller.IP, s.Config.PerIP); err != nil {
			return err
		}
		if err := s.Limits.Take(ctx, scopeAddress, normalizeEmail(email), s.Config.PerAddress); err != nil {
			return err
		}
		if err := s.Audit.Record(ctx, audit.Event{Type: audit.VerificationRequested, FlowID: &f.ID, Method: string(m),
			Details: map[string]any{"address": email}}); err != nil {
			return err
		}
		if err := s.requestEmail(ctx, f, m, email); err != nil {
			return err
		}
		f.Active, f.State = string(m), StateSentEmail
		f.UI.ResetMessages()
		if m == MethodLink {
			f.UI.Nodes = emailNodes(f.Type, m, email)
			f.UI.AddMessage(flow.MsgVerificationLinkSent())
		} else {
			f.UI.Nodes = sentNodes(f.Type, email)
			f.UI.AddMessage(flow.MsgVerificationCodeSent())
		}
		return flow.Save(ctx, s.Flows, f)
	})
	var limited *ratelimit.ExceededError
	if errors.As(err, &limited) {
		return s.showLimited(ctx, f, limited, m, email)
	}
	if err != nil {
		return nil, err
	}
	httpx.Logger(ctx).Info("verification email requested", "flow_id", f.ID, "method", m)
	return s.kind().Show(f, http.StatusOK), nil
}

// showLimited answers a send refused by the limits: 429 with the retry
// time on the flow, and the verification.rate_limited event (the refused
// transaction rolled back, so both are written here).
func (s *Service) showLimited(ctx context.Context, f *Flow, limited *ratelimit.ExceededError, m Method, email string) (*flow.Result, error) {
	httpx.Logger(ctx).Warn("verification send limit hit", "flow_id", f.ID, "limit", limited.Scope)
	f.UI.ResetMessages()
	f.UI.AddMessage(flow.MsgVerificationRateLimited(limited.RetryAfter))
	// The address stays in its input, to send again once the wait is over.
	f.UI.SetNodeValue("email", email)
	var res *flow.Result
	err := s.Tx.InTx(ctx, func(ctx context.Context) error {
		if err := s.Audit.Record(ctx, audit.Event{Type: audit.VerificationRateLimited, FlowID: &f.ID, Method: string(m), Result: audit.ResultRateLimited,
			Details: map[string]any{"limit": limited.Scope, "address": email}}); err != nil {
			return err
		}
		var err error
		res, err = s.saveAndShow(ctx, f, http.StatusTooManyRequests)
		return err
	})
	if err != nil {
		return nil, err
	}
	res.RetryAfter = limited.RetryAfter
	return res, nil
}

// issueAndMail stores a new code or link token of method m for a on f,
// queues the mail carrying it and moves a pending address to sent, all in
// the caller's transaction. ident is the address's identity, for the
// templates; nil reads it.
func (s *Service) issueAndMail(ctx context.Context, f *Flow, m Method, a *Address, ident *identity.Identity) error {
	now := s.now()
	lifespan := s.Config.CodeLifespan
	if m == MethodLink {
		lifespan = s.Config.LinkLifespan
	}
	expires := now.Add(lifespan)
	if expires.After(f.ExpiresAt) {
		// Never outlives its flow; the mail still names the method's
		// lifespan, as Kratos's does.
		expires = f.ExpiresAt
	}
	row := &Secret{ID: rowid.New(), FlowID: f.ID, IdentityID: a.IdentityID, AddressID: a.ID, ExpiresAt: expires, CreatedAt: now}
	if ident == nil {
		var err error
		if ident, err = s.Identities.GetPublic(ctx, a.IdentityID); err != nil {
			return err
		}
	}
	data := courier.TemplateData{
		To: a.Value, Identity: ident.TemplateData(s.SchemaURL),
		RequestURL: f.RequestURL, ExpiresInMinutes: int(math.Ceil(lifespan.Minutes())),
	}
	tmpl := courier.TemplateVerificationCodeValid
	if m == MethodLink {
		token := secret.RandomAlphanumeric(tokenLength)
		row.Hash = s.Hasher.Hash(token)
		if err := s.Store.CreateToken(ctx, row); err != nil {
			return err
		}
		data.VerificationURL = flow.WithQuery(flow.Route(s.linkBase(), "self-service/verification"), "flow", f.ID.String(), "token", token)
		tmpl = courier.TemplateVerificationValid
	} else {
		code := secret.RandomDigits(codeLength)
		row.Hash = s.Hasher.Hash(code)
		if err := s.Store.CreateCode(ctx, row); err != nil {
			return err
		}
		data.VerificationCode = code
		data.VerificationURL = flow.WithQuery(flow.Route(s.linkBase(), "self-service/verification"), "code", code, "flow", f.ID.String())
	}
	if _, err := s.Mail.Enqueue(ctx, courier.Email{To: a.Value, Template: tmpl, Data: data}); err != nil {
		return err
	}
	return s.Store.MarkSent(ctx, a, now)
}

func (s *Service) linkBase() string {
	if s.Config.LinkBaseURL != "" {
		return s.Config.LinkBaseURL
	}
	return s.Config.PublicBaseURL
}

// validEmail is the JSON schema "email" format: a bare address.
func validEmail(v string) bool {
	a, err := mail.ParseAddress(v)
	return err == nil && a.Address == v
}

// normalizeEmail is how email addresses are stored and looked up.
func normalizeEmail(v string) string { return strings.ToLower(strings.TrimSpace(v)) }
