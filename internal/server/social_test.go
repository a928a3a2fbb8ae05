package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	ory "github.com/ory/client-go"

	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/server/servertest"
)

// socialMapper copies the email claim to traits.email, as the mapper of
// Kratos's social sign-in guides does.
const socialMapper = `local claims = std.extVar('claims');
{ identity: { traits: { email: claims.email } } }`

// socialEnv turns social sign-in on with one generic provider "mock" at
// op, allows https://app.example/ as a return URL, plus extra variables.
func socialEnv(op *servertest.OpenIDProvider, extra ...string) []string {
	return append(append(socialProviderEnv(op), "SELFSERVICE_ALLOWED_RETURN_URLS=[\"https://app.example/\"]"), extra...)
}

// socialProviderEnv turns social sign-in on with one generic provider
// "mock" (label Mock) at op.
func socialProviderEnv(op *servertest.OpenIDProvider) []string {
	providers, _ := json.Marshal([]map[string]any{{
		"id": "mock", "provider": "generic", "label": "Mock",
		"client_id": op.ClientID, "client_secret": op.ClientSecret, "issuer_url": op.Issuer(),
		"scope": []string{"email"}, "mapper_url": "base64://" + base64.StdEncoding.EncodeToString([]byte(socialMapper)),
	}})
	return []string{"SELFSERVICE_METHODS_OIDC_ENABLED=true", "SELFSERVICE_METHODS_OIDC_CONFIG_PROVIDERS=" + string(providers)}
}

// socialBrowser is a browser signing in with the mock provider.
type socialBrowser struct {
	t   *testing.T
	srv *servertest.Server
	c   *http.Client // keeps cookies, follows no redirect
}

func newSocialBrowser(t *testing.T, srv *servertest.Server) *socialBrowser {
	return &socialBrowser{t: t, srv: srv, c: srv.HTTPClient(true)}
}

// startFlow creates a browser flow of kind (login, registration) and
// returns its id and CSRF token.
func (b *socialBrowser) startFlow(kind, query string) (string, string, map[string]any) {
	b.t.Helper()
	res, f := servertest.Do(b.t, b.c, http.MethodGet, b.srv.Public.URL+"/self-service/"+kind+"/browser"+query, nil, http.Header{"Accept": {"application/json"}})
	if res.StatusCode != http.StatusOK {
		b.t.Fatalf("start %s: %d %v", kind, res.StatusCode, f)
	}
	return f["id"].(string), csrfOf(f), f
}

func nodesOf(f map[string]any) []map[string]any {
	ui, _ := f["ui"].(map[string]any)
	raw, _ := ui["nodes"].([]any)
	out := make([]map[string]any, 0, len(raw))
	for _, n := range raw {
		out = append(out, n.(map[string]any))
	}
	return out
}

// oidcNode is the node of group oidc named name with value provider.
func oidcNode(f map[string]any, name, provider string) map[string]any {
	for _, n := range nodesOf(f) {
		attr := n["attributes"].(map[string]any)
		if n["group"] == "oidc" && attr["name"] == name && attr["value"] == provider {
			return n
		}
	}
	return nil
}

func labelID(n map[string]any) float64 {
	meta, _ := n["meta"].(map[string]any)
	label, _ := meta["label"].(map[string]any)
	id, _ := label["id"].(float64)
	return id
}

func messageIDsOf(f map[string]any) []float64 {
	ui, _ := f["ui"].(map[string]any)
	raw, _ := ui["messages"].([]any)
	var out []float64
	for _, m := range raw {
		out = append(out, m.(map[string]any)["id"].(float64))
	}
	return out
}

// submit posts the form of a flow of kind and returns the answer.
func (b *socialBrowser) submit(kind, id string, form url.Values) *http.Response {
	b.t.Helper()
	res, _ := servertest.DoRaw(b.t, b.c, http.MethodPost, b.srv.Public.URL+"/self-service/"+kind+"?flow="+id, form, nil)
	return res
}

// viaProvider follows a 303 to the provider, which signs in the user
// it was given and sends the browser back; it returns the callback URL.
func (b *socialBrowser) viaProvider(res *http.Response) string {
	b.t.Helper()
	if res.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("submit: want 303 to the provider, got %d", res.StatusCode)
	}
	return b.provider(res.Header.Get("Location"))
}

// provider visits the authorization URL and returns the callback URL.
func (b *socialBrowser) provider(authURL string) string {
	b.t.Helper()
	res, body := servertest.DoRaw(b.t, b.c, http.MethodGet, authURL, nil, nil)
	if res.StatusCode != http.StatusFound && res.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("provider: %d %s", res.StatusCode, body)
	}
	return res.Header.Get("Location")
}

// callback opens the callback URL and returns Latchkey's answer.
func (b *socialBrowser) callback(to string) *http.Response {
	b.t.Helper()
	res, _ := servertest.DoRaw(b.t, b.c, http.MethodGet, to, nil, nil)
	return res
}

// roundTrip presses the provider button of a new flow of kind and comes
// back: Latchkey's answer to the callback.
func (b *socialBrowser) roundTrip(kind, query string) *http.Response {
	b.t.Helper()
	id, csrf, _ := b.startFlow(kind, query)
	return b.callback(b.viaProvider(b.submit(kind, id, url.Values{"csrf_token": {csrf}, "method": {"oidc"}, "provider": {"mock"}})))
}

