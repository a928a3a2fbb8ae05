package verification

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/courier"
	"github.com/latchkey/latchkey/internal/storeerr"
)

// An email submission must not tell whether the address belongs to an
// account, by its answer or by its time (as recovery's, see
// internal/recovery/request.go): the request path queues one internal
// message for every address, and the courier hands it to PrepareRequest,
// which looks the address up, issues the code or link and queues the mail.

// sendRequest is an email submission as the request path saw it. It holds
// nothing secret.
type sendRequest struct {
	// Address is the address as typed (the lookup normalises it).
	Address    string    `json:"address"`
	FlowID     uuid.UUID `json:"flow_id"`
	Method     Method    `json:"method"`
	RequestURL string    `json:"request_url,omitempty"`
	// Language is the language the request asked for
	// (courier.RequestLanguage), for the mail the courier prepares.
	Language string `json:"language,omitempty"`
}

// requestEmail queues the internal message of an email submission in the
// transaction carried by ctx.
func (s *Service) requestEmail(ctx context.Context, f *Flow, m Method, email string) error {
	_, err := s.Mail.EnqueueInternal(ctx, courier.TemplateVerificationRequest, sendRequest{
		Address: email, FlowID: f.ID, Method: m, RequestURL: f.RequestURL, Language: courier.RequestLanguage(ctx),
	})
	return err
}

// PrepareRequest is the courier.Preparer of TemplateVerificationRequest
// messages. It runs in the dispatcher's transaction, which also removes
// the message: an error rolls everything back and the courier retries.
func (s *Service) PrepareRequest(ctx context.Context, msg courier.Message) error {
	log := s.logger().With("message_id", msg.ID)
	var req sendRequest
	if err := json.Unmarshal(msg.TemplateData, &req); err != nil {
		log.Error("verification request unreadable; dropped", "error", err)
		return nil
	}
	log = log.With("flow_id", req.FlowID)
	f, err := s.kind().Load(ctx, req.FlowID.String(), storeerr.ErrNotFound)
	if errors.Is(err, storeerr.ErrNotFound) {
		log.Info("verification request dropped: its flow is gone")
		return nil
	}
	if err != nil {
		return err
	}
	if f.Expired(s.now()) || f.State == StatePassedChallenge {
		log.Info("verification request dropped: its flow is over", "state", f.State)
		return nil
	}
	// The mail is queued away from the request: its language travels.
	ctx = courier.WithRequestLanguage(ctx, req.Language)
	identityID, err := s.sendEmail(ctx, f, req)
	if err != nil {
		return err
	}
	// Whether the address is known is logged, the address never is.
	log = log.With("recipient_known", identityID != uuid.Nil, "method", req.Method)
	if identityID != uuid.Nil {
		log = log.With("identity_id", identityID)
	}
	log.Info("verification email prepared")
	return nil
}

// sendEmail issues a code or link for the address of req when it is a
// verifiable address and queues the mail; an unknown address gets the
// "invalid" mail with notify_unknown_recipients. It returns the identity
// the address belongs to (uuid.Nil if none).
func (s *Service) sendEmail(ctx context.Context, f *Flow, req sendRequest) (uuid.UUID, error) {
	if req.Method == MethodCode {
		// A resend supersedes the codes sent before.
		if err := s.Store.DeleteFlowCodes(ctx, f.ID); err != nil {
			return uuid.Nil, err
		}
	}
	a, err := s.Store.FindAddress(ctx, "email", normalizeEmail(req.Address))
	if errors.Is(err, storeerr.ErrNotFound) {
		notify := s.Config.NotifyUnknownRecipients
		if err := s.Audit.Record(ctx, audit.Event{Type: audit.VerificationSent, FlowID: &f.ID, Method: string(req.Method), Result: audit.ResultUnknownAddress,
			Details: map[string]any{"address": req.Address, "notified": notify}}); err != nil {
			return uuid.Nil, err
		}
		if !notify {
			return uuid.Nil, nil
		}
		tmpl := courier.TemplateVerificationCodeInvalid
		if req.Method == MethodLink {
			tmpl = courier.TemplateVerificationInvalid
		}
		_, err := s.Mail.Enqueue(ctx, courier.Email{To: req.Address, Template: tmpl,
			Data: courier.TemplateData{To: req.Address, RequestURL: req.RequestURL}})
		return uuid.Nil, err
	}
	if err != nil {
		return uuid.Nil, err
	}
	if err := s.issueAndMail(ctx, f, req.Method, a, nil); err != nil {
		return uuid.Nil, err
	}
	return a.IdentityID, s.recordSent(ctx, f, req.Method, a)
}

// recordSent writes the verification.sent event of a code or link mailed
// to a.
func (s *Service) recordSent(ctx context.Context, f *Flow, m Method, a *Address) error {
	return s.Audit.Record(ctx, audit.Event{Type: audit.VerificationSent, IdentityID: &a.IdentityID, FlowID: &f.ID, Method: string(m),
		Details: map[string]any{"address": a.Value}})
}

func (s *Service) logger() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}
