package settings

import (
	"errors"
	"net/http"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/session"
)

// Handler serves the settings endpoints. Its fields are set by the server.
type Handler struct {
	Service *Service
	// Sessions reads the request's session and re-issues its cookie
	// (the same *session.Manager as Service.Sessions).
	Sessions Sessions
	CSRF     *flow.CSRF
	// Errors stores browser errors for the error UI; nil answers every
	// error with JSON.
	Errors *flow.Errors
}

// RegisterPublic registers the public-port routes.
func (h *Handler) RegisterPublic(mux *http.ServeMux) {
	mux.HandleFunc("GET /self-service/settings/browser", h.initBrowser)
	mux.HandleFunc("GET /self-service/settings/api", h.initAPI)
	mux.HandleFunc("GET /self-service/settings/flows", h.getFlow)
	mux.HandleFunc("POST /self-service/settings", h.submit)
	mux.HandleFunc("GET /self-service/settings", h.resume)
}

// initBrowser handles GET /self-service/settings/browser: a new browser
// flow, shown by the settings UI (303) or returned to an SPA (200).
func (h *Handler) initBrowser(w http.ResponseWriter, r *http.Request) {
	httpx.NoCache(w)
	c := flow.InitClient(r)
	sess, err := h.Sessions.FromRequest(r.Context(), r)
	if errors.Is(err, session.ErrNoActiveSession) {
		h.CSRF.Token(w, r)
		if c == flow.SPA {
			httpx.WriteError(w, r, errNoSessionBrowserInit)
			return
		}
		to := h.Service.Config.route("self-service/login/browser")
		if rt := r.URL.Query().Get("return_to"); rt != "" {
			to = flow.WithQuery(to, "return_to", rt)
		}
		httpx.Redirect(w, r, to, http.StatusSeeOther)
		return
	}
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	f, err := h.Service.Start(r.Context(), sess, flow.TypeBrowser, flow.RequestURL(r), r.URL.Query().Get("return_to"))
	if err != nil {
		h.fail(w, r, c, err)
		return
	}
	if c == flow.SPA {
		h.render(w, r, f, http.StatusOK)
		return
	}
	h.CSRF.Token(w, r)
	httpx.Redirect(w, r, h.Service.Config.uiURL(f.ID.String()), http.StatusSeeOther)
}

// initAPI handles GET /self-service/settings/api: a new native flow.
func (h *Handler) initAPI(w http.ResponseWriter, r *http.Request) {
	httpx.NoCache(w)
	sess, err := h.Sessions.FromRequest(r.Context(), r)
	if errors.Is(err, session.ErrNoActiveSession) {
		err = errNoSessionAPIInit
	}
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	f, err := h.Service.Start(r.Context(), sess, flow.TypeAPI, flow.RequestURL(r), r.URL.Query().Get("return_to"))
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	h.render(w, r, f, http.StatusOK)
}

// getFlow handles GET /self-service/settings/flows?id=.
func (h *Handler) getFlow(w http.ResponseWriter, r *http.Request) {
	httpx.NoCache(w)
	h.show(w, r, r.URL.Query().Get("id"))
}

// resume handles GET /self-service/settings?flow=, where a browser lands
// after signing in again (the refresh login returns here): it is sent to
// the settings UI to submit again. JSON clients get the flow.
func (h *Handler) resume(w http.ResponseWriter, r *http.Request) {
	httpx.NoCache(w)
	id, err := flow.ParseFlowID(r, "flow")
	if err == nil && !httpx.IsJSONRequest(r) {
		httpx.Redirect(w, r, h.Service.Config.uiURL(id.String()), http.StatusSeeOther)
		return
	}
	h.show(w, r, r.URL.Query().Get("flow"))
}

// show answers a fetch of the flow with this id (a missing or malformed
// id is an unknown flow).
func (h *Handler) show(w http.ResponseWriter, r *http.Request, rawID string) {
	sess, ok := h.session(w, r)
	if !ok {
		return
	}
	id, _ := uuid.Parse(rawID)
	f, err := h.Service.Fetch(r.Context(), sess, id)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	h.render(w, r, f, http.StatusOK)
}

// submit handles POST /self-service/settings?flow=.
func (h *Handler) submit(w http.ResponseWriter, r *http.Request) {
	id, err := flow.ParseFlowID(r, "flow")
	if err != nil {
		h.fail(w, r, flow.ClientOf(r, flow.TypeBrowser), err)
		return
	}
	sess, ok := h.session(w, r)
	if !ok {
		return
	}
	body, err := httpx.DecodeForm(r)
	if err != nil {
		h.fail(w, r, flow.ClientOf(r, flow.TypeBrowser), err)
		return
	}
	res, err := h.Service.Submit(r.Context(), Submission{
		FlowID: id, Session: sess, Body: body,
		CSRF:           h.CSRF.Check(r, body.Get("csrf_token")),
		BrowserSignals: flow.CheckNativeRequest(r),
	})
	c := flow.ClientOf(r, flow.TypeBrowser)
	if res != nil {
		c = flow.ClientOf(r, res.Type)
	}
	if err != nil {
		h.fail(w, r, c, err)
		return
	}
	if res.Succeeded && res.Type == flow.TypeBrowser && sess.Carrier() == session.CarrierCookie {
		h.Sessions.SetCookie(w, r, sess, sess.RequestToken())
	}
	switch {
	case c == flow.BrowserForm:
		httpx.Redirect(w, r, res.RedirectTo, http.StatusSeeOther)
	case c == flow.SPA && res.Succeeded:
		res.Flow.ContinueWith = []flow.ContinueWith{flow.RedirectBrowserTo(res.RedirectTo)}
		h.render(w, r, res.Flow, res.Status)
	default:
		h.render(w, r, res.Flow, res.Status)
	}
}

// session returns the request's session, or answers for its absence:
// 401 for JSON clients, 302 to the login UI for browsers.
func (h *Handler) session(w http.ResponseWriter, r *http.Request) (*session.Session, bool) {
	sess, err := h.Sessions.FromRequest(r.Context(), r)
	switch {
	case err == nil:
		return sess, true
	case !errors.Is(err, session.ErrNoActiveSession):
		httpx.WriteError(w, r, err)
	case httpx.IsJSONRequest(r):
		httpx.WriteError(w, r, errNoSession)
	default:
		httpx.Redirect(w, r, h.Service.Config.LoginUIURL, http.StatusFound)
	}
	return nil, false
}

// render writes the flow; browser flows get a freshly masked CSRF token
// (and the CSRF cookie when the request has none).
func (h *Handler) render(w http.ResponseWriter, r *http.Request, f *Flow, status int) {
	if f.Type == flow.TypeBrowser {
		f.UI.SetCSRF(h.CSRF.Mask(h.CSRF.Token(w, r)))
	}
	httpx.WriteJSON(w, status, f.JSON(h.Service.SchemaURL(f)))
}

// fail answers an error for client c: a browser form follows the error's
// redirect when it has one (sign in again, a replacement flow) or goes to
// the error UI; JSON clients get the error.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, c flow.Client, err error) {
	var rd *browserRedirect
	if c == flow.BrowserForm && errors.As(err, &rd) {
		httpx.Redirect(w, r, rd.To, http.StatusSeeOther)
		return
	}
	h.Errors.Forward(w, r, c, err)
}
