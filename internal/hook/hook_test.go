package hook

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/session"
)

// received is one request a test hook target got.
type received struct {
	Method string
	Path   string
	Header http.Header
	Body   string
}

// target is a web_hook receiver: it records every request and answers
// with the next of its answers (the last one repeats).
type target struct {
	*httptest.Server
	mu      sync.Mutex
	got     []received
	answers []answer
}

type answer struct {
	status int
	body   string
	// block, when set, holds the answer until it is closed.
	block chan struct{}
}

func newTarget(t *testing.T, answers ...answer) *target {
	t.Helper()
	tg := &target{answers: answers}
	tg.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		tg.mu.Lock()
		tg.got = append(tg.got, received{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: string(b)})
		a := answer{status: http.StatusOK}
		if n := len(tg.got) - 1; len(tg.answers) > 0 {
			a = tg.answers[min(n, len(tg.answers)-1)]
		}
		tg.mu.Unlock()
		if a.block != nil {
			select {
			case <-a.block:
			case <-r.Context().Done():
				return
			}
		}
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, a.body)
	}))
	t.Cleanup(tg.Close)
	return tg
}

func (tg *target) requests() []received {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return append([]received(nil), tg.got...)
}

// testCaller is a Caller with small limits and a renderer that shows the
// identity's public view and the session's id.
func testCaller(t *testing.T, limits Limits) *Caller {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	if limits.RetryWait == 0 {
		limits.RetryWait = time.Millisecond
	}
	return NewCaller(CallerConfig{
		Limits:          limits,
		HeaderAllowlist: []string{"user-agent", "Accept-Language"},
		Renderer: Renderer{
			Identity: func(i *identity.Identity) any {
				return i.JSON(identity.PublicView, "https://auth.test/schemas/ZGVmYXVsdA")
			},
			Session: func(s *session.Session) any { return map[string]any{"id": s.ID, "active": s.Active} },
		},
		Metrics: m,
	})
}

var (
	flowID     = uuid.MustParse("3f2a1d4e-0000-4000-8000-000000000001")
	identityID = uuid.MustParse("3f2a1d4e-0000-4000-8000-000000000002")
	sessionID  = uuid.MustParse("3f2a1d4e-0000-4000-8000-000000000003")
)

// testEvent is a registration-like event: a flow, a request from a
// browser with cookies and credentials, an identity and a session.
func testEvent() *Event {
	h := http.Header{}
	h.Set("User-Agent", "Firefox/140")
	h.Set("Accept-Language", "de")
	h.Set("Authorization", "Bearer secret-token")
	h.Set("Cookie", "theme=dark; ory_kratos_session=abc")
	return &Event{
		FlowID:           flowID,
		Flow:             map[string]any{"id": flowID, "type": "browser"},
		TransientPayload: json.RawMessage(`{"campaign":"spring"}`),
		Request:          &flow.Request{Method: "POST", URL: "https://auth.test/self-service/registration?flow=" + flowID.String(), Header: h},
		Identity: &identity.Identity{ID: identityID, SchemaID: "default", State: identity.StateActive,
			Traits: json.RawMessage(`{"email":"ada@example.test","name":"Ada"}`), MetadataAdmin: json.RawMessage(`{"secret":"admin-only"}`)},
		Session: &session.Session{ID: sessionID, Active: true},
		Method:  "password",
	}
}

func run(t *testing.T, c *Caller, h *WebHook, ev *Event) (*Changes, error) {
	t.Helper()
	r := &Runner{Flow: Registration, After: map[string][]*WebHook{"": {h}}, Caller: c}
	return r.RunAfter(context.Background(), ev)
}

