package webui_test

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	ory "github.com/ory/client-go"
)

// uiClient is a browser without JavaScript: a cookie jar, redirects
// followed, and one Accept-Language on every request.
type uiClient struct {
	t    *testing.T
	http *http.Client
	lang string
}

func newUIClient(t *testing.T, lang string) *uiClient {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &uiClient{t: t, http: &http.Client{Jar: jar}, lang: lang}
}

// uiPage is an answer: the final address, status, headers and body.
type uiPage struct {
	URL    *url.URL
	Status int
	Header http.Header
	Body   string
}

func (c *uiClient) do(method, target, accept string, form url.Values) uiPage {
	c.t.Helper()
	return sendForm(c.t, c.http, method, target, form, "Accept", accept, "Accept-Language", c.lang)
}

// sendForm sends a request as a browser without JavaScript would (a form
// body when form is set, headers as name, value pairs) and reads the
// answer after redirects.
func sendForm(t *testing.T, client *http.Client, method, target string, form url.Values, headers ...string) uiPage {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] != "" {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return uiPage{URL: res.Request.URL, Status: res.StatusCode, Header: res.Header, Body: string(b)}
}

const htmlAccept = "text/html,application/xhtml+xml,*/*;q=0.8"

func (c *uiClient) get(target string) uiPage { return c.do(http.MethodGet, target, htmlAccept, nil) }

// submit posts the page's form of node group with its hidden inputs and
// the given fields, as a browser would.
func (c *uiClient) submit(p uiPage, group string, fields url.Values) uiPage {
	c.t.Helper()
	var form string
	for _, f := range forms(p.Body) {
		if strings.Contains(f, `data-group="`+group+`"`) {
			form = f
		}
	}
	if form == "" {
		c.t.Fatalf("%s has no %s form:\n%s", p.URL, group, p.Body)
	}
	values := url.Values{}
	for _, tag := range inputRE.FindAllString(form, -1) {
		if a := attrs(tag); a["type"] == "hidden" {
			values.Set(a["name"], htmlUnescape(a["value"]))
		}
	}
	for k, v := range fields {
		values[k] = v
	}
	action := htmlUnescape(attrs(form[:strings.IndexByte(form, '>')+1])["action"])
	return c.do(http.MethodPost, action, htmlAccept, values)
}

// flowJSON fetches a flow as an SDK would, with the browser's cookies.
func (c *uiClient) flowJSON(public, kind, id string) map[string]any {
	c.t.Helper()
	p := c.do(http.MethodGet, public+"self-service/"+kind+"/flows?id="+id, "application/json", nil)
	var f map[string]any
	if p.Status != http.StatusOK || json.Unmarshal([]byte(p.Body), &f) != nil {
		c.t.Fatalf("GET %s flow: %d %s", kind, p.Status, p.Body)
	}
	return f
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">").Replace(s)
}

// node is the first node of a flow's JSON named name.
func node(t *testing.T, f map[string]any, name string) map[string]any {
	t.Helper()
	for _, n := range f["ui"].(map[string]any)["nodes"].([]any) {
		n := n.(map[string]any)
		if n["attributes"].(map[string]any)["name"] == name {
			return n
		}
	}
	t.Fatalf("the flow has no node %s", name)
	return nil
}

