package recovery_test

import (
	"context"
	"html"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

var browserAccept = map[string]string{"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}

// sendLink starts a browser (SPA) flow, submits email with method link
// and returns the flow id and the mailed link.
func sendLink(t *testing.T, srv *servertest.Server, email string) (string, string) {
	t.Helper()
	ctx := context.Background()
	api, _ := browser(srv)
	f, _, err := api.FrontendAPI.CreateBrowserRecoveryFlow(ctx).Execute()
	if err != nil {
		t.Fatal(err)
	}
	f, _, err = api.FrontendAPI.UpdateRecoveryFlow(ctx).Flow(f.Id).UpdateRecoveryFlowBody(linkBody(email, csrfOf(f))).Execute()
	if err != nil || f.State != "sent_email" || messageIDs(f)[0] != 1060002 {
		t.Fatalf("send link: %v %+v", err, f)
	}
	return f.Id, mustReadLink(t, srv, email)
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`)

// confirmForm reads the form of a link confirm page.
func confirmForm(t *testing.T, page string) (action string, values url.Values) {
	t.Helper()
	m := regexp.MustCompile(`<form [^>]*action="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no form in confirm page:\n%s", page)
	}
	values = url.Values{"method": {"link"}}
	for _, in := range hiddenInput.FindAllStringSubmatch(page, -1) {
		values.Set(in[1], html.UnescapeString(in[2]))
	}
	return html.UnescapeString(m[1]), values
}

func newJar() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// TestLinkRecovery is journey c with departure 5: opening the link shows
// a confirm page (a mail scanner opening it burns nothing), the page's
// POST spends the token.
func TestLinkRecovery(t *testing.T) {
	servertest.Each(t, options(withLink), func(t *testing.T, srv *servertest.Server) {
		email := uniqueEmail("link")
		ident := mustIdentity(t, srv, email)
		flowID, link := sendLink(t, srv, email)
		if !strings.HasPrefix(link, srv.Public.URL+"/self-service/recovery?flow="+flowID+"&token=") {
			t.Fatalf("link = %q", link)
		}

		// A mail scanner opens the link first (no cookies).
		res, page := do(t, nil, "GET", link, browserAccept, "")
		if res.StatusCode != 200 || !strings.Contains(string(page), "Recover your account") {
			t.Fatalf("scanner GET: %d", res.StatusCode)
		}
		// The user opens it on another device (fresh browser).
		user := newJar()
		res, page = do(t, user, "GET", link, browserAccept, "")
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/html; charset=utf-8" || res.Header.Get("Referrer-Policy") != "no-referrer" {
			t.Fatalf("user GET: %d %v", res.StatusCode, res.Header)
		}
		// A JSON client gets the same confirm form as a flow.
		jres, jf := getJSON(t, srv, nil, strings.TrimPrefix(link, srv.Public.URL), nil)
		if jres.StatusCode != 200 || dig(jf, "id") != flowID || dig(jf, "ui", "nodes", 1, "attributes", "name") != "token" || dig(jf, "ui", "messages", 0, "id") != float64(1060100) {
			t.Fatalf("JSON GET: %d %v", jres.StatusCode, jf)
		}
		action, values := confirmForm(t, string(page))
		res, _ = do(t, user, "POST", action, map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Accept": browserAccept["Accept"]}, values.Encode())
		if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), settingsUI+"?flow=") {
			t.Fatalf("confirm POST: %d %q", res.StatusCode, res.Header.Get("Location"))
		}
		if cookieNamed(res, servertest.SessionCookieName) == nil {
			t.Fatal("no session cookie")
		}
		api := srv.SDKWith(user)
		sess, _, err := api.FrontendAPI.ToSession(context.Background()).Execute()
		if err != nil || sess.Identity.Id != ident.Id || sess.AuthenticationMethods[0].GetMethod() != "link_recovery" {
			t.Fatalf("whoami: %v %+v", err, sess)
		}

		// Replaying the link (GET, or the confirm POST) lands on a new flow with 4060004.
		for _, replay := range []func() *http.Response{
			func() *http.Response { r, _ := do(t, user, "GET", link, browserAccept, ""); return r },
			func() *http.Response {
				r, _ := do(t, user, "POST", action, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, values.Encode())
				return r
			},
		} {
			res = replay()
			loc := res.Header.Get("Location")
			if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, recoveryUI+"?flow=") {
				t.Fatalf("replay: %d %q", res.StatusCode, loc)
			}
			nf, _, err := api.FrontendAPI.GetRecoveryFlow(context.Background()).Id(strings.TrimPrefix(loc, recoveryUI+"?flow=")).Execute()
			if err != nil || len(messageIDs(nf)) != 1 || messageIDs(nf)[0] != 4060004 || nf.GetActive() != "link" {
				t.Fatalf("replacement flow: %v %+v", err, nf)
			}
		}
	})
}

