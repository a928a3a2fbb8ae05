package webui

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"

	"github.com/google/uuid"
)

// pathRevoke is the account page's "Log out this device" form target:
// POST <base>sessions/{id}/revoke.
const pathRevoke = "sessions/{id}/revoke"

// crossOrigin refuses a cross-site POST by what the browser says of it
// (Sec-Fetch-Site, else Origin against Host).
var crossOrigin = http.NewCrossOriginProtection()

// revokeSession logs out another session of the signed-in person through
// the public API (DELETE /sessions/{id}, in-process with the browser's
// cookies) and answers 303 back to the account page, which confirms it.
//
// The form is protected against cross-site request forgery twice: the
// browser's own signal (a cross-site POST is refused by crossOrigin), and
// a token only a page rendered for this session holds (revokeToken), for
// browsers that send neither Sec-Fetch-Site nor Origin. The session
// cookie (SameSite=Lax unless configured otherwise) would mostly keep it
// out of a cross-site POST anyway; the checks do not rely on that. And
// the API only lets a session end other sessions of its own identity.
func (h *Handler) revokeSession(w http.ResponseWriter, r *http.Request) {
	if err := crossOrigin.Check(r); err != nil {
		h.forbidden(w, r)
		return
	}
	v := h.visitor(w, r)
	if v.Session == nil {
		http.Redirect(w, r, h.base+"login", http.StatusSeeOther)
		return
	}
	want := revokeToken(h.logoutURL(w, r))
	got := r.PostFormValue("token")
	if want == "" || !hmac.Equal([]byte(got), []byte(want)) {
		h.forbidden(w, r)
		return
	}
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		h.notFound(w, r)
		return
	}
	res := h.callMethod(w, r, http.MethodDelete, "/sessions/"+id.String())
	switch res.Status {
	case http.StatusNoContent, http.StatusOK, http.StatusNotFound:
		// Not found: it ended meanwhile, or was never this person's to
		// end; either way it is not signed in as them now.
		http.Redirect(w, r, h.base+pathWelcome+"?revoked=1", http.StatusSeeOther)
	case http.StatusUnauthorized:
		http.Redirect(w, r, h.base+"login", http.StatusSeeOther)
	default:
		h.render(w, r, res.Status, "error", page{Error: buildErrorView(res.errorOf().Error)})
	}
}

// revokeToken is the anti-forgery token of the account page's forms,
// derived from the session's logout token (which the API derives from the
// session id and the server's secrets): another session, another browser
// or a page on another site cannot know it, and every replica computes
// the same one. The derivation keeps it from being usable as a logout
// token itself.
func revokeToken(logoutURL string) string {
	u, err := url.Parse(logoutURL)
	if err != nil {
		return ""
	}
	key := u.Query().Get("token")
	if key == "" {
		return ""
	}
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte("latchkey/ui/revoke-session"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// forbidden answers a form post the UI refuses to act on.
func (h *Handler) forbidden(w http.ResponseWriter, r *http.Request) {
	p := h.visitor(w, r).P
	h.render(w, r, http.StatusForbidden, "message", page{
		Title: p.T("account.forbidden.title"),
		Message: &messagePage{
			Heading: p.T("account.forbidden.title"),
			Text:    p.T("account.forbidden.text"),
			Actions: []action{{Text: p.T("account.action.go_to_account"), Href: h.base + pathWelcome, Primary: true}},
		},
	})
}
