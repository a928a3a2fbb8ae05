package webui

import (
	"context"
	"net/http"
	"net/url"

	"github.com/latchkey/latchkey/internal/i18n"
)

// visitor is who is looking at a page: their session (nil when signed
// out) and the language the page speaks to them in.
type visitor struct {
	Session *sessionJSON
	P       *i18n.Printer
	// Redirect is where whoami sends a browser it does not count as
	// signed in, when it names a place (the second factor still to enter).
	Redirect string
	// logout is the browser's log-out URL once asked for (see logoutURL).
	logout *string
}

type visitorKey struct{}

// visitorSlot holds a request's visitor once it has been looked up.
type visitorSlot struct{ v *visitor }

// withVisitorSlot gives the request a place to keep its visitor, so the
// session is asked for at most once per page.
func withVisitorSlot(r *http.Request) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), visitorKey{}, &visitorSlot{}))
}

// visitor returns the request's visitor: the session the browser's cookies
// name (asked of /sessions/whoami, in-process), and the language chosen
// from the identity's locale trait, then Accept-Language, then
// selfservice.default_locale.
func (h *Handler) visitor(w http.ResponseWriter, r *http.Request) *visitor {
	slot, _ := r.Context().Value(visitorKey{}).(*visitorSlot)
	if slot != nil && slot.v != nil {
		return slot.v
	}
	v := &visitor{}
	trait := ""
	res := h.call(w, r, "/sessions/whoami")
	if res.Status == http.StatusOK {
		var s sessionJSON
		if res.decode(&s) == nil {
			v.Session = &s
			if s.Identity != nil {
				trait = i18n.TraitLocale(s.Identity.Traits)
			}
		}
	} else if to := res.errorOf().redirect(); safeRedirect(to) {
		v.Redirect = to
	}
	v.P = i18n.For(i18n.Choose(trait, r.Header.Get("Accept-Language"), h.Config.DefaultLocale))
	if slot != nil {
		slot.v = v
	}
	return v
}

// logoutURL is the browser's log-out link, or "" without a session. It is
// asked of the API once per page (the header and the page body share it).
func (h *Handler) logoutURL(w http.ResponseWriter, r *http.Request) string {
	v := h.visitor(w, r)
	if v.logout == nil {
		u := h.logoutURLTo(w, r, "")
		v.logout = &u
	}
	return *v.logout
}

// logoutURLTo is a log-out link that returns the browser to returnTo
// (which the API checks against selfservice.allowed_return_urls), or ""
// when the API gives none.
func (h *Handler) logoutURLTo(w http.ResponseWriter, r *http.Request, returnTo string) string {
	path := "/self-service/logout/browser"
	if returnTo != "" {
		path += "?return_to=" + url.QueryEscape(returnTo)
	}
	lo := h.call(w, r, path)
	if lo.Status != http.StatusOK {
		return ""
	}
	var l struct {
		LogoutURL string `json:"logout_url"`
	}
	if lo.decode(&l) != nil || !safeRedirect(l.LogoutURL) {
		return ""
	}
	return l.LogoutURL
}
