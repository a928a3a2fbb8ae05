package webui_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// httpBrowser is a browser-like HTTP client of a real Latchkey: its own
// cookies, a User-Agent, and redirects followed.
type httpBrowser struct {
	t    *testing.T
	http *http.Client
	ua   string
	last string // URL of the last page
}

func newHTTPBrowser(t *testing.T, ua string) *httpBrowser {
	jar, _ := cookiejar.New(nil)
	return &httpBrowser{t: t, http: &http.Client{Jar: jar}, ua: ua}
}

func (c *httpBrowser) do(method, target string, form url.Values, headers ...string) (int, string) {
	c.t.Helper()
	p := sendForm(c.t, c.http, method, target, form, append([]string{"Accept", "text/html", "User-Agent", c.ua}, headers...)...)
	c.last = p.URL.String()
	return p.Status, p.Body
}

func (c *httpBrowser) get(target string) string {
	c.t.Helper()
	status, body := c.do(http.MethodGet, target, nil)
	if status != http.StatusOK {
		c.t.Fatalf("GET %s → %d at %s\n%s", target, status, c.last, body)
	}
	return body
}

var (
	actionRE = regexp.MustCompile(`<form [^>]*action="([^"]+)"`)
	csrfRE   = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
	hrefRE   = regexp.MustCompile(`id="([a-z-]+)" href="([^"]+)"`)
)

// flowFormOf is the first form's action and CSRF token on a flow page.
func flowFormOf(t *testing.T, body string) (action, csrf string) {
	t.Helper()
	a, c := actionRE.FindStringSubmatch(body), csrfRE.FindStringSubmatch(body)
	if a == nil || c == nil {
		t.Fatalf("no flow form:\n%s", body)
	}
	return unescapeHTML(a[1]), unescapeHTML(c[1])
}

// linkByID is the href of the element with id on a page.
func linkByID(t *testing.T, body, id string) string {
	t.Helper()
	for _, m := range hrefRE.FindAllStringSubmatch(body, -1) {
		if m[1] == id {
			return unescapeHTML(m[2])
		}
	}
	t.Fatalf("no link #%s:\n%s", id, body)
	return ""
}

func unescapeHTML(s string) string {
	return strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#39;", "'", "&quot;", `"`).Replace(s)
}

// signIn signs c in through the login page.
func (c *httpBrowser) signIn(public, email, password string) {
	c.t.Helper()
	action, csrf := flowFormOf(c.t, c.get(public+"ui/login"))
	status, body := c.do(http.MethodPost, action, url.Values{"csrf_token": {csrf}, "method": {"password"}, "identifier": {email}, "password": {password}})
	if status != 200 || !strings.Contains(c.last, "/ui/welcome") {
		c.t.Fatalf("sign in → %d at %s\n%s", status, c.last, body)
	}
}

const (
	firefoxLinux = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
	safariIPhone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1"
)

