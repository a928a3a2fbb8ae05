package webui_test

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/webui"
)

const flowID = "3f0b6a52-5a0e-4d4e-9d55-3b8f3f6a2c11"

// syntheticFlow has a node of every kind, flow and node messages of every
// type, and several groups.
const syntheticFlow = `{
 "id": "` + flowID + `",
 "type": "browser",
 "ui": {
  "action": "http://pub.example.test/self-service/settings?flow=` + flowID + `",
  "method": "POST",
  "messages": [
   {"id": 1050001, "text": "Your changes have been saved!", "type": "success"},
   {"id": 4000001, "text": "Something <b>bad</b> happened.", "type": "error"},
   {"id": 1060003, "text": "An email was sent.", "type": "info"}
  ],
  "nodes": [
   {"type":"input","group":"default","attributes":{"name":"csrf_token","type":"hidden","value":"masked+token/=","required":true,"disabled":false,"node_type":"input"},"messages":[],"meta":{}},
   {"type":"input","group":"profile","attributes":{"name":"traits.email","type":"email","value":"ada@example.test","required":true,"autocomplete":"email","disabled":false,"node_type":"input"},"messages":[{"id":4000040,"text":"Enter a valid email address","type":"error"}],"meta":{"label":{"id":1070002,"text":"E-Mail","type":"info"}}},
   {"type":"input","group":"profile","attributes":{"name":"traits.phone","type":"tel","disabled":false,"node_type":"input"},"messages":[],"meta":{"label":{"id":1070002,"text":"Phone","type":"info"}}},
   {"type":"input","group":"profile","attributes":{"name":"traits.age","type":"number","value":42,"disabled":false,"node_type":"input"},"messages":[{"id":1234,"text":"Just so you know.","type":"info"}],"meta":{"label":{"id":1070002,"text":"Age","type":"info"}}},
   {"type":"input","group":"profile","attributes":{"name":"traits.newsletter","type":"checkbox","value":true,"disabled":false,"node_type":"input"},"messages":[],"meta":{"label":{"id":1070002,"text":"Newsletter","type":"info"}}},
   {"type":"input","group":"profile","attributes":{"name":"method","type":"submit","value":"profile","disabled":false,"node_type":"input"},"messages":[],"meta":{"label":{"id":1070003,"text":"Save","type":"info"}}},
   {"type":"input","group":"password","attributes":{"name":"password","type":"password","value":"must-not-show","required":true,"autocomplete":"new-password","disabled":false,"node_type":"input"},"messages":[{"id":4000032,"text":"The password must be at least 8 characters long, but got 3.","type":"error"}],"meta":{"label":{"id":1070001,"text":"Password","type":"info"}}},
   {"type":"input","group":"password","attributes":{"name":"method","type":"submit","value":"password","disabled":false,"node_type":"input"},"messages":[],"meta":{"label":{"id":1070003,"text":"Save","type":"info"}}},
   {"type":"input","group":"code","attributes":{"name":"code","type":"text","required":true,"pattern":"[0-9]+","disabled":false,"maxlength":6,"node_type":"input"},"messages":[],"meta":{"label":{"id":1070010,"text":"Recovery code","type":"info"}}},
   {"type":"input","group":"code","attributes":{"name":"method","type":"hidden","value":"code","disabled":false,"node_type":"input"},"messages":[],"meta":{}},
   {"type":"input","group":"code","attributes":{"name":"method","type":"submit","value":"code","disabled":false,"node_type":"input"},"messages":[],"meta":{"label":{"id":1070009,"text":"Continue","type":"info"}}},
   {"type":"input","group":"code","attributes":{"name":"email","type":"submit","value":"ada@example.test","disabled":false,"node_type":"input"},"messages":[],"meta":{"label":{"id":1070008,"text":"Resend code","type":"info"}}},
   {"type":"text","group":"lookup_secret","attributes":{"id":"lookup_secret_codes","text":{"id":1050015,"text":"abcd-efgh","type":"info"},"node_type":"text"},"messages":[],"meta":{"label":{"id":1050010,"text":"Your backup codes","type":"info"}}},
   {"type":"a","group":"lookup_secret","attributes":{"id":"docs","href":"https://docs.example.test/backup","title":{"id":1,"text":"About backup codes","type":"info"},"node_type":"a"},"messages":[],"meta":{}},
   {"type":"img","group":"totp","attributes":{"id":"totp_qr","src":"data:image/png;base64,iVBORw0KGgo=","width":256,"height":256,"node_type":"img"},"messages":[],"meta":{"label":{"id":1050005,"text":"QR code","type":"info"}}},
   {"type":"script","group":"webauthn","attributes":{"id":"webauthn_script","src":"https://evil.example/x.js","node_type":"script"},"messages":[],"meta":{}}
  ]
 },
 "state": "show_form"
}`

