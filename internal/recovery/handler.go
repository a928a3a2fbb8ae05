package recovery

import (
	"net/http"

	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/session"
)

// Handler serves the recovery routes: the four every flow has (Common),
// the link of the email, and the admin API. Each route decodes the
// request, makes one Service call and hands the answer to the responder
// (recovery.md §7.1).
type Handler struct {
	Service *Service
	// Common serves GET /self-service/recovery/{browser,api,flows} and
	// POST /self-service/recovery: its Kind is "recovery" and its Service
	// is Service. Its responder answers the link route too.
	Common *flow.Handler[*session.Session]
}

// Register mounts the public routes on public and the admin routes (with
// their /admin prefix) on admin.
func (h *Handler) Register(public, admin *http.ServeMux) {
	h.Common.Register(public)
	public.HandleFunc("GET /self-service/recovery", h.openLink)
	admin.HandleFunc("POST /admin/recovery/code", h.adminCreateCode)
	admin.HandleFunc("POST /admin/recovery/link", h.adminCreateLink)
}

// confirmPage is the page a recovery link opens (departure 5).
var confirmPage = flow.ConfirmPage{
	Name:  "recovery",
	Title: "Recover your account",
	Note:  "If you did not ask to recover your account, close this page: nothing has changed.",
}

// GET /self-service/recovery?flow=&token= (the link in the email)
func (h *Handler) openLink(w http.ResponseWriter, r *http.Request) {
	httpx.NoCache(w)
	q := h.Common.Respond.CSRF.ReadRequest(r)
	confirm, res, err := h.Service.OpenLink(r.Context(), q)
	var view flow.View // a nil *Flow must stay a nil View
	if confirm != nil {
		view = confirm
	}
	h.Common.Respond.AnswerLink(w, r, q, confirmPage, view, res, err)
}
