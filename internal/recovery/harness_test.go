package recovery_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	ory "github.com/ory/client-go"

	"github.com/latchkey/latchkey/internal/courier"
	"github.com/latchkey/latchkey/internal/courier/smtptest"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/login"
	"github.com/latchkey/latchkey/internal/password"
	"github.com/latchkey/latchkey/internal/recovery"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/internal/settings"
	"github.com/latchkey/latchkey/internal/sqlstore"
)

// The harness wires the real stores and services recovery depends on
// (identities, sessions, courier queue and dispatcher with an in-process
// SMTP server, flow store) around one recovery.Handler, served by
// httptest on a public and an admin listener. Tests drive it with the Ory
// Go SDK and read codes and links from the mail the SMTP server receives.

// clock is a settable test clock; it starts at the real time so SMTP and
// the dispatcher (which run on real time) agree with it.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

// Now ticks one microsecond per call, as a real clock would between two
// writes. (A frozen clock makes MySQL report 0 affected rows for an
// UPDATE that changes nothing, which FlowStore.UpdateFlow reads as "not
// found": the MySQL DSN lacks clientFoundRows=true.)
func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Microsecond)
	return c.now
}
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type harness struct {
	t          *testing.T
	db         *sqlstore.DB
	clock      *clock
	cfg        recovery.Config
	service    *recovery.Service
	handler    *recovery.Handler
	identities *identity.Service
	settings   *settings.Service
	sessions   *session.Manager
	courier    *sqlstore.CourierStore
	mail       *smtptest.Server
	pub, adm   *httptest.Server
	logs       *logBuffer
	csrf       *flow.CSRF
	errs       *flow.Errors
}

// option changes the recovery config before the handler is built.
type option func(*recovery.Config)

func withLink(c *recovery.Config)              { c.Use, c.LinkEnabled = recovery.MethodLink, true }
func withKratosTransitions(c *recovery.Config) { c.ContinueWithTransitions = false }
func withNotify(c *recovery.Config)            { c.NotifyUnknownRecipients = true }
func withoutConfirmation(c *recovery.Config)   { c.RequireConfirmation = false }

var testSecret = secret.Hasher{Secrets: [][]byte{[]byte("recovery-test-secret-0123456789abcdef")}}

