package webui_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

const (
	testSession = `{"id":"s-current","active":true,"expires_at":"2026-11-23T11:00:00Z","authenticated_at":"2026-11-22T11:55:00Z","authenticator_assurance_level":"aal1",
	 "authentication_methods":[{"method":"code_recovery","aal":"aal1","completed_at":"2026-11-22T11:55:00Z"}],
	 "identity":{"id":"i-1","schema_id":"default","traits":{"email":"ada@example.test","name":{"first":"Ada"},"newsletter":true}},
	 "devices":[{"id":"d","ip_address":"127.0.0.1:50312","user_agent":"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"}]}`
	testOtherSessions = `[{"id":"5e3c0d1e-8a4b-4c55-9f0b-0e6a7c2d9b11","active":true,"authenticated_at":"2026-11-22T09:00:00Z","expires_at":"2026-11-23T09:00:00Z","authentication_methods":[{"method":"password"}],
	 "devices":[{"user_agent":"Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1","ip_address":"10.0.0.2:51234"}]}]`
	testSchema = `{"$schema":"http://json-schema.org/draft-07/schema#","properties":{"traits":{"type":"object","properties":{
	 "email":{"type":"string","title":"E-Mail"},
	 "name":{"type":"object","title":"Name","properties":{"first":{"type":"string","title":"First name"}}},
	 "newsletter":{"type":"boolean"}}}}}`
	testLogout = `{"logout_url":"http://pub.example.test/self-service/logout?token=ory_lo_abc","logout_token":"ory_lo_abc"}`
)

// signedInAPI is a fake API with a signed-in browser.
func signedInAPI() *fakeAPI {
	api := newFakeAPI()
	api.on("/sessions/whoami", http.StatusOK, testSession)
	api.on("/sessions", http.StatusOK, testOtherSessions)
	api.on("/schemas/default", http.StatusOK, testSchema)
	api.on("/self-service/logout/browser", http.StatusOK, testLogout)
	return api
}

func TestWelcome(t *testing.T) {
	t.Run("SignedIn", func(t *testing.T) {
		w := get(t, MustHandler(t, signedInAPI(), nil), "/ui/welcome")
		if w.Code != 200 {
			t.Fatalf("status %d", w.Code)
		}
		body := w.Body.String()
		mustContain(t, body,
			// Traits under the schema's titles; a trait without one keeps its key.
			"<dt>E-Mail</dt><dd>ada@example.test</dd>", "<dt>First name</dt><dd>Ada</dd>", "<dt>newsletter</dt><dd>yes</dd>",
			// This device and the other one, by name, address without port.
			"<dd>Firefox on Linux · 127.0.0.1</dd>", "recovery code", "22 November 2026 at 11:55 UTC (5 minutes ago)",
			"<strong>Safari on iPhone</strong> · 10.0.0.2</p>",
			"Signed in on 22 November 2026 at 09:00 UTC (3 hours ago) with password",
			`<form method="post" action="/ui/sessions/5e3c0d1e-8a4b-4c55-9f0b-0e6a7c2d9b11/revoke">`,
			`<button type="submit" class="secondary" aria-describedby="session-0">Log out this device</button>`,
			`<a class="button secondary" id="logout" href="http://pub.example.test/self-service/logout?token=ory_lo_abc">Log out</a>`,
			`href="/ui/settings"`,
			// The header names the account.
			`Signed in as <a id="header-account" href="/ui/welcome">ada@example.test</a>`)
		mustNotContain(t, body, ":50312", ":51234", `href="/ui/recovery"`, "<dt>email</dt>", "name.first", `<a href="/ui/login">Sign in</a>`)
		// Developer details are folded away.
		details := body[strings.Index(body, `<details class="technical">`):]
		mustContain(t, details, "<code>i-1</code>", "<code>s-current</code>", "<code>aal1</code>", "<code>code_recovery</code>")
		mustNotContain(t, body[:strings.Index(body, `<details class="technical">`)], "i-1", "aal1", "s-current")
	})
	t.Run("InGerman", func(t *testing.T) {
		body := get(t, MustHandler(t, signedInAPI(), nil), "/ui/welcome", "Accept-Language", "de").Body.String()
		mustContain(t, body, "<h1 id=\"page-title\">Dein Konto</h1>", "Safari auf iPhone", "vor 3 Stunden", "Angemeldet am 22. November 2026 um 09:00 UTC",
			"Dieses Gerät abmelden", "Angemeldet als", "<dd>ja</dd>")
	})
	t.Run("NoSchemaKeepsKeys", func(t *testing.T) {
		api := signedInAPI()
		api.on("/schemas/default", http.StatusNotFound, `{"error":{"code":404}}`)
		mustContain(t, get(t, MustHandler(t, api, nil), "/ui/welcome").Body.String(), "<dt>email</dt>", "<dt>name.first</dt>")
	})
	t.Run("SignedOutGoesToLogin", func(t *testing.T) {
		w := get(t, MustHandler(t, newFakeAPI(), nil), "/ui/welcome")
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/ui/login" {
			t.Errorf("got %d → %q", w.Code, w.Header().Get("Location"))
		}
	})
	t.Run("SecondFactorMissingFollowsWhoami", func(t *testing.T) {
		api := newFakeAPI()
		api.on("/sessions/whoami", http.StatusForbidden, `{"error":{"id":"session_aal2_required","code":403,"status":"Forbidden"},"redirect_browser_to":"http://pub.example.test/self-service/login/browser?aal=aal2"}`)
		w := get(t, MustHandler(t, api, nil), "/ui/welcome")
		if w.Header().Get("Location") != "http://pub.example.test/self-service/login/browser?aal=aal2" {
			t.Errorf("→ %q", w.Header().Get("Location"))
		}
	})
	t.Run("OneWhoamiPerPage", func(t *testing.T) {
		api := signedInAPI()
		get(t, MustHandler(t, api, nil), "/ui/welcome")
		n := 0
		for _, r := range api.requests {
			if r.URL.Path == "/sessions/whoami" {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d whoami calls", n)
		}
	})
	t.Run("HomeChoosesByWhoami", func(t *testing.T) {
		api := newFakeAPI()
		h := MustHandler(t, api, nil)
		if w := get(t, h, "/ui/"); w.Header().Get("Location") != "/ui/login" {
			t.Errorf("signed out: → %q", w.Header().Get("Location"))
		}
		api.on("/sessions/whoami", 200, testSession)
		if w := get(t, h, "/ui/"); w.Header().Get("Location") != "/ui/welcome" {
			t.Errorf("signed in: → %q", w.Header().Get("Location"))
		}
	})
}

