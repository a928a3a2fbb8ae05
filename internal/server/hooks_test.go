package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	ory "github.com/ory/client-go"

	"github.com/latchkey/latchkey/internal/hook"
	"github.com/latchkey/latchkey/internal/server/servertest"
)

// hookTarget is where the tests' web_hooks point: a real HTTP server in
// the test process that records every call and answers as the test says,
// per path.
type hookTarget struct {
	*httptest.Server
	mu       sync.Mutex
	calls    []hookCall
	handlers map[string]http.HandlerFunc
}

// hookCall is one call a hook made.
type hookCall struct {
	Path   string
	Header http.Header
	Body   map[string]any
}

func newHookTarget(t *testing.T) *hookTarget {
	t.Helper()
	h := &hookTarget{handlers: map[string]http.HandlerFunc{}}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		_ = json.Unmarshal(raw, &body)
		h.mu.Lock()
		h.calls = append(h.calls, hookCall{Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
		fn := h.handlers[r.URL.Path]
		h.mu.Unlock()
		if fn != nil {
			fn(w, r)
		}
	}))
	t.Cleanup(h.Close)
	return h
}

// on makes path answer with fn until the subtest ends (default: 200
// without a body).
func (h *hookTarget) on(t *testing.T, path string, fn http.HandlerFunc) {
	t.Helper()
	h.mu.Lock()
	h.handlers[path] = fn
	h.mu.Unlock()
	t.Cleanup(func() {
		h.mu.Lock()
		delete(h.handlers, path)
		h.mu.Unlock()
	})
}

// to are the calls made to path whose body names email (so calls of
// other subtests, background ones included, do not count).
func (h *hookTarget) to(path, email string) []hookCall {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []hookCall
	for _, c := range h.calls {
		if c.Path == path && (email == "" || strings.Contains(mustJSON(c.Body), email)) {
			out = append(out, c)
		}
	}
	return out
}