// whoami is the browser's session.
func (b *socialBrowser) whoami() (*http.Response, map[string]any) {
	b.t.Helper()
	return servertest.Do(b.t, b.c, http.MethodGet, b.srv.Public.URL+"/sessions/whoami", nil, nil)
}

// errorOf reads the error a browser was sent to the error UI with.
func errorOf(t *testing.T, srv *servertest.Server, res *http.Response) map[string]any {
	t.Helper()
	loc, err := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusSeeOther || err != nil || loc.Query().Get("id") == "" {
		t.Fatalf("want a 303 to the error UI, got %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	_, e := servertest.Do(t, srv.HTTPClient(false), http.MethodGet, srv.Public.URL+"/self-service/errors?id="+loc.Query().Get("id"), nil, nil)
	inner, _ := e["error"].(map[string]any)
	return inner
}

func TestSocialSignUpAndSignIn(t *testing.T) {
	op := servertest.StartOpenIDProvider(t)
	servertest.Each(t, servertest.Options{Env: socialEnv(op)}, func(t *testing.T, srv *servertest.Server) {
		op.SetUser("sub-Ann", "ann@example.com", true, nil)
		b := newSocialBrowser(t, srv)
		id, csrf, f := b.startFlow("registration", "")
		n := oidcNode(f, "provider", "mock")
		if n == nil || labelID(n) != 1040002 || n["attributes"].(map[string]any)["type"] != "submit" {
			t.Fatalf("registration offers no Sign up with Mock button: %v", nodesOf(f))
		}
		res := b.submit("registration", id, url.Values{"csrf_token": {csrf}, "method": {"oidc"}, "provider": {"mock"}})
		auth, _ := url.Parse(res.Header.Get("Location"))
		q := auth.Query()
		if !strings.HasPrefix(auth.String(), op.Issuer()) || q.Get("client_id") != op.ClientID || q.Get("response_type") != "code" ||
			q.Get("redirect_uri") != srv.Public.URL+"/self-service/methods/oidc/callback/mock" || q.Get("state") == "" ||
			q.Get("code_challenge_method") != "S256" || q.Get("nonce") == "" ||
			!slices.Contains(strings.Fields(q.Get("scope")), "openid") || !slices.Contains(strings.Fields(q.Get("scope")), "email") {
			t.Fatalf("authorization request: %d %s", res.StatusCode, auth)
		}
		back := b.callback(b.provider(auth.String()))
		if back.StatusCode != http.StatusSeeOther || back.Header.Get("Location") != srv.Config.DefaultReturnURL() {
			t.Fatalf("callback: %d %q", back.StatusCode, back.Header.Get("Location"))
		}
		_, who := b.whoami()
		methods, _ := who["authentication_methods"].([]any)
		if len(methods) != 1 || methods[0].(map[string]any)["method"] != "oidc" || methods[0].(map[string]any)["provider"] != "mock" || who["authenticator_assurance_level"] != "aal1" {
			t.Fatalf("session: %v", who)
		}
		identityID := who["identity"].(map[string]any)["id"].(string)
		ident := srv.MustGetIdentity(t, identityID)
		if ident.Traits.(map[string]any)["email"] != "ann@example.com" {
			t.Fatalf("traits: %v", ident.Traits)
		}
		creds := (*ident.Credentials)["oidc"]
		if !slices.Equal(creds.Identifiers, []string{"mock:sub-Ann"}) {
			t.Fatalf("oidc credential: %+v", creds)
		}

		// The same callback again is refused: the state was spent.
		if e := errorOf(t, srv, b.callback(b.provider(auth.String()))); e["code"] != float64(400) {
			t.Fatalf("replayed state: %v", e)
		}

		// Another browser signs in to the same identity, and return_to holds.
		other := newSocialBrowser(t, srv)
		res = other.roundTrip("login", "?return_to="+url.QueryEscape("https://app.example/home"))
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "https://app.example/home" {
			t.Fatalf("login: %d %q", res.StatusCode, res.Header.Get("Location"))
		}
		if _, who := other.whoami(); who["identity"].(map[string]any)["id"] != identityID {
			t.Fatalf("login signed in another identity: %v", who)
		}
		// A sign-up with an account that is linked signs its identity in.
		again := newSocialBrowser(t, srv)
		if res := again.roundTrip("registration", ""); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-up of a linked account: %d", res.StatusCode)
		}
		if _, who := again.whoami(); who["identity"].(map[string]any)["id"] != identityID {
			t.Fatalf("sign-up of a linked account signed in: %v", who)
		}
		// A login with an account nobody linked signs it up (as Kratos).
		op.SetUser("sub-Bob", "bob@example.com", true, nil)
		third := newSocialBrowser(t, srv)
		if res := third.roundTrip("login", ""); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("login of a new account: %d", res.StatusCode)
		}
		if _, who := third.whoami(); who["identity"].(map[string]any)["traits"].(map[string]any)["email"] != "bob@example.com" {
			t.Fatalf("login of a new account: %v", who)
		}
	})
}