// revokeToken reads the account page's anti-forgery token.
func revokeTokenOf(t *testing.T, h http.Handler) string {
	t.Helper()
	body := get(t, h, "/ui/welcome").Body.String()
	for _, tag := range inputRE.FindAllString(body, -1) {
		if a := attrs(tag); a["name"] == "token" {
			return a["value"]
		}
	}
	t.Fatalf("no token on the account page:\n%s", body)
	return ""
}

// postForm serves a form POST on h.
func postForm(t *testing.T, h http.Handler, target string, form url.Values, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestRevokeSession: "Log out this device" ends the other session through
// the API and confirms it; a post from another site, without the page's
// token or from a signed-out browser ends nothing.
func TestRevokeSession(t *testing.T) {
	const other = "5e3c0d1e-8a4b-4c55-9f0b-0e6a7c2d9b11"
	target := "http://pub.example.test/ui/sessions/" + other + "/revoke"
	token := revokeTokenOf(t, MustHandler(t, signedInAPI(), nil))
	if token == "" || strings.Contains(token, "ory_lo_abc") {
		t.Fatalf("token %q", token)
	}
	sameOrigin := []string{"Sec-Fetch-Site", "same-origin"}
	for _, c := range []struct {
		name     string
		target   string
		token    string
		headers  []string
		signedIn bool
		status   int
		location string
		deletes  bool
	}{
		{"SameOrigin", target, token, sameOrigin, true, 303, "/ui/welcome?revoked=1", true},
		{"OriginHeaderOnly", target, token, []string{"Origin", "http://pub.example.test"}, true, 303, "/ui/welcome?revoked=1", true},
		{"NoBrowserSignal", target, token, nil, true, 303, "/ui/welcome?revoked=1", true},
		{"CrossSite", target, token, []string{"Sec-Fetch-Site", "cross-site"}, true, 403, "", false},
		{"OtherOrigin", target, token, []string{"Origin", "https://evil.example"}, true, 403, "", false},
		{"WrongToken", target, token + "x", sameOrigin, true, 403, "", false},
		{"NoToken", target, "", sameOrigin, true, 403, "", false},
		{"SignedOut", target, token, sameOrigin, false, 303, "/ui/login", false},
		{"MalformedID", "http://pub.example.test/ui/sessions/..%2Fwhoami/revoke", token, sameOrigin, true, 404, "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			api := signedInAPI()
			if !c.signedIn {
				api.on("/sessions/whoami", 401, `{"error":{"code":401,"status":"Unauthorized"}}`)
			}
			api.on("/sessions/"+other, http.StatusNoContent, "")
			w := postForm(t, MustHandler(t, api, nil), c.target, url.Values{"token": {c.token}}, c.headers...)
			if w.Code != c.status || w.Header().Get("Location") != c.location {
				t.Errorf("got %d → %q, want %d → %q", w.Code, w.Header().Get("Location"), c.status, c.location)
			}
			deleted := false
			for _, r := range api.requests {
				deleted = deleted || r.Method == http.MethodDelete && r.URL.Path == "/sessions/"+other
			}
			if deleted != c.deletes {
				t.Errorf("DELETE /sessions/%s called: %v", other, deleted)
			}
		})
	}
	t.Run("APIRefusalShowsTheError", func(t *testing.T) {
		api := signedInAPI()
		api.on("/sessions/"+other, http.StatusBadRequest, `{"error":{"code":400,"status":"Bad Request","message":"cannot revoke current session"}}`)
		w := postForm(t, MustHandler(t, api, nil), target, url.Values{"token": {token}}, sameOrigin...)
		if w.Code != 400 {
			t.Errorf("status %d", w.Code)
		}
		mustContain(t, w.Body.String(), "cannot revoke current session", "Go to your account")
	})
	t.Run("Confirmed", func(t *testing.T) {
		mustContain(t, get(t, MustHandler(t, signedInAPI(), nil), "/ui/welcome?revoked=1").Body.String(),
			`role="status" id="revoked">The device has been logged out.</p>`)
	})
}

