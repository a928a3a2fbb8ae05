package recovery

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/courier"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/storeerr"
)

// An email submission must not tell whether the address belongs to an
// account, by its answer or by its time. So the request path does the same
// database work for every address (count the send limits, queue one
// internal message, save the flow) and leaves the rest to the courier:
// when the dispatcher picks the message up it calls PrepareRequest, which
// looks the address up, issues the code or link and queues the real mail.
// The lookup, the code and the mail cost their time off the request path,
// where no attacker can watch it.

// sendRequest is an email submission as the request path saw it: the data
// of the internal message. It holds nothing secret; the code or link is
// made by PrepareRequest.
type sendRequest struct {
	// Address is the address as typed (the lookup normalises it; the
	// "invalid" mail goes to it as typed, as Kratos's does).
	Address          string         `json:"address"`
	FlowID           uuid.UUID      `json:"flow_id"`
	Method           Method         `json:"method"`
	TransientPayload map[string]any `json:"transient_payload,omitempty"`
	RequestURL       string         `json:"request_url,omitempty"`
	// Language is the language the request asked for
	// (courier.RequestLanguage), for the mail the courier prepares.
	Language string `json:"language,omitempty"`
}

// requestEmail queues the internal message of an email submission, in the
// transaction carried by ctx.
func (s *Service) requestEmail(ctx context.Context, f *Flow, m Method, email string, payload map[string]any) error {
	_, err := s.Mail.EnqueueInternal(ctx, courier.TemplateRecoveryRequest, sendRequest{
		Address: email, FlowID: f.ID, Method: m, TransientPayload: payload, RequestURL: f.RequestURL, Language: courier.RequestLanguage(ctx),
	})
	return err
}

// PrepareRequest is the courier.Preparer of courier.TemplateRecoveryRequest
// messages. It runs in the dispatcher's transaction, which also removes the
// message: a failure rolls everything back and the courier tries again.
func (s *Service) PrepareRequest(ctx context.Context, msg courier.Message) error {
	log := s.logger().With("message_id", msg.ID)
	var req sendRequest
	if err := json.Unmarshal(msg.TemplateData, &req); err != nil {
		// Trying again cannot help: drop it.
		log.Error("recovery request unreadable; dropped", "error", err)
		return nil
	}
	log = log.With("flow_id", req.FlowID)
	// Only the flow's status is read: issuing a code or link needs no
	// more of the flow than its id and expiry, and the request URL the
	// request carried.
	state, expiresAt, err := s.Flows.GetFlowStatus(ctx, FlowKind, req.FlowID)
	if errors.Is(err, storeerr.ErrNotFound) {
		log.Info("recovery request dropped: its flow is gone")
		return nil
	}
	if err != nil {
		return err
	}
	f := &Flow{Base: flow.Base{ID: req.FlowID, ExpiresAt: expiresAt, RequestURL: req.RequestURL}, State: State(state)}
	if f.Expired(s.now()) || f.State == StatePassedChallenge {
		// A code for it could not be used any more.
		log.Info("recovery request dropped: its flow is over", "state", f.State)
		return nil
	}
	// The mail is queued away from the request: its language travels.
	ctx = courier.WithRequestLanguage(ctx, req.Language)
	identityID, err := s.sendEmail(ctx, f, req)
	if err != nil {
		return err
	}
	event := "recovery code sent"
	if req.Method == MethodLink {
		event = "recovery link sent"
	}
	// Whether the address is known is logged (operators need it), the
	// address itself never is.
	log = log.With("recipient_known", identityID != uuid.Nil)
	if identityID != uuid.Nil {
		log = log.With("identity_id", identityID)
	}
	log.Info(event)
	return nil
}

// sendEmail creates a code or link for the address of req if it belongs to
// an identity and queues the mail; unknown addresses get the "invalid"
// mail when notify_unknown_recipients is on.
//
// It returns the identity the address belongs to (uuid.Nil if none).
func (s *Service) sendEmail(ctx context.Context, f *Flow, req sendRequest) (uuid.UUID, error) {
	addr, ident, err := s.Identities.FindRecoveryAddress(ctx, identity.ViaEmail, normalizeEmail(req.Address))
	if req.Method == MethodCode {
		// A resend supersedes every earlier code of the flow. After the
		// lookup, so that on PostgreSQL it goes with the writes below in
		// one round trip rather than before the lookup's reads.
		if err := s.Store.DeleteFlowCodes(ctx, f.ID); err != nil {
			return uuid.Nil, err
		}
	}
	if errors.Is(err, storeerr.ErrNotFound) {
		notify := s.Config.NotifyUnknownRecipients
		if err := s.Audit.Record(ctx, audit.Event{Type: audit.RecoverySent, FlowID: &f.ID, Method: string(req.Method), Result: audit.ResultUnknownAddress,
			Details: map[string]any{"address": req.Address, "notified": notify}}); err != nil {
			return uuid.Nil, err
		}
		if !notify {
			return uuid.Nil, nil
		}
		tmpl := courier.TemplateRecoveryCodeInvalid
		if req.Method == MethodLink {
			tmpl = courier.TemplateRecoveryInvalid
		}
		_, err := s.Mail.Enqueue(ctx, courier.Email{To: req.Address, Template: tmpl, Data: courier.TemplateData{
			To: req.Address, RequestURL: req.RequestURL, TransientPayload: req.TransientPayload,
		}})
		return uuid.Nil, err
	}
	if err != nil {
		return uuid.Nil, err
	}
	if err := s.issueAndMail(ctx, f, req.Method, ident, &addr.ID, addr.Value, KindSelf, f.ExpiresAt, req.TransientPayload); err != nil {
		return uuid.Nil, err
	}
	return ident.ID, s.Audit.Record(ctx, audit.Event{Type: audit.RecoverySent, IdentityID: &ident.ID, FlowID: &f.ID, Method: string(req.Method),
		Details: map[string]any{"address": addr.Value}})
}

func (s *Service) logger() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}