// eventually waits (a bounded while) for path to have been called for
// email: background calls arrive after the flow answered.
func (h *hookTarget) eventually(t *testing.T, path, email string) []hookCall {
	t.Helper()
	for range 500 {
		if calls := h.to(path, email); len(calls) > 0 {
			return calls
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no call to %s for %s", path, email)
	return nil
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// answerJSON answers status with body.
func answerJSON(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

// blockUntil holds the answer until release is closed.
func blockUntil(release <-chan struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}
}

// hangUp drops the connection without an answer, as a crashed hook does.
func hangUp(w http.ResponseWriter, _ *http.Request) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
}

// webHook is a web_hook's JSON config for a hooks list variable.
func webHook(cfg map[string]any) map[string]any {
	return map[string]any{"hook": "web_hook", "config": cfg}
}

// hooksEnv is a hooks-list configuration variable.
func hooksEnv(name string, hooks ...map[string]any) string {
	return name + "=" + mustJSON(hooks)
}

// example is the file:// URI of a Jsonnet example that docs/hooks.md
// shows (the test runs in internal/server).
func example(name string) string { return "file://../../docs/hooks/" + name }

// hookLimits keep a slow hook's test short; retries wait 10ms.
var hookLimits = hook.Limits{Timeout: 2 * time.Second, RetryWait: 10 * time.Millisecond}

// messagesAnswer is a parsing hook's 4xx answer putting one message on
// traits.email.
const messagesAnswer = `{"messages":[{"instance_ptr":"#/traits/email","messages":[{"id":4000001,"text":"This address is not allowed here.","type":"error","context":{"reason":"blocklist"}}]}]}`

// identitiesWith counts the identities with identifier email.
func identitiesWith(t *testing.T, srv *servertest.Server, email string) int {
	t.Helper()
	ids, _, err := srv.SDK(false).IdentityAPI.ListIdentities(context.Background()).CredentialsIdentifier(email).Execute()
	if err != nil {
		t.Fatal(err)
	}
	return len(ids)
}

// upstreamError asserts Kratos's 502/504 error without the hook's URL.
func upstreamError(t *testing.T, err error, code int, target *hookTarget) {
	t.Helper()
	body := servertest.ErrorBody(t, err)
	e, _ := body["error"].(map[string]any)
	if e == nil || e["code"] != float64(code) {
		t.Fatalf("want a %d error, got %v (%s)", code, err, servertest.ErrorText(err))
	}
	reason, _ := e["reason"].(string)
	if !strings.HasPrefix(reason, "A third-party upstream service") || strings.Contains(mustJSON(body), target.URL) {
		t.Errorf("error %v", body)
	}
}

func TestRegistrationHooks(t *testing.T) {
	target := newHookTarget(t)
	opts := servertest.EntryOptions(
		hooksEnv("SELFSERVICE_FLOWS_REGISTRATION_BEFORE_HOOKS",
			webHook(map[string]any{"url": target.URL + "/before", "method": "POST", "can_interrupt": true})),
		hooksEnv("SELFSERVICE_FLOWS_REGISTRATION_AFTER_PASSWORD_HOOKS",
			map[string]any{"hook": "session"},
			webHook(map[string]any{"url": target.URL + "/check", "method": "POST", "body": example("check-signup.jsonnet"), "response": map[string]any{"parse": true}}),
			webHook(map[string]any{"url": target.URL + "/crm", "method": "POST", "body": example("signup.jsonnet"),
				"auth": map[string]any{"type": "api_key", "config": map[string]any{"name": "X-Api-Key", "value": "crm-key", "in": "header"}}}),
			webHook(map[string]any{"url": target.URL + "/ignored", "method": "POST", "body": example("signup.jsonnet"), "response": map[string]any{"ignore": true}}),
		),
	)
	opts.WebHooks = hookLimits
	servertest.Each(t, opts, func(t *testing.T, srv *servertest.Server) {
		ctx := context.Background()
		sdk := srv.SDK(false)
		// The target outlives each dialect's server: addresses name the
		// dialect, so calls of another run never count.
		addr := addresses(t)
		register := func(t *testing.T, email string, payload map[string]any) (*ory.SuccessfulNativeRegistration, error) {
			t.Helper()
			f, _, err := sdk.FrontendAPI.CreateNativeRegistrationFlow(ctx).Execute()
			if err != nil {
				t.Fatalf("create flow: %v %s", err, servertest.ErrorText(err))
			}
			b := ory.NewUpdateRegistrationFlowWithPasswordMethod("password", pw, map[string]any{"email": email, "name": "Ada"})
			if payload != nil {
				b.SetTransientPayload(payload)
			}
			ok, _, err := sdk.FrontendAPI.UpdateRegistrationFlow(ctx).Flow(f.Id).
				UpdateRegistrationFlowBody(ory.UpdateRegistrationFlowWithPasswordMethodAsUpdateRegistrationFlowBody(b)).Execute()
			return ok, err
		}

		t.Run("AfterHooksSeeTheNewIdentity", func(t *testing.T) {
			email := addr("ada", "hooks.example")
			ok, err := register(t, email, map[string]any{"campaign": "spring"})
			if err != nil {
				t.Fatalf("register: %v %s", err, servertest.ErrorText(err))
			}
			id := ok.Identity.Id
			crm := target.to("/crm", email)
			if len(crm) != 1 {
				t.Fatalf("%d calls to /crm", len(crm))
			}
			// user_agent is the user's client's, from the allowlisted
			// request headers.
			ua, _ := crm[0].Body["user_agent"].(string)
			want := map[string]any{"identity_id": id, "email": email, "campaign": "spring", "user_agent": ua}
			if mustJSON(crm[0].Body) != mustJSON(want) || !strings.HasPrefix(ua, "ory-client-go/") {
				t.Errorf("/crm body %v, want %v", crm[0].Body, want)
			}
			if k := crm[0].Header.Get("X-Api-Key"); k != "crm-key" {
				t.Errorf("X-Api-Key %q", k)
			}
			check := target.to("/check", email)
			if len(check) != 1 || check[0].Body["traits"].(map[string]any)["name"] != "Ada" {
				t.Errorf("/check calls %v", check)
			}
			// The ignored hook runs after the identity was written.
			if got := target.eventually(t, "/ignored", email); got[0].Body["identity_id"] != id {
				t.Errorf("/ignored body %v", got[0].Body)
			}
			if ok.SessionToken == nil {
				t.Error("the session hook did not sign the identity in")
			}
		})

		t.Run("ParsedAnswerChangesTheIdentityBeforeItIsWritten", func(t *testing.T) {
			email := addr("grace", "hooks.example")
			target.on(t, "/check", answerJSON(200, `{"identity":{"traits":{"email":"`+email+`","name":"Grace from the CRM"},"metadata_public":{"plan":"gold"},"metadata_admin":{"crm_id":"c-1"}}}`))
			ok, err := register(t, email, nil)
			if err != nil {
				t.Fatalf("register: %v %s", err, servertest.ErrorText(err))
			}
			stored := srv.MustGetIdentity(t, ok.Identity.Id)
			if name := stored.Traits.(map[string]any)["name"]; name != "Grace from the CRM" {
				t.Errorf("stored name %v", name)
			}
			if mustJSON(stored.MetadataPublic) != `{"plan":"gold"}` || mustJSON(stored.MetadataAdmin) != `{"crm_id":"c-1"}` {
				t.Errorf("metadata %v %v", stored.MetadataPublic, stored.MetadataAdmin)
			}
			// The hooks after it saw the identity as changed, with the id
			// it was stored under.
			if crm := target.to("/crm", email); len(crm) != 1 || crm[0].Body["identity_id"] != ok.Identity.Id {
				t.Errorf("/crm calls %v", crm)
			}
		})

		t.Run("HookMayRegisterAnInactiveIdentity", func(t *testing.T) {
			email := addr("hal", "hooks.example")
			target.on(t, "/check", answerJSON(200, `{"identity":{"state":"inactive"}}`))
			ok, err := register(t, email, nil)
			if err != nil {
				t.Fatalf("register: %v %s", err, servertest.ErrorText(err))
			}
			if ok.Identity.GetState() != "inactive" || ok.SessionToken != nil || ok.Session != nil {
				t.Errorf("state %s, token %v", ok.Identity.GetState(), ok.SessionToken)
			}
		})

		t.Run("InterruptShowsMessagesAndWritesNothing", func(t *testing.T) {
			email := addr("mallory", "hooks.example")
			target.on(t, "/check", answerJSON(400, messagesAnswer))
			_, err := register(t, email, nil)
			f := rejectedRegistration(t, err)
			if ids := servertest.NodeMessageIDs(f.Ui.Nodes, "traits.email"); len(ids) != 1 || ids[0] != 4000001 {
				t.Errorf("traits.email messages %v", ids)
			}
			if v := servertest.Input(f.Ui.Nodes, "traits.email").Value; v != email {
				t.Errorf("the form lost the email: %v", v)
			}
			if n := identitiesWith(t, srv, email); n != 0 {
				t.Errorf("%d identities written", n)
			}
			if n := len(target.to("/crm", email)); n != 0 {
				t.Errorf("/crm called %d times after the interruption", n)
			}
		})

		t.Run("FailingHookWritesNothing", func(t *testing.T) {
			email := addr("oscar", "hooks.example")
			target.on(t, "/crm", answerJSON(500, `{}`))
			_, err := register(t, email, nil)
			upstreamError(t, err, http.StatusBadGateway, target)
			if n := identitiesWith(t, srv, email); n != 0 {
				t.Errorf("%d identities written", n)
			}
			// Kratos's client tries three times.
			if n := len(target.to("/crm", email)); n != 3 {
				t.Errorf("%d attempts", n)
			}
		})

		t.Run("UnreachableHookWritesNothing", func(t *testing.T) {
			email := addr("trudy", "hooks.example")
			target.on(t, "/crm", hangUp)
			_, err := register(t, email, nil)
			upstreamError(t, err, http.StatusBadGateway, target)
			if n := identitiesWith(t, srv, email); n != 0 {
				t.Errorf("%d identities written", n)
			}
		})

		t.Run("SlowHookTimesOutAndWritesNothing", func(t *testing.T) {
			email := addr("sloane", "hooks.example")
			release := make(chan struct{})
			defer close(release)
			target.on(t, "/crm", blockUntil(release))
			_, err := register(t, email, nil)
			upstreamError(t, err, http.StatusGatewayTimeout, target)
			if n := identitiesWith(t, srv, email); n != 0 {
				t.Errorf("%d identities written", n)
			}
		})

		t.Run("SlowIgnoredHookDoesNotBlock", func(t *testing.T) {
			email := addr("ivy", "hooks.example")
			release := make(chan struct{})
			answered := make(chan struct{})
			target.on(t, "/ignored", func(w http.ResponseWriter, r *http.Request) {
				blockUntil(release)(w, r)
				close(answered)
			})
			ok, err := register(t, email, nil)
			if err != nil {
				t.Fatalf("register: %v %s", err, servertest.ErrorText(err))
			}
			// The user has the account while the hook is still held.
			if n := identitiesWith(t, srv, email); n != 1 || ok.Identity.Id == "" {
				t.Fatalf("%d identities", n)
			}
			target.eventually(t, "/ignored", email)
			select {
			case <-answered:
				t.Fatal("the hook answered before it was released")
			default:
			}
			close(release)
			<-answered
		})

		t.Run("TemplateCancelSkipsTheCall", func(t *testing.T) {
			email := addr("robot", "skip.example")
			if _, err := register(t, email, nil); err != nil {
				t.Fatalf("register: %v %s", err, servertest.ErrorText(err))
			}
			if n := len(target.to("/crm", email)); n != 0 {
				t.Errorf("/crm called %d times", n)
			}
			if n := identitiesWith(t, srv, email); n != 1 {
				t.Errorf("%d identities", n)
			}
		})

		t.Run("BeforeHookRefusesTheFlow", func(t *testing.T) {
			target.on(t, "/before", answerJSON(403, `{"messages":[{"instance_ptr":"#/","messages":[{"id":4000001,"text":"Sign-ups are closed.","type":"error"}]}]}`))
			_, _, err := sdk.FrontendAPI.CreateNativeRegistrationFlow(ctx).Execute()
			body := servertest.ErrorBody(t, err)
			if e, _ := body["error"].(map[string]any); e["code"] != float64(400) || e["reason"] != "Sign-ups are closed." {
				t.Fatalf("answer %v", body)
			}
			target.on(t, "/before", answerJSON(500, ``))
			_, _, err = sdk.FrontendAPI.CreateNativeRegistrationFlow(ctx).Execute()
			upstreamError(t, err, http.StatusBadGateway, target)
			// A browser is sent to the error UI.
			res, _ := servertest.DoRaw(t, srv.HTTPClient(true), http.MethodGet, srv.Config.PublicURL("self-service/registration/browser"), nil, nil)
			if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, servertest.EntryErrorUI) {
				t.Errorf("browser: %d %s", res.StatusCode, loc)
			}
		})
	})
}

// addresses makes email addresses unique to the running dialect.
func addresses(t *testing.T) func(user, domain string) string {
	dialect := filepath.Base(t.Name())
	return func(user, domain string) string { return user + "." + dialect + "@" + domain }
}

// rejectedRegistration asserts a 400 answer carrying the registration flow.
func rejectedRegistration(t *testing.T, err error) *ory.RegistrationFlow {
	t.Helper()
	ge, ok := err.(*ory.GenericOpenAPIError)
	if !ok {
		t.Fatalf("want a 400 flow, got %v", err)
	}
	f, ok := ge.Model().(ory.RegistrationFlow)
	if !ok {
		t.Fatalf("want a registration flow, got %s", ge.Body())
	}
	return &f
}

// TestHookExamplesAreInTheDocs keeps docs/hooks.md and the Jsonnet
// examples the tests run in step: the doc shows each file verbatim.
func TestHookExamplesAreInTheDocs(t *testing.T) {
	doc, err := os.ReadFile("../../docs/hooks.md")
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("../../docs/hooks/*.jsonnet")
	if len(files) == 0 {
		t.Fatal("no examples")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(doc), "```jsonnet\n"+string(b)+"```") {
			t.Errorf("docs/hooks.md does not show %s as it is", filepath.Base(f))
		}
	}
}

