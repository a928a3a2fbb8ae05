package courier

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/httpx"
)

// Page sizes of the admin list (Kratos's keyset pagination limits).
const (
	DefaultPageSize = 250
	MaxPageSize     = 1000
)

// Handler serves the courier admin API.
type Handler struct {
	store Store
}

// NewHandler returns the admin handler reading messages from store.
func NewHandler(store Store) *Handler { return &Handler{store: store} }

// Register adds GET /admin/courier/messages and
// GET /admin/courier/messages/{id} to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /admin/courier/messages", h.listMessages)
	mux.HandleFunc("GET /admin/courier/messages/{id}", h.getMessage)
}

// listMessages answers newest first, filtered by status and recipient, with
// a Link header to the next page. Codes and links are redacted (see the
// package comment).
func (h *Handler) listMessages(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := MessageFilter{Recipient: q.Get("recipient"), WithDispatches: true}
	if s := q.Get("status"); s != "" {
		st, ok := ParseMessageStatus(s)
		if !ok {
			httpx.WriteError(w, r, httpx.ErrBadRequest("Message status is not valid"))
			return
		}
		f.Status = st
	}
	size := DefaultPageSize
	if s := q.Get("page_size"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			httpx.WriteError(w, r, httpx.ErrBadRequest("page_size must be a positive integer"))
			return
		}
		size = min(n, MaxPageSize)
	}
	if s := q.Get("page_token"); s != "" {
		c, err := decodePageToken(s)
		if err != nil {
			httpx.WriteError(w, r, httpx.ErrBadRequest("page_token is not valid"))
			return
		}
		f.After = &c
	}
	f.Limit = size + 1 // one more tells whether a next page exists

	msgs, err := h.store.ListMessages(r.Context(), f)
	if err != nil {
		httpx.WriteError(w, r, httpx.ErrInternal(err))
		return
	}
	if len(msgs) > size {
		msgs = msgs[:size]
		last := msgs[size-1]
		w.Header().Set("Link", pageLinks(r.URL, size, encodePageToken(Cursor{CreatedAt: last.CreatedAt, ID: last.ID})))
	} else {
		w.Header().Set("Link", pageLinks(r.URL, size, ""))
	}
	for i := range msgs {
		msgs[i] = redacted(msgs[i])
	}
	if msgs == nil {
		msgs = []Message{}
	}
	httpx.NoCache(w)
	httpx.WriteJSON(w, http.StatusOK, msgs)
}

// getMessage answers one message with its dispatches, its code or link
// redacted like in the list.
func (h *Handler) getMessage(w http.ResponseWriter, r *http.Request) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		httpx.WriteError(w, r, httpx.ErrBadRequest("The message id is not a valid UUID"))
		return
	}
	m, err := h.store.GetMessage(r.Context(), id)
	if err == nil && m.TemplateType.Internal() {
		err = ErrMessageNotFound // not a mail: nothing to show
	}
	if errors.Is(err, ErrMessageNotFound) {
		httpx.WriteError(w, r, httpx.ErrNotFound("Message not found"))
		return
	}
	if err != nil {
		httpx.WriteError(w, r, httpx.ErrInternal(err))
		return
	}
	httpx.NoCache(w)
	httpx.WriteJSON(w, http.StatusOK, redacted(m))
}

// redacted replaces the code or link of a message that carries one.
func redacted(m Message) Message {
	if !m.TemplateType.carriesSecret() {
		return m
	}
	var d TemplateData
	if err := json.Unmarshal(m.TemplateData, &d); err != nil {
		// Without the data the secret cannot be located: show nothing.
		m.Subject, m.Body = "[redacted]", "[redacted]"
		return m
	}
	return redactedBy(m, &d)
}

// redactedBy is redacted(m) for a caller that has decoded m's template
// data already (d).
func redactedBy(m Message, d *TemplateData) Message {
	if !m.TemplateType.carriesSecret() {
		return m
	}
	secrets := d.secrets()
	m.Subject = redact(m.Subject, secrets)
	m.Body = redact(m.Body, secrets)
	return m
}

// pageLinks is the RFC 5988 Link header: first page, and next when there is one.
func pageLinks(u *url.URL, size int, next string) string {
	link := func(token, rel string) string {
		q := u.Query()
		q.Set("page_size", strconv.Itoa(size))
		q.Del("page_token")
		if token != "" {
			q.Set("page_token", token)
		}
		return "<" + u.Path + "?" + q.Encode() + ">; rel=\"" + rel + "\""
	}
	links := []string{link("", "first")}
	if next != "" {
		links = append(links, link(next, "next"))
	}
	return strings.Join(links, ",")
}

// Page tokens are opaque to clients: base64url("<unix micro>.<uuid>").
func encodePageToken(c Cursor) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.CreatedAt.UnixMicro(), 10) + "." + c.ID.String()))
}

func decodePageToken(s string) (Cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Cursor{}, err
	}
	ts, id, ok := strings.Cut(string(b), ".")
	if !ok {
		return Cursor{}, errors.New("malformed page token")
	}
	micro, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return Cursor{}, err
	}
	uid, err := uuid.Parse(id)
	if err != nil {
		return Cursor{}, err
	}
	return Cursor{CreatedAt: time.UnixMicro(micro).UTC(), ID: uid}, nil
}