// newHarness builds a full recovery stack on db. mailer, when set,
// shares the SMTP server of another harness (two instances, one database).
func newHarness(t *testing.T, db *sqlstore.DB, opts ...option) *harness {
	t.Helper()
	h := &harness{t: t, db: db, clock: &clock{now: time.Now().UTC()}, logs: &logBuffer{}}
	now := h.clock.Now
	db.Now = now
	logger := slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	pubMux, admMux := http.NewServeMux(), http.NewServeMux()
	withLog := func(mux http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if ip := r.Header.Get("X-Test-Client-IP"); ip != "" {
				r.RemoteAddr = ip + ":1234"
			}
			mux.ServeHTTP(w, r.WithContext(httpx.WithLogger(r.Context(), logger)))
		})
	}
	h.pub = httptest.NewServer(withLog(pubMux))
	h.adm = httptest.NewServer(withLog(admMux))
	t.Cleanup(h.pub.Close)
	t.Cleanup(h.adm.Close)
	pubBase := h.pub.URL + "/"

	hasher, err := password.NewHasher(password.HashConfig{BcryptCost: 4}, 2)
	if err != nil {
		t.Fatal(err)
	}
	schemas := identity.MustDefaultSchemas()
	h.identities = identity.NewService(sqlstore.NewIdentityStore(db), schemas, passwords{hasher}, now)
	h.sessions = &session.Manager{
		Store:      sqlstore.NewSessionStore(db),
		Identities: h.identities,
		Config: session.Config{
			Lifespan:      24 * time.Hour,
			Cookie:        session.CookieConfig{Name: session.DefaultCookieName, Path: "/", SameSite: http.SameSiteLaxMode, Persistent: true},
			PublicBaseURL: mustURL(pubBase),
		},
		Tokens: testSecret,
		Now:    now,
	}

	h.mail = smtptest.Start(t)
	h.courier = sqlstore.NewCourierStore(db)
	templates, err := courier.NewTemplates(courier.TemplatesConfig{})
	if err != nil {
		t.Fatal(err)
	}
	sender, err := courier.NewSMTPSender(courier.SMTPConfig{ConnectionURI: h.mail.URI(), FromAddress: "no-reply@latchkey.example.test", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	dispatcher, err := courier.NewDispatcher(courier.DispatcherConfig{Store: h.courier, Templates: templates, Sender: sender, Logger: logger, PullWait: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); dispatcher.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	queue := courier.NewQueue(h.courier, templates, dispatcher.Wake)

	flows := sqlstore.NewFlowStore(db)
	site := flow.Site{PublicBaseURL: pubBase, DefaultBrowserReturnURL: "http://ui.example.test/", Now: now,
		ReturnTo: flow.ReturnToPolicy{Allowed: []*url.URL{mustURL("https://app.example.com/")}, PublicBase: mustURL(pubBase), DefaultReturn: mustURL("http://ui.example.test/")}}
	cfg := recovery.Config{Site: site, Enabled: true, Use: recovery.MethodCode, CodeEnabled: true,
		FlowLifespan: time.Hour, CodeLifespan: time.Hour, LinkLifespan: time.Hour, MaxSubmissions: 5,
		RevokeOtherSessions: true, ContinueWithTransitions: true, RequireConfirmation: true,
		RateLimit: recovery.RateLimits{PerAddress: recovery.RateLimit{Max: 5, Window: time.Hour}, PerIP: recovery.RateLimit{Max: 100, Window: time.Hour}}}
	cfg.RecoveryUIURL = "http://ui.example.test/recovery"
	cfg.SettingsUIURL = "http://ui.example.test/settings"
	cfg.ErrorUIURL = "http://ui.example.test/error"
	for _, o := range opts {
		o(&cfg)
	}
	h.cfg = cfg
	csrf := flow.NewCSRF(pubBase, "/", "", http.SameSiteLaxMode, false)
	h.csrf = csrf
	errs := &flow.Errors{Store: flows, UIURL: cfg.ErrorUIURL, Now: now}
	h.errs = errs
	respond := &flow.Responder{CSRF: csrf, Errors: errs, SetSessionCookie: func(w http.ResponseWriter, g *flow.SessionGrant) { h.sessions.WriteCookie(w, g.Token, g.ExpiresAt) }}
	sessionOf := func(ctx context.Context, r *http.Request) (*session.Session, error) {
		sess, err := h.sessions.FromRequest(ctx, r)
		if errors.Is(err, session.ErrNoActiveSession) {
			return nil, nil
		}
		return sess, err
	}
	common := func(kind string, svc flow.Service[*session.Session]) *flow.Handler[*session.Session] {
		return &flow.Handler[*session.Session]{Kind: kind, Service: svc, Session: sessionOf, Respond: respond}
	}

	policy, err := password.NewPolicy(password.DefaultPolicyConfig())
	if err != nil {
		t.Fatal(err)
	}
	scfg := settings.Config{Site: site, FlowLifespan: time.Hour, PrivilegedSessionMaxAge: time.Hour, RevokeOtherSessions: true, PasswordEnabled: true, ProfileEnabled: true,
		SettingsUIURL: cfg.SettingsUIURL, LoginUIURL: "http://ui.example.test/login", ErrorUIURL: cfg.ErrorUIURL}
	h.settings = &settings.Service{
		Config: scfg, Flows: flows, Identities: h.identities, Schemas: schemas,
		Sessions: h.sessions, Passwords: hasher, Policy: policy, Tx: db,
	}
	(&settings.Handler{Service: h.settings, Common: common("settings", h.settings)}).RegisterPublic(pubMux)
	logins := &login.Service{
		Config: login.Config{Site: site, Lifespan: time.Hour, UIURL: "http://ui.example.test/login", AfterReturnURL: "http://ui.example.test/"},
		Flows:  flows, Sessions: h.sessions, Tx: db,
		Methods: []login.Method{&login.Password{On: true, SchemaID: "default", Identities: h.identities, Schemas: schemas, Passwords: hasher}},
	}
	common("login", logins).Register(pubMux)

	h.service = &recovery.Service{
		Config: cfg, Tx: db, Flows: flows, Store: sqlstore.NewRecoveryStore(db),
		Identities: h.identities, Sessions: h.sessions, Settings: h.settings,
		Mail: queue, Hasher: testSecret,
		SchemaURL: func(id string) string { return identity.SchemaURL(pubBase, id) },
	}
	h.handler = &recovery.Handler{Service: h.service, Common: common("recovery", h.service)}
	h.handler.Register(pubMux, admMux)
	(&session.Handler{Manager: h.sessions}).RegisterPublic(pubMux)
	pubMux.HandleFunc("GET /self-service/errors", errs.ServeError)
	return h
}

// passwords adapts password.Hasher to identity.PasswordHasher.
type passwords struct{ *password.Hasher }

func (passwords) IsKnownFormat(hash string) bool { return password.IsKnownFormat(hash) }

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// --- fixtures ---

const oldPassword = "Old-Passw0rd-For-Recovery!"

// MustIdentity creates an identity with an email trait (recovery and
// verifiable address) and a password.
func (h *harness) MustIdentity(email string) *identity.Identity {
	h.t.Helper()
	i, err := h.identities.Create(context.Background(), identity.CreateInput{
		SchemaID: "default", Traits: json.RawMessage(fmt.Sprintf(`{"email":%q}`, email)),
		Credentials: &identity.CredentialsInput{Password: &identity.PasswordCredentialsInput{Config: identity.PasswordInputConfig{Password: oldPassword}}},
	})
	if err != nil {
		h.t.Fatalf("create identity: %v", err)
	}
	return i
}

// MustIdentityWithoutEmail creates an identity with no recovery address.
func (h *harness) MustIdentityWithoutEmail() *identity.Identity {
	h.t.Helper()
	// The default schema requires email; store a bare identity directly.
	i := &identity.Identity{ID: uuid.New(), SchemaID: "default", State: identity.StateActive, Traits: json.RawMessage(`{"name":"No Email"}`)}
	if err := sqlstore.NewIdentityStore(h.db).CreateIdentity(context.Background(), i); err != nil {
		h.t.Fatalf("create identity: %v", err)
	}
	return i
}

var emailSeq struct {
	sync.Mutex
	n int
}

// uniqueEmail returns a fresh address (mail is matched by recipient).
func uniqueEmail(prefix string) string {
	emailSeq.Lock()
	defer emailSeq.Unlock()
	emailSeq.n++
	return fmt.Sprintf("%s-%d-%s@example.test", prefix, emailSeq.n, uuid.NewString()[:8])
}

var (
	codeInSubject = regexp.MustCompile(`Use code (\d{6}) `)
	linkInBody    = regexp.MustCompile(`https?://\S+/self-service/recovery\?flow=[0-9a-f-]{36}&token=[A-Za-z0-9]{32}`)
)

// MustReadCode waits for the next mail to address and returns its code.
func (h *harness) MustReadCode(address string) string {
	h.t.Helper()
	m := h.mail.WaitFor(h.t, address, 10*time.Second)
	c := codeInSubject.FindStringSubmatch(m.Subject)
	if c == nil {
		h.t.Fatalf("no code in subject %q", m.Subject)
	}
	if !strings.Contains(m.Text, c[1]) {
		h.t.Fatalf("mail body does not contain the code: %q", m.Text)
	}
	return c[1]
}

// MustReadLink waits for the next mail to address and returns its link.
func (h *harness) MustReadLink(address string) string {
	h.t.Helper()
	m := h.mail.WaitFor(h.t, address, 10*time.Second)
	l := linkInBody.FindString(m.Text)
	if l == "" {
		h.t.Fatalf("no recovery link in %q", m.Text)
	}
	return l
}

// queuedTo counts messages queued (in any status) for a recipient.
func (h *harness) queuedTo(address string) []courier.Message {
	h.t.Helper()
	ms, err := h.courier.ListMessages(context.Background(), courier.MessageFilter{Recipient: address, Limit: 100})
	if err != nil {
		h.t.Fatal(err)
	}
	return ms
}

// --- clients ---

// Native is an SDK client without cookies (a native app).
func (h *harness) Native() *ory.APIClient { return h.sdk(h.pub.URL, nil) }

// Browser is an SDK client with a cookie jar that does not follow
// redirects, as a browser-driving test needs.
func (h *harness) Browser() (*ory.APIClient, *http.Client) {
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return h.sdkWith(h.pub.URL, hc), hc
}

// Admin is an SDK client of the admin listener.
func (h *harness) Admin() *ory.APIClient { return h.sdk(h.adm.URL, nil) }

func (h *harness) sdk(base string, jar http.CookieJar) *ory.APIClient {
	return h.sdkWith(base, &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }})
}