func TestSocialSPAGetsLocationChange(t *testing.T) {
	op := servertest.StartOpenIDProvider(t)
	servertest.Each(t, servertest.Options{Env: socialEnv(op)}, func(t *testing.T, srv *servertest.Server) {
		b := newSocialBrowser(t, srv)
		id, csrf, _ := b.startFlow("login", "")
		res, body := servertest.Do(t, b.c, http.MethodPost, srv.Public.URL+"/self-service/login?flow="+id,
			map[string]any{"method": "oidc", "provider": "mock", "csrf_token": csrf}, http.Header{"Accept": {"application/json"}})
		to, _ := body["redirect_browser_to"].(string)
		if res.StatusCode != http.StatusUnprocessableEntity || !strings.HasPrefix(to, op.Issuer()) ||
			body["error"].(map[string]any)["id"] != "browser_location_change_required" {
			t.Fatalf("SPA submit: %d %v", res.StatusCode, body)
		}
		// Unknown provider: 404, as Kratos.
		res, body = servertest.Do(t, b.c, http.MethodPost, srv.Public.URL+"/self-service/login?flow="+id,
			map[string]any{"method": "oidc", "provider": "nope", "csrf_token": csrf}, http.Header{"Accept": {"application/json"}})
		if res.StatusCode != http.StatusNotFound {
			t.Fatalf("unknown provider: %d %v", res.StatusCode, body)
		}
	})
}

func TestSocialFailuresWriteNothing(t *testing.T) {
	op := servertest.StartOpenIDProvider(t)
	servertest.Each(t, servertest.Options{Env: socialEnv(op)}, func(t *testing.T, srv *servertest.Server) {
		op.SetUser("sub-Cy", "cy@example.com", true, nil)
		t.Run("denied consent shows on the flow", func(t *testing.T) {
			b := newSocialBrowser(t, srv)
			op.Deny()
			res := b.roundTrip("registration", "")
			loc, _ := url.Parse(res.Header.Get("Location"))
			if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc.String(), srv.Config.UIURLs().Registration) {
				t.Fatalf("denied: %d %q", res.StatusCode, loc)
			}
			_, f := servertest.Do(t, b.c, http.MethodGet, srv.Public.URL+"/self-service/registration/flows?id="+loc.Query().Get("flow"), nil, nil)
			if !slices.Contains(messageIDsOf(f), 4000001) {
				t.Fatalf("denied flow: %v", f["ui"])
			}
		})
		t.Run("token endpoint failure shows on the flow", func(t *testing.T) {
			b := newSocialBrowser(t, srv)
			op.FailTokenEndpoint(http.StatusInternalServerError)
			defer op.FailTokenEndpoint(0)
			id, csrf, _ := b.startFlow("login", "")
			back := b.viaProvider(b.submit("login", id, url.Values{"csrf_token": {csrf}, "method": {"oidc"}, "provider": {"mock"}}))
			res := b.callback(back)
			loc, _ := url.Parse(res.Header.Get("Location"))
			if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc.String(), srv.Config.UIURLs().Login) || loc.Query().Get("flow") != id {
				t.Fatalf("token failure: %d %q", res.StatusCode, loc)
			}
			_, f := servertest.Do(t, b.c, http.MethodGet, srv.Public.URL+"/self-service/login/flows?id="+id, nil, nil)
			if !slices.Contains(messageIDsOf(f), 4000001) {
				t.Fatalf("token failure flow: %v", f["ui"])
			}
			// The same callback again, in the same browser: the state was
			// spent by the first try.
			op.FailTokenEndpoint(0)
			if e := errorOf(t, srv, b.callback(back)); e["code"] != float64(400) || !strings.Contains(strOr(e["reason"]), "completed already") {
				t.Fatalf("replayed callback: %v", e)
			}
		})
		t.Run("a trip finishes only in the browser that started it", func(t *testing.T) {
			a, other := newSocialBrowser(t, srv), newSocialBrowser(t, srv)
			id, csrf, _ := a.startFlow("login", "")
			back := a.viaProvider(a.submit("login", id, url.Values{"csrf_token": {csrf}, "method": {"oidc"}, "provider": {"mock"}}))
			other.c.Get(srv.Public.URL + "/self-service/login/browser") // it has its own anti-CSRF cookie
			if e := errorOf(t, srv, other.callback(back)); e["code"] != float64(400) {
				t.Fatalf("callback in another browser: %v", e)
			}
		})
		t.Run("bad state", func(t *testing.T) {
			b := newSocialBrowser(t, srv)
			for _, q := range []string{"", "?state=forged&code=x"} {
				if e := errorOf(t, srv, b.callback(srv.Public.URL+"/self-service/methods/oidc/callback/mock"+q)); e["code"] != float64(400) {
					t.Fatalf("callback %q: %v", q, e)
				}
			}
		})
		// Nothing was signed up by any of it.
		if n := countIdentities(t, srv); n != 0 {
			t.Fatalf("failures created %d identities", n)
		}
	})
}

