package webui_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/webui"
)

// fakeAPI stands in for the public API: canned answers per request path
// (with query), and a record of what the UI asked.
type fakeAPI struct {
	mu        sync.Mutex
	answers   map[string]fakeAnswer
	requests  []*http.Request
	setCookie string
}

type fakeAnswer struct {
	status int
	body   string
}

func newFakeAPI() *fakeAPI { return &fakeAPI{answers: map[string]fakeAnswer{}} }

// on sets the answer to GET pathAndQuery.
func (f *fakeAPI) on(pathAndQuery string, status int, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers[pathAndQuery] = fakeAnswer{status, body}
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests = append(f.requests, r)
	a, ok := f.answers[r.URL.RequestURI()]
	cookie := f.setCookie
	f.mu.Unlock()
	if cookie != "" {
		w.Header().Add("Set-Cookie", cookie)
	}
	w.Header().Set("Content-Type", "application/json")
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":{"code":404,"status":"Not Found","message":"The requested resource could not be found"}}`))
		return
	}
	w.WriteHeader(a.status)
	_, _ = w.Write([]byte(a.body))
}

// last is the last request the UI made to the API for the page itself,
// not the /sessions/whoami every rendered page asks (its visitor).
func (f *fakeAPI) last(t *testing.T) *http.Request {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.requests) - 1; i >= 0; i-- {
		if f.requests[i].URL.Path != "/sessions/whoami" {
			return f.requests[i]
		}
	}
	t.Fatal("the UI made no API request")
	return nil
}

const testPublic = "http://pub.example.test/"

// fakeMailbox is a Mailbox with fixed messages.
type fakeMailbox struct {
	msgs []webui.MailboxMessage
	err  error
}

func (m fakeMailbox) RecentMessages(_ context.Context, limit int) ([]webui.MailboxMessage, error) {
	if len(m.msgs) > limit {
		return m.msgs[:limit], m.err
	}
	return m.msgs, m.err
}

var testNow = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// MustHandler builds a UI over api with the dev mailbox on.
func MustHandler(t *testing.T, api http.Handler, mb webui.Mailbox) *webui.Handler {
	t.Helper()
	return &webui.Handler{
		API:     api,
		Mailbox: mb,
		Config: webui.Config{
			PublicBaseURL: testPublic,
			Mailbox:       mb != nil,
			ProductName:   "Latchkey",
			ReturnURLs:    []string{"https://app.example.com/welcome", "https://*.example.org/"},
			Now:           func() time.Time { return testNow },
		},
	}
}

// get serves GET target on h as a browser would ask.
func get(t *testing.T, h http.Handler, target string, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, target, nil)
	r.Header.Set("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// mustContain fails unless body contains every want.
func mustContain(t *testing.T, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("page lacks %q", w)
		}
	}
	if t.Failed() {
		t.Logf("page:\n%s", body)
	}
}

func mustNotContain(t *testing.T, body string, unwanted ...string) {
	t.Helper()
	for _, u := range unwanted {
		if strings.Contains(body, u) {
			t.Errorf("page contains %q", u)
		}
	}
}

var (
	formRE  = regexp.MustCompile(`(?s)<form [^>]*>.*?</form>`)
	inputRE = regexp.MustCompile(`<input [^>]*>`)
	attrRE  = regexp.MustCompile(`([a-z-]+)(?:="([^"]*)")?`)
)

// forms returns each <form>…</form> of a page.
func forms(body string) []string { return formRE.FindAllString(body, -1) }

// attrs parses the attributes of one tag.
func attrs(tag string) map[string]string {
	out := map[string]string{}
	inner := strings.TrimSuffix(strings.TrimPrefix(tag, "<"), ">")
	if i := strings.IndexByte(inner, ' '); i >= 0 {
		inner = inner[i+1:]
	} else {
		return out
	}
	for _, m := range attrRE.FindAllStringSubmatch(inner, -1) {
		out[m[1]] = m[2]
	}
	return out
}

// apiCookies are the Set-Cookie headers of a UI response but for the
// UI's own (the last flow page, lastflow.go): those the API set.
func apiCookies(w *httptest.ResponseRecorder) []string {
	var out []string
	for _, c := range w.Header().Values("Set-Cookie") {
		if !strings.HasPrefix(c, "latchkey_ui_flow=") {
			out = append(out, c)
		}
	}
	return out
}