// TestAccountAgainstTheServer drives the account features over HTTP
// against a real Latchkey.
func TestAccountAgainstTheServer(t *testing.T) {
	lk := MustLatchkey(t, "UI_BRAND_NAME=Acme ID", "UI_BRAND_PRIMARY_COLOR=#0a7f3f")
	email := newEmail("ada")
	const password = "Correct-Horse-Battery-17"
	lk.MustIdentity(t, email, password)

	t.Run("StaleFormRestartsItsFlow", func(t *testing.T) {
		c := newHTTPBrowser(t, firefoxLinux)
		// The first tab opens sign in for an application.
		returnTo := lk.Public + "ui/settings"
		action, staleCSRF := flowFormOf(t, c.get(lk.Public+"ui/login?return_to="+url.QueryEscape(returnTo)))
		// Another tab signs in and out, which renews the CSRF cookie.
		c.signIn(lk.Public, email, password)
		welcome := c.get(lk.Public + "ui/welcome")
		c.get(linkByID(t, welcome, "logout"))
		// The first tab's form is sent: the API refuses it (CSRF) and the
		// error page says what happened and restarts sign in.
		status, body := c.do(http.MethodPost, action, url.Values{"csrf_token": {staleCSRF}, "method": {"password"}, "identifier": {email}, "password": {password}})
		if status != 200 || !strings.Contains(c.last, "/ui/error?id=") {
			t.Fatalf("stale post → %d at %s", status, c.last)
		}
		mustContain(t, body, `<h1 id="page-title">Your sign-in form was out of date</h1>`, "<code>security_csrf_violation</code>")
		// The other tab's sign-in page was the last one shown, so its
		// (lack of) return_to is what the restart knows.
		restart := linkByID(t, body, "restart")
		if restart != "/ui/login" {
			t.Errorf("restart %q", restart)
		}
		// One click: a fresh sign-in form that works.
		action, csrf := flowFormOf(t, c.get(strings.TrimSuffix(lk.Public, "/")+restart))
		_, _ = c.do(http.MethodPost, action, url.Values{"csrf_token": {csrf}, "method": {"password"}, "identifier": {email}, "password": {password}})
		if !strings.HasSuffix(c.last, "/ui/welcome") {
			t.Errorf("after the restart the browser is at %s", c.last)
		}
		c.get(linkByID(t, c.get(lk.Public+"ui/welcome"), "logout"))

		// A form gone stale without another flow page in between (the
		// session ended elsewhere) restarts with its return_to.
		action, staleCSRF = flowFormOf(t, c.get(lk.Public+"ui/login?return_to="+url.QueryEscape(returnTo)))
		for _, k := range c.http.Jar.Cookies(mustParse(t, lk.Public)) {
			if strings.HasPrefix(k.Name, "csrf_token") {
				c.http.Jar.SetCookies(mustParse(t, lk.Public), []*http.Cookie{{Name: k.Name, Value: "renewed", Path: "/"}})
			}
		}
		_, body = c.do(http.MethodPost, action, url.Values{"csrf_token": {staleCSRF}, "method": {"password"}, "identifier": {email}, "password": {password}})
		restart = linkByID(t, body, "restart")
		if restart != "/ui/login?return_to="+url.QueryEscape(returnTo) {
			t.Errorf("restart %q", restart)
		}
		action, csrf = flowFormOf(t, c.get(strings.TrimSuffix(lk.Public, "/")+restart))
		_, _ = c.do(http.MethodPost, action, url.Values{"csrf_token": {csrf}, "method": {"password"}, "identifier": {email}, "password": {password}})
		if !strings.HasPrefix(c.last, returnTo) {
			t.Errorf("after the restart the browser is at %s, want %s", c.last, returnTo)
		}
	})

	t.Run("SignedInIsToldInsteadOfBounced", func(t *testing.T) {
		c := newHTTPBrowser(t, firefoxLinux)
		c.signIn(lk.Public, email, password)
		body := c.get(lk.Public + "ui/registration")
		if !strings.HasSuffix(c.last, "/ui/registration") {
			t.Fatalf("bounced to %s", c.last)
		}
		mustContain(t, body, "You are already signed in", "You are signed in as "+email+".", "Signed in as", "Acme ID")
		// Logging out comes back to sign up.
		body = c.get(linkByID(t, body, "logout"))
		if !strings.Contains(c.last, "/ui/registration?flow=") {
			t.Fatalf("after logging out the browser is at %s", c.last)
		}
		mustContain(t, body, `<link rel="stylesheet" href="/ui/static/brand.css">`)
		// Refreshing a session is still for signed-in people.
		c.signIn(lk.Public, email, password)
		c.get(lk.Public + "ui/login?refresh=true")
		if !strings.Contains(c.last, "/ui/login?flow=") {
			t.Errorf("refresh: at %s", c.last)
		}
	})

	t.Run("LogOutAnotherDevice", func(t *testing.T) {
		laptop, phone := newHTTPBrowser(t, firefoxLinux), newHTTPBrowser(t, safariIPhone)
		laptop.signIn(lk.Public, email, password)
		phone.signIn(lk.Public, email, password)
		body := laptop.get(lk.Public + "ui/welcome")
		mustContain(t, body, "Firefox on Linux · 127.0.0.1</dd>", "<strong>Safari on iPhone</strong> · 127.0.0.1</p>", "<dt>E-Mail</dt>")
		// The phone's form (the only one for its session id).
		forms := regexp.MustCompile(`<form method="post" action="(/ui/sessions/[^"]+/revoke)">\s*<input type="hidden" name="token" value="([^"]+)">`).FindAllStringSubmatch(body, -1)
		if len(forms) == 0 {
			t.Fatalf("no Log out this device form:\n%s", body)
		}
		// A post from another site is refused and ends nothing.
		target := strings.TrimSuffix(lk.Public, "/") + forms[0][1]
		if status, _ := laptop.do(http.MethodPost, target, url.Values{"token": {unescapeHTML(forms[0][2])}}, "Sec-Fetch-Site", "cross-site"); status != http.StatusForbidden {
			t.Errorf("cross-site post: %d", status)
		}
		if status, _ := phone.do(http.MethodGet, lk.Public+"sessions/whoami", nil); status != 200 {
			t.Fatalf("the phone was signed out by a refused post: %d", status)
		}
		status, body := laptop.do(http.MethodPost, target, url.Values{"token": {unescapeHTML(forms[0][2])}}, "Origin", strings.TrimSuffix(lk.Public, "/"))
		if status != 200 || !strings.HasSuffix(laptop.last, "/ui/welcome?revoked=1") {
			t.Fatalf("revoke → %d at %s", status, laptop.last)
		}
		mustContain(t, body, "The device has been logged out.")
		if status, _ := phone.do(http.MethodGet, lk.Public+"sessions/whoami", nil); status != http.StatusUnauthorized {
			t.Errorf("the phone is still signed in: %d", status)
		}
		if status, _ := laptop.do(http.MethodGet, lk.Public+"sessions/whoami", nil); status != 200 {
			t.Errorf("the laptop was signed out: %d", status)
		}
	})

	t.Run("Favicon", func(t *testing.T) {
		res, err := http.Get(lk.Public + "favicon.ico")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != "image/x-icon" || !bytes.HasPrefix(b, []byte{0, 0, 1, 0}) {
			t.Errorf("favicon: %d %q % x", res.StatusCode, res.Header.Get("Content-Type"), b[:min(4, len(b))])
		}
	})
}