func TestSocialSignUpWithTakenEmailSuggestsSignIn(t *testing.T) {
	op := servertest.StartOpenIDProvider(t)
	servertest.Each(t, servertest.Options{Env: socialEnv(op)}, func(t *testing.T, srv *servertest.Server) {
		existing := srv.MustCreateIdentity(t, "dee@example.com", "a-long-password-1")
		op.SetUser("sub-Dee", "dee@example.com", true, nil)
		b := newSocialBrowser(t, srv)
		res := b.roundTrip("registration", "")
		loc, _ := url.Parse(res.Header.Get("Location"))
		if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc.String(), srv.Config.UIURLs().Login) {
			t.Fatalf("taken email: %d %q", res.StatusCode, loc)
		}
		flowID := loc.Query().Get("flow")
		_, f := servertest.Do(t, b.c, http.MethodGet, srv.Public.URL+"/self-service/login/flows?id="+flowID, nil, nil)
		if !slices.Contains(messageIDsOf(f), 1010016) {
			t.Fatalf("login flow: %v", f["ui"])
		}
		if n := countIdentities(t, srv); n != 1 {
			t.Fatalf("%d identities: the account was merged or duplicated", n)
		}
		// Signing in with the password there links the provider account.
		res = b.submit("login", flowID, url.Values{"csrf_token": {csrfOf(f)}, "method": {"password"}, "identifier": {"dee@example.com"}, "password": {"a-long-password-1"}})
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("password login: %d", res.StatusCode)
		}
		ident := srv.MustGetIdentity(t, existing.Id)
		if !slices.Equal((*ident.Credentials)["oidc"].Identifiers, []string{"mock:sub-Dee"}) {
			t.Fatalf("provider not linked: %+v", ident.Credentials)
		}
		// From now on the provider signs in to that identity.
		next := newSocialBrowser(t, srv)
		next.roundTrip("login", "")
		if _, who := next.whoami(); who["identity"].(map[string]any)["id"] != existing.Id {
			t.Fatalf("provider login: %v", who)
		}
	})
}

// TestSocialLinkAfterRecovery is the seed's journey: recover by code,
// link a provider in settings, log out, sign in with the provider.
func TestSocialLinkAfterRecovery(t *testing.T) {
	op := servertest.StartOpenIDProvider(t)
	servertest.Each(t, servertest.Options{Env: socialEnv(op)}, func(t *testing.T, srv *servertest.Server) {
		ident := srv.MustCreateIdentity(t, "eve@example.com", "a-long-password-1")
		op.SetUser("sub-Eve", "eve.personal@example.com", true, nil)
		rec := srv.MustRecover(t, ident.Id, "browser", "")
		b := &socialBrowser{t: t, srv: srv, c: srv.Browser(t, rec.Session)}
		_, f := servertest.Do(t, b.c, http.MethodGet, srv.Public.URL+"/self-service/settings/flows?id="+rec.SettingsFlowID, nil, nil)
		link := oidcNode(f, "link", "mock")
		if link == nil || labelID(link) != 1050002 || oidcNode(f, "unlink", "mock") != nil {
			t.Fatalf("settings after recovery: %v", nodesOf(f))
		}
		res := b.submit("settings", rec.SettingsFlowID, url.Values{"csrf_token": {csrfOf(f)}, "link": {"mock"}})
		back := b.callback(b.viaProvider(res))
		if back.StatusCode != http.StatusSeeOther || !strings.Contains(back.Header.Get("Location"), rec.SettingsFlowID) {
			t.Fatalf("link callback: %d %q", back.StatusCode, back.Header.Get("Location"))
		}
		_, f = servertest.Do(t, b.c, http.MethodGet, srv.Public.URL+"/self-service/settings/flows?id="+rec.SettingsFlowID, nil, nil)
		if f["state"] != "success" || !slices.Contains(messageIDsOf(f), 1050001) || oidcNode(f, "unlink", "mock") == nil {
			t.Fatalf("settings after linking: %v %v", f["state"], f["ui"])
		}
		_, who := b.whoami()
		var methods []string
		for _, m := range who["authentication_methods"].([]any) {
			m := m.(map[string]any)
			methods = append(methods, m["method"].(string)+":"+strOr(m["provider"]))
		}
		if !slices.Equal(methods, []string{"code_recovery:", "oidc:mock"}) {
			t.Fatalf("session methods: %v", methods)
		}
		if !srv.PasswordIs(t, ident.Id, "a-long-password-1") {
			t.Fatal("linking changed the password")
		}
		// Log out; the provider signs in to the same identity.
		fresh := newSocialBrowser(t, srv)
		fresh.roundTrip("login", "")
		if _, who := fresh.whoami(); who["identity"].(map[string]any)["id"] != ident.Id {
			t.Fatalf("provider login after linking: %v", who)
		}
		// Unlink (a password remains), and the link button is back.
		_, f = servertest.Do(t, b.c, http.MethodGet, srv.Public.URL+"/self-service/settings/browser", nil, http.Header{"Accept": {"application/json"}})
		res = b.submit("settings", f["id"].(string), url.Values{"csrf_token": {csrfOf(f)}, "unlink": {"mock"}})
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("unlink: %d", res.StatusCode)
		}
		if _, ok := (*srv.MustGetIdentity(t, ident.Id).Credentials)["oidc"]; ok {
			t.Fatal("unlinking the last provider left an oidc credential")
		}
	})
}

