package recovery

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strconv"

	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/session"
)

// SessionCookies is what the handler needs from session.Manager: reading
// the caller's session and handing a new one to a browser.
type SessionCookies interface {
	FromRequest(ctx context.Context, r *http.Request) (*session.Session, error)
	SetCookie(w http.ResponseWriter, r *http.Request, s *session.Session, token string)
}

// Handler serves the recovery routes. Each route decodes the request,
// makes one Service call and answers per client (recovery.md §7.1).
type Handler struct {
	Service  *Service
	CSRF     *flow.CSRF
	Sessions SessionCookies
	// Errors stores browser errors for the error UI.
	Errors *flow.Errors
	// ClientIP returns the client address the per-IP send limit counts;
	// nil uses the host of r.RemoteAddr. Behind a proxy the server sets
	// one that trusts its forwarding header.
	ClientIP func(r *http.Request) string
}

// Register mounts the public routes on public and the admin routes (with
// their /admin prefix) on admin.
func (h *Handler) Register(public, admin *http.ServeMux) {
	public.HandleFunc("GET /self-service/recovery/browser", h.createBrowserFlow)
	public.HandleFunc("GET /self-service/recovery/api", h.createAPIFlow)
	public.HandleFunc("GET /self-service/recovery/flows", h.getFlow)
	public.HandleFunc("POST /self-service/recovery", h.submit)
	public.HandleFunc("GET /self-service/recovery", h.openLink)
	admin.HandleFunc("POST /admin/recovery/code", h.adminCreateCode)
	admin.HandleFunc("POST /admin/recovery/link", h.adminCreateLink)
}

func (h *Handler) cfg() Config { return h.Service.Config }

// GET /self-service/recovery/browser
func (h *Handler) createBrowserFlow(w http.ResponseWriter, r *http.Request) {
	httpx.NoCache(w)
	q := h.request(w, r, "")
	client := flow.BrowserForm
	if httpx.AcceptsJSON(r) {
		client = flow.SPA
	}
	f, err := h.Service.CreateFlow(r.Context(), flow.TypeBrowser, r.URL.Query().Get("return_to"), q)
	if err != nil {
		h.fail(w, r, client, err)
		return
	}
	if client == flow.SPA {
		h.writeFlow(w, q, http.StatusOK, f)
		return
	}
	httpx.Redirect(w, r, flow.WithQuery(h.cfg().RecoveryUIURL, "flow", f.ID.String()), http.StatusSeeOther)
}

// GET /self-service/recovery/api
func (h *Handler) createAPIFlow(w http.ResponseWriter, r *http.Request) {
	httpx.NoCache(w)
	q := h.request(w, r, "")
	f, err := h.Service.CreateFlow(r.Context(), flow.TypeAPI, r.URL.Query().Get("return_to"), q)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	h.writeFlow(w, q, http.StatusOK, f)
}

// GET /self-service/recovery/flows?id=
func (h *Handler) getFlow(w http.ResponseWriter, r *http.Request) {
	httpx.NoCache(w)
	q := h.request(w, r, "")
	f, err := h.Service.GetFlow(r.Context(), r.URL.Query().Get("id"), q)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	h.writeFlow(w, q, http.StatusOK, f)
}

// POST /self-service/recovery?flow= (JSON or form body)
func (h *Handler) submit(w http.ResponseWriter, r *http.Request) {
	id, err := flow.ParseFlowID(r, "flow")
	if err != nil {
		h.fail(w, r, flow.ClientOf(r, flow.TypeBrowser), err)
		return
	}
	in, form, err := decodeSubmission(r)
	if err != nil {
		h.fail(w, r, flow.ClientOf(r, flow.TypeBrowser), err)
		return
	}
	in.FlowID = id
	q := h.request(w, r, form.Get("csrf_token"))
	res, err := h.Service.Submit(r.Context(), in, q)
	t := flow.TypeBrowser
	if res != nil {
		t = res.FlowType
	}
	client := flow.ClientOf(r, t)
	if err != nil {
		h.fail(w, r, client, err)
		return
	}
	h.answer(w, q, client, res)
}

// GET /self-service/recovery?flow=&token= (the link in the email)
func (h *Handler) openLink(w http.ResponseWriter, r *http.Request) {
	httpx.NoCache(w)
	client := flow.BrowserForm
	if httpx.AcceptsJSON(r) {
		client = flow.SPA
	}
	q := h.request(w, r, "")
	res, err := h.Service.OpenLink(r.Context(), r.URL.Query().Get("flow"), r.URL.Query().Get("token"), q)
	if err != nil {
		h.fail(w, r, client, err)
		return
	}
	if res.Outcome == ConfirmLink {
		if client == flow.SPA {
			h.writeFlow(w, q, http.StatusOK, res.Flow)
			return
		}
		res.Flow.UI.SetCSRF(h.CSRF.Mask(q.csrfToken()))
		writeConfirmPage(w, res.Flow)
		return
	}
	// Whatever the Accept header, a link is answered with redirects.
	h.answer(w, q, flow.BrowserForm, res)
}