func TestRender(t *testing.T) {
	api := newFakeAPI()
	api.on("/self-service/settings/flows?id="+flowID, 200, syntheticFlow)
	h := MustHandler(t, api, nil)
	w := get(t, h, "/ui/settings?flow="+flowID)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d, want 200", w.Code)
	}
	body := w.Body.String()
	fs := forms(body)

	t.Run("OneFormPerGroupWithSharedNodes", func(t *testing.T) {
		// profile, password, code, lookup_secret, totp; the script-only
		// webauthn group gets no form.
		if len(fs) != 5 {
			t.Fatalf("%d forms, want 5", len(fs))
		}
		for i, f := range fs {
			a := attrs(f[:strings.IndexByte(f, '>')+1])
			if a["action"] != "http://pub.example.test/self-service/settings?flow="+flowID || a["method"] != "post" {
				t.Errorf("form %d: action %q method %q", i, a["action"], a["method"])
			}
			if !strings.Contains(f, `<input type="hidden" name="csrf_token" value="masked&#43;token/=">`) {
				t.Errorf("form %d lacks the csrf_token:\n%s", i, f)
			}
		}
		mustContain(t, fs[0], "<legend>Profile</legend>", `name="traits.email"`, `value="profile"`)
		mustNotContain(t, fs[0], `name="password"`, `name="code"`)
		mustContain(t, fs[1], "<legend>Password</legend>", `name="password"`, `value="password"`)
		mustNotContain(t, fs[1], `traits.email`)
		mustContain(t, fs[2], "<legend>Email code</legend>")
	})

	t.Run("InputsCarryTheirAttributesAndBoundLabels", func(t *testing.T) {
		inputs := map[string]map[string]string{}
		for _, tag := range inputRE.FindAllString(body, -1) {
			a := attrs(tag)
			if a["type"] == "hidden" {
				continue
			}
			inputs[a["name"]] = a
			if a["id"] == "" || !strings.Contains(body, `<label for="`+a["id"]+`">`) {
				t.Errorf("input %s has no bound label: %s", a["name"], tag)
			}
		}
		email := inputs["traits.email"]
		for k, v := range map[string]string{"type": "email", "value": "ada@example.test", "autocomplete": "email", "aria-invalid": "true"} {
			if email[k] != v {
				t.Errorf("traits.email %s = %q, want %q", k, email[k], v)
			}
		}
		if _, ok := email["required"]; !ok {
			t.Error("traits.email is not required")
		}
		if inputs["traits.phone"]["type"] != "tel" || inputs["traits.age"]["type"] != "number" || inputs["traits.age"]["value"] != "42" {
			t.Errorf("tel/number inputs: %v %v", inputs["traits.phone"], inputs["traits.age"])
		}
		cb := inputs["traits.newsletter"]
		if _, checked := cb["checked"]; cb["type"] != "checkbox" || !checked || cb["value"] != "true" {
			t.Errorf("checkbox: %v", cb)
		}
		pw := inputs["password"]
		if pw["type"] != "password" || pw["autocomplete"] != "new-password" || pw["value"] != "" {
			t.Errorf("password input: %v", pw)
		}
		mustNotContain(t, body, "must-not-show")
		code := inputs["code"]
		if code["pattern"] != "[0-9]&#43;" && code["pattern"] != "[0-9]+" || code["maxlength"] != "6" || code["inputmode"] != "numeric" {
			t.Errorf("code input: %v", code)
		}
		mustContain(t, body, `<label for="`+email["id"]+`">E-Mail</label>`, `>Password</label>`, `>Recovery code</label>`)
	})

	t.Run("SubmitButtons", func(t *testing.T) {
		mustContain(t, fs[2],
			`<input type="hidden" name="method" value="code">`,
			`name="method" value="code">Continue</button>`,
			`name="email" value="ada@example.test" formnovalidate class="secondary">Resend code</button>`)
		if strings.Count(body, ">Save</button>") != 2 {
			t.Error("want two Save buttons (profile and password)")
		}
	})

	t.Run("Messages", func(t *testing.T) {
		mustContain(t, body,
			`<p class="msg msg-success" role="status" data-message-id="1050001">Your changes have been saved!</p>`,
			`<p class="msg msg-error" role="alert" data-message-id="4000001">Something &lt;b&gt;bad&lt;/b&gt; happened.</p>`,
			`<p class="msg msg-info" role="status" data-message-id="1060003">An email containing a recovery code has been sent to the email address you provided.`,
			`role="alert" data-message-id="4000040">Enter a valid email address</p>`,
			`role="alert" data-message-id="4000032">The password must be at least 8 characters long, but got 3.</p>`,
			`role="status" data-message-id="1234">Just so you know.</p>`)
		// Node messages sit under their input and describe it.
		email := strings.Index(body, `name="traits.email"`)
		msg := strings.Index(body, "Enter a valid email address")
		phone := strings.Index(body, `name="traits.phone"`)
		if !(email < msg && msg < phone) {
			t.Error("the email's message is not right under the email input")
		}
	})

	t.Run("TextLinkAndImageNodes", func(t *testing.T) {
		mustContain(t, body,
			`<code>abcd-efgh</code>`, `These are your backup recovery codes.`,
			`<a id="f3-n13" href="https://docs.example.test/backup">About backup codes</a>`,
			`<img id="f4-n14" src="data:image/png;base64,iVBORw0KGgo=" alt="Authenticator app QR code" width="256" height="256">`)
		mustNotContain(t, body, "evil.example")
		// The only script is the UI's own, behind the show-password button.
		if strings.Count(body, "<script") != 1 || !strings.Contains(body, `<script src="/ui/static/show-password.js" defer></script>`) {
			t.Error("the page loads another script than the show-password one")
		}
	})

	t.Run("PageIsAccessibleHTML", func(t *testing.T) {
		mustContain(t, body, `<html lang="en">`, `<meta name="viewport" content="width=device-width, initial-scale=1">`,
			`<h1 id="page-title">Account settings</h1>`, `<link rel="stylesheet" href="/ui/static/style.css">`,
			`<a href="/ui/login">Sign in</a>`, `<a href="/ui/registration">Sign up</a>`, `<a href="/ui/recovery">Recover</a>`)
		mustNotContain(t, body, "http://fonts", "https://fonts", `href="/ui/mail"`)
	})
}

