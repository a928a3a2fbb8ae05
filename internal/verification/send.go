package verification

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/mail"
	"strings"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/courier"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/ratelimit"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/storeerr"
)

// codeLength is Kratos's format: 6 digits.
const codeLength = 6

// Scopes of the send counters (internal/ratelimit): by the lower-cased
// address, known or not (a 429 says nothing about accounts), and by IP.
const (
	scopeAddress = "verification_address"
	scopeIP      = "verification_ip"
)

// submitEmail sends (or resends) a code to email. A known and an unknown
// address get the same answer; only a known one gets a code.
func (s *Service) submitEmail(ctx context.Context, q *flow.Request, f *Flow, email string) (*flow.Result, error) {
	err := s.Tx.InTx(ctx, func(ctx context.Context) error {
		if err := s.Limits.Take(ctx, scopeIP, q.Caller.IP, s.Config.PerIP); err != nil {
			return err
		}
		if err := s.Limits.Take(ctx, scopeAddress, normalizeEmail(email), s.Config.PerAddress); err != nil {
			return err
		}
		// A resend supersedes the codes sent before.
		if err := s.Store.DeleteFlowCodes(ctx, f.ID); err != nil {
			return err
		}
		if err := s.sendTo(ctx, f, email); err != nil {
			return err
		}
		f.State = StateSentEmail
		f.UI.Nodes = sentNodes(f.Type, email)
		f.UI.ResetMessages()
		f.UI.AddMessage(flow.MsgVerificationCodeSent())
		return flow.Save(ctx, s.Flows, f)
	})
	var limited *ratelimit.ExceededError
	if errors.As(err, &limited) {
		httpx.Logger(ctx).Warn("verification send limit hit", "flow_id", f.ID, "limit", limited.Scope)
		f.UI.ResetMessages()
		f.UI.AddMessage(flow.MsgVerificationRateLimited(limited.RetryAfter))
		res, err := s.saveAndShow(ctx, f, http.StatusTooManyRequests)
		if err != nil {
			return nil, err
		}
		res.RetryAfter = limited.RetryAfter
		return res, nil
	}
	if err != nil {
		return nil, err
	}
	httpx.Logger(ctx).Info("verification email requested", "flow_id", f.ID)
	return s.kind().Show(f, http.StatusOK), nil
}

// sendTo queues the code mail for address when it is a verifiable address
// of some identity, and marks it sent; for an unknown address it queues
// the "invalid" mail only with notify_unknown_recipients.
func (s *Service) sendTo(ctx context.Context, f *Flow, address string) error {
	a, err := s.Store.FindAddress(ctx, "email", normalizeEmail(address))
	if errors.Is(err, storeerr.ErrNotFound) {
		if !s.Config.NotifyUnknownRecipients {
			return nil
		}
		_, err := s.Mail.Enqueue(ctx, courier.Email{To: address, Template: courier.TemplateVerificationCodeInvalid,
			Data: courier.TemplateData{To: address, RequestURL: f.RequestURL}})
		return err
	}
	if err != nil {
		return err
	}
	return s.issueAndMail(ctx, f, a)
}

// issueAndMail stores a new code for a on f, queues the mail carrying it
// and moves a pending address to sent, all in the caller's transaction.
func (s *Service) issueAndMail(ctx context.Context, f *Flow, a *Address) error {
	now := s.now()
	expires := now.Add(s.Config.CodeLifespan)
	if expires.After(f.ExpiresAt) {
		expires = f.ExpiresAt
	}
	code := secret.RandomDigits(codeLength)
	row := &Code{ID: uuid.New(), FlowID: f.ID, IdentityID: a.IdentityID, AddressID: a.ID, Hash: s.Hasher.Hash(code), ExpiresAt: expires, CreatedAt: now}
	if err := s.Store.CreateCode(ctx, row); err != nil {
		return err
	}
	ident, err := s.Identities.GetPublic(ctx, a.IdentityID)
	if err != nil {
		return err
	}
	link := flow.WithQuery(flow.Route(s.linkBase(), "self-service/verification"), "code", code, "flow", f.ID.String())
	data := courier.TemplateData{
		To: a.Value, VerificationCode: code, VerificationURL: link, Identity: ident.TemplateData(s.SchemaURL),
		RequestURL: f.RequestURL, ExpiresInMinutes: int(math.Ceil(s.Config.CodeLifespan.Minutes())),
	}
	if _, err := s.Mail.Enqueue(ctx, courier.Email{To: a.Value, Template: courier.TemplateVerificationCodeValid, Data: data}); err != nil {
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
