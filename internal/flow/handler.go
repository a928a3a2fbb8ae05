package flow

import (
	"context"
	"errors"
	"net/http"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/httpx"
)

// Service is what every self-service flow offers on its four common
// routes. S is the session type (*session.Session); sess is the zero
// value when the request holds no session. Each method returns the flow's
// Result, or an error; once the flow is known, Result.FlowType names its
// type even alongside an error, so the client is answered correctly.
type Service[S any] interface {
	// Start creates a flow of type t (GET /self-service/<kind>/{browser,api}).
	Start(ctx context.Context, q *Request, t Type, sess S) (*Result, error)
	// Fetch returns flow id (GET /self-service/<kind>/flows?id=).
	Fetch(ctx context.Context, q *Request, id string, sess S) (*Result, error)
	// Submit runs one submission of flow id (POST /self-service/<kind>?flow=).
	// body is the decoded JSON or form body; bodyErr why it could not be
	// decoded (the service decides whether the flow shows it).
	Submit(ctx context.Context, q *Request, id uuid.UUID, body *httpx.FormBody, bodyErr error, sess S) (*Result, error)
}

// Handler serves the common routes of one flow kind: each decodes the
// request into a Request, makes one Service call and hands the Result to
// the Responder.
type Handler[S any] struct {
	// Kind names the routes: /self-service/<Kind>/...
	Kind    string
	Service Service[S]
	// Session returns the request's active session, the zero value when it
	// holds none, or an infrastructure error.
	Session func(ctx context.Context, r *http.Request) (S, error)
	Respond *Responder
}

// Register mounts the routes on the public mux.
func (h *Handler[S]) Register(mux *http.ServeMux) {
	base := "/self-service/" + h.Kind
	mux.HandleFunc("GET "+base+"/browser", h.startBrowser)
	mux.HandleFunc("GET "+base+"/api", h.startAPI)
	mux.HandleFunc("GET "+base+"/flows", h.fetch)
	mux.HandleFunc("POST "+base, h.submit)
}

func (h *Handler[S]) startBrowser(w http.ResponseWriter, r *http.Request) {
	q := h.Respond.CSRF.ReadRequest(r)
	h.start(w, r, q, TypeBrowser, q.InitClient())
}

func (h *Handler[S]) startAPI(w http.ResponseWriter, r *http.Request) {
	h.start(w, r, h.Respond.CSRF.ReadRequest(r), TypeAPI, Native)
}

func (h *Handler[S]) start(w http.ResponseWriter, r *http.Request, q *Request, t Type, c Client) {
	httpx.NoCache(w)
	sess, err := h.Session(r.Context(), r)
	if err != nil {
		h.Respond.Fail(w, r, q, c, err)
		return
	}
	res, err := h.Service.Start(r.Context(), q, t, sess)
	h.Respond.Answer(w, r, q, c, res, err)
}

func (h *Handler[S]) fetch(w http.ResponseWriter, r *http.Request) {
	h.Fetch(w, r, "id")
}

// Fetch answers a fetch of the flow named by the query parameter param
// with JSON whatever the flow's type: the UI fetching it is a program. A
// browser that did not ask for JSON follows a RedirectError (to sign in,
// say).
func (h *Handler[S]) Fetch(w http.ResponseWriter, r *http.Request, param string) {
	httpx.NoCache(w)
	q := h.Respond.CSRF.ReadRequest(r)
	sess, err := h.Session(r.Context(), r)
	var res *Result
	if err == nil {
		res, err = h.Service.Fetch(r.Context(), q, q.Query.Get(param), sess)
	}
	c := SPA
	var rd *RedirectError
	if errors.As(err, &rd) && !q.JSON {
		c = BrowserForm
	}
	h.Respond.Answer(w, r, q, c, res, err)
}

func (h *Handler[S]) submit(w http.ResponseWriter, r *http.Request) {
	q := h.Respond.CSRF.ReadRequest(r)
	// Until the flow (and so its type) is known, answer as for a browser flow.
	c := q.ClientFor(TypeBrowser)
	id, err := ParseFlowID(r, "flow")
	if err != nil {
		h.Respond.Fail(w, r, q, c, err)
		return
	}
	sess, err := h.Session(r.Context(), r)
	if err != nil {
		h.Respond.Fail(w, r, q, c, err)
		return
	}
	body, bodyErr := httpx.DecodeForm(r)
	if body != nil {
		q.CSRF.Submitted = body.Get("csrf_token")
	}
	res, err := h.Service.Submit(r.Context(), q, id, body, bodyErr, sess)
	if res != nil && res.FlowType != "" {
		c = q.ClientFor(res.FlowType)
	}
	h.Respond.Answer(w, r, q, c, res, err)
}