func TestRenderSingleGroupHasNoLegend(t *testing.T) {
	api := newFakeAPI()
	api.on("/self-service/recovery/flows?id="+flowID, 200, `{"id":"`+flowID+`","ui":{"action":"http://pub.example.test/self-service/recovery?flow=`+flowID+`","method":"POST","nodes":[
	 {"type":"input","group":"default","attributes":{"name":"csrf_token","type":"hidden","value":"tok","required":true,"node_type":"input"},"messages":[],"meta":{}},
	 {"type":"input","group":"code","attributes":{"name":"email","type":"email","required":true,"node_type":"input"},"messages":[],"meta":{"label":{"id":1070007,"text":"Email","type":"info"}}},
	 {"type":"input","group":"code","attributes":{"name":"method","type":"submit","value":"code","node_type":"input"},"messages":[],"meta":{"label":{"id":1070009,"text":"Continue","type":"info"}}}]}}`)
	body := get(t, MustHandler(t, api, fakeMailbox{}), "/ui/recovery?flow="+flowID).Body.String()
	if n := len(forms(body)); n != 1 {
		t.Fatalf("%d forms, want 1", n)
	}
	mustNotContain(t, body, "<legend>", "<fieldset>")
	// Recovery in dev mode points to the mailbox.
	mustContain(t, body, `<a href="/ui/mail">Open the dev mailbox</a>`, `<a href="/ui/login">Back to sign in</a>`, `<a href="/ui/mail">Mailbox</a>`)
}

