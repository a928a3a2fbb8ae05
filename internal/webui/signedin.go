package webui

import (
	"net/http"
	"net/url"
	"slices"
)

// signedOutFlows are the flows for someone who is not signed in; the API
// answers a signed-in browser that starts one by sending it away
// (session_already_available).
var signedOutFlows = []string{"login", "registration", "recovery"}

// explainSignedIn is called before a flow page starts its flow. For a
// flow meant for a signed-out person, a signed-in browser is told who it
// is signed in as and offered to go on to its account or to log out,
// instead of being bounced away without a word. Signing in again to
// refresh the session or add a second factor (?refresh=true, ?aal=) is
// for signed-in people and goes on. It reports whether it answered.
func (h *Handler) explainSignedIn(w http.ResponseWriter, r *http.Request, k flowKind) bool {
	q := r.URL.Query()
	if !slices.Contains(signedOutFlows, k.Name) || k.Name == "login" && (q.Get("refresh") == "true" || q.Get("aal") != "") {
		return false
	}
	v := h.visitor(w, r)
	if v.Session == nil {
		return false
	}
	p := v.P
	account := accountName(v.Session, p)
	onward := action{Text: p.T("account.action.go_to_account"), Href: h.base + pathWelcome, ID: "go-to-account", Primary: true}
	if rt := q.Get("return_to"); rt != "" {
		// An application sent the person here to be signed in, and they
		// are: the flow's init endpoint checks return_to and sends them
		// back to it.
		onward = action{Text: p.T("account.action.continue"), Href: h.publicURL("self-service/" + k.Name + "/browser?return_to=" + url.QueryEscape(rt)), ID: "continue", Primary: true}
	}
	// Logging out comes back to this page, so the person can go on with
	// what they came for.
	here := h.publicURL("ui/" + k.Name)
	if enc := r.URL.RawQuery; enc != "" {
		here += "?" + enc
	}
	actions := []action{onward}
	if lo := h.logoutURLTo(w, r, here); lo != "" {
		actions = append(actions, action{Text: p.T("account.action.log_out"), Href: lo, ID: "logout"})
	}
	h.render(w, r, http.StatusOK, "message", page{
		Title: p.T("account.signed_in.title"),
		Message: &messagePage{
			Heading: p.T("account.signed_in.title"),
			Text:    p.T("account.signed_in.as", "account", account),
			Detail:  p.T("account.signed_in." + k.Name),
			Actions: actions,
		},
	})
	return true
}
