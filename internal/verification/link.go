package verification

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/storeerr"
)

// The link method: the mail carries /self-service/verification?flow=&token=.
// Opening it only shows a confirm page whose button posts the token back
// (as recovery links, departure 5), so a mail scanner that follows links
// verifies nothing; with require_confirmation off, opening it verifies.
// The token alone proves the mailbox: it works for an api flow (an app's
// registration) and in any browser, and every answer is a browser one.

// OpenTokenLink handles GET /self-service/verification?flow=&token=. With
// confirmation, a valid link returns confirm: a copy of its flow whose UI
// is the form posting the token. Otherwise res is the answer: verified
// (Show), or a new flow saying why the link failed (Replaced).
func (s *Service) OpenTokenLink(ctx context.Context, q *flow.Request) (confirm *Flow, res *flow.Result, err error) {
	if err := s.linkOn(); err != nil {
		return nil, nil, err
	}
	id, err := uuid.Parse(q.Query.Get("flow"))
	if err != nil {
		return nil, nil, httpx.ErrBadRequest("The flow query parameter is missing or malformed.")
	}
	token := q.Query.Get("token")
	if !s.Config.RequireConfirmation {
		res, err := s.submitToken(ctx, q, id, token, nil)
		return nil, res, err
	}
	f, tok, res, err := s.validToken(ctx, q, id, token)
	if tok == nil {
		return nil, res, err
	}
	c := *f
	c.UI = flow.ConfirmLinkUI(flow.WithQuery(s.Config.route("self-service/verification"), "flow", f.ID.String()), token, flow.LabelConfirmVerificationOK(), flow.MsgConfirmVerificationLink())
	return &c, nil, nil
}

// linkOn refuses links while verification or the link method is off.
func (s *Service) linkOn() error {
	if !s.Config.Enabled {
		return ErrDisabled
	}
	return s.methodEnabled(MethodLink)
}

// submitToken spends a link token of flow id and verifies its address.
// payload is the submission's transient_payload, for the hooks.
func (s *Service) submitToken(ctx context.Context, q *flow.Request, id uuid.UUID, token string, payload json.RawMessage) (*flow.Result, error) {
	if err := s.linkOn(); err != nil {
		return nil, err
	}
	f, tok, res, err := s.validToken(ctx, q, id, token)
	if tok == nil {
		return res, err
	}
	f.TransientPayload = payload
	won, stopped, err := s.verify(ctx, q, f, tok, MethodLink, s.Store.UseToken)
	switch {
	case err != nil:
		return nil, err
	case stopped != nil:
		// A hook refused: its messages on a browser flow of this browser.
		return s.replaceLink(ctx, q, f, "", uuid.Nil, hookMessages(stopped)...)
	case !won:
		return s.replaceLink(ctx, q, f, audit.ResultAlreadyUsed, tok.IdentityID, flow.MsgVerificationTokenInvalid())
	}
	if s.ownBrowserFlow(q, f) {
		return s.kind().Show(f, 0), nil
	}
	// The flow is an app's or another browser's: it shows the success to
	// its own client; this browser gets a passed flow of its own.
	nf := s.newFlow(flow.TypeBrowser, q.URL, f.ReturnTo, q.CSRF.Fingerprint())
	s.pass(nf, MethodLink)
	if err := flow.Create(ctx, s.Flows, nf); err != nil {
		return nil, err
	}
	return s.kind().Show(nf, 0), nil
}

// ownBrowserFlow reports whether f is a browser flow made for the browser
// of q (its anti-CSRF cookie).
func (s *Service) ownBrowserFlow(q *flow.Request, f *Flow) bool {
	return f.Type == flow.TypeBrowser && q.CSRF.CheckFingerprint(f.CSRF, false) == nil
}

// validToken loads flow id and finds its unused, unexpired token; when
// there is none, res is a new flow explaining why (4070001 unknown or
// used, 4070005 expired) and tok is nil.
func (s *Service) validToken(ctx context.Context, q *flow.Request, id uuid.UUID, token string) (f *Flow, tok *Secret, res *flow.Result, err error) {
	f, err = s.kind().Load(ctx, id.String(), storeerr.ErrNotFound)
	if errors.Is(err, storeerr.ErrNotFound) {
		res, err := s.replaceLink(ctx, q, nil, audit.ResultInvalidToken, uuid.Nil, flow.MsgVerificationTokenInvalid())
		return nil, nil, res, err
	}
	if err != nil {
		return nil, nil, nil, err
	}
	tokens, err := s.Store.FlowTokens(ctx, f.ID)
	if err != nil {
		return nil, nil, nil, err
	}
	owner, now := secretsIdentity(tokens), s.now()
	if f.Expired(now) {
		res, err := s.replaceLink(ctx, q, f, audit.ResultExpired, owner, flow.MsgVerificationExpired(f.ExpiresAt, now))
		return nil, nil, res, err
	}
	var t *Secret
	if token != "" {
		for i := range tokens {
			// Every candidate is compared: the time says nothing.
			if s.Hasher.Matches(token, tokens[i].Hash) && t == nil {
				t = &tokens[i]
			}
		}
	}
	switch {
	case t == nil:
		res, err = s.replaceLink(ctx, q, f, audit.ResultInvalidToken, owner, flow.MsgVerificationTokenInvalid())
	case t.UsedAt != nil:
		res, err = s.replaceLink(ctx, q, f, audit.ResultAlreadyUsed, owner, flow.MsgVerificationTokenInvalid())
	case !now.Before(t.ExpiresAt):
		res, err = s.replaceLink(ctx, q, f, audit.ResultExpired, owner, flow.MsgVerificationExpired(t.ExpiresAt, now))
	default:
		return f, t, nil, nil
	}
	return nil, nil, res, err
}

// replaceLink answers a link that cannot verify with a new browser flow
// of this browser showing msgs, and records verification.failed with
// result (none when result is ""). old is nil when the link named no
// flow. Browsers go to the new flow's page, JSON clients fetch it.
func (s *Service) replaceLink(ctx context.Context, q *flow.Request, old *Flow, result string, identityID uuid.UUID, msgs ...flow.Message) (*flow.Result, error) {
	returnTo := ""
	if old != nil {
		returnTo = old.ReturnTo
	}
	nf := s.newFlow(flow.TypeBrowser, q.URL, returnTo, q.CSRF.Fingerprint())
	for _, m := range msgs {
		nf.UI.AddMessage(m)
	}
	err := s.Tx.InTx(ctx, func(ctx context.Context) error {
		if result != "" {
			if err := s.recordFailed(ctx, old, MethodLink, identityID, result); err != nil {
				return err
			}
		}
		return flow.Create(ctx, s.Flows, nf)
	})
	if err != nil {
		return nil, err
	}
	httpx.Logger(ctx).Info("verification link rejected", "new_flow_id", nf.ID, "result", result)
	res := s.kind().Show(nf, 0)
	res.Outcome = flow.Replaced
	res.FetchURL = flow.WithQuery(s.Config.route("self-service/verification/flows"), "id", nf.ID.String())
	return res, nil
}

// recordFailed writes a verification.failed event with result; f is nil
// when the submission named no flow, identityID uuid.Nil when unknown.
func (s *Service) recordFailed(ctx context.Context, f *Flow, m Method, identityID uuid.UUID, result string) error {
	e := audit.Event{Type: audit.VerificationFailed, IdentityID: audit.ID(identityID), Method: string(m), Result: result}
	if f != nil {
		e.FlowID = &f.ID
	}
	return s.Audit.Record(ctx, e)
}
