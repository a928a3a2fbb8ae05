package session_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"
	ory "github.com/ory/client-go"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

// The tests run the whole server (servertest) and present sessions the
// way clients do: a token header, a cookie, an Authorization header.
// Sessions come from password logins.

const (
	// errorUI is where browser errors are sent; nothing serves it.
	errorUI = "https://ui.example/error"
	// logoutReturn is where a browser goes after logging out.
	logoutReturn = "https://app.example/bye"
	// tokenSecret signs tokens (secrets.default), cookieSecret cookies.
	tokenSecret  = "a-test-secret-of-32-characters!!"
	cookieSecret = "a-cookie-secret-of-32-characters"
	pw           = "Session-Passw0rd-Latchkey!"
)

// options is the server the session tests run against, with extra
// configuration variables.
func options(env ...string) servertest.Options {
	base := []string{
		"SELFSERVICE_FLOWS_ERROR_UI_URL=" + errorUI,
		"SELFSERVICE_FLOWS_LOGOUT_AFTER_DEFAULT_BROWSER_RETURN_URL=" + logoutReturn,
		`SELFSERVICE_ALLOWED_RETURN_URLS=["https://app.example/"]`,
		`SECRETS_DEFAULT=["` + tokenSecret + `"]`,
		`SECRETS_COOKIE=["` + cookieSecret + `"]`,
	}
	return servertest.Options{NoSMTP: true, Env: append(base, env...)}
}

// start starts a server sharing srv's database, configured by env, with
// its clock stopped: the tests compare exact times.
func start(t *testing.T, srv *servertest.Server, env ...string) *servertest.Server {
	t.Helper()
	other := srv.StartSharingDB(t, options(env...))
	other.Clock.Freeze()
	return other
}

var identitySeq atomic.Int64

// identityOpts shape mustIdentity.
type identityOpts struct {
	inactive bool
	// secondFactor adds a credential of this type (totp, webauthn, lookup_secret).
	secondFactor string
}

// mustIdentity creates an identity with an email trait (a recovery
// address) and the password pw, and returns it with its email.
func mustIdentity(t testing.TB, srv *servertest.Server, o identityOpts) (*ory.Identity, string) {
	t.Helper()
	email := fmt.Sprintf("u-%d-%s@example.test", identitySeq.Add(1), uuid.NewString()[:8])
	body := ory.CreateIdentityBody{SchemaId: "default", Traits: map[string]any{"email": email},
		Credentials: &ory.IdentityWithCredentials{Password: &ory.IdentityWithCredentialsPassword{
			Config: &ory.IdentityWithCredentialsPasswordConfig{Password: ory.PtrString(pw)}}}}
	if o.inactive {
		body.State = ory.PtrString("inactive")
	}
	i := srv.MustCreateIdentityBody(t, body)
	if o.secondFactor != "" {
		// Latchkey has no method to enrol a second factor: it is written
		// as an imported identity would hold it.
		now := srv.DB.T(srv.Clock.Now())
		mustExec(t, srv, `INSERT INTO identity_credentials (id, identity_id, type, config, version, created_at, updated_at) VALUES (?, ?, ?, ?, 0, ?, ?)`,
			uuid.NewString(), i.Id, o.secondFactor, `{}`, now, now)
	}
	return i, email
}

