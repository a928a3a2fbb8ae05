package session

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"sync"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/storeerr"
)

// Handler serves the session endpoints. Its fields are set by the server.
type Handler struct {
	Manager *Manager
	// Errors stores browser errors for the error UI (logout without a
	// session, bad logout token); nil answers every error with JSON.
	Errors *flow.Errors
	// ReturnTo checks logout return_to URLs (selfservice.allowed_return_urls).
	ReturnTo flow.ReturnToPolicy
	// CSRF, when set, gets a fresh token cookie after a browser logout, as
	// in Kratos.
	CSRF *flow.CSRF

	// bodies remembers recent whoami bodies (see whoamiBody).
	bodies bodyMemo
}

// whoamiMethods: /sessions/whoami answers any method. DELETE is included:
// it is more specific than "DELETE /sessions/{id}", so both coexist.
var whoamiMethods = []string{
	http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete,
	http.MethodOptions, http.MethodConnect, http.MethodTrace,
}

// RegisterPublic registers the public-port routes.
func (h *Handler) RegisterPublic(mux *http.ServeMux) {
	for _, m := range whoamiMethods {
		mux.HandleFunc(m+" /sessions/whoami", h.whoami)
	}
	mux.HandleFunc("GET /sessions", h.listMine)
	mux.HandleFunc("DELETE /sessions", h.revokeMine)
	mux.HandleFunc("DELETE /sessions/{id}", h.revokeMineOne)
	mux.HandleFunc("GET /self-service/logout/browser", h.createLogoutURL)
	mux.HandleFunc("GET /self-service/logout", h.logout)
	mux.HandleFunc("DELETE /self-service/logout/api", h.logoutAPI)
}

// Errors of the session endpoints that Kratos writes without an id.
var (
	errNoCredentials = httpx.ErrUnauthorized("No valid session credentials found in the request.")
	errNoCookie      = httpx.ErrUnauthorized("No valid session cookie found.")
	errCurrent       = httpx.ErrBadRequest("").WithMessage("cannot revoke current session")
	errUnknownToken  = httpx.ErrForbidden("The provided Ory Session Token could not be found, is invalid, or otherwise malformed.")
	errNoLogoutToken = httpx.ErrBadRequest("Please include a token in the URL query.")
	errLogoutToken   = httpx.ErrForbidden("Unable to log out because the logout token in the URL query does not match the session cookie.")
	errNotFound      = httpx.ErrNotFound("")
)

// whoami handles /sessions/whoami: the session of the request, or one
// 401 body for every reason there is none.
func (h *Handler) whoami(w http.ResponseWriter, r *http.Request) {
	httpx.NoCache(w)
	m := h.Manager
	s, secondFactor, err := m.whoamiSession(r.Context(), r)
	if err != nil {
		writeNoSession(w, r, err, errNoCredentials)
		return
	}
	if !satisfiesAAL(s.AAL, true, secondFactor, m.Config.WhoamiRequiredAAL) {
		httpx.WriteError(w, r, ErrAAL2Required(m.AAL2LoginURL()))
		return
	}
	w.Header().Set("X-Kratos-Authenticated-Identity-Id", s.IdentityID.String())
	if s.cookieIsStale() {
		// The session was extended since the cookie was set.
		m.SetCookie(w, r, s, s.token)
	}
	body, err := h.whoamiBody(s)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	// What httpx.WriteJSON sends, from bytes already encoded (handing it a
	// json.RawMessage would re-scan them).
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// whoamiBody is the JSON whoami answers with for s (from whoamiSession).
// The store hands out the same shared session until the session or its
// identity changes, and the body is a function of it alone (whoami
// answers only active sessions, so "active" is true), so the body is
// encoded once per token and shared value, not once per request.
func (h *Handler) whoamiBody(s *Session) ([]byte, error) {
	m := h.Manager
	if body := h.bodies.get(s.tokenHash, s.shared); body != nil {
		return body, nil
	}
	// Encoded as httpx.WriteJSON does (no HTML escaping).
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m.render(s, everything, m.now())); err != nil {
		return nil, err
	}
	body := buf.Bytes()
	h.bodies.put(s.tokenHash, s.shared, body)
	return body, nil
}

