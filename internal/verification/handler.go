package verification

import (
	"net/http"

	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/session"
)

// Handler serves the verification routes: the four every flow has
// (Common) and the link in the code email.
type Handler struct {
	Service *Service
	Common  *flow.Handler[*session.Session]
}

// Register mounts the public routes.
func (h *Handler) Register(public *http.ServeMux) {
	h.Common.Register(public)
	public.HandleFunc("GET /self-service/verification", h.openLink)
}

// GET /self-service/verification?flow=&code= (the link in the email).
// Opening it spends nothing: it sends the browser to the verification
// page with the code filled in, and the person confirms with one click,
// so a mail scanner that follows links cannot verify an address for
// someone who never read the mail (as recovery links, departure 5).
func (h *Handler) openLink(w http.ResponseWriter, r *http.Request) {
	httpx.NoCache(w)
	q := h.Common.Respond.CSRF.ReadRequest(r)
	to, err := h.Service.OpenLink(r.Context(), q, r.URL.Query().Get("flow"), r.URL.Query().Get("code"))
	if err != nil {
		h.Common.Respond.Fail(w, r, q, flow.BrowserForm, err)
		return
	}
	// A flow made for this browser is bound to its anti-CSRF cookie.
	h.Common.Respond.CSRF.Write(w, q.CSRF)
	http.Redirect(w, r, to, http.StatusSeeOther)
}