func TestLoginHooks(t *testing.T) {
	target := newHookTarget(t)
	opts := servertest.EntryOptions(
		hooksEnv("SELFSERVICE_FLOWS_LOGIN_BEFORE_HOOKS",
			webHook(map[string]any{"url": target.URL + "/before", "method": "POST", "can_interrupt": true})),
		hooksEnv("SELFSERVICE_FLOWS_LOGIN_AFTER_PASSWORD_HOOKS",
			map[string]any{"hook": "revoke_active_sessions"},
			map[string]any{"hook": "require_verified_address"},
			webHook(map[string]any{"url": target.URL + "/login", "method": "POST", "body": example("login.jsonnet"), "can_interrupt": true,
				"auth": map[string]any{"type": "basic_auth", "config": map[string]any{"user": "kratos", "password": "hook-pa55"}}}),
		),
	)
	opts.WebHooks = hookLimits
	servertest.Each(t, opts, func(t *testing.T, srv *servertest.Server) {
		ctx := context.Background()
		sdk := srv.SDK(false)
		addr := addresses(t)
		verified := func(t *testing.T, email string) *ory.Identity {
			t.Helper()
			return srv.MustCreateIdentityBody(t, ory.CreateIdentityBody{
				SchemaId: "default", Traits: map[string]any{"email": email},
				Credentials: &ory.IdentityWithCredentials{Password: &ory.IdentityWithCredentialsPassword{
					Config: &ory.IdentityWithCredentialsPasswordConfig{Password: ory.PtrString(pw)}}},
				VerifiableAddresses: []ory.VerifiableIdentityAddress{*ory.NewVerifiableIdentityAddress("completed", email, true, "email")},
			})
		}
		login := func(t *testing.T, email string) (*ory.SuccessfulNativeLogin, error) {
			t.Helper()
			f, _, err := sdk.FrontendAPI.CreateNativeLoginFlow(ctx).Execute()
			if err != nil {
				t.Fatalf("create flow: %v %s", err, servertest.ErrorText(err))
			}
			ok, _, err := sdk.FrontendAPI.UpdateLoginFlow(ctx).Flow(f.Id).UpdateLoginFlowBody(loginWith(email)).Execute()
			return ok, err
		}
		sessionsOf := func(t *testing.T, id string) (active, total int) {
			t.Helper()
			list, _, err := sdk.IdentityAPI.ListIdentitySessions(ctx, id).Execute()
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range list {
				if s.GetActive() {
					active++
				}
			}
			return active, len(list)
		}

		t.Run("UnverifiedAddressIsRefused", func(t *testing.T) {
			email := addr("una", "hooks.example")
			id := srv.MustCreateIdentity(t, email, pw).Id
			_, err := login(t, email)
			f := rejectedLogin(t, err)
			if ids := servertest.MessageIDs(f.Ui.Messages); len(ids) != 1 || ids[0] != 4000010 || f.Ui.Messages[0].Text != "Account not active yet. Did you forget to verify your email address?" {
				t.Errorf("messages %v", f.Ui.Messages)
			}
			if _, total := sessionsOf(t, id); total != 0 {
				t.Errorf("%d sessions written", total)
			}
			if n := len(target.to("/login", id)); n != 0 {
				t.Errorf("/login called %d times", n)
			}
		})

		t.Run("HookSeesTheSessionAndOtherSessionsEnd", func(t *testing.T) {
			email := addr("vera", "hooks.example")
			id := verified(t, email).Id
			first, err := login(t, email)
			if err != nil {
				t.Fatalf("login: %v %s", err, servertest.ErrorText(err))
			}
			second, err := login(t, email)
			if err != nil {
				t.Fatalf("login: %v %s", err, servertest.ErrorText(err))
			}
			calls := target.to("/login", id)
			if len(calls) != 2 {
				t.Fatalf("%d calls", len(calls))
			}
			b := calls[1].Body
			if b["session_id"] != second.Session.Id || b["aal"] != "aal1" || b["method"] != "POST" || !strings.Contains(b["url"].(string), "/self-service/login?flow=") {
				t.Errorf("body %v (session %s)", b, second.Session.Id)
			}
			if u, p, ok := (&http.Request{Header: calls[1].Header}).BasicAuth(); !ok || u != "kratos" || p != "hook-pa55" {
				t.Errorf("basic auth %q %q %v", u, p, ok)
			}
			// revoke_active_sessions: the first session ended.
			if active, total := sessionsOf(t, id); active != 1 || total != 2 {
				t.Errorf("%d of %d sessions active", active, total)
			}
			if _, _, err := sdk.FrontendAPI.ToSession(ctx).XSessionToken(first.GetSessionToken()).Execute(); err == nil {
				t.Error("the first session still works")
			}
		})

		t.Run("HookRefusesWithMessages", func(t *testing.T) {
			email := addr("wade", "hooks.example")
			id := verified(t, email).Id
			target.on(t, "/login", answerJSON(403, `{"messages":[{"instance_ptr":"#/","messages":[{"id":4000001,"text":"Sign-in paused for this account.","type":"error"}]}]}`))
			_, err := login(t, email)
			f := rejectedLogin(t, err)
			if len(f.Ui.Messages) != 1 || f.Ui.Messages[0].Text != "Sign-in paused for this account." {
				t.Errorf("messages %v", f.Ui.Messages)
			}
			if _, total := sessionsOf(t, id); total != 0 {
				t.Errorf("%d sessions written", total)
			}
		})

		t.Run("FailingHookWritesNoSession", func(t *testing.T) {
			email := addr("xena", "hooks.example")
			id := verified(t, email).Id
			target.on(t, "/login", answerJSON(500, ``))
			_, err := login(t, email)
			upstreamError(t, err, http.StatusBadGateway, target)
			if _, total := sessionsOf(t, id); total != 0 {
				t.Errorf("%d sessions written", total)
			}
			// The refusal is in the audit log.
			events := srv.AuditEvents(t, id)
			if len(events) == 0 || events[len(events)-1].Result != "hook_failed" {
				t.Errorf("audit %v", servertest.AuditTypes(events))
			}
		})

		t.Run("BeforeHookRefusesTheFlow", func(t *testing.T) {
			target.on(t, "/before", answerJSON(502, ``))
			_, _, err := sdk.FrontendAPI.CreateNativeLoginFlow(ctx).Execute()
			upstreamError(t, err, http.StatusBadGateway, target)
		})
	})
}

