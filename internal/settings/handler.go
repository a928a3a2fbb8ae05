package settings

import (
	"net/http"

	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/session"
)

// Handler serves the settings routes: the common ones through Common
// (flow.Handler), and the page a browser lands on after signing in again.
type Handler struct {
	Service *Service
	Common  *flow.Handler[*session.Session]
}

// RegisterPublic registers the public-port routes.
func (h *Handler) RegisterPublic(mux *http.ServeMux) {
	h.Common.Register(mux)
	mux.HandleFunc("GET /self-service/settings", h.resume)
}

// resume handles GET /self-service/settings?flow=, where a browser lands
// after signing in again (the refresh login returns here): it is sent to
// the settings UI to submit again. JSON clients get the flow.
func (h *Handler) resume(w http.ResponseWriter, r *http.Request) {
	id, err := flow.ParseFlowID(r, "flow")
	if err == nil && !httpx.IsJSONRequest(r) {
		httpx.NoCache(w)
		httpx.Redirect(w, r, h.Service.Config.uiURL(id.String()), http.StatusSeeOther)
		return
	}
	h.Common.Fetch(w, r, "flow")
}