// bodyMemo maps a token (by hash) to the body encoded for the shared
// session the store last gave for it. Bounded: it starts over when full.
type bodyMemo struct {
	mu sync.Mutex
	m  map[string]memoBody
}

type memoBody struct {
	shared *Session
	body   []byte
}

const bodyMemoSize = 4096

func (b *bodyMemo) get(key string, shared *Session) []byte {
	if shared == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, ok := b.m[key]; ok && e.shared == shared {
		return e.body
	}
	return nil
}

func (b *bodyMemo) put(key string, shared *Session, body []byte) {
	if shared == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil || len(b.m) >= bodyMemoSize {
		b.m = make(map[string]memoBody)
	}
	b.m[key] = memoBody{shared, body}
}

// writeNoSession answers a failed FromRequest: the endpoint's 401 when
// there is no session, a 500 for anything else.
func writeNoSession(w http.ResponseWriter, r *http.Request, err error, unauthorized *httpx.Error) {
	if errors.Is(err, ErrNoActiveSession) {
		httpx.WriteError(w, r, unauthorized)
		return
	}
	httpx.WriteError(w, r, err)
}

// listMine handles GET /sessions: the caller's other active sessions.
func (h *Handler) listMine(w http.ResponseWriter, r *http.Request) {
	httpx.NoCache(w)
	m := h.Manager
	s, err := m.FromRequest(r.Context(), r)
	if err != nil {
		writeNoSession(w, r, err, errNoCookie)
		return
	}
	if !m.SatisfiesAAL(s, m.Config.WhoamiRequiredAAL) {
		httpx.WriteError(w, r, ErrAAL2Required(m.AAL2LoginURL()))
		return
	}
	p := parseOffsetPage(r.URL.Query())
	active := true
	now := m.now()
	list, total, err := m.Store.ListIdentitySessions(r.Context(), IdentityQuery{
		IdentityID: s.IdentityID, Except: s.ID, Active: &active, Now: now, Offset: p.offset, Limit: p.size,
	})
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	out := make([]sessionJSON, len(list))
	for i, o := range list {
		o.Identity = s.Identity
		out[i] = m.render(o, everything, now)
	}
	p.header(w, r.URL, total)
	httpx.WriteJSON(w, http.StatusOK, out)
}

// revokeMine handles DELETE /sessions: revoke all the caller's other sessions.
func (h *Handler) revokeMine(w http.ResponseWriter, r *http.Request) {
	m := h.Manager
	s, err := m.FromRequest(r.Context(), r)
	if err != nil {
		writeNoSession(w, r, err, errNoCookie)
		return
	}
	n, err := m.RevokeOthers(r.Context(), s.IdentityID, s.ID)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, struct {
		Count int `json:"count"`
	}{n})
}