func TestSocialUnlinkKeepsAWayIn(t *testing.T) {
	op := servertest.StartOpenIDProvider(t)
	servertest.Each(t, servertest.Options{Env: socialEnv(op)}, func(t *testing.T, srv *servertest.Server) {
		op.SetUser("sub-Fay", "fay@example.com", true, nil)
		b := newSocialBrowser(t, srv)
		b.roundTrip("registration", "")
		_, f := servertest.Do(t, b.c, http.MethodGet, srv.Public.URL+"/self-service/settings/browser", nil, http.Header{"Accept": {"application/json"}})
		if oidcNode(f, "unlink", "mock") != nil || oidcNode(f, "link", "mock") != nil {
			t.Fatalf("the only way in is offered for unlinking: %v", nodesOf(f))
		}
		res, body := servertest.Do(t, b.c, http.MethodPost, srv.Public.URL+"/self-service/settings?flow="+f["id"].(string),
			map[string]any{"csrf_token": csrfOf(f), "unlink": "mock"}, http.Header{"Accept": {"application/json"}})
		if res.StatusCode != http.StatusBadRequest || !slices.Contains(messageIDsOf(body), 4000001) {
			t.Fatalf("forced unlink: %d %v", res.StatusCode, body["ui"])
		}
		// Linking a provider account another identity holds: 4000007.
		other := srv.MustCreateIdentity(t, "gus@example.com", "a-long-password-1")
		rec := srv.MustRecover(t, other.Id, "browser", "")
		ob := &socialBrowser{t: t, srv: srv, c: srv.Browser(t, rec.Session)}
		_, f = servertest.Do(t, ob.c, http.MethodGet, srv.Public.URL+"/self-service/settings/flows?id="+rec.SettingsFlowID, nil, nil)
		back := ob.callback(ob.viaProvider(ob.submit("settings", rec.SettingsFlowID, url.Values{"csrf_token": {csrfOf(f)}, "link": {"mock"}})))
		if back.StatusCode != http.StatusSeeOther {
			t.Fatalf("link of a taken account: %d", back.StatusCode)
		}
		_, f = servertest.Do(t, ob.c, http.MethodGet, srv.Public.URL+"/self-service/settings/flows?id="+rec.SettingsFlowID, nil, nil)
		if f["state"] != "show_form" || !slices.Contains(messageIDsOf(f), 4000007) {
			t.Fatalf("link of a taken account: %v %v", f["state"], f["ui"])
		}
		if _, ok := (*srv.MustGetIdentity(t, other.Id).Credentials)["oidc"]; ok {
			t.Fatal("a provider account was linked to two identities")
		}
	})
}

func TestSocialNativeTokenExchange(t *testing.T) {
	op := servertest.StartOpenIDProvider(t)
	servertest.Each(t, servertest.Options{Env: socialEnv(op)}, func(t *testing.T, srv *servertest.Server) {
		op.SetUser("sub-Hal", "hal@example.com", true, nil)
		app := srv.SDK(false)
		f, _, err := app.FrontendAPI.CreateNativeLoginFlow(context.Background()).
			ReturnSessionTokenExchangeCode(true).ReturnTo("https://app.example/done").Execute()
		if err != nil || f.SessionTokenExchangeCode == nil || *f.SessionTokenExchangeCode == "" {
			t.Fatalf("native flow: %v %+v", err, f)
		}
		initCode := *f.SessionTokenExchangeCode
		res, body := servertest.Do(t, srv.HTTPClient(false), http.MethodPost, srv.Public.URL+"/self-service/login?flow="+f.Id,
			map[string]any{"method": "oidc", "provider": "mock"}, nil)
		to, _ := body["redirect_browser_to"].(string)
		if res.StatusCode != http.StatusUnprocessableEntity || to == "" {
			t.Fatalf("native submit: %d %v", res.StatusCode, body)
		}
		// The system browser: no cookies of the app.
		sys := newSocialBrowser(t, srv)
		back := sys.callback(sys.provider(to))
		loc, _ := url.Parse(back.Header.Get("Location"))
		if back.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc.String(), "https://app.example/done?") || loc.Query().Get("code") == "" {
			t.Fatalf("system browser back: %d %q", back.StatusCode, loc)
		}
		for _, c := range back.Cookies() {
			if c.Name == servertest.SessionCookieName {
				t.Fatal("the system browser got the app's session cookie")
			}
		}
		got, _, err := app.FrontendAPI.ExchangeSessionToken(context.Background()).InitCode(initCode).ReturnToCode(loc.Query().Get("code")).Execute()
		if err != nil || got.SessionToken == nil || !srv.SessionActive(t, *got.SessionToken) {
			t.Fatalf("exchange: %v %+v", err, got)
		}
		// Single use: the same codes again are 404 (Kratos answers twice).
		_, r, _ := app.FrontendAPI.ExchangeSessionToken(context.Background()).InitCode(initCode).ReturnToCode(loc.Query().Get("code")).Execute()
		if r == nil || r.StatusCode != http.StatusNotFound {
			t.Fatalf("second exchange: %v", r)
		}
		res, _ = servertest.Do(t, srv.HTTPClient(false), http.MethodGet, srv.Public.URL+"/sessions/token-exchange?return_to_code=x", nil, nil)
		if res.StatusCode != http.StatusBadRequest {
			t.Fatalf("missing init_code: %d", res.StatusCode)
		}
		// Nothing at rest is usable: the token is gone once taken, and the
		// codes are keyed hashes.
		var sealed *string
		if err := srv.DB.QueryRow(context.Background(), `SELECT sealed_token FROM session_token_exchanges`).Scan(&sealed); err != nil || sealed != nil {
			t.Fatalf("sealed token after the exchange: %v %v", err, sealed)
		}

		// An app flow without an exchange code cannot use the browser trip;
		// an id_token of a generic provider is refused as Kratos does.
		plain, _, _ := app.FrontendAPI.CreateNativeLoginFlow(context.Background()).Execute()
		res, body = servertest.Do(t, srv.HTTPClient(false), http.MethodPost, srv.Public.URL+"/self-service/login?flow="+plain.Id,
			map[string]any{"method": "oidc", "provider": "mock"}, nil)
		if res.StatusCode != http.StatusBadRequest || !slices.Contains(messageIDsOf(body), 4000001) {
			t.Fatalf("native trip without exchange: %d %v", res.StatusCode, body)
		}
		res, body = servertest.Do(t, srv.HTTPClient(false), http.MethodPost, srv.Public.URL+"/self-service/login?flow="+plain.Id,
			map[string]any{"method": "oidc", "provider": "mock", "id_token": "x.y.z"}, nil)
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(strOr(body["error"].(map[string]any)["reason"]), "The provider generic does not support id_token verification") {
			t.Fatalf("generic id_token: %d %v", res.StatusCode, body)
		}
	})
}