// TestRecoveryInGerman goes through recovery with a German browser and
// compares each page with the API's flow: the page speaks German, the API
// keeps Kratos's English texts and ids; a refused address stays in its
// input; a wrong code says how many attempts are left.
func TestRecoveryInGerman(t *testing.T) {
	lk := MustLatchkey(t, "SELFSERVICE_FLOWS_RECOVERY_RATE_LIMIT_PER_ADDRESS_MAX=1")
	c := newUIClient(t, "de-DE,de;q=0.9")
	email := newEmail("greta")
	lk.MustIdentity(t, email, "Quiet-Harbour-Lantern-71")

	start := c.get(lk.Public + "ui/recovery")
	flowID := start.URL.Query().Get("flow")
	if start.Status != http.StatusOK || flowID == "" {
		t.Fatalf("recovery page: %d %s", start.Status, start.URL)
	}
	mustContain(t, start.Body, `<html lang="de">`, "<h1 id=\"page-title\">Konto wiederherstellen</h1>", ">E-Mail</label>", ">Weiter</button>", "Zurück zur Anmeldung")

	t.Run("ARefusedAddressStaysAndTheAPIKeepsKratosText", func(t *testing.T) {
		p := c.submit(start, "code", url.Values{"email": {"not-an-email"}, "method": {"code"}})
		mustContain(t, p.Body, `data-message-id="4000040">Gib eine gültige E-Mail-Adresse ein.</p>`, `name="email" value="not-an-email"`)
		api := node(t, c.flowJSON(lk.Public, "recovery", flowID), "email")
		msg := api["messages"].([]any)[0].(map[string]any)
		if msg["id"] != 4000040.0 || msg["text"] != "Enter a valid email address" {
			t.Errorf("the API's message is %v, want Kratos's 4000040 in English", msg)
		}
		if _, has := api["attributes"].(map[string]any)["value"]; has {
			t.Errorf("the API's email node has a value, Kratos's has none: %v", api["attributes"])
		}
	})

	var sent uiPage
	t.Run("AWrongCodeSaysHowManyAttemptsAreLeft", func(t *testing.T) {
		sent = c.submit(start, "code", url.Values{"email": {email}, "method": {"code"}})
		mustContain(t, sent.Body, "Wir haben einen Wiederherstellungscode an die eingegebene E-Mail-Adresse geschickt.", ">Wiederherstellungscode</label>", ">Code erneut senden</button>")
		p := c.submit(sent, "code", url.Values{"code": {"000000"}, "method": {"code"}})
		mustContain(t, p.Body, "Der Wiederherstellungscode ist ungültig oder wurde bereits verwendet. Bitte versuche es erneut. Noch 4 Versuche.")
		p = c.submit(p, "code", url.Values{"code": {"000001"}, "method": {"code"}})
		mustContain(t, p.Body, "Noch 3 Versuche.")
		msg := c.flowJSON(lk.Public, "recovery", flowID)["ui"].(map[string]any)["messages"].([]any)[0].(map[string]any)
		if msg["id"] != 4060006.0 || msg["text"] != "The recovery code is invalid or has already been used. Please try again." {
			t.Errorf("the API's message is %v, want Kratos's 4060006 in English", msg)
		}
		if ctx, _ := msg["context"].(map[string]any); ctx["attempts_left"] != 3.0 {
			t.Errorf("context = %v, want attempts_left 3", msg["context"])
		}
	})

	t.Run("ARateLimitedAddressStays", func(t *testing.T) {
		again := c.get(lk.Public + "ui/recovery")
		p := c.submit(again, "code", url.Values{"email": {email}, "method": {"code"}})
		mustContain(t, p.Body, "Zu viele Wiederherstellungsanfragen. Bitte warte", `name="email" value="`+email+`"`)
	})
}

// TestConfirmPageInTheLayout: the confirm page of an emailed link is drawn
// like the UI's pages (header, stylesheet, language) with a policy that
// allows no script and a token that never leaves in a Referer; its
// button still recovers the account.
func TestConfirmPageInTheLayout(t *testing.T) {
	lk := MustLatchkey(t, "SELFSERVICE_METHODS_LINK_ENABLED=true")
	email := newEmail("link-de")
	c := newUIClient(t, "de")
	p := c.get(lk.mustRecoveryLink(t, lk.MustIdentity(t, email, "Silent-Meadow-Compass-25")))
	if p.Status != http.StatusOK || p.URL.Path != "/self-service/recovery" {
		t.Fatalf("link: %d %s", p.Status, p.URL)
	}
	mustContain(t, p.Body, `<html lang="de">`, `<link rel="stylesheet" href="/ui/static/style.css">`, `<header class="site">`,
		`<meta name="referrer" content="no-referrer">`, "<h1 id=\"page-title\">Konto wiederherstellen</h1>",
		"Bestätige, dass du dein Konto mit diesem Link wiederherstellen möchtest.", `value="link">Weiter</button>`,
		"Wenn du die Wiederherstellung nicht angefordert hast")
	mustNotContain(t, p.Body, "<style", "<script")
	csp := p.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "style-src 'self'") || strings.Contains(csp, "script-src") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "form-action 'self'") {
		t.Errorf("confirm page CSP %q", csp)
	}
	if p.Header.Get("Referrer-Policy") != "no-referrer" || p.Header.Get("Content-Language") != "de" {
		t.Errorf("Referrer-Policy %q, Content-Language %q", p.Header.Get("Referrer-Policy"), p.Header.Get("Content-Language"))
	}

	done := c.submit(p, "link", url.Values{"method": {"link"}})
	if done.URL.Path != "/ui/settings" {
		t.Fatalf("after the confirm button: %d %s", done.Status, done.URL)
	}
	mustContain(t, done.Body, "Du hast dein Konto wiederhergestellt.")
	who := c.do(http.MethodGet, lk.Public+"sessions/whoami", "application/json", nil)
	if who.Status != http.StatusOK || !strings.Contains(who.Body, email) {
		t.Errorf("no session after the confirm button: %d", who.Status)
	}
}

