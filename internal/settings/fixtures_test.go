package settings_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	ory "github.com/ory/client-go"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

// The tests run the whole server (servertest) and drive the settings
// flow with the Ory Go SDK (native and SPA) and with plain HTTP form
// posts. Sessions come from the flow that hands over to settings in
// production: a recovery (here with an admin code).

// Where the flows send browsers. Nothing serves these URLs: tests read
// the redirects to them.
const (
	uiBase     = "http://ui.example.test/"
	settingsUI = uiBase + "settings"
	loginUI    = uiBase + "login"
	errorUI    = uiBase + "error"
)

// noIdentifierSchema is a second identity schema whose traits have no
// password identifier (message 4000009).
const noIdentifierSchema = `{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","properties":{"traits":{"type":"object","properties":{"nickname":{"type":"string","title":"Nickname"},"age":{"type":"integer","title":"Age"},"newsletter":{"type":"boolean"}},"additionalProperties":false}}}`

// defaultSchema is the schema of the recorded Kratos transcripts: an email
// that is identifier, recovery and verification address, and a name.
const defaultSchema = `{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "properties": {
    "traits": {
      "type": "object",
      "properties": {
        "email": {
          "type": "string", "format": "email", "title": "E-Mail",
          "ory.sh/kratos": {
            "credentials": {"password": {"identifier": true}},
            "recovery": {"via": "email"},
            "verification": {"via": "email"}
          }
        },
        "name": {"type": "string", "title": "Name"}
      },
      "required": ["email"],
      "additionalProperties": false
    }
  }
}`

// options is the server the settings tests run against, with extra
// configuration variables.
func options(env ...string) servertest.Options {
	schemas, _ := json.Marshal([]map[string]string{
		{"id": "default", "url": "base64://" + base64.StdEncoding.EncodeToString([]byte(defaultSchema))},
		{"id": "no-identifier", "url": "base64://" + base64.StdEncoding.EncodeToString([]byte(noIdentifierSchema))},
	})
	base := append(servertest.UIAt(uiBase),
		"IDENTITY_SCHEMAS="+string(schemas),
		`SELFSERVICE_ALLOWED_RETURN_URLS=["https://app.example.com/"]`,
		// Tests sign one identity in several times (mustSession is a
		// recovery), and look at what a password change does to the
		// other sessions.
		"SELFSERVICE_FLOWS_RECOVERY_REVOKE_OTHER_SESSIONS=false",
	)
	return servertest.Options{NoSMTP: true, Env: append(base, env...)}
}

// oldPassword is every test identity's password before settings.
const oldPassword = "Old-Passw0rd-For-Anchor!"

// mustIdentity creates an identity with the given email and oldPassword.
func mustIdentity(t *testing.T, srv *servertest.Server, email string) *ory.Identity {
	t.Helper()
	return srv.MustCreateIdentity(t, email, oldPassword)
}

// mustSession signs an identity in as a recovery does (method
// code_recovery, authenticated now), as a browser: the session has both
// a cookie and the token inside it.
func mustSession(t *testing.T, srv *servertest.Server, identityID string) servertest.Session {
	t.Helper()
	return srv.MustRecoverySession(t, identityID)
}

// login signs in through the native login flow and returns the answer's
// status and, on success, the new session token.
func login(t *testing.T, srv *servertest.Server, identifier, pw string) (token string, status int) {
	t.Helper()
	ctx := context.Background()
	c := srv.SDK(false)
	f, _, err := c.FrontendAPI.CreateNativeLoginFlow(ctx).Execute()
	if err != nil {
		t.Fatalf("create login flow: %v", err)
	}
	body := ory.UpdateLoginFlowWithPasswordMethodAsUpdateLoginFlowBody(ory.NewUpdateLoginFlowWithPasswordMethod(identifier, "password", pw))
	res, resp, err := c.FrontendAPI.UpdateLoginFlow(ctx).Flow(f.Id).UpdateLoginFlowBody(body).Execute()
	if resp == nil {
		t.Fatalf("login: %v", err)
	}
	if err != nil {
		return "", resp.StatusCode
	}
	return res.GetSessionToken(), resp.StatusCode
}

// browser is a cookie-keeping HTTP client that does not follow redirects.
type browser struct {
	t      *testing.T
	srv    *servertest.Server
	Client *http.Client
}

// newBrowser returns a browser holding the session's cookie, and no
// other (no CSRF cookie yet).
func newBrowser(t *testing.T, srv *servertest.Server, sess servertest.Session) *browser {
	t.Helper()
	return &browser{t: t, srv: srv, Client: srv.Browser(t, sess)}
}

// SDK is an SDK client sending the browser's cookies, as an SPA.
func (b *browser) SDK() *ory.APIClient { return b.srv.SDKWith(b.Client) }

// Cookie returns the value of the named cookie in the jar ("" if none).
func (b *browser) Cookie(name string) string {
	u, _ := url.Parse(b.srv.Public.URL)
	for _, c := range b.Client.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// response is a finished HTTP exchange.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a generic map.
func (r response) JSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, r.Body)
	}
	return m
}

// Do sends a request from the browser. body may be url.Values (an HTML
// form post), a string (sent as JSON) or nil; headers come in pairs.
func (b *browser) Do(method, path string, body any, headers ...string) response {
	b.t.Helper()
	return send(b.t, b.srv, b.Client, method, path, body, headers...)
}

// do sends a request with a cookie-less client (native app, curl).
func do(t *testing.T, srv *servertest.Server, method, path string, body any, headers ...string) response {
	t.Helper()
	return send(t, srv, srv.HTTPClient(false), method, path, body, headers...)
}

func send(t *testing.T, srv *servertest.Server, c *http.Client, method, path string, body any, headers ...string) response {
	t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case url.Values:
		rd, ct = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	case string:
		rd, ct = strings.NewReader(b), "application/json"
	}
	req, err := http.NewRequest(method, srv.Public.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: out}
}

// traitsOf are an identity's traits as JSON (keys sorted).
func traitsOf(t *testing.T, srv *servertest.Server, id string) string {
	t.Helper()
	return mustJSON(srv.MustGetIdentity(t, id).Traits)
}

// Browser Accept headers.
const (
	acceptHTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	acceptJSON = "application/json"
)