func countIdentities(t *testing.T, srv *servertest.Server) int {
	t.Helper()
	list, _, err := srv.SDK(false).IdentityAPI.ListIdentities(context.Background()).Execute()
	if err != nil {
		t.Fatal(err)
	}
	return len(list)
}

func strOr(v any) string {
	s, _ := v.(string)
	return s
}

// TestSocialLinkIsASecurityEvent: linking a provider account lets it sign
// in without the password, so it is audited and mailed with a lockdown
// link (on by default); login through it names the provider.
func TestSocialLinkIsASecurityEvent(t *testing.T) {
	op := servertest.StartOpenIDProvider(t)
	servertest.Each(t, servertest.Options{Env: socialEnv(op, servertest.NotificationsOn()...)}, func(t *testing.T, srv *servertest.Server) {
		ident := srv.MustCreateIdentity(t, "ivy@example.com", "a-long-password-1")
		op.SetUser("sub-Ivy", "ivy@elsewhere.example", true, nil)
		rec := srv.MustRecover(t, ident.Id, "browser", "")
		b := &socialBrowser{t: t, srv: srv, c: srv.Browser(t, rec.Session)}
		_, f := servertest.Do(t, b.c, http.MethodGet, srv.Public.URL+"/self-service/settings/flows?id="+rec.SettingsFlowID, nil, nil)
		b.callback(b.viaProvider(b.submit("settings", rec.SettingsFlowID, url.Values{"csrf_token": {csrfOf(f)}, "link": {"mock"}})))
		mail, lockdown := srv.Notification(t, "ivy@example.com", "A sign-in provider was linked to your account")
		if lockdown == "" || !strings.Contains(mail.Text, "Your Mock account") && !strings.Contains(mail.Text, "Your mock account") {
			t.Fatalf("notification: %q (lockdown %q)", mail.Text, lockdown)
		}
		fresh := newSocialBrowser(t, srv)
		fresh.roundTrip("login", "")
		var linked, login bool
		for _, e := range srv.AuditEvents(t, ident.Id) {
			switch {
			case e.Type == "social.linked" && e.Details["provider"] == "mock":
				linked = true
			case e.Type == "login.succeeded" && e.Method == "oidc" && e.Details["provider"] == "mock":
				login = true
			}
		}
		if !linked || !login {
			t.Fatalf("audit: linked %v, login %v: %+v", linked, login, srv.AuditEvents(t, ident.Id))
		}
	})
}

// TestSocialNativeIDToken: a native app that signed in with Google itself
// submits the ID token; Latchkey verifies it with the provider's keys and
// answers with a session token (signing the account up the first time).
func TestSocialNativeIDToken(t *testing.T) {
	op := servertest.StartOpenIDProvider(t)
	providers, _ := json.Marshal([]map[string]any{{
		"id": "google", "provider": "google", "client_id": op.ClientID, "client_secret": op.ClientSecret,
		"issuer_url": op.Issuer(), // Google's own issuer, pointed at the local provider
		"scope":      []string{"email"}, "mapper_url": "base64://" + base64.StdEncoding.EncodeToString([]byte(socialMapper)),
	}})
	env := []string{"SELFSERVICE_METHODS_OIDC_ENABLED=true", "SELFSERVICE_METHODS_OIDC_CONFIG_PROVIDERS=" + string(providers)}
	servertest.Each(t, servertest.Options{Env: env}, func(t *testing.T, srv *servertest.Server) {
		app := srv.SDK(false)
		submit := func(token, nonce string) (*http.Response, map[string]any) {
			f, _, err := app.FrontendAPI.CreateNativeLoginFlow(context.Background()).Execute()
			if err != nil {
				t.Fatal(err)
			}
			return servertest.Do(t, srv.HTTPClient(false), http.MethodPost, srv.Public.URL+"/self-service/login?flow="+f.Id,
				map[string]any{"method": "oidc", "provider": "google", "id_token": token, "id_token_nonce": nonce}, nil)
		}
		claims := map[string]any{"email": "jo@example.com", "email_verified": true}
		res, body := submit(op.SignIDToken(t, servertest.IDToken{Subject: "jo-1", Nonce: "n-1", Claims: claims}), "n-1")
		token, _ := body["session_token"].(string)
		if res.StatusCode != http.StatusOK || !srv.SessionActive(t, token) {
			t.Fatalf("first id_token sign-in: %d %v", res.StatusCode, body)
		}
		first := body["session"].(map[string]any)["identity"].(map[string]any)["id"]
		res, body = submit(op.SignIDToken(t, servertest.IDToken{Subject: "jo-1", Nonce: "n-2", Claims: claims}), "n-2")
		if res.StatusCode != http.StatusOK || body["session"].(map[string]any)["identity"].(map[string]any)["id"] != first {
			t.Fatalf("second id_token sign-in: %d %v", res.StatusCode, body)
		}
		// Forged, expired, for another client or with the wrong nonce: a
		// message on the flow, nobody signed in or up.
		for name, tok := range map[string]string{
			"foreign key":   op.SignIDToken(t, servertest.IDToken{Subject: "mallory", Nonce: "n", Claims: claims, ForeignKey: true}),
			"expired":       op.SignIDToken(t, servertest.IDToken{Subject: "mallory", Nonce: "n", Claims: claims, Expiry: time.Now().Add(-time.Hour)}),
			"other client":  op.SignIDToken(t, servertest.IDToken{Subject: "mallory", Nonce: "n", Claims: claims, Audience: "someone-else"}),
			"another nonce": op.SignIDToken(t, servertest.IDToken{Subject: "mallory", Nonce: "other", Claims: claims}),
		} {
			res, body := submit(tok, "n")
			if res.StatusCode != http.StatusBadRequest || !slices.Contains(messageIDsOf(body), 4000001) || body["session_token"] != nil {
				t.Errorf("%s: %d %v", name, res.StatusCode, body)
			}
		}
		if n := countIdentities(t, srv); n != 1 {
			t.Fatalf("%d identities", n)
		}
	})
}

