package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

// fuzzTargets are the self-service endpoints FuzzSelfService sends to,
// with the flows (one of each, created once) they submit to.
type fuzzTargets struct {
	srv      *servertest.Server
	browser  *http.Client // holds the anti-CSRF cookie of the browser flows
	token    string       // session token of the settings flow's identity
	submit   []fuzzSubmit
	recovery string // browser recovery flow id, for link tokens
	// csrf is a valid csrf_token for the browser flows: a fuzzed body's
	// "CSRF" is replaced by it, so mutations get past the CSRF check.
	csrf string
}

type fuzzSubmit struct {
	url     string
	client  *http.Client
	session bool // send the session token (settings)
}

func startFuzzTargets(t testing.TB) *fuzzTargets {
	op := servertest.StartOpenIDProvider(t)
	env := append([]string{"SELFSERVICE_FLOWS_VERIFICATION_ENABLED=true", "SELFSERVICE_METHODS_LINK_ENABLED=true"}, socialProviderEnv(op)...)
	srv := servertest.Start(t, servertest.EntryOptions(env...))
	jar, _ := cookiejar.New(nil)
	ft := &fuzzTargets{srv: srv, browser: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	plain := &http.Client{CheckRedirect: ft.browser.CheckRedirect}
	srv.MustCreateIdentity(t, "fuzz@example.test", "Fuzz-Passw0rd-Latchkey!")
	ft.token = srv.MustNativeLogin(t, "fuzz@example.test", "Fuzz-Passw0rd-Latchkey!")
	create := func(c *http.Client, path string, session bool) string {
		h := http.Header{"Accept": {"application/json"}}
		if session {
			h.Set("X-Session-Token", ft.token)
		}
		res, body := servertest.Do(t, c, "GET", srv.Config.PublicURL(path), nil, h)
		id, _ := body["id"].(string)
		if res.StatusCode != http.StatusOK || id == "" {
			t.Fatalf("GET %s: %d %v", path, res.StatusCode, body)
		}
		if tok := csrfTokenOf(body); tok != "" {
			ft.csrf = tok
		}
		return id
	}
	for _, f := range []struct {
		kind, init string
		browser    bool
		session    bool
	}{
		{"login", "login/api", false, false},
		{"login", "login/browser", true, false},
		{"registration", "registration/api", false, false},
		{"registration", "registration/browser", true, false},
		{"recovery", "recovery/api", false, false},
		{"recovery", "recovery/browser", true, false},
		{"settings", "settings/api", false, true},
		{"verification", "verification/api", false, false},
		{"verification", "verification/browser", true, false},
	} {
		c := plain
		if f.browser {
			c = ft.browser
		}
		id := create(c, "self-service/"+f.init, f.session)
		if f.kind == "recovery" && f.browser {
			ft.recovery = id
		}
		ft.submit = append(ft.submit, fuzzSubmit{url: srv.Config.PublicURL("self-service/"+f.kind) + "?flow=" + id, client: c, session: f.session})
	}
	return ft
}

// send posts one fuzzed request to target i (a flow submission, a
// recovery link, whoami, a social sign-in callback or a session token
// exchange) and returns the answer.
func (ft *fuzzTargets) send(t *testing.T, i uint8, contentType, accept, query string, body []byte) (*http.Response, []byte, bool) {
	var req *http.Request
	var err error
	c := ft.browser
	switch n := int(i) % (len(ft.submit) + 4); {
	case n < len(ft.submit):
		s := ft.submit[n]
		c = s.client
		req, err = http.NewRequest(http.MethodPost, s.url+"&"+query, bytes.NewReader(body))
		if err == nil && s.session {
			req.Header.Set("X-Session-Token", ft.token)
		}
	case n == len(ft.submit): // a recovery link as mailed, with a fuzzed token
		req, err = http.NewRequest(http.MethodGet, ft.srv.Config.PublicURL("self-service/recovery")+"?flow="+ft.recovery+"&token="+query, nil)
	case n == len(ft.submit)+2: // a provider sending the browser back, with a fuzzed query
		req, err = http.NewRequest(http.MethodGet, ft.srv.Config.PublicURL("self-service/methods/oidc/callback/mock")+"?"+query, nil)
	case n == len(ft.submit)+3: // a native app trading its codes for a session token
		req, err = http.NewRequest(http.MethodGet, ft.srv.Config.PublicURL("sessions/token-exchange")+"?"+query, nil)
	default: // whoami with fuzzed credentials
		c = http.DefaultClient
		req, err = http.NewRequest(http.MethodGet, ft.srv.Config.PublicURL("sessions/whoami"), nil)
		if err == nil {
			req.Header.Set("X-Session-Token", query)
			req.Header.Set("Authorization", string(body))
			req.Header.Set("Cookie", "ory_kratos_session="+contentType)
		}
	}
	if err != nil {
		return nil, nil, false // not a request a client can send
	}
	if req.Body != nil {
		tok := ft.csrf
		if !strings.Contains(contentType, "json") {
			tok = url.QueryEscape(tok)
		}
		req.Body = io.NopCloser(bytes.NewReader(bytes.ReplaceAll(body, []byte("CSRF"), []byte(tok))))
		req.ContentLength = -1
	}
	if req.Method == http.MethodPost {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", accept)
	res, err := c.Do(req)
	if err != nil {
		return nil, nil, false // e.g. a header value net/http refuses to send
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res, raw, true
}

// FuzzSelfService posts fuzzed bodies, with fuzzed Content-Type, Accept
// and query, to the submit URL of every self-service flow (API and
// browser), to a recovery link and to whoami. Whatever arrives, the
// server never answers 5xx (a panic is a 500), and a JSON answer is a
// Kratos error ({"error":{"code":<status>,...}}), a flow (id and ui) or a
// success object.
func FuzzSelfService(f *testing.F) {
	ft := startFuzzTargets(f)
	const js, form = "application/json", "application/x-www-form-urlencoded"
	for i := range uint8(len(ft.submit)) {
		f.Add(i, js, js, "", []byte(`{"method":"password","identifier":"fuzz@example.test","password":"wrong","csrf_token":"CSRF"}`))
		f.Add(i, form, "text/html", "return_to=https%3A%2F%2Fevil.test", []byte("method=code&email=fuzz%40example.test&csrf_token=CSRF"))
	}
	f.Add(uint8(2), js, js, "", []byte(`{"method":"password","password":"Fuzz-Passw0rd-2!","traits":{"email":"new@example.test","name":{"x":1}}}`))
	f.Add(uint8(4), js, js, "", []byte(`{"method":"code","code":"123456"}`))
	f.Add(uint8(4), js, js, "", []byte(`{"method":"code","email":"fuzz@example.test","code":["1"]}`))
	f.Add(uint8(6), js, js, "", []byte(`{"method":"profile","traits":{"email":12}}`))
	f.Add(uint8(6), js, js, "", []byte(`{"method":"password","password":null}`))
	f.Add(uint8(0), "application/json; charset=utf-16", "*/*", "flow=other", []byte("\xff\xfe{"))
	f.Add(uint8(1), "multipart/form-data; boundary=x", "", "", []byte("--x--"))
	f.Add(uint8(3), "", js, "", []byte(`[]`))
	f.Add(uint8(7), js, js, "", []byte(`{"method":"code","email":"fuzz@example.test"}`))
	f.Add(uint8(7), js, js, "", []byte(`{"method":"code","code":"12345678901234567890"}`))
	f.Add(uint8(8), form, "text/html", "", []byte("method=code&code=%00%ff&csrf_token=CSRF"))
	// A verification link's token, posted by its confirm page.
	f.Add(uint8(7), js, js, "", []byte(`{"method":"link","token":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}`))
	f.Add(uint8(8), form, "text/html", "", []byte("method=link&token=%00&csrf_token=CSRF"))
	f.Add(uint8(9), "", js, "ory_rt_not-a-token%zz", []byte(nil))
	f.Add(uint8(10), "garbage.sig", js, "ory_st_guess", []byte("Bearer ory_st_guess"))
	// Social sign-in: a provider button, an app's id_token, the callback
	// with forged or missing state and code, the token exchange.
	f.Add(uint8(1), js, js, "", []byte(`{"method":"oidc","provider":"mock","csrf_token":"CSRF","upstream_parameters":{"prompt":"x"}}`))
	f.Add(uint8(3), form, "text/html", "", []byte("provider=mock&csrf_token=CSRF"))
	f.Add(uint8(0), js, js, "", []byte(`{"method":"oidc","provider":"mock","id_token":"a.b.c","id_token_nonce":1}`))
	f.Add(uint8(2), js, js, "", []byte(`{"method":"oidc","provider":"nope"}`))
	f.Add(uint8(11), "", "text/html", "state=forged&code=x", []byte(nil))
	f.Add(uint8(11), "", js, "error=access_denied&state=", []byte(nil))
	f.Add(uint8(12), "", js, "init_code=a&return_to_code=b", []byte(nil))
	f.Add(uint8(12), "", js, "init_code=%zz", []byte(nil))
	f.Fuzz(func(t *testing.T, i uint8, contentType, accept, query string, body []byte) {
		res, raw, ok := ft.send(t, i, contentType, accept, query, body)
		if !ok {
			return
		}
		if res.StatusCode >= 500 {
			t.Fatalf("target %d (%q, %q, %q, %q): %d %s", i, contentType, accept, query, body, res.StatusCode, raw)
		}
		if !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
			return
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("target %d: JSON answer %d is not an object: %q", i, res.StatusCode, raw)
		}
		if e, isErr := m["error"].(map[string]any); isErr {
			if code, _ := e["code"].(float64); int(code) != res.StatusCode {
				t.Fatalf("target %d: error code %v in a %d answer: %s", i, e["code"], res.StatusCode, raw)
			}
			return
		}
		if res.StatusCode >= 400 {
			if _, hasUI := m["ui"].(map[string]any); !hasUI || m["id"] == nil {
				t.Fatalf("target %d: %d answer is neither an error nor a flow: %s", i, res.StatusCode, raw)
			}
		}
	})
}

// csrfTokenOf finds the csrf_token input of a flow's UI.
func csrfTokenOf(flow map[string]any) string {
	ui, _ := flow["ui"].(map[string]any)
	nodes, _ := ui["nodes"].([]any)
	for _, n := range nodes {
		attrs, _ := n.(map[string]any)["attributes"].(map[string]any)
		if attrs["name"] == "csrf_token" {
			v, _ := attrs["value"].(string)
			return v
		}
	}
	return ""
}
