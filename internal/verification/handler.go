package verification

import (
	"net/http"

	"github.com/google/uuid"
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
	q := r.URL.Query()
	id, err := uuid.Parse(q.Get("flow"))
	if err != nil || !h.Service.Config.Enabled {
		to := flow.Route(h.Service.Config.PublicBaseURL, "self-service/verification/browser")
		http.Redirect(w, r, to, http.StatusSeeOther)
		return
	}
	to := flow.WithQuery(h.Service.Config.UIURL, "flow", id.String())
	if code := q.Get("code"); code != "" && len(code) <= codeLength {
		to = flow.WithQuery(to, "code", code)
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}