// TestSignedInExplains: a signed-in browser opening a page for signed-out
// people is told who it is and offered its account or logging out;
// re-authentication and pages for signed-in people go on as before.
func TestSignedInExplains(t *testing.T) {
	api := signedInAPI()
	api.on("/self-service/logout/browser?return_to=http%3A%2F%2Fpub.example.test%2Fui%2Flogin", 200,
		`{"logout_url":"http://pub.example.test/self-service/logout?token=ory_lo_abc&return_to=http%3A%2F%2Fpub.example.test%2Fui%2Flogin"}`)
	api.on("/self-service/logout/browser?return_to=http%3A%2F%2Fpub.example.test%2Fui%2Fregistration", 200,
		`{"logout_url":"http://pub.example.test/self-service/logout?token=ory_lo_abc&return_to=http%3A%2F%2Fpub.example.test%2Fui%2Fregistration"}`)
	h := MustHandler(t, api, nil)
	for _, c := range []struct {
		target string
		wants  []string
	}{
		{"/ui/login", []string{"You are already signed in", "You are signed in as ada@example.test.", "To sign in with a different account, log out first.",
			`<a class="button" id="go-to-account" href="/ui/welcome">Go to your account</a>`,
			`<a class="button secondary" id="logout" href="http://pub.example.test/self-service/logout?token=ory_lo_abc&amp;return_to=http%3A%2F%2Fpub.example.test%2Fui%2Flogin">Log out</a>`}},
		{"/ui/registration", []string{"To create another account, log out first.", "return_to=http%3A%2F%2Fpub.example.test%2Fui%2Fregistration"}},
		{"/ui/recovery", []string{"To recover a different account, log out first.", `id="go-to-account"`}},
		{"/ui/login?return_to=https%3A%2F%2Fapp.example.com%2Fwelcome", []string{
			`<a class="button" id="continue" href="http://pub.example.test/self-service/login/browser?return_to=https%3A%2F%2Fapp.example.com%2Fwelcome">Continue</a>`}},
	} {
		w := get(t, h, c.target)
		if w.Code != 200 {
			t.Errorf("%s: status %d", c.target, w.Code)
		}
		mustContain(t, w.Body.String(), c.wants...)
	}
	for target, location := range map[string]string{
		"/ui/login?refresh=true": testPublic + "self-service/login/browser?refresh=true",
		"/ui/login?aal=aal2":     testPublic + "self-service/login/browser?aal=aal2",
		"/ui/settings":           testPublic + "self-service/settings/browser",
	} {
		if w := get(t, h, target); w.Code != 303 || w.Header().Get("Location") != location {
			t.Errorf("%s: %d → %q, want 303 → %q", target, w.Code, w.Header().Get("Location"), location)
		}
	}
	if w := get(t, MustHandler(t, newFakeAPI(), nil), "/ui/login"); w.Code != 303 {
		t.Errorf("signed out: %d", w.Code)
	}
}

