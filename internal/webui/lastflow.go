package webui

import (
	"net/http"
	"net/url"
	"strings"
)

// lastFlowCookie remembers which flow page (and return_to) the browser
// showed last, so the error page can restart that flow in one click. A
// CSRF error names no flow: the form posted straight to the API, and the
// stored error holds only the error.
const lastFlowCookie = "latchkey_ui_flow"

// lastFlow is what lastFlowCookie holds.
type lastFlow struct {
	Kind     string
	ReturnTo string
}

// rememberFlow notes that the browser is on flow page k. A page that
// starts a flow carries its return_to; the page of the started flow
// (?flow=) keeps the one noted for the same flow.
func (h *Handler) rememberFlow(w http.ResponseWriter, r *http.Request, k flowKind) {
	prev := h.lastFlow(r)
	next := lastFlow{Kind: k.Name, ReturnTo: r.URL.Query().Get("return_to")}
	if r.URL.Query().Has("flow") && prev.Kind == k.Name {
		next.ReturnTo = prev.ReturnTo
	}
	if next == prev {
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name:     lastFlowCookie,
		Value:    url.Values{"kind": {next.Kind}, "return_to": {next.ReturnTo}}.Encode(),
		Path:     h.base,
		MaxAge:   24 * 60 * 60,
		HttpOnly: true,
		Secure:   strings.HasPrefix(h.Config.PublicBaseURL, "https:"),
		SameSite: http.SameSiteLaxMode,
	})
}

// lastFlow reads lastFlowCookie; an unknown flow reads as none. The
// return_to is not trusted here: restarting sends it to the flow's init
// endpoint, which checks it like any other.
func (h *Handler) lastFlow(r *http.Request) lastFlow {
	c, err := r.Cookie(lastFlowCookie)
	if err != nil {
		return lastFlow{}
	}
	q, err := url.ParseQuery(c.Value)
	if err != nil || findFlowKind(q.Get("kind")) == nil {
		return lastFlow{}
	}
	return lastFlow{Kind: q.Get("kind"), ReturnTo: q.Get("return_to")}
}

// findFlowKind is the flow page named name, or nil.
func findFlowKind(name string) *flowKind {
	for i := range flowKinds {
		if flowKinds[i].Name == name {
			return &flowKinds[i]
		}
	}
	return nil
}
