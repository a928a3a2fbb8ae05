package login

import (
	"context"
	"errors"
	"net/http"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/session"
)

// RequestSessions is what the handler needs of session.Manager.
type RequestSessions interface {
	// FromRequest returns the request's active session or
	// session.ErrNoActiveSession.
	FromRequest(ctx context.Context, r *http.Request) (*session.Session, error)
	SetCookie(w http.ResponseWriter, r *http.Request, s *session.Session, token string)
	// JSON is the session object of API responses.
	JSON(s *session.Session) any
}

// Handler serves the login endpoints. Its fields are set by the server.
type Handler struct {
	Service  *Service
	Sessions RequestSessions
	CSRF     *flow.CSRF
	// Errors sends browser errors to the error UI.
	Errors *flow.Errors
}

// RegisterPublic registers the public-port routes.
func (h *Handler) RegisterPublic(mux *http.ServeMux) {
	mux.HandleFunc("GET /self-service/login/browser", h.initBrowser)
	mux.HandleFunc("GET /self-service/login/api", h.initAPI)
	mux.HandleFunc("GET /self-service/login/flows", h.fetch)
	mux.HandleFunc("POST /self-service/login", h.submit)
}

// initBrowser handles GET /self-service/login/browser: 303 to the login UI
// (or the flow as JSON for an SPA); with a session, 303 to the return URL
// (or 400 session_already_available as JSON).
func (h *Handler) initBrowser(w http.ResponseWriter, r *http.Request) {
	httpx.NoCache(w)
	client := flow.InitClient(r)
	sess, err := h.session(r)
	if err != nil {
		h.Errors.Forward(w, r, client, err)
		return
	}
	csrf := h.CSRF.LazyToken(w, r)
	q := r.URL.Query()
	f, err := h.Service.Start(r.Context(), StartRequest{
		Type: flow.TypeBrowser, RequestURL: flow.RequestURL(r), ReturnTo: q.Get("return_to"),
		Refresh: q.Get("refresh") == "true", AAL: q.Get("aal"), Session: sess, CSRFToken: csrf,
	})
	switch {
	case errors.Is(err, ErrAlreadyLoggedIn) && client == flow.BrowserForm:
		httpx.Redirect(w, r, h.Service.BrowserReturnURL(q.Get("return_to")), http.StatusSeeOther)
	case err != nil:
		h.Errors.Forward(w, r, client, err)
	case client == flow.SPA:
		h.writeFlow(w, http.StatusOK, f, csrf)
	default:
		flow.RedirectToUI(w, r, h.Service.Config.UIURL, f.ID)
	}
}

// initAPI handles GET /self-service/login/api.
func (h *Handler) initAPI(w http.ResponseWriter, r *http.Request) {
	httpx.NoCache(w)
	sess, err := h.session(r)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	q := r.URL.Query()
	f, err := h.Service.Start(r.Context(), StartRequest{
		Type: flow.TypeAPI, RequestURL: flow.RequestURL(r), ReturnTo: q.Get("return_to"),
		Refresh: q.Get("refresh") == "true", AAL: q.Get("aal"), Session: sess,
	})
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	h.writeFlow(w, http.StatusOK, f, nil)
}

// fetch handles GET /self-service/login/flows?id=.
func (h *Handler) fetch(w http.ResponseWriter, r *http.Request) {
	httpx.NoCache(w)
	id, err := uuid.Parse(r.URL.Query().Get("id"))
	if err != nil {
		httpx.WriteError(w, r, httpx.ErrNotFound(""))
		return
	}
	f, err := h.Service.Fetch(r.Context(), id, h.CSRF.FingerprintCheck(r))
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	h.writeFlow(w, http.StatusOK, f, h.CSRF.LazyToken(w, r))
}