func TestSecurityHeaders(t *testing.T) {
	api := newFakeAPI()
	api.on("/self-service/recovery/flows?id="+flowID, 200, syntheticFlow)
	h := MustHandler(t, api, fakeMailbox{})
	want := map[string]string{
		"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self' http://pub.example.test https://app.example.com https://*.example.org; frame-ancestors 'none'; base-uri 'none'",
		"X-Frame-Options":         "DENY",
		"Referrer-Policy":         "no-referrer",
		"X-Content-Type-Options":  "nosniff",
		"Cache-Control":           "no-store",
	}
	for _, target := range []string{"/ui/", "/ui/recovery", "/ui/recovery?flow=" + flowID, "/ui/error?id=x", "/ui/welcome", "/ui/mail", "/ui/static/style.css", "/ui/nope"} {
		w := get(t, h, target)
		for k, v := range want {
			if got := w.Header().Get(k); got != v {
				t.Errorf("%s: %s = %q, want %q", target, k, got, v)
			}
		}
	}
	css := get(t, h, "/ui/static/style.css")
	if css.Code != 200 || !strings.HasPrefix(css.Header().Get("Content-Type"), "text/css") || !strings.Contains(css.Body.String(), ":focus-visible") {
		t.Errorf("stylesheet: %d %q", css.Code, css.Header().Get("Content-Type"))
	}
	if w := get(t, h, "/ui/nope"); w.Code != 404 || !strings.Contains(w.Body.String(), "Page not found") {
		t.Errorf("unknown page: %d", w.Code)
	}
}

func TestMailbox(t *testing.T) {
	t.Run("DisabledIsNotFound", func(t *testing.T) {
		h := MustHandler(t, newFakeAPI(), nil)
		w := get(t, h, "/ui/mail")
		if w.Code != http.StatusNotFound {
			t.Fatalf("status %d, want 404", w.Code)
		}
		mustNotContain(t, w.Body.String(), "Dev mailbox")
		// The configuration switch wins over a wired mailbox.
		h = MustHandler(t, newFakeAPI(), fakeMailbox{})
		h.Config.Mailbox = false
		if w := get(t, h, "/ui/mail"); w.Code != http.StatusNotFound {
			t.Fatalf("status %d with Config.Mailbox false, want 404", w.Code)
		}
	})

	t.Run("NewestFirstWithCodesAndLinks", func(t *testing.T) {
		mb := fakeMailbox{msgs: []webui.MailboxMessage{
			{ID: "m2", Recipient: "ada@example.test", Subject: "Recover access to your account", TemplateType: "recovery_valid", Status: "sent",
				Body: "Open http://pub.example.test/self-service/recovery?flow=abc&token=XYZ. It expires in 60 minutes.", CreatedAt: testNow.Add(-2 * time.Minute)},
			{ID: "m1", Recipient: "bob@example.test", Subject: "Use code 012345 to recover access to your account", TemplateType: "recovery_code_valid", Status: "queued",
				Body: "Your code is: 012345\n<script>alert(1)</script>", CreatedAt: testNow.Add(-3 * time.Hour)},
		}}
		w := get(t, MustHandler(t, newFakeAPI(), mb), "/ui/mail")
		if w.Code != 200 {
			t.Fatalf("status %d", w.Code)
		}
		body := w.Body.String()
		mustContain(t, body,
			"Recover access to your account", "ada@example.test", "2 minutes ago", "3 hours ago",
			`<a href="http://pub.example.test/self-service/recovery?flow=abc&amp;token=XYZ">http://pub.example.test/self-service/recovery?flow=abc&amp;token=XYZ</a>. It expires`,
			`Your code is: <mark class="code">012345</mark>`,
			`&lt;script&gt;alert(1)&lt;/script&gt;`)
		mustNotContain(t, body, "<script>")
		if strings.Index(body, "ada@example.test") > strings.Index(body, "bob@example.test") {
			t.Error("messages are not in the mailbox's order (newest first)")
		}
	})

	t.Run("Empty", func(t *testing.T) {
		mustContain(t, get(t, MustHandler(t, newFakeAPI(), fakeMailbox{}), "/ui/mail").Body.String(), "No messages yet.")
	})

	t.Run("StoreFailure", func(t *testing.T) {
		w := get(t, MustHandler(t, newFakeAPI(), fakeMailbox{err: errors.New("db down")}), "/ui/mail")
		if w.Code != 500 || strings.Contains(w.Body.String(), "db down") {
			t.Errorf("status %d, body leaks the cause: %v", w.Code, strings.Contains(w.Body.String(), "db down"))
		}
	})
}

