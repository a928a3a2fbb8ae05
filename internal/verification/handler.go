package verification

import (
	"net/http"

	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/session"
)

// Handler serves the verification routes: the four every flow has
// (Common) and the links in the emails.
type Handler struct {
	Service *Service
	Common  *flow.Handler[*session.Session]
}

// Register mounts the public routes.
func (h *Handler) Register(public *http.ServeMux) {
	h.Common.Register(public)
	public.HandleFunc("GET /self-service/verification", h.openLink)
}

// GET /self-service/verification?flow=&code= or ?flow=&token= (the links
// in the code and link emails).
func (h *Handler) openLink(w http.ResponseWriter, r *http.Request) {
	httpx.NoCache(w)
	if r.URL.Query().Has("token") {
		h.openTokenLink(w, r)
		return
	}
	h.openCodeLink(w, r)
}

// openCodeLink spends nothing: it sends the browser to the verification
// page with the code filled in, and the person confirms with one click,
// so a mail scanner that follows links cannot verify an address for
// someone who never read the mail (as recovery links, departure 5).
func (h *Handler) openCodeLink(w http.ResponseWriter, r *http.Request) {
	q := h.Common.Respond.CSRF.ReadRequest(r)
	to, err := h.Service.OpenCodeLink(r.Context(), q, r.URL.Query().Get("flow"), r.URL.Query().Get("code"))
	if err != nil {
		h.Common.Respond.Fail(w, r, q, flow.BrowserForm, err)
		return
	}
	// A flow made for this browser is bound to its anti-CSRF cookie.
	h.Common.Respond.CSRF.Write(w, q.CSRF)
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// confirmPage is the page a verification link opens.
var confirmPage = flow.ConfirmPage{
	Name:  "verification",
	Title: "Verify your email address",
	Note:  "If you did not ask to verify this address, close this page: nothing has changed.",
}

// openTokenLink shows the confirm page of a link (an SPA gets it as a
// flow whose form posts the token), or, without confirmation, verifies.
func (h *Handler) openTokenLink(w http.ResponseWriter, r *http.Request) {
	q := h.Common.Respond.CSRF.ReadRequest(r)
	confirm, res, err := h.Service.OpenTokenLink(r.Context(), q)
	var view flow.View // a nil *Flow must stay a nil View
	if confirm != nil {
		view = confirm
	}
	h.Common.Respond.AnswerLink(w, r, q, confirmPage, view, res, err)
}