// TestErrorPage: a stale form, an expired or a missing flow read as what
// happened and restart the flow in one click, keeping its return_to;
// other errors keep the API's reason; technical details are folded away.
func TestErrorPage(t *testing.T) {
	csrf := `{"id":"security_csrf_violation","code":403,"status":"Forbidden","reason":"Please retry the flow and optionally clear your cookies.","details":{"docs":"https://www.ory.sh/kratos/docs/debug/csrf","hint":"We detected a regular browser or server-side call.","reject_reason":"The HTTP Cookie Header was set and a CSRF token was sent but they do not match."},"message":"the request was rejected to protect you from Cross-Site-Request-Forgery"}`
	expired := `{"id":"self_service_flow_expired","code":410,"status":"Gone","reason":"The login flow has expired.","details":{"redirect_to":"http://pub.example.test/self-service/login/browser?refresh=true&return_to=https%3A%2F%2Fapp.example.com%2F","return_to":"https://app.example.com/"},"message":"self-service flow expired"}`
	missing := `{"code":404,"status":"Not Found","reason":"The recovery request could not be found. Please restart the flow.","message":"The requested resource could not be found"}`
	internal := `{"code":500,"status":"Internal Server Error","reason":"This is a stub error.","message":"An internal server error occurred, please contact the system administrator"}`
	lastRegistration := "latchkey_ui_flow=" + url.Values{"kind": {"registration"}, "return_to": {"https://app.example.com/"}}.Encode()
	for _, c := range []struct {
		name    string
		err     string
		cookie  string
		lang    string
		signed  bool
		heading string
		wants   []string
	}{
		{"StaleFormOfTheLastFlow", csrf, lastRegistration, "", false, "Your sign-up form was out of date", []string{
			"This happens when you sign in or out in another tab or window.",
			`<a class="button" id="restart" href="/ui/registration?return_to=https%3A%2F%2Fapp.example.com%2F">Sign up again</a>`}},
		{"StaleFormUnknownFlow", csrf, "", "", false, "This form was out of date", []string{
			`<a class="button" id="sign-in" href="/ui/login">Sign in</a>`, `href="/ui/recovery">Recover your account</a>`}},
		{"StaleFormSignedIn", csrf, "", "", true, "This form was out of date", []string{
			`<a class="button" id="go-to-account" href="/ui/welcome">Go to your account</a>`}},
		{"ExpiredFlowNamesItsInit", expired, lastRegistration, "", false, "This page was open for too long", []string{
			"For your security, forms only work for a limited time.",
			`<a class="button" id="restart" href="/ui/login?refresh=true&amp;return_to=https%3A%2F%2Fapp.example.com%2F">Sign in again</a>`}},
		{"MissingFlow", missing, "", "", false, "Your account recovery form was out of date", []string{
			`<a class="button" id="restart" href="/ui/recovery">Start account recovery again</a>`}},
		{"InGerman", csrf, "latchkey_ui_flow=kind=login", "de", false, "Dein Anmeldeformular war veraltet", []string{
			`<a class="button" id="restart" href="/ui/login">Erneut anmelden</a>`, "<summary>Technische Details</summary>"}},
		{"OtherErrorsKeepTheReason", internal, "", "", false, "Something went wrong", []string{
			`<p class="msg msg-error" role="alert">This is a stub error.</p>`, `id="sign-in"`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			api := newFakeAPI()
			if c.signed {
				api = signedInAPI()
			}
			const id = "219a08ee-10a6-4eaf-9ce6-fd85236d8489"
			api.on("/self-service/errors?id="+id, 200, `{"id":"`+id+`","error":`+c.err+`}`)
			w := get(t, MustHandler(t, api, nil), "/ui/error?id="+id, "Cookie", c.cookie, "Accept-Language", c.lang)
			if w.Code != 200 {
				t.Fatalf("status %d", w.Code)
			}
			body := w.Body.String()
			mustContain(t, body, `<h1 id="page-title">`+c.heading+`</h1>`, "<title>"+c.heading+" · Latchkey</title>")
			mustContain(t, body, c.wants...)
			i := strings.Index(body, `<details class="technical">`)
			if i < 0 {
				t.Fatal("no technical details")
			}
			// The API's codes and explanations are in the details only
			// (but the reason of an error nobody can act on).
			mustContain(t, body[i:], "<code>"+id+"</code>")
			if c.err == csrf {
				mustContain(t, body[i:], "<code>security_csrf_violation</code>", "403 Forbidden", "reject_reason", "We detected a regular browser",
					`<a href="https://www.ory.sh/kratos/docs/debug/csrf">`)
				mustNotContain(t, body[:i], "security_csrf_violation", "Cross-Site", "reject_reason", "Please retry the flow")
			}
		})
	}
	t.Run("Unknown", func(t *testing.T) {
		h := MustHandler(t, newFakeAPI(), nil)
		for _, target := range []string{"/ui/error", "/ui/error?id=unknown"} {
			w := get(t, h, target)
			if w.Code != 404 || !strings.Contains(w.Body.String(), "Error not found") {
				t.Errorf("%s: %d", target, w.Code)
			}
		}
	})
}