func TestFlowPageRedirects(t *testing.T) {
	expired := `{"error":{"code":410,"status":"Gone","reason":"The recovery flow has expired. Redirect the user to the recovery flow init endpoint to initialize a new recovery flow.","details":{"redirect_to":"http://pub.example.test/self-service/recovery/browser?return_to=https%3A%2F%2Fapp.example.com%2F","return_to":"https://app.example.com/"},"message":"The requested resource is no longer available because it has expired or is otherwise invalid."}}`
	csrf := `{"error":{"id":"security_csrf_violation","code":403,"status":"Forbidden","reason":"Please retry the flow.","message":"the request was rejected to protect you from Cross-Site-Request-Forgery"}}`
	refresh := `{"error":{"id":"session_refresh_required","code":403,"status":"Forbidden","reason":"The login session is too old.","message":"The requested action was forbidden"},"redirect_browser_to":"http://pub.example.test/self-service/login/browser?refresh=true&return_to=x"}`
	unauthorized := `{"error":{"code":401,"status":"Unauthorized","reason":"A valid Ory Session Cookie or Ory Session Token is missing.","message":"The request could not be authorized"}}`
	internal := `{"error":{"code":500,"status":"Internal Server Error","message":"An internal server error occurred, please contact the system administrator"}}`

	api := newFakeAPI()
	api.on("/self-service/recovery/flows?id=11111111-1111-4111-8111-111111111111", 410, expired)
	api.on("/self-service/recovery/flows?id=22222222-2222-4222-8222-222222222222", 403, csrf)
	api.on("/self-service/settings/flows?id=33333333-3333-4333-8333-333333333333", 403, refresh)
	api.on("/self-service/settings/flows?id=44444444-4444-4444-8444-444444444444", 401, unauthorized)
	api.on("/self-service/login/flows?id=55555555-5555-4555-8555-555555555555", 500, internal)
	h := MustHandler(t, api, nil)

	for _, c := range []struct {
		name, target, location string
		headers                []string
	}{
		{"MissingFlowStartsOne", "/ui/recovery", testPublic + "self-service/recovery/browser", nil},
		{"ReturnToIsKept", "/ui/registration?return_to=https%3A%2F%2Fapp.example.com%2F", testPublic + "self-service/registration/browser?return_to=https%3A%2F%2Fapp.example.com%2F", nil},
		{"LoginKeepsRefreshAndAAL", "/ui/login?refresh=true&aal=aal2&other=x", testPublic + "self-service/login/browser?aal=aal2&refresh=true", nil},
		{"MalformedFlowStartsOne", "/ui/settings?flow=not-a-uuid", testPublic + "self-service/settings/browser", nil},
		{"UnknownFlowStartsOne", "/ui/recovery?flow=99999999-9999-4999-8999-999999999999", testPublic + "self-service/recovery/browser", nil},
		{"ExpiredFlowFollowsRedirectTo", "/ui/recovery?flow=11111111-1111-4111-8111-111111111111", "http://pub.example.test/self-service/recovery/browser?return_to=https%3A%2F%2Fapp.example.com%2F", nil},
		{"CSRFMismatchStartsOne", "/ui/recovery?flow=22222222-2222-4222-8222-222222222222", testPublic + "self-service/recovery/browser", []string{"Cookie", "csrf_token_abc=other"}},
		{"RefreshRequiredFollowsRedirectBrowserTo", "/ui/settings?flow=33333333-3333-4333-8333-333333333333", "http://pub.example.test/self-service/login/browser?refresh=true&return_to=x", nil},
		{"NoSessionStartsOne", "/ui/settings?flow=44444444-4444-4444-8444-444444444444", testPublic + "self-service/settings/browser", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := get(t, h, c.target, c.headers...)
			if w.Code != http.StatusSeeOther || w.Header().Get("Location") != c.location {
				t.Errorf("got %d → %q, want 303 → %q", w.Code, w.Header().Get("Location"), c.location)
			}
		})
	}

	t.Run("NoCookiesAtAllSaysSoInsteadOfLooping", func(t *testing.T) {
		w := get(t, h, "/ui/recovery?flow=22222222-2222-4222-8222-222222222222")
		if w.Code != http.StatusForbidden {
			t.Errorf("status %d, want 403", w.Code)
		}
		mustContain(t, w.Body.String(), "Cookies are needed")
	})

	t.Run("OtherErrorsShowTheErrorPage", func(t *testing.T) {
		w := get(t, h, "/ui/login?flow=55555555-5555-4555-8555-555555555555")
		if w.Code != 500 {
			t.Errorf("status %d, want 500", w.Code)
		}
		mustContain(t, w.Body.String(), "Something went wrong", "An internal server error occurred")
	})
}

