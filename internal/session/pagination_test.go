package session

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestParseOffsetPage(t *testing.T) {
	tok := encodeOffsetToken(40)
	cases := []struct {
		query        string
		offset, size int
	}{
		{"", 0, 250},
		{"per_page=10&page=3", 30, 10},
		{"page_size=10", 0, 10},
		{"page_size=10&page_token=" + tok, 40, 10},
		// What the official SDK sends for PerPage(2).Page(1): both sizes,
		// page_size at its default.
		{"per_page=2&page=1&page_size=250", 2, 2},
		// What it sends for PageSize(5): per_page at its default.
		{"per_page=250&page_size=5", 0, 5},
		{"per_page=5000", 0, 1000},
		{"per_page=0", 0, 1},
		{"per_page=abc&page=-2", 0, 250},
		{"page_size=10&page_token=garbage", 0, 10},
	}
	for _, c := range cases {
		q, _ := url.ParseQuery(c.query)
		p := parseOffsetPage(q)
		if p.offset != c.offset || p.size != c.size {
			t.Errorf("%q: offset %d size %d, want %d %d", c.query, p.offset, p.size, c.offset, c.size)
		}
	}
}

func TestOffsetPageHeader(t *testing.T) {
	u, _ := url.Parse("/admin/identities/x/sessions?active=true&per_page=2&page=1")
	rec := httptest.NewRecorder()
	offsetPage{offset: 2, size: 2}.header(rec, u, 5)
	if got := rec.Header().Get("X-Total-Count"); got != "5" {
		t.Fatalf("X-Total-Count %q", got)
	}
	links := strings.Split(rec.Header().Get("Link"), ",")
	want := []struct{ rel, page string }{{"first", "0"}, {"prev", "0"}, {"next", "2"}, {"last", "2"}}
	if len(links) != len(want) {
		t.Fatalf("links %q", links)
	}
	for i, w := range want {
		l := links[i]
		if !strings.HasSuffix(l, `; rel="`+w.rel+`"`) || !strings.Contains(l, "&page="+w.page+"&") || !strings.Contains(l, "active=true") {
			t.Errorf("link %d = %q, want rel %s page %s", i, l, w.rel, w.page)
		}
		raw := l[strings.Index(l, "<")+1 : strings.Index(l, ">")]
		lu, _ := url.Parse(raw)
		if p := parseOffsetPage(lu.Query()); p.offset/p.size != atoi(w.page) {
			t.Errorf("link %d leads to offset %d", i, p.offset)
		}
	}
}

func atoi(s string) int { n, _ := atoiParam(url.Values{"n": {s}}, "n"); return n }

func TestCursorRoundTrip(t *testing.T) {
	c := Cursor{CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC), ID: uuid.New()}
	got, ok := decodeCursor(encodeCursor(c))
	if !ok || !got.CreatedAt.Equal(c.CreatedAt) || got.ID != c.ID {
		t.Fatalf("round trip %+v -> %+v", c, got)
	}
	for _, bad := range []string{"", "!!", "bm9wZQ", encodeOffsetToken(3)} {
		if _, ok := decodeCursor(bad); ok {
			t.Errorf("decoded %q", bad)
		}
	}
}
