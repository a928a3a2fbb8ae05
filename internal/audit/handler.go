package audit

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/httpx"
)

// Page sizes of GET /admin/audit/events (those of the identity list).
const (
	DefaultPageSize = 250
	MaxPageSize     = 1000
)

// ErrBadPageToken is a page_token the store did not write.
var ErrBadPageToken = errors.New("audit: invalid page_token")

// Lister reads the log (Store.ListEvents).
type Lister interface {
	ListEvents(ctx context.Context, f Filter) (events []Event, nextPageToken string, err error)
}

// Handler serves the admin audit API.
type Handler struct {
	Events Lister
}

// Register mounts GET /admin/audit/events on the admin mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /admin/audit/events", h.list)
}

// list: GET /admin/audit/events, oldest first, with keyset pagination
// and a Link header as GET /admin/identities writes it.
func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	f, err := ParseFilter(r.URL.Query())
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	events, next, err := h.Events.ListEvents(r.Context(), f)
	if errors.Is(err, ErrBadPageToken) {
		httpx.WriteError(w, r, badParameter("page_token", "page_token is not valid: pass the token of a Link header unchanged"))
		return
	}
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	if events == nil {
		events = []Event{}
	}
	w.Header().Set("Link", httpx.PageLinks(r, DefaultPageSize, next))
	httpx.NoCache(w)
	httpx.WriteJSON(w, http.StatusOK, events)
}

// ParseFilter reads the query parameters of GET /admin/audit/events (and
// of `latchkey audit list` on the database); a bad one is a 400 naming it
// in the reason and in details.parameter.
func ParseFilter(q url.Values) (Filter, error) {
	f := Filter{PageSize: DefaultPageSize, PageToken: q.Get("page_token")}
	if s := q.Get("identity_id"); s != "" {
		id, err := uuid.Parse(s)
		if err != nil {
			return f, badParameter("identity_id", "identity_id must be a UUID, got %q", s)
		}
		f.IdentityID = &id
	}
	// type may repeat and may list several types separated by commas.
	for _, v := range q["type"] {
		for _, s := range strings.Split(v, ",") {
			t := Type(strings.TrimSpace(s))
			if t == "" {
				continue
			}
			if !slices.Contains(Types, t) {
				return f, badParameter("type", "type %q is not an audit event type; known types: %s", t, typeList())
			}
			if !slices.Contains(f.Types, t) {
				f.Types = append(f.Types, t)
			}
		}
	}
	var err error
	if f.Since, err = timeParameter(q, "since"); err != nil {
		return f, err
	}
	if f.Until, err = timeParameter(q, "until"); err != nil {
		return f, err
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		return f, badParameter("until", "until must be later than since")
	}
	if s := q.Get("page_size"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return f, badParameter("page_size", "page_size must be a positive integer, got %q", s)
		}
		f.PageSize = min(n, MaxPageSize)
	}
	return f, nil
}

// timeParameter reads an RFC 3339 time; "" is the zero time.
func timeParameter(q url.Values, name string) (time.Time, error) {
	s := q.Get(name)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		// An unencoded "+02:00" offset arrives as " 02:00".
		t, err = time.Parse(time.RFC3339, strings.ReplaceAll(s, " ", "+"))
	}
	if err != nil {
		return time.Time{}, badParameter(name, "%s must be an RFC 3339 time such as 2026-01-31T09:00:00Z, got %q", name, s)
	}
	return t, nil
}

func typeList() string {
	names := make([]string, len(Types))
	for i, t := range Types {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}

// badParameter is the 400 for one query parameter, named in the reason
// and in details.parameter.
func badParameter(name, format string, args ...any) *httpx.Error {
	return httpx.ErrBadRequest("").WithReason(format, args...).WithDetail("parameter", name)
}