func (h *harness) sdkWith(base string, hc *http.Client) *ory.APIClient {
	cfg := ory.NewConfiguration()
	cfg.Servers = ory.ServerConfigurations{{URL: base}}
	cfg.HTTPClient = hc
	return ory.NewAPIClient(cfg)
}

// do sends a raw request and returns the response with its body read.
func do(t *testing.T, hc *http.Client, method, u string, header map[string]string, body string) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if hc == nil {
		hc = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	res, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, b
}

// --- logs ---

type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// --- request helpers ---

func codeBody(email, code, csrf string) ory.UpdateRecoveryFlowBody {
	b := &ory.UpdateRecoveryFlowWithCodeMethod{Method: "code"}
	if email != "" {
		b.Email = ory.PtrString(email)
	}
	if code != "" {
		b.Code = ory.PtrString(code)
	}
	if csrf != "" {
		b.CsrfToken = ory.PtrString(csrf)
	}
	return ory.UpdateRecoveryFlowWithCodeMethodAsUpdateRecoveryFlowBody(b)
}

func linkBody(email, csrf string) ory.UpdateRecoveryFlowBody {
	b := &ory.UpdateRecoveryFlowWithLinkMethod{Method: "link", Email: email}
	if csrf != "" {
		b.CsrfToken = ory.PtrString(csrf)
	}
	return ory.UpdateRecoveryFlowWithLinkMethodAsUpdateRecoveryFlowBody(b)
}

