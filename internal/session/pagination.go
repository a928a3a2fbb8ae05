package session

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Page sizes of the session lists.
const (
	defaultPageSize = 250
	maxPageSize     = 1000
)

// offsetPage is a page of an identity's session list. Kratos accepts the
// legacy page/per_page parameters and page_size/page_token; both address
// the same offset, and every Link header URL carries all four.
type offsetPage struct {
	offset, size int
}

// parseOffsetPage reads the pagination parameters. Like Kratos it is
// lenient: unparsable values fall back to the defaults.
//
// Kratos switches to page_size/page_token as soon as page_size is present,
// which makes the official SDK's PerPage/Page useless: the SDK always sends
// page_size=250 and per_page=250 as defaults. Latchkey therefore takes the
// size that differs from the default (page_size when both do) and, without
// a page_token, honours page. Requests Kratos understands mean the same.
func parseOffsetPage(q url.Values) offsetPage {
	p := offsetPage{size: defaultPageSize}
	pageSize, hasPageSize := atoiParam(q, "page_size")
	perPage, hasPerPage := atoiParam(q, "per_page")
	switch {
	case hasPageSize && (pageSize != defaultPageSize || !hasPerPage):
		p.size = pageSize
	case hasPerPage:
		p.size = perPage
	}
	p.size = clampPageSize(p.size)
	if q.Has("page_token") {
		if off, ok := decodeOffsetToken(q.Get("page_token")); ok {
			p.offset = off
		}
	} else if page, ok := atoiParam(q, "page"); ok && page > 0 {
		p.offset = page * p.size
	}
	return p
}

func atoiParam(q url.Values, key string) (int, bool) {
	n, err := strconv.Atoi(q.Get(key))
	return n, err == nil
}

func clampPageSize(n int) int {
	return min(max(n, 1), maxPageSize)
}

// header sets X-Total-Count and the RFC 5988 Link header (first, prev,
// next, last) for a list of total items.
func (p offsetPage) header(w http.ResponseWriter, u *url.URL, total int) {
	w.Header().Set("X-Total-Count", strconv.Itoa(total))
	last := 0
	if total > 0 {
		last = (total - 1) / p.size * p.size
	}
	links := []string{p.link(u, "first", 0)}
	if p.offset > 0 {
		links = append(links, p.link(u, "prev", max(p.offset-p.size, 0)))
	}
	if p.offset+p.size < total {
		links = append(links, p.link(u, "next", p.offset+p.size))
	}
	links = append(links, p.link(u, "last", last))
	w.Header().Set("Link", strings.Join(links, ","))
}

func (p offsetPage) link(u *url.URL, rel string, offset int) string {
	q := u.Query()
	q.Set("page_size", strconv.Itoa(p.size))
	q.Set("page_token", encodeOffsetToken(offset))
	q.Set("per_page", strconv.Itoa(p.size))
	q.Set("page", strconv.Itoa(offset/p.size))
	v := url.URL{Path: u.Path, RawQuery: q.Encode()}
	return "<" + v.String() + `>; rel="` + rel + `"`
}

// Offset page tokens are opaque to clients: base64url("o" + offset).
func encodeOffsetToken(offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("o" + strconv.Itoa(offset)))
}

func decodeOffsetToken(t string) (int, bool) {
	b, err := base64.RawURLEncoding.DecodeString(t)
	if err != nil || len(b) < 2 || b[0] != 'o' {
		return 0, false
	}
	n, err := strconv.Atoi(string(b[1:]))
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// Keyset page tokens of GET /admin/sessions are opaque to clients:
// base64url(created_at RFC 3339 "/" id) of the last session of a page.
func encodeCursor(c Cursor) string {
	return base64.RawURLEncoding.EncodeToString([]byte(c.CreatedAt.UTC().Format(time.RFC3339Nano) + "/" + c.ID.String()))
}

func decodeCursor(t string) (*Cursor, bool) {
	b, err := base64.RawURLEncoding.DecodeString(t)
	if err != nil {
		return nil, false
	}
	at, id, ok := strings.Cut(string(b), "/")
	if !ok {
		return nil, false
	}
	ts, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		return nil, false
	}
	u, err := uuid.Parse(id)
	if err != nil {
		return nil, false
	}
	return &Cursor{CreatedAt: ts.UTC(), ID: u}, true
}

// keysetLink returns a Link header entry of a keyset-paginated list.
func keysetLink(u *url.URL, rel string, size int, token string) string {
	q := u.Query()
	q.Set("page_size", strconv.Itoa(size))
	if token == "" {
		q.Del("page_token")
	} else {
		q.Set("page_token", token)
	}
	v := url.URL{Path: u.Path, RawQuery: q.Encode()}
	return "<" + v.String() + `>; rel="` + rel + `"`
}