// TestSocialProviderFaults: a provider that is down, a bad ID token from
// the token endpoint and a mapper that fails are messages on the flow;
// nothing is written.
func TestSocialProviderFaults(t *testing.T) {
	op := servertest.StartOpenIDProvider(t)
	broken := `local claims = std.extVar('claims'); { identity: { traits: { email: claims.missing_claim } } }`
	providers, _ := json.Marshal([]map[string]any{
		{"id": "mock", "provider": "generic", "client_id": op.ClientID, "client_secret": op.ClientSecret, "issuer_url": op.Issuer(),
			"scope": []string{"email"}, "mapper_url": "base64://" + base64.StdEncoding.EncodeToString([]byte(socialMapper))},
		{"id": "broken", "provider": "generic", "client_id": op.ClientID, "client_secret": op.ClientSecret, "issuer_url": op.Issuer(),
			"scope": []string{"email"}, "mapper_url": "base64://" + base64.StdEncoding.EncodeToString([]byte(broken))},
	})
	env := []string{"SELFSERVICE_METHODS_OIDC_ENABLED=true", "SELFSERVICE_METHODS_OIDC_CONFIG_PROVIDERS=" + string(providers)}
	servertest.Each(t, servertest.Options{Env: env}, func(t *testing.T, srv *servertest.Server) {
		flowMessage := func(b *socialBrowser, res *http.Response, kind string) {
			t.Helper()
			loc, _ := url.Parse(res.Header.Get("Location"))
			if res.StatusCode != http.StatusSeeOther || loc.Query().Get("flow") == "" {
				t.Fatalf("want a 303 to the flow, got %d %q", res.StatusCode, loc)
			}
			_, f := servertest.Do(t, b.c, http.MethodGet, srv.Public.URL+"/self-service/"+kind+"/flows?id="+loc.Query().Get("flow"), nil, nil)
			if !slices.Contains(messageIDsOf(f), 4000001) {
				t.Fatalf("no message on the flow: %v", f["ui"])
			}
		}
		op.SetUser("kim-1", "kim@example.com", true, nil)

		// An ID token whose nonce is not this trip's.
		b := newSocialBrowser(t, srv)
		op.AlterNextIDToken(func(c map[string]any) { c["nonce"] = "replayed-from-elsewhere" })
		flowMessage(b, b.roundTrip("registration", ""), "registration")

		// A mapper that fails: the provider account cannot sign up.
		b = newSocialBrowser(t, srv)
		id, csrf, _ := b.startFlow("registration", "")
		flowMessage(b, b.callback(b.viaProvider(b.submit("registration", id, url.Values{"csrf_token": {csrf}, "provider": {"broken"}}))), "registration")

		if n := countIdentities(t, srv); n != 0 {
			t.Fatalf("%d identities", n)
		}
	})
	// Last: the provider goes down, and a button press stays on the flow.
	t.Run("down", func(t *testing.T) {
		down := servertest.StartOpenIDProvider(t)
		providers, _ := json.Marshal([]map[string]any{{"id": "mock", "provider": "generic", "client_id": "c", "client_secret": "s",
			"issuer_url": down.Issuer(), "mapper_url": "base64://" + base64.StdEncoding.EncodeToString([]byte(socialMapper))}})
		down.Stop()
		srv := servertest.Start(t, servertest.Options{Env: []string{"SELFSERVICE_METHODS_OIDC_ENABLED=true", "SELFSERVICE_METHODS_OIDC_CONFIG_PROVIDERS=" + string(providers)}})
		b := newSocialBrowser(t, srv)
		id, csrf, _ := b.startFlow("login", "")
		res, body := servertest.Do(t, b.c, http.MethodPost, srv.Public.URL+"/self-service/login?flow="+id,
			map[string]any{"method": "oidc", "provider": "mock", "csrf_token": csrf}, http.Header{"Accept": {"application/json"}})
		if res.StatusCode != http.StatusBadRequest || !slices.Contains(messageIDsOf(body), 4000001) {
			t.Fatalf("provider down: %d %v", res.StatusCode, body)
		}
	})
}