// mustRecoveryLink is an admin-issued recovery link for identity id.
func (l *latchkey) mustRecoveryLink(t *testing.T, id string) string {
	t.Helper()
	rl, _, err := l.Admin.IdentityAPI.CreateRecoveryLinkForIdentity(context.Background()).
		CreateRecoveryLinkForIdentityBody(ory.CreateRecoveryLinkForIdentityBody{IdentityId: id}).Execute()
	if err != nil {
		t.Fatalf("admin recovery link: %v", err)
	}
	return rl.RecoveryLink
}

var passwordButton = regexp.MustCompile(`<button type="button" class="secondary reveal" aria-controls="([^"]+)" aria-pressed="false" aria-label="([^"]+)" data-reveal hidden>([^<]+)</button>`)

// TestShowPasswordButton: every password input has a show button, hidden
// until the script runs, labelled in the page's language; the script is
// the UI's own file.
func TestShowPasswordButton(t *testing.T) {
	api := newFakeAPI()
	api.on("/self-service/settings/flows?id="+flowID, 200, syntheticFlow)
	h := MustHandler(t, api, nil)
	for lang, want := range map[string][2]string{"en": {"Show password", "Show"}, "de": {"Passwort anzeigen", "Anzeigen"}} {
		body := get(t, h, "/ui/settings?flow="+flowID, "Accept-Language", lang).Body.String()
		m := passwordButton.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("%s: no show-password button:\n%s", lang, body)
		}
		if !strings.Contains(body, `<input type="password" id="`+m[1]+`"`) || m[2] != want[0] || m[3] != want[1] {
			t.Errorf("%s: button %q", lang, m[0])
		}
		mustContain(t, body, `<script src="/ui/static/show-password.js" defer></script>`)
	}
	js := get(t, h, "/ui/static/show-password.js")
	if js.Code != http.StatusOK || !strings.Contains(js.Body.String(), "aria-pressed") {
		t.Errorf("script: %d", js.Code)
	}
}