func loginWith(email string) ory.UpdateLoginFlowBody {
	return ory.UpdateLoginFlowWithPasswordMethodAsUpdateLoginFlowBody(ory.NewUpdateLoginFlowWithPasswordMethod(email, "password", pw))
}

// rejectedLogin asserts a 400 answer carrying the login flow.
func rejectedLogin(t *testing.T, err error) *ory.LoginFlow {
	t.Helper()
	ge, ok := err.(*ory.GenericOpenAPIError)
	if !ok {
		t.Fatalf("want a 400 flow, got %v", err)
	}
	f, ok := ge.Model().(ory.LoginFlow)
	if !ok {
		t.Fatalf("want a login flow, got %s", ge.Body())
	}
	return &f
}

func TestSettingsHooks(t *testing.T) {
	target := newHookTarget(t)
	opts := servertest.EntryOptions(
		hooksEnv("SELFSERVICE_FLOWS_SETTINGS_BEFORE_HOOKS",
			webHook(map[string]any{"url": target.URL + "/before", "method": "POST"})),
		hooksEnv("SELFSERVICE_FLOWS_SETTINGS_AFTER_PROFILE_HOOKS",
			webHook(map[string]any{"url": target.URL + "/profile", "method": "POST", "body": example("settings.jsonnet"), "response": map[string]any{"parse": true}})),
		hooksEnv("SELFSERVICE_FLOWS_SETTINGS_AFTER_PASSWORD_HOOKS",
			map[string]any{"hook": "revoke_active_sessions"},
			webHook(map[string]any{"url": target.URL + "/password", "method": "POST", "body": example("settings.jsonnet")})),
	)
	opts.WebHooks = hookLimits
	servertest.Each(t, opts, func(t *testing.T, srv *servertest.Server) {
		ctx := context.Background()
		sdk := srv.SDK(false)
		addr := addresses(t)
		// update submits body to a new settings flow of the session token.
		update := func(t *testing.T, token string, body ory.UpdateSettingsFlowBody) (*ory.SettingsFlow, error) {
			t.Helper()
			f, _, err := sdk.FrontendAPI.CreateNativeSettingsFlow(ctx).XSessionToken(token).Execute()
			if err != nil {
				t.Fatalf("create flow: %v %s", err, servertest.ErrorText(err))
			}
			done, _, err := sdk.FrontendAPI.UpdateSettingsFlow(ctx).Flow(f.Id).XSessionToken(token).UpdateSettingsFlowBody(body).Execute()
			return done, err
		}
		profile := func(email, name string) ory.UpdateSettingsFlowBody {
			return ory.UpdateSettingsFlowWithProfileMethodAsUpdateSettingsFlowBody(
				ory.NewUpdateSettingsFlowWithProfileMethod("profile", map[string]any{"email": email, "name": name}))
		}
		newPassword := ory.UpdateSettingsFlowWithPasswordMethodAsUpdateSettingsFlowBody(
			ory.NewUpdateSettingsFlowWithPasswordMethod("password", "Another-long-passw0rd"))

		t.Run("ParsedAnswerChangesTheProfile", func(t *testing.T) {
			email := addr("pia", "hooks.example")
			id := srv.MustCreateIdentity(t, email, pw).Id
			token := srv.MustNativeLogin(t, email, pw)
			target.on(t, "/profile", answerJSON(200, `{"identity":{"traits":{"email":"`+email+`","name":"Pia (checked)"},"metadata_public":{"tier":"b"}}}`))
			done, err := update(t, token, profile(email, "Pia"))
			if err != nil {
				t.Fatalf("update: %v %s", err, servertest.ErrorText(err))
			}
			if done.State != "success" {
				t.Errorf("state %s", done.State)
			}
			stored := srv.MustGetIdentity(t, id)
			if name := stored.Traits.(map[string]any)["name"]; name != "Pia (checked)" || mustJSON(stored.MetadataPublic) != `{"tier":"b"}` {
				t.Errorf("stored %v %v", stored.Traits, stored.MetadataPublic)
			}
			calls := target.to("/profile", email)
			if len(calls) != 1 || calls[0].Body["traits"].(map[string]any)["name"] != "Pia" || calls[0].Body["session_id"] == nil {
				t.Errorf("/profile calls %v", calls)
			}
		})

		t.Run("InterruptShowsMessagesAndWritesNothing", func(t *testing.T) {
			email := addr("quinn", "hooks.example")
			id := srv.MustCreateIdentity(t, email, pw).Id
			token := srv.MustNativeLogin(t, email, pw)
			target.on(t, "/profile", answerJSON(422, `{"messages":[{"instance_ptr":"#/traits/name","messages":[{"id":4000002,"text":"Pick another name.","type":"error"}]}]}`))
			_, err := update(t, token, profile(email, "Forbidden"))
			ge, ok := err.(*ory.GenericOpenAPIError)
			if !ok {
				t.Fatalf("want a 400 flow, got %v", err)
			}
			f, ok := ge.Model().(ory.SettingsFlow)
			if !ok {
				t.Fatalf("want a settings flow, got %s", ge.Body())
			}
			if ids := servertest.NodeMessageIDs(f.Ui.Nodes, "traits.name"); len(ids) != 1 || ids[0] != 4000002 {
				t.Errorf("traits.name messages %v", ids)
			}
			if name, _ := srv.MustGetIdentity(t, id).Traits.(map[string]any)["name"]; name != nil {
				t.Errorf("name written: %v", name)
			}
		})

		t.Run("PasswordHookSeesTheChangeAndOtherSessionsEnd", func(t *testing.T) {
			email := addr("rene", "hooks.example")
			id := srv.MustCreateIdentity(t, email, pw).Id
			first := srv.MustNativeLogin(t, email, pw)
			second := srv.MustNativeLogin(t, email, pw)
			if _, err := update(t, second, newPassword); err != nil {
				t.Fatalf("update: %v %s", err, servertest.ErrorText(err))
			}
			if calls := target.to("/password", email); len(calls) != 1 || calls[0].Body["identity_id"] != id {
				t.Errorf("/password calls %v", calls)
			}
			if _, _, err := sdk.FrontendAPI.ToSession(ctx).XSessionToken(first).Execute(); err == nil {
				t.Error("the other session still works")
			}
		})

		t.Run("FailingHookKeepsTheOldPassword", func(t *testing.T) {
			email := addr("sven", "hooks.example")
			id := srv.MustCreateIdentity(t, email, pw).Id
			token := srv.MustNativeLogin(t, email, pw)
			other := srv.MustNativeLogin(t, email, pw)
			target.on(t, "/password", answerJSON(500, ``))
			_, err := update(t, token, newPassword)
			upstreamError(t, err, http.StatusBadGateway, target)
			if !srv.PasswordIs(t, id, pw) {
				t.Error("the password changed")
			}
			if _, _, err := sdk.FrontendAPI.ToSession(ctx).XSessionToken(other).Execute(); err != nil {
				t.Errorf("the other session was revoked: %v", err)
			}
		})

		t.Run("BeforeHookRefusesTheFlow", func(t *testing.T) {
			email := addr("tess", "hooks.example")
			srv.MustCreateIdentity(t, email, pw)
			token := srv.MustNativeLogin(t, email, pw)
			target.on(t, "/before", hangUp)
			_, _, err := sdk.FrontendAPI.CreateNativeSettingsFlow(ctx).XSessionToken(token).Execute()
			upstreamError(t, err, http.StatusBadGateway, target)
		})
	})
}

