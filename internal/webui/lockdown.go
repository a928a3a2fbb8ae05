package webui

import (
	"net/http"
	"net/url"
	"time"
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

// brokenLinkHeadings are the headings of the states of a link that no
// longer works, by the API's error id.
var brokenLinkHeadings = map[string]string{
	"lockdown_token_used":    "Your account is already locked down",
	"lockdown_token_expired": "This link has expired",
	"lockdown_token_invalid": "This link does not work",
}

// lockdown serves /ui/lockdown. With ?token= it asks the API what the link
// would lock down (a GET that changes nothing, so a mail scanner opening
// the link does no harm) and shows a form that posts the token to
// POST /self-service/lockdown; the API sends the browser back here with
// ?state=confirmed, or with the token again when the link stopped working.
func (h *Handler) lockdown(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	token := q.Get("token")
	switch {
	case token == "" && q.Get("state") == "confirmed":
		h.renderLockdown(w, r, http.StatusOK, "Account locked down", lockdownView{State: "confirmed"})
		return
	case token == "":
		h.renderLockdown(w, r, http.StatusNotFound, "Lock down your account", lockdownView{State: "broken",
			Heading: brokenLinkHeadings["lockdown_token_invalid"],
			Reason:  "Open the link from the security notification we sent you by email."})
		return
	}
	res := h.call(w, r, "/self-service/lockdown?token="+url.QueryEscape(token))
	if res.Status != http.StatusOK {
		e := res.errorOf().Error
		heading, ok := brokenLinkHeadings[e.ID]
		if !ok {
			h.showAPIError(w, r, apiError{Error: e})
			return
		}
		h.renderLockdown(w, r, res.Status, "Lock down your account", lockdownView{State: "broken", Heading: heading, Reason: e.Message})
		return
	}
	var p struct {
		Event struct {
			Type string    `json:"type"`
			Time time.Time `json:"time"`
		} `json:"event"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := res.decode(&p); err != nil {
		h.showAPIError(w, r, apiError{Error: errorBody{Code: http.StatusBadGateway, Message: "The lockdown link could not be read."}})
		return
	}
	h.renderLockdown(w, r, http.StatusOK, "Lock down your account", lockdownView{
		State:     "pending",
		Event:     eventSentence(p.Event.Type),
		EventTime: h.timeText(p.Event.Time),
		ExpiresAt: h.timeText(p.ExpiresAt),
		Action:    h.publicURL("self-service/lockdown"),
		Token:     token,
	})
}

func (h *Handler) renderLockdown(w http.ResponseWriter, r *http.Request, status int, title string, v lockdownView) {
	h.render(w, r, status, "lockdown", page{Title: title, Lockdown: &v})
}

// eventSentence says in words what happened to the account.
func eventSentence(eventType string) string {
	switch eventType {
	case "recovery.succeeded":
		return "Your account was recovered."
	case "password.changed":
		return "Your password was changed."
	case "admin.recovery_code_created":
		return "An administrator created a recovery code for your account."
	case "admin.recovery_link_created":
		return "An administrator created a recovery link for your account."
	case "second_factor.added":
		return "A second factor was added to your account."
	case "second_factor.removed":
		return "A second factor was removed from your account."
	case "address.changed":
		return "An email address of your account was changed."
	}
	return "A security event happened on your account (" + eventType + ")."
}