// TestLinkRecoveryWithoutConfirmation: require_confirmation: false is
// Kratos's behaviour, the GET spends the token.
func TestLinkRecoveryWithoutConfirmation(t *testing.T) {
	servertest.Each(t, options(withLink, withoutConfirmation), func(t *testing.T, srv *servertest.Server) {
		email := uniqueEmail("link-get")
		mustIdentity(t, srv, email)
		_, link := sendLink(t, srv, email)
		res, _ := do(t, newJar(), "GET", link, browserAccept, "")
		if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), settingsUI+"?flow=") || cookieNamed(res, servertest.SessionCookieName) == nil {
			t.Fatalf("GET: %d %q", res.StatusCode, res.Header.Get("Location"))
		}
		// Even with Accept: application/json a replay is a redirect.
		res, _ = do(t, nil, "GET", link, map[string]string{"Accept": "application/json"}, "")
		if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), recoveryUI+"?flow=") {
			t.Fatalf("replay: %d %q", res.StatusCode, res.Header.Get("Location"))
		}
	})
}

// TestLinkRecoveryBadLinks: unknown token, unknown flow, expired link.
func TestLinkRecoveryBadLinks(t *testing.T) {
	servertest.Each(t, options(withLink), func(t *testing.T, srv *servertest.Server) {
		email := uniqueEmail("link-bad")
		mustIdentity(t, srv, email)
		flowID, link := sendLink(t, srv, email)
		api := srv.SDK(false)
		check := func(u string, wantMsg int64) {
			t.Helper()
			res, _ := do(t, nil, "GET", u, browserAccept, "")
			loc := res.Header.Get("Location")
			if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, recoveryUI+"?flow=") {
				t.Fatalf("%s: %d %q", u, res.StatusCode, loc)
			}
			nf, _, err := api.FrontendAPI.GetRecoveryFlow(context.Background()).Id(strings.TrimPrefix(loc, recoveryUI+"?flow=")).Execute()
			if err == nil {
				t.Fatalf("a browser flow was readable without its cookie")
			}
			_ = nf
			// The UI would show the flow's message; read it from the database.
			var data string
			err = srv.DB.QueryRow(context.Background(), `SELECT data FROM selfservice_flows WHERE kind = 'recovery' AND id = ?`,
				strings.TrimPrefix(loc, recoveryUI+"?flow=")).Scan(&data)
			if err != nil || !strings.Contains(data, `"id":`+itoa(wantMsg)) {
				t.Fatalf("%s: new flow %v %s", u, err, data)
			}
		}
		check(srv.Public.URL+"/self-service/recovery?flow="+flowID+"&token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 4060004)
		check(srv.Public.URL+"/self-service/recovery?flow=00000000-0000-0000-0000-000000000001&token=x", 4060004)
		srv.Clock.Advance(2 * srv.Config.SelfService.Methods.Link.Config.Lifespan)
		check(link, 4060005)
		// No flow at all: the error UI.
		res, _ := do(t, nil, "GET", srv.Public.URL+"/self-service/recovery", browserAccept, "")
		if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), errorUI+"?id=") {
			t.Fatalf("no flow: %d %q", res.StatusCode, res.Header.Get("Location"))
		}
	})
}