// TestMessageTexts: messages are shown by id in the page's language, their
// durations and dates in words from the context; a message the UI does
// not know keeps the API's text.
func TestMessageTexts(t *testing.T) {
	msg := func(id int, text, ctx string) string {
		m := `{"id":` + strconv.Itoa(id) + `,"text":` + strconv.Quote(text) + `,"type":"info"`
		if ctx != "" {
			m += `,"context":` + ctx
		}
		return m + "}"
	}
	for _, tc := range []struct {
		name, lang, message, want string
	}{
		{"ExpiredAgo", "en", msg(4060005, "The recovery flow expired 7.00 minutes ago, please try again.", `{"expired_at":"2026-11-22T11:53:00Z","expired_at_unix":1}`),
			"The recovery flow expired 7 minutes ago. Please try again."},
		{"ExpiredAgoGerman", "de", msg(4060005, "x", `{"expired_at":"2026-11-22T11:00:00Z"}`),
			"Die Wiederherstellung ist vor 1 Stunde abgelaufen. Bitte versuche es erneut."},
		{"PrivilegedWithin", "en", msg(1060001, "You successfully recovered your account. Please change your password or set up an alternative login method (e.g. social sign in) within the next 15.00 minutes.", `{"privileged_session_expires_at":"2026-11-22T12:15:00Z"}`),
			"You recovered your account. Set a new password within 15 minutes."},
		{"SixtyMinutesIsAnHour", "en", msg(1060001, "… 60.00 minutes.", `{"privileged_session_expires_at":"2026-11-22T13:00:00Z"}`),
			"You recovered your account. Set a new password within 1 hour."},
		{"RetryAfter", "fr", msg(4060100, "Too many recovery requests. Please wait 60 minutes and try again.", `{"retry_after_seconds":3600}`),
			"Trop de demandes de récupération. Veuillez patienter 1 heure puis réessayer."},
		{"CountedLength", "en", msg(4000003, "length must be >= 1, but got 0", `{"min_length":1,"actual_length":0}`), "Enter at least 1 character."},
		{"EmailTitleIsEmail", "en", msg(1070002, "E-Mail", `{"title":"E-Mail","name":"traits.email"}`), "Email"},
		{"EmailTitleInGerman", "de", msg(1070002, "E-Mail", `{"title":"E-Mail","name":"traits.email"}`), "E-Mail"},
		{"OtherTitleAsTheSchemaSaysIt", "de", msg(1070002, "Nickname", `{"title":"Nickname","name":"traits.nick"}`), "Nickname"},
		{"UnknownIDKeepsTheAPIText", "de", msg(1099999, "A message of a newer server.", ""), "A message of a newer server."},
		{"MissingContextKeepsTheAPIText", "de", msg(4060005, "The recovery flow expired 7.00 minutes ago, please try again.", ""),
			"The recovery flow expired 7.00 minutes ago, please try again."},
		{"ProviderFromContext", "es", msg(1010002, "Sign in with GitHub", `{"provider":"GitHub","provider_id":"github"}`), "Iniciar sesión con GitHub"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := newFakeAPI()
			api.on("/self-service/login/flows?id="+flowID, 200, `{"id":"`+flowID+`","ui":{"action":"/x","method":"POST","messages":[`+tc.message+`],"nodes":[
			 {"type":"input","group":"password","attributes":{"name":"identifier","type":"text","node_type":"input"},"messages":[],"meta":{"label":`+tc.message+`}}]}}`)
			body := get(t, MustHandler(t, api, nil), "/ui/login?flow="+flowID, "Accept-Language", tc.lang).Body.String()
			want := html.EscapeString(tc.want)
			mustContain(t, body, `data-message-id="`+tc.message[6:13]+`">`+want+`</p>`, `">`+want+`</label>`)
		})
	}
}

// TestBrowserShowPassword: in Chromium the script reveals the button;
// pressing it shows the password as text and says so with aria-pressed,
// pressing it again hides it; the button's accessible name stays.
func TestBrowserShowPassword(t *testing.T) {
	b := MustBrowser(t)
	api := newFakeAPI()
	api.on("/self-service/settings/flows?id="+flowID, 200, syntheticFlow)
	h := MustHandler(t, api, nil)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	h.Config.PublicBaseURL = srv.URL + "/"

	b.open(srv.URL + "/ui/settings?flow=" + flowID)
	state := func() string {
		return eval[string](b, `(function(){
			const btn = document.querySelector('button[data-reveal]');
			const input = document.getElementById(btn.getAttribute('aria-controls'));
			return [btn.hidden, input.type, btn.getAttribute('aria-pressed'), btn.getAttribute('aria-label')].join(' ');
		})()`)
	}
	if got := state(); got != "false password false Show password" {
		t.Fatalf("before: %q, want the button shown and the password hidden", got)
	}
	// The button loads no page: click it without waiting for one.
	press := func() {
		t.Helper()
		if err := chromedp.Do(b.ctx, chromedp.Click(chromedp.CSS(`button[data-reveal]`))); err != nil {
			t.Fatalf("press: %v", err)
		}
	}
	b.fill(`input[name="password"]`, "Secret-Value-1")
	press()
	if got := state(); got != "false text true Show password" {
		t.Errorf("after one press: %q, want the password shown", got)
	}
	if v := eval[string](b, `document.querySelector('input[name="password"]').value`); v != "Secret-Value-1" {
		t.Errorf("the value changed to %q", v)
	}
	press()
	if got := state(); got != "false password false Show password" {
		t.Errorf("after two presses: %q, want the password hidden again", got)
	}
}