// csrfOf returns the csrf_token node value of a flow.
func csrfOf(f *ory.RecoveryFlow) string {
	for _, n := range f.Ui.Nodes {
		if a := n.Attributes.UiNodeInputAttributes; a != nil && a.Name == "csrf_token" {
			if s, ok := a.Value.(string); ok {
				return s
			}
		}
	}
	return ""
}

// messageIDs lists the flow-level message ids of a flow.
func messageIDs(f *ory.RecoveryFlow) []int64 {
	var ids []int64
	for _, m := range f.Ui.Messages {
		ids = append(ids, m.Id)
	}
	return ids
}

// postJSON posts a raw JSON body to the flow and decodes the answer.
func (h *harness) postJSON(hc *http.Client, flowID, body string, header map[string]string) (*http.Response, map[string]any) {
	h.t.Helper()
	hdr := map[string]string{"Content-Type": "application/json", "Accept": "application/json"}
	for k, v := range header {
		hdr[k] = v
	}
	res, b := do(h.t, hc, "POST", h.pub.URL+"/self-service/recovery?flow="+flowID, hdr, body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return res, m
}

// getJSON fetches a URL on the public listener and decodes the answer.
func (h *harness) getJSON(hc *http.Client, path string, header map[string]string) (*http.Response, map[string]any) {
	h.t.Helper()
	hdr := map[string]string{"Accept": "application/json"}
	for k, v := range header {
		hdr[k] = v
	}
	res, b := do(h.t, hc, "GET", h.pub.URL+path, hdr, "")
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return res, m
}

// sdkError returns the HTTP status and raw body of a failed SDK call.
func sdkError(t *testing.T, res *http.Response, err error) (int, map[string]any) {
	t.Helper()
	if err == nil {
		t.Fatalf("expected an error, got status %d", res.StatusCode)
	}
	var m map[string]any
	if oe, ok := err.(*ory.GenericOpenAPIError); ok {
		_ = json.Unmarshal(oe.Body(), &m)
	}
	if res == nil {
		t.Fatalf("no response: %v", err)
	}
	return res.StatusCode, m
}

// dig walks a decoded JSON value along keys (strings for objects, ints
// for arrays).
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			a, ok := v.([]any)
			if !ok || k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

// cookieNamed returns the Set-Cookie of res with that name, or nil.
func cookieNamed(res *http.Response, name string) *http.Cookie {
	for _, c := range res.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func (h *harness) csrfCookieName() string { return h.csrf.CookieName }

func mustUUID(s string) uuid.UUID { return uuid.MustParse(s) }

func itoa(i int64) string { return strconv.FormatInt(i, 10) }

func urlQuery(s string) string { return url.QueryEscape(s) }