func TestAPICall(t *testing.T) {
	api := newFakeAPI()
	api.setCookie = "csrf_token_abc=fresh; Path=/; HttpOnly"
	api.on("/self-service/recovery/flows?id="+flowID, 200, syntheticFlow)
	w := get(t, MustHandler(t, api, nil), "http://pub.example.test/ui/recovery?flow="+flowID,
		"Cookie", "csrf_token_abc=old; ory_kratos_session=s", "User-Agent", "TestBrowser/1.0")
	r := api.last(t)
	if r.Method != http.MethodGet || r.URL.RequestURI() != "/self-service/recovery/flows?id="+flowID {
		t.Errorf("asked %s %s", r.Method, r.URL.RequestURI())
	}
	for k, v := range map[string]string{"Accept": "application/json", "Cookie": "csrf_token_abc=old; ory_kratos_session=s", "User-Agent": "TestBrowser/1.0"} {
		if r.Header.Get(k) != v {
			t.Errorf("API request %s = %q, want %q", k, r.Header.Get(k), v)
		}
	}
	if r.Host != "pub.example.test" {
		t.Errorf("API request host %q", r.Host)
	}
	if got := apiCookies(w); len(got) != 1 || got[0] != "csrf_token_abc=fresh; Path=/; HttpOnly" {
		t.Errorf("Set-Cookie forwarded: %q", got)
	}
}

func TestVerification(t *testing.T) {
	t.Run("DisabledShowsAFriendlyPage", func(t *testing.T) {
		api := newFakeAPI()
		api.on("/self-service/verification/browser", 400, `{"error":{"code":400,"status":"Bad Request","reason":"Verification is not allowed because it was disabled.","message":"The request was malformed or contained invalid parameters"}}`)
		w := get(t, MustHandler(t, api, nil), "/ui/verification")
		if w.Code != 200 {
			t.Fatalf("status %d", w.Code)
		}
		mustContain(t, w.Body.String(), "This feature is not enabled on this server.", "Verification is not allowed because it was disabled.")
	})
	t.Run("NotBuiltInShowsAFriendlyPage", func(t *testing.T) {
		w := get(t, MustHandler(t, newFakeAPI(), nil), "/ui/verification")
		mustContain(t, w.Body.String(), "This feature is not enabled on this server.")
	})
	t.Run("TheEmailedLinkFillsInTheCode", func(t *testing.T) {
		api := newFakeAPI()
		api.on("/self-service/verification/flows?id="+flowID, 200, `{"id":"`+flowID+`","type":"browser","state":"sent_email","ui":{"action":"/self-service/verification?flow=`+flowID+`","method":"POST","nodes":[`+
			`{"type":"input","group":"code","attributes":{"name":"method","type":"hidden","value":"code","node_type":"input"},"messages":[],"meta":{}},`+
			`{"type":"input","group":"code","attributes":{"name":"code","type":"text","required":true,"node_type":"input"},"messages":[],"meta":{"label":{"id":1070011,"text":"Verification code","type":"info"}}},`+
			`{"type":"input","group":"code","attributes":{"name":"method","type":"submit","value":"code","node_type":"input"},"messages":[],"meta":{"label":{"id":1070009,"text":"Continue","type":"info"}}}]}}`)
		w := get(t, MustHandler(t, api, nil), "/ui/verification?flow="+flowID+"&code=042917")
		if w.Code != 200 {
			t.Fatalf("status %d", w.Code)
		}
		mustContain(t, w.Body.String(), `name="code" value="042917"`, "Verification code")
		// Anything but six digits is not put into the page.
		w = get(t, MustHandler(t, api, nil), "/ui/verification?flow="+flowID+"&code=%22%3E%3Cb%3E")
		if strings.Contains(w.Body.String(), `name="code" value=`) {
			t.Fatalf("a malformed code was filled in")
		}
	})
	t.Run("EnabledStartsAFlow", func(t *testing.T) {
		api := newFakeAPI()
		api.setCookie = "csrf_token_abc=new; Path=/"
		api.on("/self-service/verification/browser?return_to=https%3A%2F%2Fapp.example.com%2F", 200, `{"id":"`+flowID+`","ui":{"nodes":[]}}`)
		w := get(t, MustHandler(t, api, nil), "/ui/verification?return_to=https%3A%2F%2Fapp.example.com%2F")
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/ui/verification?flow="+flowID {
			t.Errorf("got %d → %q", w.Code, w.Header().Get("Location"))
		}
		if got := apiCookies(w); len(got) != 1 || got[0] != "csrf_token_abc=new; Path=/" {
			t.Errorf("CSRF cookie of the new flow not passed on: %q", got)
		}
	})
}