// submit handles POST /self-service/login?flow=.
func (h *Handler) submit(w http.ResponseWriter, r *http.Request) {
	// Until the flow (and so its type) is known, answer as for a browser flow.
	client := flow.ClientOf(r, flow.TypeBrowser)
	id, err := flow.ParseFlowID(r, "flow")
	if err != nil {
		h.Errors.Forward(w, r, client, err)
		return
	}
	sess, err := h.session(r)
	if err != nil {
		h.Errors.Forward(w, r, client, err)
		return
	}
	csrf := h.CSRF.LazyToken(w, r)
	res, err := h.Service.Submit(r.Context(), Submission{
		FlowID: id, Body: decodeBody(r), Session: sess, Request: r, CSRFToken: csrf,
	})
	if res != nil {
		client = flow.ClientOf(r, res.Flow.Type)
	}
	if err != nil {
		h.Errors.Forward(w, r, client, err)
		return
	}
	switch {
	case res.Outcome == Succeeded:
		h.succeed(w, r, client, res)
	case res.Outcome == AlreadyLoggedIn:
		httpx.Redirect(w, r, res.ReturnTo, http.StatusSeeOther)
	case client == flow.BrowserForm:
		// Rejected, or Replaced: the UI shows the flow with its messages.
		flow.RedirectToUI(w, r, h.Service.Config.UIURL, res.Flow.ID)
	case res.Outcome == Rejected:
		h.writeFlow(w, http.StatusBadRequest, res.Flow, csrf)
	case res.Outcome == Replaced:
		httpx.WriteError(w, r, flow.ExpiredError(res.ExpiredAt, h.Service.Config.now(), res.Flow.ID))
	}
}

// loginResponse is successfulNativeLogin: the token only for native
// clients, continue_with null for them and a redirect for SPAs.
type loginResponse struct {
	SessionToken string              `json:"session_token,omitempty"`
	Session      any                 `json:"session"`
	ContinueWith []flow.ContinueWith `json:"continue_with"`
}

// succeed answers a successful login: native clients get the token,
// browsers the session cookie.
func (h *Handler) succeed(w http.ResponseWriter, r *http.Request, client flow.Client, res *Result) {
	if client == flow.Native {
		httpx.WriteJSON(w, http.StatusOK, loginResponse{SessionToken: res.Token, Session: h.Sessions.JSON(res.Session)})
		return
	}
	if res.NewSession {
		// A new login gets a new CSRF token, so a token planted before
		// login is useless afterwards.
		h.CSRF.Rotate(w)
	}
	if res.Token != "" {
		h.Sessions.SetCookie(w, r, res.Session, res.Token)
	}
	if client == flow.SPA {
		httpx.WriteJSON(w, http.StatusOK, loginResponse{
			Session:      h.Sessions.JSON(res.Session),
			ContinueWith: []flow.ContinueWith{flow.RedirectBrowserTo(res.ReturnTo)},
		})
		return
	}
	httpx.Redirect(w, r, res.ReturnTo, http.StatusSeeOther)
}

// writeFlow writes the flow; a browser flow's csrf_token input gets a
// freshly masked copy of the browser's token.
func (h *Handler) writeFlow(w http.ResponseWriter, status int, f *Flow, csrf func() []byte) {
	if f.Type == flow.TypeBrowser && csrf != nil {
		f.UI.SetCSRF(h.CSRF.Mask(csrf()))
	}
	httpx.WriteJSON(w, status, f)
}

// session returns the request's active session, or nil without one.
func (h *Handler) session(r *http.Request) (*session.Session, error) {
	s, err := h.Sessions.FromRequest(r.Context(), r)
	if errors.Is(err, session.ErrNoActiveSession) {
		return nil, nil
	}
	return s, err
}

// decodeBody reads a JSON or form submission.
func decodeBody(r *http.Request) Body {
	fb, err := httpx.DecodeForm(r)
	if err != nil {
		return Body{Err: err}
	}
	b := Body{
		Method:     fb.Get("method"),
		Identifier: fb.Get("identifier"),
		Password:   fb.Get("password"),
		CSRFToken:  fb.Get("csrf_token"),
	}
	if b.Identifier == "" {
		b.Identifier = fb.Get("password_identifier")
	}
	if b.CSRFToken == "" {
		b.CSRFToken = r.Header.Get("X-CSRF-Token")
	}
	return b
}