// TestSocialAdminCredentials: the admin API creates identities with
// provider links (a Kratos import, say) and removes one link by its
// identifier, never the last way in.
func TestSocialAdminCredentials(t *testing.T) {
	op := servertest.StartOpenIDProvider(t)
	servertest.Each(t, servertest.Options{Env: socialEnv(op)}, func(t *testing.T, srv *servertest.Server) {
		ctx := context.Background()
		admin := srv.SDK(false).IdentityAPI
		link := func(provider, subject string) ory.IdentityWithCredentialsOidcConfigProvider {
			return ory.IdentityWithCredentialsOidcConfigProvider{Provider: provider, Subject: subject}
		}
		ident, _, err := admin.CreateIdentity(ctx).CreateIdentityBody(ory.CreateIdentityBody{
			SchemaId: "default", Traits: map[string]any{"email": "lee@example.com"},
			Credentials: &ory.IdentityWithCredentials{Oidc: &ory.IdentityWithCredentialsOidc{Config: &ory.IdentityWithCredentialsOidcConfig{
				Providers: []ory.IdentityWithCredentialsOidcConfigProvider{link("mock", "lee-1"), link("github", "4711")}}}},
		}).Execute()
		if err != nil {
			t.Fatal(servertest.ErrorText(err))
		}
		if got := (*srv.MustGetIdentity(t, ident.Id).Credentials)["oidc"].Identifiers; !slices.Equal(slices.Sorted(slices.Values(got)), []string{"github:4711", "mock:lee-1"}) {
			t.Fatalf("created links: %v", got)
		}
		// The provider signs in to the identity the admin API linked.
		op.SetUser("lee-1", "lee@example.com", true, nil)
		b := newSocialBrowser(t, srv)
		b.roundTrip("login", "")
		if _, who := b.whoami(); who["identity"].(map[string]any)["id"] != ident.Id {
			t.Fatalf("login through an imported link: %v", who)
		}

		del := func(identifier string) int {
			req := admin.DeleteIdentityCredentials(ctx, ident.Id, "oidc")
			if identifier != "" {
				req = req.Identifier(identifier)
			}
			res, _ := req.Execute()
			return res.StatusCode
		}
		for _, c := range []struct {
			identifier string
			want       int
		}{
			{"", http.StatusBadRequest},
			{"mock:someone-else", http.StatusNotFound},
			{"github:4711", http.StatusNoContent},
			{"mock:lee-1", http.StatusBadRequest}, // the last way in (no password)
		} {
			if got := del(c.identifier); got != c.want {
				t.Errorf("delete %q: %d, want %d", c.identifier, got, c.want)
			}
		}
		if got := (*srv.MustGetIdentity(t, ident.Id).Credentials)["oidc"].Identifiers; !slices.Equal(got, []string{"mock:lee-1"}) {
			t.Fatalf("links left: %v", got)
		}
	})
}

// TestNoSocialSecretAtRest: the state, nonce and authorization code of a
// trip, a native app's exchange codes and the session token waiting for
// it never reach the database in clear, before or after the exchange.
func TestNoSocialSecretAtRest(t *testing.T) {
	op := servertest.StartOpenIDProvider(t)
	servertest.Each(t, servertest.Options{Env: socialEnv(op)}, func(t *testing.T, srv *servertest.Server) {
		op.SetUser("max-1", "max@example.com", true, nil)
		app := srv.SDK(false)
		f, _, err := app.FrontendAPI.CreateNativeLoginFlow(context.Background()).
			ReturnSessionTokenExchangeCode(true).ReturnTo("https://app.example/done").Execute()
		if err != nil {
			t.Fatal(err)
		}
		_, body := servertest.Do(t, srv.HTTPClient(false), http.MethodPost, srv.Public.URL+"/self-service/login?flow="+f.Id,
			map[string]any{"method": "oidc", "provider": "mock"}, nil)
		auth, _ := url.Parse(strOr(body["redirect_browser_to"]))
		sys := newSocialBrowser(t, srv)
		callback, _ := url.Parse(sys.provider(auth.String()))
		back, _ := url.Parse(sys.callback(callback.String()).Header.Get("Location"))
		secrets := map[string]string{
			auth.Query().Get("state"):    "state",
			auth.Query().Get("nonce"):    "nonce",
			callback.Query().Get("code"): "authorization code",
			*f.SessionTokenExchangeCode:  "init code",
			back.Query().Get("code"):     "return_to code",
		}
		for v, what := range secrets {
			if v == "" {
				t.Fatalf("no %s to look for", what)
			}
		}
		scanForSecrets(t, srv, secrets)
		// The token waits for the app sealed with secrets.cipher.
		var waiting string
		if err := srv.DB.QueryRow(context.Background(), `SELECT sealed_token FROM session_token_exchanges`).Scan(&waiting); err != nil ||
			!secret.IsSealed(waiting) || strings.Contains(waiting, "ory_st_") {
			t.Fatalf("waiting session token at rest: %q %v", waiting, err)
		}
		got, _, err := app.FrontendAPI.ExchangeSessionToken(context.Background()).InitCode(*f.SessionTokenExchangeCode).ReturnToCode(back.Query().Get("code")).Execute()
		if err != nil {
			t.Fatal(err)
		}
		secrets[*got.SessionToken] = "session token"
		scanForSecrets(t, srv, secrets)
	})
}