func mustParse(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestBrowserStaleTab is the stale-tab journey in Chromium: a sign-in
// form left open while another tab signs in and out is refused by the
// API (CSRF); the error page says so in plain words and restarts sign in
// with one click. Then a second browser's session is logged out from the
// account page's "Log out this device".
func TestBrowserStaleTab(t *testing.T) {
	chromiumPath(t)
	lk := MustLatchkey(t)
	email := newEmail("stale")
	const password = "Quiet-Harbour-Lantern-31"
	lk.MustIdentity(t, email, password)

	first := MustBrowser(t)
	first.open(lk.Public + "ui/login")
	first.expectPath("/ui/login?flow=")
	first.fill(`input[name="identifier"]`, email)
	first.fill(`input[name="password"]`, password)

	// Another tab of the same browser signs in and out.
	ctx, cancel := chromedp.NewContext(first.ctx)
	t.Cleanup(cancel)
	second := &browser{t: t, ctx: ctx}
	second.signIn(lk.Public, email, password)
	second.expectPath("/ui/welcome")
	second.expectText("Signed in as", email)
	second.logOut(lk.Public)

	first.click(`button[name="method"][value="password"]`)
	first.expectPath("/ui/error?id=")
	first.expectText("Your sign-in form was out of date", "This happens when you sign in or out in another tab or window.")
	if eval[bool](first, `document.querySelector('details.technical').open`) {
		t.Error("the technical details are not folded away")
	}
	first.screenshot("error-stale-form")
	first.click("#restart")
	first.expectPath("/ui/login?flow=")
	first.fill(`input[name="identifier"]`, email)
	first.fill(`input[name="password"]`, password)
	first.click(`button[name="method"][value="password"]`)
	first.expectPath("/ui/welcome")

	// Signed in, the sign-in page explains instead of bouncing.
	first.open(lk.Public + "ui/login")
	first.expectPath("/ui/login")
	first.expectText("You are already signed in", "You are signed in as "+email+".")

	// A second browser signs in; the first logs it out.
	other := MustBrowser(t)
	other.signIn(lk.Public, email, password)
	other.expectPath("/ui/welcome")
	first.open(lk.Public + "ui/welcome")
	first.expectText("Other devices", "Chrome on Linux")
	first.screenshot("account")
	first.click(`ul.sessions button[type="submit"]`)
	first.expectPath("/ui/welcome?revoked=1")
	first.expectText("The device has been logged out.", "You are not signed in on any other device.")
	other.open(lk.Public + "ui/welcome")
	other.expectPath("/ui/login")
}