func TestBasePathFollowsThePublicURL(t *testing.T) {
	api := newFakeAPI()
	h := MustHandler(t, api, nil)
	h.Config.PublicBaseURL = "https://example.test/auth/"
	// A proxy strips /auth: requests arrive under /ui/, links keep /auth.
	w := get(t, h, "/ui/recovery")
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "https://example.test/auth/self-service/recovery/browser" {
		t.Errorf("got %d → %q", w.Code, w.Header().Get("Location"))
	}
	u, _ := url.Parse(get(t, h, "/ui/").Header().Get("Location"))
	if u.Path != "/auth/ui/login" {
		t.Errorf("home → %q", u.Path)
	}
	mustContain(t, get(t, h, "/ui/nope").Body.String(), `<link rel="stylesheet" href="/auth/ui/static/style.css">`, `<a href="/auth/ui/login">Sign in</a>`)
}

// Two-step (profile_first) registration: the traits screen is one form
// submitting method=profile; the credentials screen keeps the traits as
// hidden inputs in the password form and in a separate "Back" form.
func TestRenderRegistrationSteps(t *testing.T) {
	const csrf = `{"type":"input","group":"default","attributes":{"name":"csrf_token","type":"hidden","value":"tok","required":true,"node_type":"input"},"messages":[],"meta":{}}`
	flowJSON := func(nodes, messages string) string {
		return `{"id":"` + flowID + `","ui":{"action":"http://pub.example.test/self-service/registration?flow=` + flowID + `","method":"POST","messages":[` + messages + `],"nodes":[` + csrf + `,` + nodes + `]}}`
	}
	t.Run("Profile", func(t *testing.T) {
		api := newFakeAPI()
		api.on("/self-service/registration/flows?id="+flowID, 200, flowJSON(`
		 {"type":"input","group":"default","attributes":{"name":"traits.email","type":"email","required":true,"autocomplete":"email","node_type":"input"},"messages":[],"meta":{"label":{"id":1070002,"text":"E-Mail","type":"info"}}},
		 {"type":"input","group":"profile","attributes":{"name":"method","type":"submit","value":"profile","node_type":"input"},"messages":[],"meta":{"label":{"id":1040001,"text":"Sign up","type":"info"}}}`, ``))
		body := get(t, MustHandler(t, api, nil), "/ui/registration?flow="+flowID).Body.String()
		fs := forms(body)
		if len(fs) != 1 {
			t.Fatalf("%d forms, want 1", len(fs))
		}
		mustContain(t, fs[0], `name="traits.email"`, `name="method" value="profile">Sign up</button>`)
		mustNotContain(t, body, "<legend>", `name="password"`)
	})
	t.Run("Credentials", func(t *testing.T) {
		api := newFakeAPI()
		api.on("/self-service/registration/flows?id="+flowID, 200, flowJSON(`
		 {"type":"input","group":"default","attributes":{"name":"traits.email","type":"hidden","value":"ada@example.test","required":true,"autocomplete":"email","node_type":"input"},"messages":[],"meta":{"label":{"id":1070002,"text":"E-Mail","type":"info"}}},
		 {"type":"input","group":"password","attributes":{"name":"password","type":"password","required":true,"autocomplete":"new-password","node_type":"input"},"messages":[],"meta":{"label":{"id":1070001,"text":"Password","type":"info"}}},
		 {"type":"input","group":"password","attributes":{"name":"method","type":"submit","value":"password","node_type":"input"},"messages":[],"meta":{"label":{"id":1040001,"text":"Sign up","type":"info"}}},
		 {"type":"input","group":"profile","attributes":{"name":"screen","type":"submit","value":"previous","node_type":"input"},"messages":[],"meta":{"label":{"id":1040008,"text":"Back","type":"info"}}}`,
			`{"id":1040009,"text":"Please choose a credential to authenticate yourself with.","type":"info"}`))
		body := get(t, MustHandler(t, api, nil), "/ui/registration?flow="+flowID).Body.String()
		fs := forms(body)
		if len(fs) != 2 {
			t.Fatalf("%d forms, want 2", len(fs))
		}
		hidden := `<input type="hidden" name="traits.email" value="ada@example.test">`
		mustContain(t, fs[0], hidden, `name="password"`, `name="method" value="password">Sign up</button>`)
		mustContain(t, fs[1], hidden, `name="screen" value="previous"`, `>Back</button>`)
		mustNotContain(t, fs[1], `name="password"`)
		mustNotContain(t, body, "<legend>")
		mustContain(t, body, `data-message-id="1040009">Please choose a credential to authenticate yourself with.</p>`)
	})
}

