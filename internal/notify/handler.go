package notify

import (
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/httpx"
)

// Handler serves GET and POST /self-service/lockdown on the public
// listener. The token is the proof: like a recovery link, the POST needs
// no CSRF token (a forged request would have to know it).
type Handler struct {
	Lockdown *Lockdown
	// UIURL is the lockdown page browsers are sent to.
	UIURL string
}

// Register adds the routes to the public mux.
func (h *Handler) Register(public *http.ServeMux) {
	public.HandleFunc("GET /self-service/lockdown", h.inspect)
	public.HandleFunc("POST /self-service/lockdown", h.confirm)
}

// event is what the answers say about the event a link answers.
type event struct {
	Type audit.Type `json:"type"`
	Time time.Time  `json:"time"`
}

// pending is the GET answer: the link can be confirmed.
type pending struct {
	State     string    `json:"state"` // "pending"
	Event     event     `json:"event"`
	ExpiresAt time.Time `json:"expires_at"`
}

// confirmed is the POST answer.
type confirmed struct {
	State                      string `json:"state"` // "confirmed"
	Event                      event  `json:"event"`
	RevokedSessions            int    `json:"revoked_sessions"`
	InvalidatedRecoverySecrets int    `json:"invalidated_recovery_secrets"`
	PasswordDisabled           bool   `json:"password_disabled"`
}

// inspect answers GET: JSON clients learn what the link would lock down;
// browsers are sent to the confirm page. Nothing changes.
func (h *Handler) inspect(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	if !httpx.AcceptsJSON(r) {
		httpx.Redirect(w, r, h.page(url.Values{"token": {token}}), http.StatusSeeOther)
		return
	}
	t, err := h.Lockdown.Inspect(r.Context(), token)
	if err != nil {
		httpx.WriteError(w, r, apiError(err))
		return
	}
	httpx.NoCache(w)
	httpx.WriteJSON(w, http.StatusOK, pending{State: "pending", Event: event{t.EventType, t.EventTime.UTC()}, ExpiresAt: t.ExpiresAt.UTC()})
}

// confirm answers POST: the lockdown. The token comes from the query or
// from the body ("token", form or JSON). A browser's form post is sent
// back to the page, which shows the result.
func (h *Handler) confirm(w http.ResponseWriter, r *http.Request) {
	body, err := httpx.DecodeForm(r) // query and body; the body wins
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	token := body.Get("token")
	out, err := h.Lockdown.Confirm(r.Context(), token)
	switch {
	case err != nil && (httpx.IsJSONRequest(r) || !isTokenError(err)):
		httpx.WriteError(w, r, apiError(err))
	case err != nil:
		// The page explains what is wrong with the link.
		httpx.Redirect(w, r, h.page(url.Values{"token": {token}}), http.StatusSeeOther)
	case !httpx.IsJSONRequest(r):
		httpx.Redirect(w, r, h.page(url.Values{"state": {"confirmed"}}), http.StatusSeeOther)
	default:
		httpx.NoCache(w)
		httpx.WriteJSON(w, http.StatusOK, confirmed{
			State: "confirmed", Event: event{out.Token.EventType, out.Token.EventTime.UTC()},
			RevokedSessions: out.RevokedSessions, InvalidatedRecoverySecrets: out.InvalidatedRecoverySecrets,
			PasswordDisabled: out.PasswordDisabled,
		})
	}
}

func (h *Handler) page(q url.Values) string {
	u, err := url.Parse(h.UIURL)
	if err != nil {
		return h.UIURL
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func isTokenError(err error) bool {
	return errors.Is(err, ErrTokenInvalid) || errors.Is(err, ErrTokenUsed) || errors.Is(err, ErrTokenExpired)
}

// apiError is the Kratos-shaped error of a lockdown failure.
func apiError(err error) error {
	switch {
	case errors.Is(err, ErrTokenInvalid):
		return httpx.ErrNotFound("The lockdown link is invalid. Use the link from the most recent security notification.").
			WithID("lockdown_token_invalid")
	case errors.Is(err, ErrTokenUsed):
		return httpx.ErrGone("This lockdown link was already used: the account is locked down. Recover the account to sign in again.").
			WithID("lockdown_token_used")
	case errors.Is(err, ErrTokenExpired):
		return httpx.ErrGone("This lockdown link has expired. If you still need to secure the account, recover it and change the password.").
			WithID("lockdown_token_expired")
	}
	return err
}