// TestLastFlowCookie: flow pages note which flow the browser is on, with
// the return_to it started with, for the error page's restart.
func TestLastFlowCookie(t *testing.T) {
	h := MustHandler(t, newFakeAPI(), nil)
	w := get(t, h, "/ui/registration?return_to=https%3A%2F%2Fapp.example.com%2F")
	c := w.Result().Cookies()
	if len(c) != 1 || c[0].Name != "latchkey_ui_flow" || !c[0].HttpOnly || c[0].Path != "/ui/" || c[0].SameSite != http.SameSiteLaxMode {
		t.Fatalf("cookies %v", c)
	}
	if q, _ := url.ParseQuery(c[0].Value); q.Get("kind") != "registration" || q.Get("return_to") != "https://app.example.com/" {
		t.Errorf("value %q", c[0].Value)
	}
	// The started flow's page keeps it as it is.
	if w := get(t, h, "/ui/registration?flow="+flowID, "Cookie", "latchkey_ui_flow="+c[0].Value); len(w.Result().Cookies()) != 0 {
		t.Errorf("rewritten: %v", w.Result().Cookies())
	}
}

// TestBranding: ui.brand.* show in the header, the titles, the logo (an
// origin allowed by img-src) and a stylesheet of the primary colour.
func TestBranding(t *testing.T) {
	h := MustHandler(t, newFakeAPI(), nil)
	h.Config.ProductName = "Acme ID"
	h.Config.LogoURL = "https://cdn.acme.example/logo.svg"
	h.Config.PrimaryColor = "#ffcc00"
	w := get(t, h, "/ui/nope")
	mustContain(t, w.Body.String(), "<title>Page not found · Acme ID</title>",
		`<a class="brand" href="/ui/"><img src="https://cdn.acme.example/logo.svg" alt="Acme ID"></a>`,
		`<link rel="stylesheet" href="/ui/static/brand.css">`, "<p>Acme ID</p>")
	mustNotContain(t, w.Body.String(), "Latchkey")
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "img-src 'self' data: https://cdn.acme.example;") || !strings.Contains(csp, "style-src 'self';") {
		t.Errorf("CSP %q", csp)
	}
	css := get(t, h, "/ui/static/brand.css")
	if css.Code != 200 || !strings.HasPrefix(css.Header().Get("Content-Type"), "text/css") {
		t.Fatalf("brand.css: %d %q", css.Code, css.Header().Get("Content-Type"))
	}
	mustContain(t, css.Body.String(), "--button-bg: #ffcc00; --button-text: #000000;", "prefers-color-scheme: dark")

	plain := MustHandler(t, newFakeAPI(), nil)
	body := get(t, plain, "/ui/nope").Body.String()
	mustContain(t, body, `<a class="brand" href="/ui/">Latchkey</a>`, `<link rel="icon" href="/ui/static/favicon.ico" sizes="32x32">`)
	mustNotContain(t, body, "brand.css", "<img")
	if w := get(t, plain, "/ui/static/brand.css"); w.Code != 404 {
		t.Errorf("brand.css without a colour: %d", w.Code)
	}
	for _, icon := range []string{"/ui/static/favicon.ico", "/ui/static/favicon.svg"} {
		if w := get(t, plain, icon); w.Code != 200 || w.Body.Len() == 0 {
			t.Errorf("%s: %d", icon, w.Code)
		}
	}
}
