package recovery_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	ory "github.com/ory/client-go"

	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/server/servertest"
	"github.com/latchkey/latchkey/internal/sqlstore"
)

// The tests run the whole server (servertest) and drive it with the Ory
// Go SDK and plain HTTP, reading codes and links from the mail its
// courier delivers to an in-process SMTP server.

// Where the flows send browsers. Nothing serves these URLs: tests read
// the redirects to them.
const (
	uiBase        = "http://ui.example.test/"
	recoveryUI    = uiBase + "recovery"
	settingsUI    = uiBase + "settings"
	errorUI       = uiBase + "error"
	allowedReturn = "https://app.example.com/"
)

// Configuration switches the tests combine.
var (
	withLink              = []string{"SELFSERVICE_FLOWS_RECOVERY_USE=link", "SELFSERVICE_METHODS_LINK_ENABLED=true"}
	withKratosTransitions = []string{"FEATURE_FLAGS_USE_CONTINUE_WITH_TRANSITIONS=false"}
	withNotify            = []string{"SELFSERVICE_FLOWS_RECOVERY_NOTIFY_UNKNOWN_RECIPIENTS=true"}
	withoutConfirmation   = []string{"SELFSERVICE_METHODS_LINK_CONFIG_REQUIRE_CONFIRMATION=false"}
)

// options is the server the recovery tests run against, with the given
// switches on. It logs JSON, which the tests that read the log expect.
func options(switches ...[]string) servertest.Options {
	env := append(servertest.UIAt(uiBase),
		"SELFSERVICE_DEFAULT_BROWSER_RETURN_URL="+uiBase,
		`SELFSERVICE_ALLOWED_RETURN_URLS=["`+allowedReturn+`"]`,
		"LOG_FORMAT=json",
	)
	for _, s := range switches {
		env = append(env, s...)
	}
	return servertest.Options{Env: env}
}

// startLogged starts a server of dialect d with the given switches on,
// and returns it with its log.
func startLogged(t *testing.T, d sqlstore.Dialect, switches ...[]string) (*servertest.Server, *servertest.LogBuffer) {
	t.Helper()
	logs := &servertest.LogBuffer{}
	opts := options(switches...)
	opts.Dialect, opts.Log = d, logs
	return servertest.Start(t, opts), logs
}

// continueWith reports whether the server answers with continue_with
// (use_continue_with_transitions, Latchkey's default) rather than
// Kratos's transitions.
func continueWith(srv *servertest.Server) bool {
	return srv.Config.FeatureFlags.UseContinueWithTransitions
}

// --- fixtures ---

const oldPassword = "Old-Passw0rd-For-Recovery!"

// mustIdentity creates an identity with an email trait (recovery and
// verifiable address) and a password.
func mustIdentity(t *testing.T, srv *servertest.Server, email string) *ory.Identity {
	t.Helper()
	return srv.MustCreateIdentity(t, email, oldPassword)
}

// mustIdentityWithoutEmail creates an identity with no recovery address
// and returns its id. The default schema requires an email, so the
// identity is stored directly, as one imported under an older schema is.
func mustIdentityWithoutEmail(t *testing.T, srv *servertest.Server) string {
	t.Helper()
	i := &identity.Identity{ID: uuid.New(), SchemaID: "default", State: identity.StateActive, Traits: json.RawMessage(`{"name":"No Email"}`)}
	if err := sqlstore.NewIdentityStore(srv.DB).CreateIdentity(context.Background(), i); err != nil {
		t.Fatalf("create identity: %v", err)
	}
	return i.ID.String()
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

// mustReadCode waits for the next mail to address and returns its code.
func mustReadCode(t *testing.T, srv *servertest.Server, address string) string {
	t.Helper()
	m := srv.SMTP.WaitFor(t, address, 10*time.Second)
	c := codeInSubject.FindStringSubmatch(m.Subject)
	if c == nil {
		t.Fatalf("no code in subject %q", m.Subject)
	}
	if !strings.Contains(m.Text, c[1]) {
		t.Fatalf("mail body does not contain the code: %q", m.Text)
	}
	return c[1]
}

// mustReadLink waits for the next mail to address and returns its link.
func mustReadLink(t *testing.T, srv *servertest.Server, address string) string {
	t.Helper()
	m := srv.SMTP.WaitFor(t, address, 10*time.Second)
	l := linkInBody.FindString(m.Text)
	if l == "" {
		t.Fatalf("no recovery link in %q", m.Text)
	}
	return l
}

// queuedTo lists the messages queued (in any status) for a recipient.
func queuedTo(t *testing.T, srv *servertest.Server, address string) []ory.Message {
	t.Helper()
	ms, _, err := srv.SDK(false).CourierAPI.ListCourierMessages(context.Background()).Recipient(address).Execute()
	if err != nil {
		t.Fatalf("list courier messages: %v %s", err, servertest.ErrorText(err))
	}
	return ms
}

// newNativeFlow creates an api flow and returns its id.
func newNativeFlow(t *testing.T, srv *servertest.Server) string {
	t.Helper()
	f, _, err := srv.SDK(false).FrontendAPI.CreateNativeRecoveryFlow(context.Background()).Execute()
	if err != nil {
		t.Fatal(err)
	}
	return f.Id
}

// sentNativeFlow creates an api flow, sends a code to email and returns
// the flow id and the code.
func sentNativeFlow(t *testing.T, srv *servertest.Server, email string) (string, string) {
	t.Helper()
	id := newNativeFlow(t, srv)
	if res, body := postJSON(t, srv, nil, id, `{"method":"code","email":"`+email+`"}`, nil); res.StatusCode != 200 {
		t.Fatalf("email: %d %v", res.StatusCode, body)
	}
	return id, mustReadCode(t, srv, email)
}

// --- clients ---

// browser is an SDK client with a cookie jar that does not follow
// redirects, as a browser-driving test needs, and its HTTP client.
func browser(srv *servertest.Server) (*ory.APIClient, *http.Client) {
	hc := srv.HTTPClient(true)
	return srv.SDKWith(hc), hc
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
func csrfOf(f *ory.RecoveryFlow) string { return servertest.CSRFToken(f.Ui.Nodes) }

// messageIDs lists the flow-level message ids of a flow.
func messageIDs(f *ory.RecoveryFlow) []int64 { return servertest.MessageIDs(f.Ui.Messages) }

// postJSON posts a raw JSON body to the flow and decodes the answer.
func postJSON(t *testing.T, srv *servertest.Server, hc *http.Client, flowID, body string, header map[string]string) (*http.Response, map[string]any) {
	t.Helper()
	hdr := map[string]string{"Content-Type": "application/json", "Accept": "application/json"}
	for k, v := range header {
		hdr[k] = v
	}
	res, b := do(t, hc, "POST", srv.Public.URL+"/self-service/recovery?flow="+flowID, hdr, body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return res, m
}

// getJSON fetches a URL on the public listener and decodes the answer.
func getJSON(t *testing.T, srv *servertest.Server, hc *http.Client, path string, header map[string]string) (*http.Response, map[string]any) {
	t.Helper()
	hdr := map[string]string{"Accept": "application/json"}
	for k, v := range header {
		hdr[k] = v
	}
	res, b := do(t, hc, "GET", srv.Public.URL+path, hdr, "")
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

func itoa(i int64) string { return strconv.FormatInt(i, 10) }

func urlQuery(s string) string { return url.QueryEscape(s) }