// Identifier-first login: the identifier with "Continue", then the
// password form carrying the identifier as a hidden input.
func TestRenderIdentifierFirst(t *testing.T) {
	const csrf = `{"type":"input","group":"default","attributes":{"name":"csrf_token","type":"hidden","value":"tok","required":true,"node_type":"input"},"messages":[],"meta":{}}`
	flowJSON := func(nodes string) string {
		return `{"id":"` + flowID + `","requested_aal":"aal1","ui":{"action":"http://pub.example.test/self-service/login?flow=` + flowID + `","method":"POST","nodes":[` + csrf + `,` + nodes + `]}}`
	}
	t.Run("Identifier", func(t *testing.T) {
		api := newFakeAPI()
		api.on("/self-service/login/flows?id="+flowID, 200, flowJSON(`
		 {"type":"input","group":"identifier_first","attributes":{"name":"identifier","type":"text","value":"","required":true,"autocomplete":"username webauthn","node_type":"input"},"messages":[],"meta":{"label":{"id":1070002,"text":"E-Mail","type":"info"}}},
		 {"type":"input","group":"identifier_first","attributes":{"name":"method","type":"submit","value":"identifier_first","node_type":"input"},"messages":[],"meta":{"label":{"id":1070009,"text":"Continue","type":"info"}}}`))
		body := get(t, MustHandler(t, api, nil), "/ui/login?flow="+flowID).Body.String()
		fs := forms(body)
		if len(fs) != 1 {
			t.Fatalf("%d forms, want 1", len(fs))
		}
		mustContain(t, fs[0], `name="identifier"`, `name="method" value="identifier_first">Continue</button>`)
		mustNotContain(t, body, "<legend>", `name="password"`)
	})
	t.Run("Password", func(t *testing.T) {
		api := newFakeAPI()
		api.on("/self-service/login/flows?id="+flowID, 200, flowJSON(`
		 {"type":"input","group":"identifier_first","attributes":{"name":"identifier","type":"hidden","value":"ada@example.test","required":true,"autocomplete":"username webauthn","node_type":"input"},"messages":[],"meta":{"label":{"id":1070002,"text":"E-Mail","type":"info"}}},
		 {"type":"input","group":"password","attributes":{"name":"password","type":"password","required":true,"autocomplete":"current-password","node_type":"input"},"messages":[],"meta":{"label":{"id":1070001,"text":"Password","type":"info"}}},
		 {"type":"input","group":"password","attributes":{"name":"method","type":"submit","value":"password","node_type":"input"},"messages":[],"meta":{"label":{"id":1010022,"text":"Sign in with password","type":"info"}}}`))
		body := get(t, MustHandler(t, api, nil), "/ui/login?flow="+flowID).Body.String()
		fs := forms(body)
		if len(fs) != 1 {
			t.Fatalf("%d forms, want 1", len(fs))
		}
		mustContain(t, fs[0], `<input type="hidden" name="identifier" value="ada@example.test">`, `name="password"`, `value="password">Sign in with password</button>`)
		mustNotContain(t, body, "<legend>")
	})
}
