package registration

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/identity"
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

// Handler serves the registration endpoints. Its fields are set by the
// server.
type Handler struct {
	Service  *Service
	Sessions RequestSessions
	CSRF     *flow.CSRF
	// Errors sends browser errors to the error UI.
	Errors *flow.Errors
}

// RegisterPublic registers the public-port routes.
func (h *Handler) RegisterPublic(mux *http.ServeMux) {
	mux.HandleFunc("GET /self-service/registration/browser", h.initBrowser)
	mux.HandleFunc("GET /self-service/registration/api", h.initAPI)
	mux.HandleFunc("GET /self-service/registration/flows", h.fetch)
	mux.HandleFunc("POST /self-service/registration", h.submit)
}

// initBrowser handles GET /self-service/registration/browser: 303 to the
// registration UI (or the flow as JSON for an SPA); with a session, 303
// to the return URL (or 400 session_already_available as JSON).
func (h *Handler) initBrowser(w http.ResponseWriter, r *http.Request) {
	httpx.NoCache(w)
	client := flow.InitClient(r)
	hasSession, err := h.hasSession(r)
	if err != nil {
		h.Errors.Forward(w, r, client, err)
		return
	}
	csrf := h.CSRF.LazyToken(w, r)
	returnTo := r.URL.Query().Get("return_to")
	f, err := h.Service.Start(r.Context(), StartRequest{
		Type: flow.TypeBrowser, RequestURL: flow.RequestURL(r), ReturnTo: returnTo,
		HasSession: hasSession, CSRFToken: csrf,
	})
	switch {
	case errors.Is(err, ErrAlreadyLoggedIn) && client == flow.BrowserForm:
		httpx.Redirect(w, r, h.Service.BrowserReturnURL(returnTo), http.StatusSeeOther)
	case err != nil:
		h.Errors.Forward(w, r, client, err)
	case client == flow.SPA:
		h.writeFlow(w, http.StatusOK, f, csrf)
	default:
		flow.RedirectToUI(w, r, h.Service.Config.UIURL, f.ID)
	}
}

// initAPI handles GET /self-service/registration/api.
func (h *Handler) initAPI(w http.ResponseWriter, r *http.Request) {
	httpx.NoCache(w)
	hasSession, err := h.hasSession(r)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	f, err := h.Service.Start(r.Context(), StartRequest{
		Type: flow.TypeAPI, RequestURL: flow.RequestURL(r), ReturnTo: r.URL.Query().Get("return_to"),
		HasSession: hasSession,
	})
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	h.writeFlow(w, http.StatusOK, f, nil)
}

// fetch handles GET /self-service/registration/flows?id=.
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

// submit handles POST /self-service/registration?flow=.
func (h *Handler) submit(w http.ResponseWriter, r *http.Request) {
	// Until the flow (and so its type) is known, answer as for a browser flow.
	client := flow.ClientOf(r, flow.TypeBrowser)
	id, err := flow.ParseFlowID(r, "flow")
	if err != nil {
		h.Errors.Forward(w, r, client, err)
		return
	}
	hasSession, err := h.hasSession(r)
	if err != nil {
		h.Errors.Forward(w, r, client, err)
		return
	}
	csrf := h.CSRF.LazyToken(w, r)
	res, err := h.Service.Submit(r.Context(), Submission{
		FlowID: id, Body: decodeBody(r), HasSession: hasSession, Request: r, CSRFToken: csrf,
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

// registrationResponse is successfulNativeRegistration.
type registrationResponse struct {
	SessionToken string              `json:"session_token,omitempty"`
	Session      any                 `json:"session,omitempty"`
	Identity     any                 `json:"identity"`
	ContinueWith []flow.ContinueWith `json:"continue_with"`
}

// succeed answers a successful registration: native clients get the new
// identity (and, with the session hook, the session and its token);
// browsers get the session cookie and go on to the return URL.
func (h *Handler) succeed(w http.ResponseWriter, r *http.Request, client flow.Client, res *Result) {
	body := registrationResponse{
		Identity: res.Identity.JSON(identity.PublicView, identity.SchemaURL(h.Service.Config.PublicBaseURL, res.Identity.SchemaID)),
	}
	if res.Session != nil {
		body.Session = h.Sessions.JSON(res.Session)
	}
	if client == flow.Native {
		if res.Session != nil {
			body.SessionToken = res.Token
			body.ContinueWith = []flow.ContinueWith{flow.SetSessionToken(res.Token)}
		}
		httpx.WriteJSON(w, http.StatusOK, body)
		return
	}
	if res.Session != nil {
		// A new session gets a new CSRF token, so a token planted before
		// sign-up is useless afterwards.
		h.CSRF.Rotate(w)
		h.Sessions.SetCookie(w, r, res.Session, res.Token)
	}
	if client == flow.SPA {
		body.ContinueWith = []flow.ContinueWith{flow.RedirectBrowserTo(res.ReturnTo)}
		httpx.WriteJSON(w, http.StatusOK, body)
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

// hasSession reports whether the request holds an active session.
func (h *Handler) hasSession(r *http.Request) (bool, error) {
	_, err := h.Sessions.FromRequest(r.Context(), r)
	if errors.Is(err, session.ErrNoActiveSession) {
		return false, nil
	}
	return err == nil, err
}

// decodeBody reads a JSON or form submission. JSON bodies keep their
// traits object as sent; form bodies bring traits.<path> fields.
func decodeBody(r *http.Request) Body {
	fb, err := httpx.DecodeForm(r)
	if err != nil {
		return Body{Err: err}
	}
	b := Body{
		Method:    fb.Get("method"),
		Password:  fb.Get("password"),
		CSRFToken: fb.Get("csrf_token"),
	}
	if b.CSRFToken == "" {
		b.CSRFToken = r.Header.Get("X-CSRF-Token")
	}
	if fb.JSON {
		b.Traits = fb.Raw["traits"]
		return b
	}
	b.TraitFields = map[string]string{}
	for k := range fb.Values {
		if strings.HasPrefix(k, "traits.") {
			b.TraitFields[k] = fb.Get(k)
		}
	}
	return b
}
