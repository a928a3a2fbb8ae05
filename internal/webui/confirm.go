package webui

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/latchkey/latchkey/internal/flow"
)

// RenderConfirm draws the confirm page of an emailed recovery or
// verification link (flow.ConfirmRenderer) like the UI's own pages: the
// layout with its header and stylesheet, in the reader's language. The
// page is served by the link's API endpoint, its address carries the
// token: no-referrer keeps it from the stylesheet's and the links'
// requests, and the policy allows no script (the page has none).
func (h *Handler) RenderConfirm(w http.ResponseWriter, r *http.Request, cp flow.ConfirmPage, ui flow.Container) {
	h.once.Do(h.init)
	var c containerJSON
	raw, err := json.Marshal(ui.ForAPI())
	if err == nil {
		err = json.Unmarshal(raw, &c)
	}
	if err != nil {
		cp.Write(w, ui)
		return
	}
	r = withVisitorSlot(r)
	p := h.visitor(w, r).P
	title, note := cp.Title, cp.Note
	if k := "ui.confirm." + cp.Name; p.Has(k + ".title") {
		title, note = p.T(k+".title"), p.T(k+".note")
	}
	v := buildFlowView(c, texts{p: p, now: h.now()})
	v.Note = note
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", strings.Replace(h.csp, "script-src 'self'; ", "", 1))
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Cache-Control", "no-store")
	h.render(w, r, http.StatusOK, "flow", page{Title: title, Flow: v})
}