func TestRecoveryHooks(t *testing.T) {
	target := newHookTarget(t)
	opts := servertest.Options{
		Env: append(servertest.UIAt(servertest.EntryUI),
			hooksEnv("SELFSERVICE_FLOWS_RECOVERY_BEFORE_HOOKS",
				webHook(map[string]any{"url": target.URL + "/before", "method": "POST"})),
			hooksEnv("SELFSERVICE_FLOWS_RECOVERY_AFTER_HOOKS",
				webHook(map[string]any{"url": target.URL + "/recovery", "method": "POST", "body": example("recovery.jsonnet"), "can_interrupt": true}),
				webHook(map[string]any{"url": target.URL + "/ignored", "method": "POST", "body": example("recovery.jsonnet"), "response": map[string]any{"ignore": true}})),
		),
		WebHooks: hookLimits,
	}
	servertest.Each(t, opts, func(t *testing.T, srv *servertest.Server) {
		ctx := context.Background()
		addr := addresses(t)
		// adminCode starts an api recovery flow for id through the admin
		// API and returns the flow and its code.
		adminCode := func(t *testing.T, id string) (string, string) {
			t.Helper()
			code, _, err := srv.SDK(false).IdentityAPI.CreateRecoveryCodeForIdentity(ctx).
				CreateRecoveryCodeForIdentityBody(*ory.NewCreateRecoveryCodeForIdentityBody(id)).Execute()
			if err != nil {
				t.Fatalf("admin code: %v %s", err, servertest.ErrorText(err))
			}
			flowID := strings.SplitN(strings.SplitN(code.RecoveryLink, "flow=", 2)[1], "&", 2)[0]
			return flowID, code.RecoveryCode
		}
		submit := func(t *testing.T, flowID, code string) (*http.Response, map[string]any) {
			t.Helper()
			return servertest.Do(t, srv.HTTPClient(false), http.MethodPost, srv.Public.URL+"/self-service/recovery?flow="+flowID,
				map[string]any{"method": "code", "code": code}, http.Header{"Accept": {"application/json"}})
		}
		sessionsOf := func(t *testing.T, id string) int {
			t.Helper()
			list, _, err := srv.SDK(false).IdentityAPI.ListIdentitySessions(ctx, id).Execute()
			if err != nil {
				t.Fatal(err)
			}
			return len(list)
		}

		t.Run("AfterHooksSeeTheIdentity", func(t *testing.T) {
			email := addr("uma", "hooks.example")
			id := srv.MustCreateIdentity(t, email, pw).Id
			r := srv.MustRecover(t, id, "api", "")
			calls := target.to("/recovery", email)
			if len(calls) != 1 || calls[0].Body["identity_id"] != id || calls[0].Body["recovery_flow"] != r.RecoveryFlowID {
				t.Errorf("/recovery calls %v", calls)
			}
			target.eventually(t, "/ignored", email)
		})

		t.Run("HookRefusesAndTheCodeStaysUsable", func(t *testing.T) {
			email := addr("vic", "hooks.example")
			id := srv.MustCreateIdentity(t, email, pw).Id
			flowID, code := adminCode(t, id)
			target.on(t, "/recovery", answerJSON(403, `{"messages":[{"instance_ptr":"#/","messages":[{"id":4000001,"text":"Call the help desk first.","type":"error"}]}]}`))
			res, body := submit(t, flowID, code)
			msgs, _ := body["ui"].(map[string]any)["messages"].([]any)
			if res.StatusCode != http.StatusBadRequest || len(msgs) != 1 || msgs[0].(map[string]any)["text"] != "Call the help desk first." {
				t.Fatalf("answer %d %v", res.StatusCode, body)
			}
			if n := sessionsOf(t, id); n != 0 {
				t.Errorf("%d sessions", n)
			}
			target.on(t, "/recovery", answerJSON(200, `{}`))
			if res, body := submit(t, flowID, code); res.StatusCode != http.StatusOK || body["state"] != "passed_challenge" {
				t.Fatalf("second try %d %v", res.StatusCode, body)
			}
		})

		t.Run("FailingHookWritesNothing", func(t *testing.T) {
			email := addr("walt", "hooks.example")
			id := srv.MustCreateIdentity(t, email, pw).Id
			flowID, code := adminCode(t, id)
			target.on(t, "/recovery", answerJSON(503, ``))
			res, body := submit(t, flowID, code)
			if e, _ := body["error"].(map[string]any); res.StatusCode != http.StatusBadGateway || e["code"] != float64(502) {
				t.Fatalf("answer %d %v", res.StatusCode, body)
			}
			if n := sessionsOf(t, id); n != 0 {
				t.Errorf("%d sessions", n)
			}
		})

		t.Run("BeforeHookRefusesTheFlow", func(t *testing.T) {
			target.on(t, "/before", answerJSON(500, ``))
			_, _, err := srv.SDK(false).FrontendAPI.CreateNativeRecoveryFlow(ctx).Execute()
			upstreamError(t, err, http.StatusBadGateway, target)
		})
	})
}