// revokeMineOne handles DELETE /sessions/{id}: revoke another session of
// the caller (the current one must be ended through logout).
func (h *Handler) revokeMineOne(w http.ResponseWriter, r *http.Request) {
	m := h.Manager
	s, err := m.FromRequest(r.Context(), r)
	if err != nil {
		writeNoSession(w, r, err, errNoCookie)
		return
	}
	id, err := pathUUID(r, "id")
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	if id == s.ID {
		httpx.WriteError(w, r, errCurrent)
		return
	}
	if err := m.RevokeOwn(r.Context(), s.IdentityID, id); err != nil {
		writeStoreError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// logoutURL is the body of GET /self-service/logout/browser.
type logoutURL struct {
	LogoutURL   string `json:"logout_url"`
	LogoutToken string `json:"logout_token"`
}

// createLogoutURL handles GET /self-service/logout/browser.
func (h *Handler) createLogoutURL(w http.ResponseWriter, r *http.Request) {
	httpx.NoCache(w)
	m := h.Manager
	client := flow.BrowserForm
	if httpx.AcceptsJSON(r) {
		client = flow.SPA
	}
	s, err := m.FromRequest(r.Context(), r)
	if err != nil {
		h.forward(w, r, client, err)
		return
	}
	returnTo, err := h.ReturnTo.Validate(r.URL.Query().Get("return_to"))
	if err != nil {
		h.forward(w, r, client, err)
		return
	}
	token := m.LogoutToken(s)
	kv := []string{"token", token}
	if returnTo != "" {
		kv = append(kv, "return_to", returnTo)
	}
	httpx.WriteJSON(w, http.StatusOK, logoutURL{
		LogoutURL:   flow.WithQuery(m.publicURL("self-service/logout"), kv...),
		LogoutToken: token,
	})
}

// logout handles GET /self-service/logout?token=&return_to=: the browser
// logout. The logout token must belong to the session of the request.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	httpx.NoCache(w)
	m := h.Manager
	client := flow.BrowserForm
	if httpx.IsJSONRequest(r) {
		client = flow.SPA
	}
	token := r.URL.Query().Get("token")
	if token == "" {
		h.forward(w, r, client, errNoLogoutToken)
		return
	}
	s, err := m.FromRequest(r.Context(), r)
	if err != nil {
		h.forward(w, r, client, err)
		return
	}
	if !m.ValidLogoutToken(s, token) {
		h.forward(w, r, client, errLogoutToken)
		return
	}
	// return_to is checked before anything changes, so a rejected one
	// leaves the user logged in rather than half logged out.
	returnTo, err := h.ReturnTo.Validate(r.URL.Query().Get("return_to"))
	if err != nil {
		h.forward(w, r, client, err)
		return
	}
	if err := m.Revoke(r.Context(), s.ID); err != nil {
		h.forward(w, r, client, err)
		return
	}
	m.ClearCookie(w, r)
	if h.CSRF != nil {
		h.CSRF.Rotate(w)
	}
	if client.JSON() {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if returnTo == "" {
		returnTo = m.Config.LogoutReturnURL
	}
	if returnTo == "" {
		returnTo = m.publicURL("")
	}
	httpx.Redirect(w, r, returnTo, http.StatusSeeOther)
}

// logoutAPI handles DELETE /self-service/logout/api with
// {"session_token": "ory_st_…"}: revokes that session. An already revoked
// session still answers 204; an unknown token 403.
func (h *Handler) logoutAPI(w http.ResponseWriter, r *http.Request) {
	body, err := httpx.ReadBody(r)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	var p struct {
		SessionToken *string `json:"session_token"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		httpx.WriteError(w, r, httpx.ErrBadRequest("Unable to decode JSON payload: "+err.Error()))
		return
	}
	if p.SessionToken == nil {
		httpx.WriteError(w, r, httpx.ErrBadRequest(`Unable to decode JSON payload: the property "session_token" is missing.`))
		return
	}
	if err := h.Manager.RevokeToken(r.Context(), *p.SessionToken); err != nil {
		if errors.Is(err, storeerr.ErrNotFound) {
			httpx.WriteError(w, r, errUnknownToken)
			return
		}
		httpx.WriteError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// forward answers an error of a browser-facing endpoint: JSON for JSON
// clients, the error UI for browsers.
func (h *Handler) forward(w http.ResponseWriter, r *http.Request, c flow.Client, err error) {
	if h.Errors == nil {
		httpx.WriteError(w, r, err)
		return
	}
	h.Errors.Forward(w, r, c, err)
}

// pathUUID parses a path parameter as a UUID; Kratos answers a malformed
// one with 400 and the parser's message.
func pathUUID(r *http.Request, name string) (uuid.UUID, error) {
	id, err := uuid.Parse(r.PathValue(name))
	if err != nil {
		return uuid.Nil, httpx.ErrBadRequest("").WithMessage(err.Error())
	}
	return id, nil
}

// writeStoreError maps a store's not-found to Kratos's 404.
func writeStoreError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, storeerr.ErrNotFound) {
		httpx.WriteError(w, r, errNotFound)
		return
	}
	httpx.WriteError(w, r, err)
}
