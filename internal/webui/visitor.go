package webui

import (
	"context"
	"net/http"

	"github.com/latchkey/latchkey/internal/i18n"
)

// visitor is who is looking at a page: their session (nil when signed
// out) and the language the page speaks to them in.
type visitor struct {
	Session *sessionJSON
	P       *i18n.Printer
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
	if res := h.call(w, r, "/sessions/whoami"); res.Status == http.StatusOK {
		var s sessionJSON
		if res.decode(&s) == nil {
			v.Session = &s
			if s.Identity != nil {
				trait = i18n.TraitLocale(s.Identity.Traits)
			}
		}
	}
	v.P = i18n.For(i18n.Choose(trait, r.Header.Get("Accept-Language"), h.Config.DefaultLocale))
	if slot != nil {
		slot.v = v
	}
	return v
}