// answer renders a Result for client (recovery.md §7.1).
func (h *Handler) answer(w http.ResponseWriter, q *request, client flow.Client, res *Result) {
	r, cfg := q.r, h.cfg()
	recoveryUI := flow.WithQuery(cfg.RecoveryUIURL, "flow", res.Flow.ID.String())
	fetchNew := flow.WithQuery(cfg.PublicBaseURL+"self-service/recovery/flows", "id", res.Flow.ID.String())
	switch res.Outcome {
	case Shown:
		if res.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(res.RetryAfter.Seconds())))
		}
		if client == flow.BrowserForm {
			httpx.Redirect(w, r, recoveryUI, http.StatusSeeOther)
			return
		}
		h.writeFlow(w, q, res.Status, res.Flow)
	case Replaced:
		switch {
		case client == flow.BrowserForm:
			httpx.Redirect(w, r, recoveryUI, http.StatusSeeOther)
		case cfg.ContinueWithTransitions:
			httpx.WriteError(w, r, res.Err)
		default:
			httpx.Redirect(w, r, fetchNew, http.StatusSeeOther)
		}
	case Expired:
		switch {
		case client == flow.BrowserForm:
			httpx.Redirect(w, r, recoveryUI, http.StatusSeeOther)
		case client == flow.Native && cfg.ContinueWithTransitions:
			httpx.WriteError(w, r, flow.ExpiredError(res.ExpiredAt, cfg.now(), res.Flow.ID).
				WithDetail("continue_with", []flow.ContinueWith{flow.ShowRecoveryUI(res.Flow.ID)}))
		default:
			httpx.Redirect(w, r, fetchNew, http.StatusSeeOther)
		}
	case Recovered:
		if res.BrowserSession {
			h.Sessions.SetCookie(w, r, res.Session, res.SessionToken)
		}
		switch {
		case client == flow.BrowserForm:
			httpx.Redirect(w, r, res.SettingsURL, http.StatusSeeOther)
		case cfg.ContinueWithTransitions:
			h.writeFlow(w, q, http.StatusOK, res.Flow)
		default:
			httpx.WriteError(w, r, flow.BrowserLocationChangeRequired(res.SettingsURL))
		}
	}
}

// fail answers an error: a browser that already has a session is sent
// home, other browser errors go to the error UI, JSON clients get the
// error itself.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, client flow.Client, err error) {
	if client == flow.BrowserForm && httpx.AsError(err).ID == "session_already_available" {
		httpx.Redirect(w, r, h.cfg().DefaultBrowserReturnURL, http.StatusFound)
		return
	}
	h.Errors.Forward(w, r, client, err)
}

// writeFlow writes a flow as JSON, with a freshly masked CSRF token in
// browser flows (API flows keep an empty one).
func (h *Handler) writeFlow(w http.ResponseWriter, q *request, status int, f *Flow) {
	if f.Type == flow.TypeBrowser {
		f.UI.SetCSRF(h.CSRF.Mask(q.csrfToken()))
	}
	httpx.WriteJSON(w, status, f)
}

// decodeSubmission reads a submission from the query and a JSON or form
// body. A body that is not JSON is not an error here: Kratos shows it on
// the flow (4000001 "Unable to decode form as JSON.").
func decodeSubmission(r *http.Request) (Submission, *httpx.FormBody, error) {
	fb, err := httpx.DecodeForm(r)
	// DecodeForm returns a copy of ErrUndecodableJSON carrying the cause.
	var he *httpx.Error
	if errors.As(err, &he) && he.Reason == httpx.ErrUndecodableJSON.Reason {
		return Submission{DecodeErr: err}, &httpx.FormBody{}, nil
	}
	if err != nil {
		return Submission{}, nil, err
	}
	in := Submission{Method: fb.Get("method"), Email: fb.Get("email"), Code: fb.Get("code"), Token: fb.Get("token")}
	if raw, ok := fb.Raw["transient_payload"]; ok {
		in.TransientPayload = raw
	} else if v := fb.Get("transient_payload"); v != "" {
		// Forms carry the object as a JSON string.
		in.TransientPayload = json.RawMessage(v)
	}
	return in, fb, nil
}

// request implements Requester for one HTTP request.
type request struct {
	h         *Handler
	w         http.ResponseWriter
	r         *http.Request
	formToken string
	// token is the browser's CSRF token once read or rotated.
	token []byte
}

func (h *Handler) request(w http.ResponseWriter, r *http.Request, formToken string) *request {
	return &request{h: h, w: w, r: r, formToken: formToken}
}

func (q *request) URL() string { return flow.RequestURL(q.r) }

func (q *request) ClientIP() string {
	if q.h.ClientIP != nil {
		return q.h.ClientIP(q.r)
	}
	host, _, err := net.SplitHostPort(q.r.RemoteAddr)
	if err != nil {
		return q.r.RemoteAddr
	}
	return host
}

func (q *request) HasSession(ctx context.Context) (bool, error) {
	_, err := q.h.Sessions.FromRequest(ctx, q.r)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, session.ErrNoActiveSession) {
		return false, nil
	}
	return false, err
}

func (q *request) csrfToken() []byte {
	if q.token == nil {
		q.token = q.h.CSRF.Token(q.w, q.r)
	}
	return q.token
}

func (q *request) CSRFFingerprint() string { return flow.Fingerprint(q.csrfToken()) }

func (q *request) RotateCSRF() string {
	q.token = q.h.CSRF.Rotate(q.w)
	return flow.Fingerprint(q.token)
}

func (q *request) CheckFlowCSRF(fingerprint string) error {
	if q.h.CSRF.MatchesFingerprint(q.r, fingerprint) {
		return nil
	}
	_, err := q.r.Cookie(q.h.CSRF.CookieName)
	return flow.CSRFError(q.r, err == nil, false)
}

func (q *request) CheckCSRF() error { return q.h.CSRF.Check(q.r, q.formToken) }

func (q *request) CheckNative() error { return flow.CheckNativeRequest(q.r) }

func (q *request) Device() *http.Request { return q.r }
