package webui

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/courier"
)

// mailboxLimit is how many messages /ui/mail shows.
const mailboxLimit = 50

// Mailbox is what the dev mailbox page reads: the courier's most recent
// messages, newest first, unredacted.
type Mailbox interface {
	RecentMessages(ctx context.Context, limit int) ([]MailboxMessage, error)
}

// MailboxMessage is one email as the dev mailbox shows it.
type MailboxMessage struct {
	ID           string
	Recipient    string
	Subject      string
	Body         string // plaintext
	TemplateType string
	Status       string
	CreatedAt    time.Time
}

// CourierMailbox reads the dev mailbox from the courier's message store
// (sqlstore.CourierStore satisfies courier.MailboxLister).
func CourierMailbox(l courier.MailboxLister) Mailbox { return courierMailbox{l} }

type courierMailbox struct{ l courier.MailboxLister }

func (c courierMailbox) RecentMessages(ctx context.Context, limit int) ([]MailboxMessage, error) {
	msgs, err := c.l.ListMessages(ctx, courier.MessageFilter{Limit: limit})
	if err != nil {
		return nil, err
	}
	out := make([]MailboxMessage, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, MailboxMessage{
			ID:           m.ID.String(),
			Recipient:    m.Recipient,
			Subject:      m.Subject,
			Body:         m.Body,
			TemplateType: string(m.TemplateType),
			Status:       string(m.Status),
			CreatedAt:    m.CreatedAt,
		})
	}
	return out, nil
}

// mailView is one message laid out for the template.
type mailView struct {
	ID           string
	Recipient    string
	Subject      string
	TemplateType string
	Status       string
	Sent         string
	SentISO      string
	Body         []segment
	Codes        []string
}

// segment is a run of a message body: plain text, a code to highlight, or
// a link to make clickable.
type segment struct {
	Kind string // "text", "code" or "link"
	Text string
}

// mailbox serves /ui/mail when the dev mailbox is enabled.
func (h *Handler) mailbox(w http.ResponseWriter, r *http.Request) {
	if !h.Config.Mailbox || h.Mailbox == nil {
		h.notFound(w, r)
		return
	}
	p := h.visitor(w, r).P
	msgs, err := h.Mailbox.RecentMessages(r.Context(), mailboxLimit)
	if err != nil {
		h.showAPIError(w, r, apiError{Error: errorBody{Code: http.StatusInternalServerError, Message: p.T("ui.mail.unreadable")}})
		return
	}
	views := make([]mailView, 0, len(msgs))
	for _, m := range msgs {
		body := splitBody(m.Body)
		views = append(views, mailView{
			ID:           m.ID,
			Recipient:    m.Recipient,
			Subject:      m.Subject,
			TemplateType: m.TemplateType,
			Status:       m.Status,
			Sent:         h.when(p, m.CreatedAt),
			SentISO:      m.CreatedAt.UTC().Format(time.RFC3339),
			Body:         body,
			Codes:        codesOf(body),
		})
	}
	h.render(w, r, http.StatusOK, "mail", page{Title: p.T("ui.mail.title"), Mail: views})
}

// bodyTokens finds links and six-digit codes in a plaintext body.
var bodyTokens = regexp.MustCompile(`https?://[^\s<>"']+|\b[0-9]{6}\b`)

// splitBody cuts a plaintext body into text, code and link segments.
func splitBody(body string) []segment {
	var out []segment
	last := 0
	for _, loc := range bodyTokens.FindAllStringIndex(body, -1) {
		start, end := loc[0], loc[1]
		tok := body[start:end]
		kind := "code"
		if strings.HasPrefix(tok, "http") {
			kind = "link"
			// Sentence punctuation after a URL is not part of it.
			trimmed := strings.TrimRight(tok, ".,;:!?)]")
			end -= len(tok) - len(trimmed)
			tok = trimmed
		}
		if start > last {
			out = append(out, segment{Kind: "text", Text: body[last:start]})
		}
		out = append(out, segment{Kind: kind, Text: tok})
		last = end
	}
	if last < len(body) {
		out = append(out, segment{Kind: "text", Text: body[last:]})
	}
	return out
}

// codesOf lists the distinct codes of a body, for the message's summary.
func codesOf(segs []segment) []string {
	var codes []string
	seen := map[string]bool{}
	for _, s := range segs {
		if s.Kind == "code" && !seen[s.Text] {
			seen[s.Text] = true
			codes = append(codes, s.Text)
		}
	}
	return codes
}