// TestVerificationHooks: before.hooks can refuse a new verification flow;
// a blocking after-hook sees the identity before the address is verified
// and can refuse (the code stays usable); response.ignore hooks run once
// it is verified.
func TestVerificationHooks(t *testing.T) {
	target := newHookTarget(t)
	opts := servertest.Options{
		Env: []string{
			"SELFSERVICE_FLOWS_VERIFICATION_ENABLED=true",
			hooksEnv("SELFSERVICE_FLOWS_VERIFICATION_BEFORE_HOOKS",
				webHook(map[string]any{"url": target.URL + "/before", "method": "POST"})),
			hooksEnv("SELFSERVICE_FLOWS_VERIFICATION_AFTER_HOOKS",
				webHook(map[string]any{"url": target.URL + "/verified", "method": "POST", "body": example("verification.jsonnet"), "can_interrupt": true}),
				webHook(map[string]any{"url": target.URL + "/ignored", "method": "POST", "body": example("verification.jsonnet"), "response": map[string]any{"ignore": true}})),
		},
		WebHooks: hookLimits,
	}
	servertest.Each(t, opts, func(t *testing.T, srv *servertest.Server) {
		ctx := context.Background()
		sdk := srv.SDK(false)
		addr := addresses(t)
		email := addr("vera-verify", "hooks.example")
		id := srv.MustCreateIdentity(t, email, pw).Id

		f, res, err := sdk.FrontendAPI.CreateNativeVerificationFlow(ctx).Execute()
		mustStatus(t, res, err, http.StatusOK)
		_, res, err = verifyEmail(t, sdk, f.Id, email, "")
		mustStatus(t, res, err, http.StatusOK)
		code := srv.VerificationCode(t, email)

		target.on(t, "/verified", answerJSON(403, `{"messages":[{"instance_ptr":"#/","messages":[{"id":4000001,"text":"Not this address.","type":"error"}]}]}`))
		_, res, err = verifyCode(t, sdk, f.Id, code, "")
		if res == nil || res.StatusCode != http.StatusBadRequest || !strings.Contains(servertest.ErrorText(err), "Not this address.") {
			t.Fatalf("refused: %v %s", err, servertest.ErrorText(err))
		}
		if mustAddress(t, srv, id).Verified {
			t.Fatal("verified although the hook refused")
		}
		if calls := target.to("/verified", id); len(calls) != 1 || calls[0].Body["email"] != email || calls[0].Body["verification_flow"] != f.Id || calls[0].Body["method"] != "code" {
			t.Fatalf("/verified calls %v", calls)
		}

		target.on(t, "/verified", answerJSON(200, `{}`))
		passed, res, err := verifyCode(t, sdk, f.Id, code, "")
		mustStatus(t, res, err, http.StatusOK)
		if passed.State != "passed_challenge" || !mustAddress(t, srv, id).Verified {
			t.Fatalf("after the hook allowed: %v", passed.State)
		}
		target.eventually(t, "/ignored", id)

		target.on(t, "/before", answerJSON(500, ``))
		_, _, err = sdk.FrontendAPI.CreateNativeVerificationFlow(ctx).Execute()
		upstreamError(t, err, http.StatusBadGateway, target)
	})
}
