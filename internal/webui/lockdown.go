package webui

import (
	"net/http"
	"net/url"
	"time"

	"github.com/latchkey/latchkey/internal/i18n"
)

// pathLockdown is the "this wasn't me" page a security notification's
// link opens (docs/security-notifications.md).
const pathLockdown = "lockdown"

// lockdownView is the lockdown page in one of its states.
type lockdownView struct {
	// State is "pending" (confirm form), "confirmed", or "broken" (a link
	// used, expired, unknown or missing).
	State string
	// Pending only: what the link answers, the form's target and token.
	Event     string
	EventTime string
	ExpiresAt string
	Action    string
	Token     string
	// Heading and Reason say why a link no longer works (every state but
	// pending and confirmed).
	Heading string
	Reason  string
}

// brokenLinks are the API's error ids of a link that no longer works;
// each has its heading and reason (ui.lockdown.<id>.heading, .reason).
var brokenLinks = map[string]bool{
	"lockdown_token_used":    true,
	"lockdown_token_expired": true,
	"lockdown_token_invalid": true,
}

// brokenLink is the view of a link that stopped working for reason id.
func brokenLink(p *i18n.Printer, id string) lockdownView {
	return lockdownView{State: "broken", Heading: p.T("ui.lockdown." + id + ".heading"), Reason: p.T("ui.lockdown." + id + ".reason")}
}

// lockdown serves /ui/lockdown. With ?token= it asks the API what the link
// would lock down (a GET that changes nothing, so a mail scanner opening
// the link does no harm) and shows a form that posts the token to
// POST /self-service/lockdown; the API sends the browser back here with
// ?state=confirmed, or with the token again when the link stopped working.
func (h *Handler) lockdown(w http.ResponseWriter, r *http.Request) {
	p := h.visitor(w, r).P
	q := r.URL.Query()
	token := q.Get("token")
	switch {
	case token == "" && q.Get("state") == "confirmed":
		h.renderLockdown(w, r, http.StatusOK, p.T("ui.lockdown.confirmed.title"), lockdownView{State: "confirmed"})
		return
	case token == "":
		v := brokenLink(p, "lockdown_token_invalid")
		v.Reason = p.T("ui.lockdown.no_token")
		h.renderLockdown(w, r, http.StatusNotFound, p.T("ui.lockdown.title"), v)
		return
	}
	res := h.call(w, r, "/self-service/lockdown?token="+url.QueryEscape(token))
	if res.Status != http.StatusOK {
		e := res.errorOf().Error
		if !brokenLinks[e.ID] {
			h.showAPIError(w, r, apiError{Error: e})
			return
		}
		h.renderLockdown(w, r, res.Status, p.T("ui.lockdown.title"), brokenLink(p, e.ID))
		return
	}
	var link struct {
		Event struct {
			Type string    `json:"type"`
			Time time.Time `json:"time"`
		} `json:"event"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := res.decode(&link); err != nil {
		h.showAPIError(w, r, apiError{Error: errorBody{Code: http.StatusBadGateway, Message: p.T("ui.lockdown.unreadable")}})
		return
	}
	h.renderLockdown(w, r, http.StatusOK, p.T("ui.lockdown.title"), lockdownView{
		State:     "pending",
		Event:     eventSentence(p, link.Event.Type),
		EventTime: p.DateTime(link.Event.Time),
		ExpiresAt: p.DateTime(link.ExpiresAt),
		Action:    h.publicURL("self-service/lockdown"),
		Token:     token,
	})
}

func (h *Handler) renderLockdown(w http.ResponseWriter, r *http.Request, status int, title string, v lockdownView) {
	h.render(w, r, status, "lockdown", page{Title: title, Lockdown: &v})
}

// lockdownEvents are the security events a notification names; each
// has its sentence, ui.lockdown.event.<type>.
var lockdownEvents = map[string]bool{
	"recovery.succeeded":          true,
	"password.changed":            true,
	"admin.recovery_code_created": true,
	"admin.recovery_link_created": true,
	"second_factor.added":         true,
	"second_factor.removed":       true,
	"address.changed":             true,
}

// eventSentence says in words what happened to the account.
func eventSentence(p *i18n.Printer, eventType string) string {
	if lockdownEvents[eventType] {
		return p.T("ui.lockdown.event." + eventType)
	}
	return p.T("ui.lockdown.event.other", "type", eventType)
}
