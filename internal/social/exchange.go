package social

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/internal/storeerr"
)

// NewExchange gives an app's flow its session token exchange: the init
// code the flow's creation answer carries (session_token_exchange_code).
// Only its keyed hash is stored; it lives as long as the flow.
func (s *Service) NewExchange(ctx context.Context, f *flow.Base) (string, error) {
	code := secret.RandomAlphanumeric(43)
	e := &Exchange{ID: uuid.New(), FlowID: f.ID, InitCodeHash: s.Hasher.Hash(code), ExpiresAt: f.ExpiresAt, CreatedAt: s.now()}
	if err := s.Store.CreateExchange(ctx, e); err != nil {
		return "", fmt.Errorf("store session token exchange: %w", err)
	}
	return code, nil
}

// ExchangeRequested reports whether a flow being created asks for a
// session token exchange: a native app's flow created with
// return_session_token_exchange_code=true.
func ExchangeRequested(q *flow.Request, f *flow.Base) bool {
	return f.Type == flow.TypeAPI && q.Query.Get("return_session_token_exchange_code") == "true"
}

// HasExchange reports whether flow flowID was created with an exchange.
func (s *Service) HasExchange(ctx context.Context, flowID uuid.UUID) (bool, error) {
	_, err := s.Store.ExchangeOfFlow(ctx, flowID)
	if errors.Is(err, storeerr.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// CompleteExchange hands the session sess (with its token) to flow
// flowID's exchange, in the transaction carried by ctx, and returns where
// the browser goes: returnTo with ?code=<return_to_code>, the second half
// the app needs.
func (s *Service) CompleteExchange(ctx context.Context, flowID uuid.UUID, sess *session.Session, token, returnTo string) (string, error) {
	e, err := s.Store.ExchangeOfFlow(ctx, flowID)
	if err != nil {
		return "", fmt.Errorf("session token exchange of flow %s: %w", flowID, err)
	}
	code := secret.RandomAlphanumeric(43)
	sealed := s.Sealer.Seal([]byte(token), []byte(e.ID.String()))
	if err := s.Store.CompleteExchange(ctx, e.ID, s.Hasher.Hash(code), sess.ID, sealed); err != nil {
		return "", err
	}
	return flow.WithQuery(returnTo, "code", code), nil
}

// ServeExchange is GET /sessions/token-exchange?init_code=&return_to_code=:
// the app trades both halves for the session token, once (Kratos lets the
// same codes be redeemed again; a second redemption here is 404).
func (s *Service) ServeExchange(w http.ResponseWriter, r *http.Request) {
	init, back := r.URL.Query().Get("init_code"), r.URL.Query().Get("return_to_code")
	if init == "" || back == "" {
		httpx.WriteError(w, r, httpx.ErrBadRequest(`init_code and return_to_code query params must be set`))
		return
	}
	body, err := s.exchange(r.Context(), init, back)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, body)
}

type exchangeResponse struct {
	SessionToken string `json:"session_token"`
	Session      any    `json:"session"`
}

func (s *Service) exchange(ctx context.Context, init, back string) (*exchangeResponse, error) {
	notFound := httpx.ErrNotFound("").WithReason("no session yet for this code")
	e, err := s.Store.ExchangeByInitCode(ctx, s.Hasher.Candidates(init))
	switch {
	case errors.Is(err, storeerr.ErrNotFound):
		return nil, notFound
	case err != nil:
		return nil, err
	case e.SessionID == nil || e.ReturnToCodeHash == "" || !s.Hasher.Matches(back, e.ReturnToCodeHash):
		return nil, notFound
	case e.UsedAt != nil || !s.now().Before(e.ExpiresAt):
		return nil, notFound
	}
	token, err := s.Sealer.Open(e.SealedToken, []byte(e.ID.String()))
	if err != nil {
		return nil, fmt.Errorf("open session token exchange %s: %w", e.ID, err)
	}
	if ok, err := s.Store.SpendExchange(ctx, e.ID, s.now()); err != nil {
		return nil, err
	} else if !ok {
		return nil, notFound
	}
	sess, err := s.Sessions.Get(ctx, *e.SessionID)
	if err != nil {
		return nil, notFound
	}
	if !sess.IsActive(s.now()) {
		return nil, notFound
	}
	return &exchangeResponse{SessionToken: string(token), Session: s.Sessions.JSON(sess)}, nil
}