func mustExec(t testing.TB, srv *servertest.Server, q string, args ...any) {
	t.Helper()
	if _, err := srv.DB.Exec(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// curl is how the sessions of these tests were signed in: a curl client.
var curl = http.Header{"User-Agent": {"curl/7.88.1"}}

// login signs in with a password as a browser (an SPA posting JSON),
// sending header with both requests, and returns the session and the
// client address the server saw for the submission.
func login(t testing.TB, srv *servertest.Server, email string, header http.Header) (servertest.Session, string) {
	t.Helper()
	c := srv.HTTPClient(true)
	h := http.Header{"Accept": {"application/json"}}
	for k, v := range header {
		h[k] = v
	}
	res, f := servertest.Do(t, c, http.MethodGet, srv.Public.URL+"/self-service/login/browser", nil, h)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("create login flow: %d %v", res.StatusCode, f)
	}
	var addr string
	trace := &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) { addr = ci.Conn.LocalAddr().String() }}
	csrf := ""
	for _, n := range f["ui"].(map[string]any)["nodes"].([]any) {
		if a := n.(map[string]any)["attributes"].(map[string]any); a["name"] == "csrf_token" {
			csrf, _ = a["value"].(string)
		}
	}
	body, _ := json.Marshal(map[string]string{"method": "password", "identifier": email, "password": pw, "csrf_token": csrf})
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodPost,
		srv.Public.URL+"/self-service/login?flow="+f["id"].(string), strings.NewReader(string(body)))
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	// An identity with a second factor is sent on to the second step
	// (422), holding its aal1 session cookie.
	secondStep := res.StatusCode == http.StatusUnprocessableEntity && strings.Contains(string(raw), `"browser_location_change_required"`)
	if res.StatusCode != http.StatusOK && !secondStep {
		t.Fatalf("login %s: %d %s", email, res.StatusCode, raw)
	}
	return srv.SessionOf(t, res), addr
}

// mustSession signs the identity of email in from a curl client.
func mustSession(t *testing.T, srv *servertest.Server, email string) servertest.Session {
	t.Helper()
	s, _ := login(t, srv, email, curl)
	return s
}

// cookieHeader is the Cookie header a browser holding sess sends.
func cookieHeader(sess servertest.Session) string { return sess.Cookie.Name + "=" + sess.Cookie.Value }

// logoutToken is the logout token of the session a browser holds.
func logoutToken(t *testing.T, srv *servertest.Server, sess servertest.Session) string {
	t.Helper()
	f, _, err := srv.SDK(false).FrontendAPI.CreateBrowserLogoutFlow(context.Background()).Cookie(cookieHeader(sess)).Execute()
	if err != nil {
		t.Fatalf("logout flow: %v %s", err, servertest.ErrorText(err))
	}
	return f.LogoutToken
}

// whoami is the session of token as whoami shows it.
func whoami(t *testing.T, srv *servertest.Server, token string) *ory.Session {
	t.Helper()
	s, _, err := srv.SDK(false).FrontendAPI.ToSession(context.Background()).XSessionToken(token).Execute()
	if err != nil {
		t.Fatalf("whoami: %v %s", err, servertest.ErrorText(err))
	}
	return s
}

// adminSession is a session as the admin API shows it.
func adminSession(t *testing.T, srv *servertest.Server, id string) *ory.Session {
	t.Helper()
	s, _, err := srv.SDK(false).IdentityAPI.GetSession(context.Background(), id).Execute()
	if err != nil {
		t.Fatalf("get session: %v %s", err, servertest.ErrorText(err))
	}
	return s
}

// revoke ends a session through the admin API.
func revoke(t *testing.T, srv *servertest.Server, id string) {
	t.Helper()
	if _, err := srv.SDK(false).IdentityAPI.DisableSession(context.Background(), id).Execute(); err != nil {
		t.Fatalf("disable session: %v %s", err, servertest.ErrorText(err))
	}
}

// response is a finished HTTP exchange.
type response struct {
	*http.Response
	body string
}

// do sends a request to base+path with headers given as "Key: value".
func do(t testing.TB, method, urlStr, body string, headers ...string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, urlStr, rd)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{res, string(b)}
}

// expect checks status and, when want is not empty, the exact body.
func (r response) expect(t testing.TB, status int, want string) {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d; body %s", r.Request.Method, r.Request.URL, r.StatusCode, status, r.body)
	}
	if want != "" && strings.TrimSpace(r.body) != want {
		t.Fatalf("%s %s: body\n%s\nwant\n%s", r.Request.Method, r.Request.URL, strings.TrimSpace(r.body), want)
	}
}

// setCookie is the Set-Cookie line of res for the named cookie ("" when
// there is none). The server may set others (CSRF) in the same answer.
func setCookie(res *http.Response, name string) string {
	for _, c := range res.Cookies() {
		if c.Name == name {
			return c.Raw
		}
	}
	return ""
}

// jsonOf decodes a body into a generic value.
func jsonOf(t testing.TB, body string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("not JSON: %v: %s", err, body)
	}
	return v
}