func TestRender(t *testing.T) {
	tests := []struct {
		name     string
		template string
		want     string
	}{
		{"Identity", `function(ctx) { id: ctx.identity.id, email: ctx.identity.traits.email }`,
			`{"email":"ada@example.test","id":"` + identityID.String() + `"}`},
		{"NoAdminMetadata", `function(ctx) { has: std.objectHas(ctx.identity, "metadata_admin") }`, `{"has":false}`},
		{"Session", `function(ctx) { session: ctx.session.id }`, `{"session":"` + sessionID.String() + `"}`},
		{"Flow", `function(ctx) { flow: ctx.flow.id, type: ctx.flow.type }`, `{"flow":"` + flowID.String() + `","type":"browser"}`},
		{"TransientPayload", `function(ctx) { campaign: ctx.flow.transient_payload.campaign }`, `{"campaign":"spring"}`},
		{"Request", `function(ctx) { method: ctx.request_method, url: ctx.request_url }`,
			`{"method":"POST","url":"https://auth.test/self-service/registration?flow=` + flowID.String() + `"}`},
		{"AllowlistedHeaders", `function(ctx) ctx.request_headers`, `{"Accept-Language":["de"],"User-Agent":["Firefox/140"]}`},
		{"Cookies", `function(ctx) ctx.request_cookies`, `{"ory_kratos_session":"abc","theme":"dark"}`},
		{"KeysInKratosOrder", `function(ctx) std.objectFields(ctx)`,
			`["flow","identity","request_cookies","request_headers","request_method","request_url","session"]`},
		{"NotAFunction", `{ fixed: true }`, `{"fixed":true}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := newTarget(t)
			c := testCaller(t, Limits{})
			if _, err := run(t, c, &WebHook{Name: "t", URL: tg.URL, Method: "POST", Template: tt.template, TemplateURI: "base64://x"}, testEvent()); err != nil {
				t.Fatal(err)
			}
			got := tg.requests()
			if len(got) != 1 {
				t.Fatalf("%d requests", len(got))
			}
			if compact(t, got[0].Body) != tt.want {
				t.Errorf("body\n got %s\nwant %s", compact(t, got[0].Body), tt.want)
			}
			if ct := got[0].Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
}

func compact(t *testing.T, s string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("not JSON: %q", s)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func TestRequest(t *testing.T) {
	tests := []struct {
		name  string
		hook  WebHook
		check func(t *testing.T, r received)
	}{
		{"APIKeyInHeader", WebHook{Method: "POST", Auth: Auth{Type: "api_key", Name: "X-Api-Key", Value: "k3y", In: "header"}},
			func(t *testing.T, r received) { want(t, "X-Api-Key", r.Header.Get("X-Api-Key"), "k3y") }},
		{"APIKeyDefaultsToHeader", WebHook{Method: "POST", Auth: Auth{Type: "api_key", Name: "X-Api-Key", Value: "k3y"}},
			func(t *testing.T, r received) { want(t, "X-Api-Key", r.Header.Get("X-Api-Key"), "k3y") }},
		{"APIKeyInCookie", WebHook{Method: "POST", Auth: Auth{Type: "api_key", Name: "hook_key", Value: "k3y", In: "cookie"}},
			func(t *testing.T, r received) { want(t, "Cookie", r.Header.Get("Cookie"), "hook_key=k3y") }},
		{"BasicAuth", WebHook{Method: "POST", Auth: Auth{Type: "basic_auth", User: "kratos", Password: "pa55"}},
			func(t *testing.T, r received) {
				want(t, "Authorization", r.Header.Get("Authorization"), "Basic a3JhdG9zOnBhNTU=")
			}},
		{"Headers", WebHook{Method: "PUT", Headers: map[string]string{"X-Tenant": "blue"}},
			func(t *testing.T, r received) {
				want(t, "method", r.Method, "PUT")
				want(t, "X-Tenant", r.Header.Get("X-Tenant"), "blue")
			}},
		{"NoTemplateNoBody", WebHook{Method: "POST"},
			func(t *testing.T, r received) { want(t, "body", r.Body, "") }},
		{"FormBody", WebHook{Method: "POST", Headers: map[string]string{"content-type": "application/x-www-form-urlencoded"},
			Template: `function(ctx) { email: ctx.identity.traits.email, name: "Ada Lovelace" }`},
			func(t *testing.T, r received) {
				want(t, "Content-Type", r.Header.Get("Content-Type"), "application/x-www-form-urlencoded")
				want(t, "body", r.Body, "email=ada%40example.test&name=Ada+Lovelace")
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := newTarget(t)
			c := testCaller(t, Limits{})
			h := tt.hook
			h.URL, h.Name, h.TemplateURI = tg.URL+"/hook", "t", "base64://x"
			if _, err := run(t, c, &h, testEvent()); err != nil {
				t.Fatal(err)
			}
			got := tg.requests()
			if len(got) != 1 {
				t.Fatalf("%d requests", len(got))
			}
			tt.check(t, got[0])
		})
	}
}

func want[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func TestAnswers(t *testing.T) {
	msgs := `{"messages":[{"instance_ptr":"#/traits/email","messages":[{"id":4000001,"text":"This address is blocked.","type":"error","context":{"reason":"blocklist"}}]},` +
		`{"instance_ptr":"#/","messages":[{"id":1,"text":"Try later.","type":"warning"}]}]}`
	tests := []struct {
		name    string
		hook    WebHook
		answers []answer
		changes *Changes
		// status is the answer's status for a failure, 0 for success.
		status      int
		interrupted []Message
		calls       int
	}{
		{name: "ParseChangesTraitsAndMetadata", hook: WebHook{Parse: true},
			answers: []answer{{200, `{"identity":{"traits":{"email":"ada@example.test","name":"Ada L."},"metadata_public":{"plan":"pro"},"metadata_admin":{"crm":7},"external_id":"crm-7"}}`, nil}},
			changes: &Changes{Traits: json.RawMessage(`{"email":"ada@example.test","name":"Ada L."}`), MetadataPublic: json.RawMessage(`{"plan":"pro"}`),
				MetadataAdmin: json.RawMessage(`{"crm":7}`), ExternalID: ptr("crm-7")}, calls: 1},
		{name: "ParseNullsChangeNothing", hook: WebHook{Parse: true},
			answers: []answer{{200, `{"identity":{"traits":null,"metadata_public":null}}`, nil}}, changes: &Changes{}, calls: 1},
		{name: "ParseWithoutIdentity", hook: WebHook{Parse: true}, answers: []answer{{200, `{"ok":true}`, nil}}, calls: 1},
		{name: "ParseEmptyBody", hook: WebHook{Parse: true}, answers: []answer{{200, ``, nil}}, calls: 1},
		{name: "Parse204", hook: WebHook{Parse: true}, answers: []answer{{204, ``, nil}}, calls: 1},
		{name: "NotParsedIdentityIgnored", hook: WebHook{},
			answers: []answer{{200, `{"identity":{"traits":{"email":"evil@example.test"}}}`, nil}}, calls: 1},
		{name: "CanInterruptDoesNotChange", hook: WebHook{CanInterrupt: true},
			answers: []answer{{200, `{"identity":{"traits":{"email":"x@example.test"}}}`, nil}}, calls: 1},
		{name: "ParseMalformed", hook: WebHook{Parse: true}, answers: []answer{{200, `{"identity":`, nil}}, status: 502, calls: 1},
		{name: "InterruptWithMessages", hook: WebHook{Parse: true}, answers: []answer{{400, msgs, nil}}, calls: 1,
			interrupted: []Message{
				{Node: "traits.email", Message: flow.Message{ID: 4000001, Text: "This address is blocked.", Type: "error", Context: map[string]any{"reason": "blocklist"}}},
				{Message: flow.Message{ID: 1, Text: "Try later.", Type: "info"}},
			}},
		{name: "CanInterruptWithMessages", hook: WebHook{CanInterrupt: true}, answers: []answer{{403, msgs, nil}}, calls: 1,
			interrupted: []Message{
				{Node: "traits.email", Message: flow.Message{ID: 4000001, Text: "This address is blocked.", Type: "error", Context: map[string]any{"reason": "blocklist"}}},
				{Message: flow.Message{ID: 1, Text: "Try later.", Type: "info"}},
			}},
		{name: "InterruptMalformed", hook: WebHook{Parse: true}, answers: []answer{{400, `<html>`, nil}}, status: 502, calls: 1},
		{name: "InterruptWithoutMessages", hook: WebHook{Parse: true}, answers: []answer{{400, `{"messages":[]}`, nil}}, status: 502, calls: 1},
		{name: "NotParsed4xxFails", hook: WebHook{}, answers: []answer{{400, msgs, nil}}, status: 502, calls: 1},
		{name: "ServerErrorRetriedThenFails", hook: WebHook{}, answers: []answer{{500, ``, nil}}, status: 502, calls: 3},
		{name: "ServerErrorRetriedThenSucceeds", hook: WebHook{}, answers: []answer{{503, ``, nil}, {200, ``, nil}}, calls: 2},
		{name: "TooManyRequestsRetried", hook: WebHook{}, answers: []answer{{429, ``, nil}, {204, ``, nil}}, calls: 2},
		{name: "NotImplementedNotRetried", hook: WebHook{}, answers: []answer{{501, ``, nil}}, status: 502, calls: 1},
		{name: "ParsingHook5xxFails", hook: WebHook{Parse: true}, answers: []answer{{502, msgs, nil}}, status: 502, calls: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := newTarget(t, tt.answers...)
			c := testCaller(t, Limits{})
			h := tt.hook
			h.URL, h.Name, h.Method = tg.URL, "t", "POST"
			changes, err := run(t, c, &h, testEvent())
			if n := len(tg.requests()); n != tt.calls {
				t.Errorf("%d calls, want %d", n, tt.calls)
			}
			var in *Interrupted
			switch {
			case tt.interrupted != nil:
				if !errors.As(err, &in) {
					t.Fatalf("err = %v, want an interruption", err)
				}
				if !reflect.DeepEqual(in.Messages, tt.interrupted) {
					t.Errorf("messages\n got %+v\nwant %+v", in.Messages, tt.interrupted)
				}
			case tt.status != 0:
				if errors.As(err, &in) {
					t.Fatalf("interrupted: %v", err)
				}
				he := httpx.AsError(err)
				if he.Code != tt.status || strings.Contains(he.Reason, tg.URL) || strings.Contains(he.Message, "127.0.0.1") {
					t.Errorf("err = %d %q %q, want %d without the URL", he.Code, he.Reason, he.Message, tt.status)
				}
			case err != nil:
				t.Fatal(err)
			default:
				if !reflect.DeepEqual(changes, tt.changes) {
					t.Errorf("changes\n got %+v\nwant %+v", changes, tt.changes)
				}
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// counted is the calls counter of one flow and outcome.
func counted(t *testing.T, c *Caller, flow, outcome string) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.metrics.calls.WithLabelValues(flow, outcome).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func TestUnreachableHookFails(t *testing.T) {
	tg := newTarget(t)
	url := tg.URL
	tg.Close() // nothing listens there any more
	c := testCaller(t, Limits{})
	_, err := run(t, c, &WebHook{Name: "t", URL: url, Method: "POST"}, testEvent())
	he := httpx.AsError(err)
	if he.Code != 502 || he.Reason != "A third-party upstream service responded improperly. Please try again later." || strings.Contains(he.Message, "127.0.0.1") {
		t.Fatalf("err = %d %q %q", he.Code, he.Reason, he.Message)
	}
}

func TestSlowHookTimesOut(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	tg := newTarget(t, answer{status: 200, block: block})
	c := testCaller(t, Limits{Timeout: 50 * time.Millisecond})
	_, err := run(t, c, &WebHook{Name: "t", URL: tg.URL, Method: "POST"}, testEvent())
	he := httpx.AsError(err)
	if he.Code != 504 || he.Reason != "A third-party upstream service could not be reached. Please try again later." {
		t.Fatalf("err = %d %q", he.Code, he.Reason)
	}
	if n := counted(t, c, Registration, outcomeTimeout); n != 1 {
		t.Errorf("timeouts counted %v", n)
	}
}

func TestTemplateCancelSkipsTheCall(t *testing.T) {
	for _, tpl := range []string{
		`function(ctx) if ctx.identity.traits.email == "ada@example.test" then error "cancel" else {}`,
		`function(ctx) error "cancel: not for this one"`,
	} {
		tg := newTarget(t)
		c := testCaller(t, Limits{})
		if _, err := run(t, c, &WebHook{Name: "t", URL: tg.URL, Method: "POST", Template: tpl, TemplateURI: "base64://x"}, testEvent()); err != nil {
			t.Fatal(err)
		}
		if n := len(tg.requests()); n != 0 {
			t.Errorf("%s: %d calls, want none", tpl, n)
		}
		if n := counted(t, c, Registration, outcomeCancelled); n != 1 {
			t.Errorf("cancellations counted %v", n)
		}
	}
}

func TestTemplateErrors(t *testing.T) {
	tests := []struct{ name, template string }{
		{"RuntimeError", `function(ctx) { x: ctx.identity.traits.missing.deeper }`},
		{"Import", `function(ctx) { secrets: import "/etc/passwd" }`},
		{"OtherError", `function(ctx) error "no thanks"`},
		{"FormNotStrings", `{ n: 1 }`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := newTarget(t)
			c := testCaller(t, Limits{})
			h := &WebHook{Name: "t", URL: tg.URL, Method: "POST", Template: tt.template, TemplateURI: "base64://x"}
			if tt.name == "FormNotStrings" {
				h.Headers = map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
			}
			_, err := run(t, c, h, testEvent())
			if he := httpx.AsError(err); he.Code != 500 {
				t.Fatalf("err = %v, want a 500", err)
			}
			if n := len(tg.requests()); n != 0 {
				t.Errorf("%d calls", n)
			}
		})
	}
}

func TestParsingHooksRunFirstAndTheNextSeeTheirChanges(t *testing.T) {
	var order []string
	var mu sync.Mutex
	parse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		order = append(order, "parse")
		mu.Unlock()
		_, _ = io.WriteString(w, `{"identity":{"traits":{"email":"ada@example.test","name":"Changed"}}}`)
	}))
	defer parse.Close()
	var seen string
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		order = append(order, "plain")
		seen = string(b)
		mu.Unlock()
	}))
	defer plain.Close()
	c := testCaller(t, Limits{})
	r := &Runner{Flow: Settings, Caller: c, After: map[string][]*WebHook{"profile": {
		{Name: "plain", URL: plain.URL, Method: "POST", Template: `function(ctx) { name: ctx.identity.traits.name }`, TemplateURI: "base64://p"},
		{Name: "parse", URL: parse.URL, Method: "POST", Parse: true},
	}}}
	ev := testEvent()
	ev.Method = "profile"
	ch, err := r.RunAfter(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(order, []string{"parse", "plain"}) || compact(t, seen) != `{"name":"Changed"}` {
		t.Errorf("order %v, plain saw %s", order, seen)
	}
	if string(ch.Traits) != `{"email":"ada@example.test","name":"Changed"}` {
		t.Errorf("changes %s", ch.Traits)
	}
	if string(ev.Identity.Traits) != `{"email":"ada@example.test","name":"Ada"}` {
		t.Errorf("the caller's identity was changed: %s", ev.Identity.Traits)
	}
}

func TestMethodListsReplaceTheGeneralOne(t *testing.T) {
	tg := newTarget(t)
	c := testCaller(t, Limits{})
	general := &WebHook{Name: "general", URL: tg.URL + "/general", Method: "POST"}
	specific := &WebHook{Name: "password", URL: tg.URL + "/password", Method: "POST"}
	r := &Runner{Flow: Login, Caller: c, After: map[string][]*WebHook{"": {general}, "password": {specific}}}
	for _, method := range []string{"password", "totp"} {
		ev := testEvent()
		ev.Method = method
		if _, err := r.RunAfter(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	var paths []string
	for _, got := range tg.requests() {
		paths = append(paths, got.Path)
	}
	if !reflect.DeepEqual(paths, []string{"/password", "/general"}) {
		t.Errorf("paths %v", paths)
	}
	var none *Runner
	if none.HasAfter("password") {
		t.Error("a nil runner has hooks")
	}
	if _, err := none.RunAfter(context.Background(), testEvent()); err != nil {
		t.Error(err)
	}
}

func TestBeforeHookRefusesTheFlow(t *testing.T) {
	tg := newTarget(t, answer{status: 403, body: `{"messages":[{"instance_ptr":"#/","messages":[{"id":4000001,"text":"Sign-ups are closed.","type":"error"}]}]}`})
	c := testCaller(t, Limits{})
	r := &Runner{Flow: Registration, Caller: c, Before: []*WebHook{{Name: "gate", URL: tg.URL, Method: "POST", CanInterrupt: true}}}
	err := r.RunBefore(context.Background(), &Event{FlowID: flowID, Flow: map[string]any{"id": flowID}})
	he := httpx.AsError(err)
	if he.Code != 400 || he.Reason != "Sign-ups are closed." {
		t.Fatalf("err = %d %q", he.Code, he.Reason)
	}
}

func TestIgnoredHooksRunInTheBackground(t *testing.T) {
	release := make(chan struct{})
	tg := newTarget(t, answer{status: 500, block: release})
	c := testCaller(t, Limits{})
	r := &Runner{Flow: Registration, Caller: c, After: map[string][]*WebHook{"": {
		{Name: "notify", URL: tg.URL, Method: "POST", Ignore: true, Template: `function(ctx) { id: ctx.identity.id }`, TemplateURI: "base64://n"},
	}}}
	ev := testEvent()
	// An ignored hook is not waited for after the write...
	if ch, err := r.RunAfter(context.Background(), ev); ch != nil || err != nil {
		t.Fatalf("RunAfter = %v, %v", ch, err)
	}
	r.AfterCommit(context.Background(), ev)
	// ...and what it sees is rendered when it is queued.
	ev.Identity.ID = uuid.Nil
	if n := len(tg.requests()); n != 0 {
		t.Fatalf("%d calls before the worker runs", n)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		c.Run(ctx)
		close(done)
	}()
	for len(tg.requests()) == 0 {
		time.Sleep(time.Millisecond)
	}
	// Shutting down waits for the call in flight; its failure is only
	// logged and counted (a 500 is retried, within the timeout).
	stop()
	close(release)
	<-done
	got := tg.requests()
	if compact(t, got[0].Body) != `{"id":"`+identityID.String()+`"}` {
		t.Errorf("body %s", got[0].Body)
	}
	if n := counted(t, c, Registration, outcomeFailed); n != 1 {
		t.Errorf("failures counted %v", n)
	}
}

func TestFullQueueDropsCalls(t *testing.T) {
	c := testCaller(t, Limits{})
	c.queue = newBackground(c, 1, 1)
	h := &WebHook{Name: "notify", URL: "http://127.0.0.1:1/", Method: "POST", Ignore: true}
	r := &Runner{Flow: Login, Caller: c, After: map[string][]*WebHook{"": {h}}}
	r.AfterCommit(context.Background(), testEvent())
	r.AfterCommit(context.Background(), testEvent())
	if n := counted(t, c, Login, outcomeDropped); n != 1 {
		t.Errorf("dropped %v, want 1", n)
	}
	if len(c.queue.jobs) != 1 {
		t.Errorf("queued %d", len(c.queue.jobs))
	}
}

func TestInterruptedShowOn(t *testing.T) {
	ui := flow.Container{Nodes: []flow.Node{flow.Input(flow.GroupDefault, "traits.email", "email", nil)}}
	in := &Interrupted{Messages: []Message{
		{Node: "traits.email", Message: flow.Message{ID: 1, Text: "on the node", Type: "error"}},
		{Node: "traits.nickname", Message: flow.Message{ID: 2, Text: "no such node", Type: "error"}},
		{Message: flow.Message{ID: 3, Text: "on the flow", Type: "info"}},
	}}
	in.ShowOn(&ui)
	if len(ui.Nodes[0].Messages) != 1 || ui.Nodes[0].Messages[0].ID != 1 {
		t.Errorf("node messages %+v", ui.Nodes[0].Messages)
	}
	if len(ui.Messages) != 2 || ui.Messages[0].ID != 2 || ui.Messages[1].ID != 3 {
		t.Errorf("flow messages %+v", ui.Messages)
	}
}

func TestPointerToNode(t *testing.T) {
	for ptr, want := range map[string]string{
		"#/traits/email": "traits.email", "#/traits/name/first": "traits.name.first", "#/": "", "": "",
		"/traits/a~1b": "traits.a/b", "#/password": "password",
	} {
		if got := pointerToNode(ptr); got != want {
			t.Errorf("pointerToNode(%q) = %q, want %q", ptr, got, want)
		}
	}
}
