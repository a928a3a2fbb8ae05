package registration_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	ory "github.com/ory/client-go"

	"github.com/latchkey/latchkey/internal/password"
	"github.com/latchkey/latchkey/internal/server/servertest"
)

const pw = "Lantern-ferry-4821"

func regBody(traits map[string]any, password, csrf string) ory.UpdateRegistrationFlowBody {
	b := ory.NewUpdateRegistrationFlowWithPasswordMethod("password", password, traits)
	if csrf != "" {
		b.SetCsrfToken(csrf)
	}
	return ory.UpdateRegistrationFlowWithPasswordMethodAsUpdateRegistrationFlowBody(b)
}

func loginBody(identifier, password, csrf string) ory.UpdateLoginFlowBody {
	b := ory.NewUpdateLoginFlowWithPasswordMethod(identifier, "password", password)
	if csrf != "" {
		b.SetCsrfToken(csrf)
	}
	return ory.UpdateLoginFlowWithPasswordMethodAsUpdateLoginFlowBody(b)
}

func email(traits string) map[string]any { return map[string]any{"email": traits} }

func errBody(err error) string {
	if ge, ok := err.(*ory.GenericOpenAPIError); ok {
		return string(ge.Body())
	}
	return ""
}

// rejectedFlow asserts a 400 answer carrying the registration flow.
func rejectedFlow(t *testing.T, err error) *ory.RegistrationFlow {
	t.Helper()
	ge, ok := err.(*ory.GenericOpenAPIError)
	if !ok {
		t.Fatalf("want a 400 flow, got %v", err)
	}
	f, ok := ge.Model().(ory.RegistrationFlow)
	if !ok {
		t.Fatalf("want a registration flow, got %s", ge.Body())
	}
	return &f
}

var htmlAccept = http.Header{"Accept": {"text/html,application/xhtml+xml,*/*;q=0.8"}}

func TestRegistration(t *testing.T) {
	servertest.Each(t, servertest.EntryOptions("SELFSERVICE_FLOWS_REGISTRATION_STYLE=unified"), func(t *testing.T, srv *servertest.Server) {
		ctx := context.Background()
		sdk := srv.SDK(false)

		t.Run("NativeFlowLooksLikeKratos", func(t *testing.T) {
			res, raw := servertest.DoRaw(t, http.DefaultClient, "GET", srv.Config.PublicURL("self-service/registration/api"), nil, nil)
			if res.StatusCode != 200 || res.Header.Get("Cache-Control") != "private, no-cache, no-store, must-revalidate" {
				t.Fatalf("status %d: %s", res.StatusCode, raw)
			}
			want := []string{"id", "organization_id", "type", "expires_at", "issued_at", "request_url", "ui", "state"}
			if keys := servertest.Keys(t, raw); !reflect.DeepEqual(keys, want) {
				t.Fatalf("keys %v, want %v", keys, want)
			}
			var f struct {
				ID    string `json:"id"`
				State string `json:"state"`
				UI    struct {
					Action string          `json:"action"`
					Nodes  json.RawMessage `json:"nodes"`
				} `json:"ui"`
			}
			_ = json.Unmarshal(raw, &f)
			if f.State != "choose_method" || f.UI.Action != srv.Config.PublicURL("self-service/registration?flow="+f.ID) {
				t.Fatalf("flow %s", raw)
			}
			wantNodes := `[{"type":"input","group":"default","attributes":{"name":"csrf_token","type":"hidden","value":"","required":true,"disabled":false,"node_type":"input"},"messages":[],"meta":{}},` +
				`{"type":"input","group":"default","attributes":{"name":"traits.email","type":"email","required":true,"autocomplete":"email","disabled":false,"node_type":"input"},"messages":[],"meta":{"label":{"id":1070002,"text":"E-Mail","type":"info","context":{"name":"traits.email","title":"E-Mail"}}}},` +
				`{"type":"input","group":"default","attributes":{"name":"traits.name","type":"text","disabled":false,"node_type":"input"},"messages":[],"meta":{"label":{"id":1070002,"text":"Name","type":"info","context":{"name":"traits.name","title":"Name"}}}},` +
				`{"type":"input","group":"password","attributes":{"name":"password","type":"password","required":true,"autocomplete":"new-password","disabled":false,"node_type":"input"},"messages":[],"meta":{"label":{"id":1070001,"text":"Password","type":"info"}}},` +
				`{"type":"input","group":"password","attributes":{"name":"method","type":"submit","value":"password","disabled":false,"node_type":"input"},"messages":[],"meta":{"label":{"id":1040001,"text":"Sign up","type":"info"}}}]`
			if string(f.UI.Nodes) != wantNodes {
				t.Fatalf("nodes\n got %s\nwant %s", f.UI.Nodes, wantNodes)
			}
		})

		t.Run("NativeRegisterWhoamiLogoutLogin", func(t *testing.T) {
			f, _, err := sdk.FrontendAPI.CreateNativeRegistrationFlow(ctx).Execute()
			if err != nil {
				t.Fatal(err)
			}
			res, raw := servertest.DoRaw(t, http.DefaultClient, "POST", srv.Config.PublicURL("self-service/registration?flow="+f.Id),
				map[string]any{"method": "password", "password": pw, "traits": map[string]any{"email": "Ivy@Example.test", "name": "Ivy"}}, nil)
			if res.StatusCode != 200 {
				t.Fatalf("register %d: %s", res.StatusCode, raw)
			}
			if keys := servertest.Keys(t, raw); !reflect.DeepEqual(keys, []string{"session_token", "session", "identity", "continue_with"}) {
				t.Fatalf("keys %v", keys)
			}
			var ok ory.SuccessfulNativeRegistration
			if err := json.Unmarshal(raw, &ok); err != nil {
				t.Fatalf("the SDK cannot read the answer: %v", err)
			}
			token := ok.GetSessionToken()
			if !regexp.MustCompile(`^ory_st_[A-Za-z0-9]{32}$`).MatchString(token) || ok.Session == nil || ok.Session.Identity.Id != ok.Identity.Id {
				t.Fatalf("answer %s", raw)
			}
			if len(ok.ContinueWith) != 1 || ok.ContinueWith[0].ContinueWithSetOrySessionToken == nil ||
				ok.ContinueWith[0].ContinueWithSetOrySessionToken.OrySessionToken != token {
				t.Fatalf("continue_with %s", raw)
			}
			if strings.Contains(string(raw), "hashed_password") || strings.Contains(string(raw), `"credentials"`) {
				t.Fatalf("credentials leaked: %s", raw)
			}
			if ok.Identity.Traits.(map[string]any)["email"] != "Ivy@Example.test" || len(ok.Identity.RecoveryAddresses) != 1 ||
				ok.Identity.SchemaUrl != srv.Config.PublicURL("schemas/ZGVmYXVsdA") {
				t.Fatalf("identity %+v", ok.Identity)
			}

			who, _, err := sdk.FrontendAPI.ToSession(ctx).XSessionToken(token).Execute()
			if err != nil || who.Id != ok.Session.Id {
				t.Fatalf("whoami %v %v", who, err)
			}
			if _, err := sdk.FrontendAPI.PerformNativeLogout(ctx).PerformNativeLogoutBody(*ory.NewPerformNativeLogoutBody(token)).Execute(); err != nil {
				t.Fatalf("logout %v", err)
			}
			if _, res, err := sdk.FrontendAPI.ToSession(ctx).XSessionToken(token).Execute(); err == nil || res.StatusCode != 401 {
				t.Fatalf("whoami after logout: %v", err)
			}
			lf, _, err := sdk.FrontendAPI.CreateNativeLoginFlow(ctx).Execute()
			if err != nil {
				t.Fatal(err)
			}
			in, _, err := sdk.FrontendAPI.UpdateLoginFlow(ctx).Flow(lf.Id).UpdateLoginFlowBody(loginBody("ivy@example.test", pw, "")).Execute()
			if err != nil {
				t.Fatalf("login %v %s", err, errBody(err))
			}
			if who, _, err := sdk.FrontendAPI.ToSession(ctx).XSessionToken(in.GetSessionToken()).Execute(); err != nil || who.Identity.Id != ok.Identity.Id {
				t.Fatalf("whoami after login %v %v", who, err)
			}
		})

		t.Run("SPARegisterWhoamiLogoutLogin", func(t *testing.T) {
			b := srv.SDK(true)
			f, _, err := b.FrontendAPI.CreateBrowserRegistrationFlow(ctx).ReturnTo(servertest.EntryAllowedReturn + "welcome").Execute()
			if err != nil {
				t.Fatal(err)
			}
			ok, res, err := b.FrontendAPI.UpdateRegistrationFlow(ctx).Flow(f.Id).
				UpdateRegistrationFlowBody(regBody(email("jack@example.test"), pw, servertest.CSRFToken(f.Ui.Nodes))).Execute()
			if err != nil {
				t.Fatalf("%v %s", err, errBody(err))
			}
			if ok.SessionToken != nil || ok.Session == nil || len(ok.ContinueWith) != 1 ||
				ok.ContinueWith[0].ContinueWithRedirectBrowserTo.RedirectBrowserTo != servertest.EntryAllowedReturn+"welcome" {
				t.Fatalf("answer %+v", ok)
			}
			if !setsCookie(res, "ory_kratos_session") {
				t.Fatal("no session cookie")
			}
			if who, _, err := b.FrontendAPI.ToSession(ctx).Execute(); err != nil || who.Id != ok.Session.Id {
				t.Fatalf("whoami %v", err)
			}
			lo, _, err := b.FrontendAPI.CreateBrowserLogoutFlow(ctx).Execute()
			if err != nil {
				t.Fatalf("logout url %v", err)
			}
			if _, err := b.FrontendAPI.UpdateLogoutFlow(ctx).Token(lo.LogoutToken).Execute(); err != nil {
				t.Fatalf("logout %v", err)
			}
			if _, _, err := b.FrontendAPI.ToSession(ctx).Execute(); err == nil {
				t.Fatal("still signed in after logout")
			}
			lf, _, err := b.FrontendAPI.CreateBrowserLoginFlow(ctx).Execute()
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := b.FrontendAPI.UpdateLoginFlow(ctx).Flow(lf.Id).
				UpdateLoginFlowBody(loginBody("jack@example.test", pw, servertest.CSRFToken(lf.Ui.Nodes))).Execute(); err != nil {
				t.Fatalf("login %v %s", err, errBody(err))
			}
			if who, _, err := b.FrontendAPI.ToSession(ctx).Execute(); err != nil || who.Identity.Id != ok.Identity.Id {
				t.Fatalf("whoami after login %v", err)
			}
		})

		t.Run("FormRegisterRedirectsWithCookie", func(t *testing.T) {
			c := srv.HTTPClient(true)
			id, csrf := startForm(t, srv, c)
			res, _ := servertest.Do(t, c, "POST", srv.Config.PublicURL("self-service/registration?flow="+id),
				url.Values{"method": {"password"}, "traits.email": {"kate@example.test"}, "traits.name": {"Kate"}, "password": {pw}, "csrf_token": {csrf}}, htmlAccept)
			if res.StatusCode != 303 || res.Header.Get("Location") != servertest.EntryDefaultReturn || !setsCookie(res, "ory_kratos_session") {
				t.Fatalf("submit %d %q", res.StatusCode, res.Header.Get("Location"))
			}
			res, body := servertest.Do(t, c, "GET", srv.Config.PublicURL("sessions/whoami"), nil, nil)
			traits := body["identity"].(map[string]any)["traits"].(map[string]any)
			if res.StatusCode != 200 || traits["email"] != "kate@example.test" || traits["name"] != "Kate" {
				t.Fatalf("whoami %d %v", res.StatusCode, body)
			}
			// A browser holding a session is sent home.
			res, _ = servertest.Do(t, c, "GET", srv.Config.PublicURL("self-service/registration/browser"), nil, htmlAccept)
			if res.StatusCode != 303 || res.Header.Get("Location") != servertest.EntryDefaultReturn {
				t.Fatalf("init with session %d %q", res.StatusCode, res.Header.Get("Location"))
			}
			res, body = servertest.Do(t, c, "GET", srv.Config.PublicURL("self-service/registration/browser"), nil, http.Header{"Accept": {"application/json"}})
			if e := body["error"].(map[string]any); res.StatusCode != 400 || e["id"] != "session_already_available" ||
				e["reason"] != "A valid session was detected and thus registration is not possible." {
				t.Fatalf("SPA init with session %d %v", res.StatusCode, body)
			}
		})

		t.Run("FormErrorsKeepTheTraitsButNotThePassword", func(t *testing.T) {
			c := srv.HTTPClient(true)
			id, csrf := startForm(t, srv, c)
			res, _ := servertest.Do(t, c, "POST", srv.Config.PublicURL("self-service/registration?flow="+id),
				url.Values{"method": {"password"}, "traits.email": {"not-an-email"}, "traits.name": {"Lou"}, "password": {pw}, "csrf_token": {csrf}}, htmlAccept)
			if res.StatusCode != 303 || res.Header.Get("Location") != servertest.EntryRegisterUI+"?flow="+id {
				t.Fatalf("submit %d %q", res.StatusCode, res.Header.Get("Location"))
			}
			f, _, err := srv.SDKWith(c).FrontendAPI.GetRegistrationFlow(ctx).Id(id).Execute()
			if err != nil {
				t.Fatal(err)
			}
			if ids := servertest.NodeMessageIDs(f.Ui.Nodes, "traits.email"); !reflect.DeepEqual(ids, []int64{4000040}) {
				t.Fatalf("email messages %v", ids)
			}
			if v := servertest.Input(f.Ui.Nodes, "traits.name").Value; v != "Lou" {
				t.Fatalf("name value %v", v)
			}
			if v := servertest.Input(f.Ui.Nodes, "password").Value; v != nil {
				t.Fatalf("password echoed: %v", v)
			}
		})

		t.Run("CSRFMissingOrWrongIsRefusedAndTheFlowStaysUsable", func(t *testing.T) {
			b := srv.SDK(true)
			f, _, err := b.FrontendAPI.CreateBrowserRegistrationFlow(ctx).Execute()
			if err != nil {
				t.Fatal(err)
			}
			for name, tok := range map[string]string{"Missing": "", "Wrong": "d3Jvbmc="} {
				_, res, err := b.FrontendAPI.UpdateRegistrationFlow(ctx).Flow(f.Id).
					UpdateRegistrationFlowBody(regBody(email("mia@example.test"), pw, tok)).Execute()
				if e := servertest.ErrorBody(t, err)["error"].(map[string]any); res.StatusCode != 403 || e["id"] != "security_csrf_violation" {
					t.Fatalf("%s: %d %v", name, res.StatusCode, e)
				}
			}
			if _, _, err := b.FrontendAPI.UpdateRegistrationFlow(ctx).Flow(f.Id).
				UpdateRegistrationFlowBody(regBody(email("mia@example.test"), pw, servertest.CSRFToken(f.Ui.Nodes))).Execute(); err != nil {
				t.Fatalf("retry %v %s", err, errBody(err))
			}
		})

		t.Run("CSRFFailureOfAFormGoesToTheErrorUI", func(t *testing.T) {
			c := srv.HTTPClient(true)
			id, _ := startForm(t, srv, c)
			res, _ := servertest.Do(t, c, "POST", srv.Config.PublicURL("self-service/registration?flow="+id),
				url.Values{"method": {"password"}, "traits.email": {"ned@example.test"}, "password": {pw}, "csrf_token": {"d3Jvbmc="}}, htmlAccept)
			loc := res.Header.Get("Location")
			if res.StatusCode != 303 || !strings.HasPrefix(loc, servertest.EntryErrorUI+"?id=") {
				t.Fatalf("submit %d %q", res.StatusCode, loc)
			}
			_, body := servertest.Do(t, http.DefaultClient, "GET", srv.Config.PublicURL("self-service/errors?id="+strings.TrimPrefix(loc, servertest.EntryErrorUI+"?id=")), nil, nil)
			if e := body["error"].(map[string]any); e["id"] != "security_csrf_violation" {
				t.Fatalf("stored error %v", body)
			}
		})

		t.Run("DuplicateIdentifierIsAMessageAndWritesNothing", func(t *testing.T) {
			register(t, srv, "olga@example.test", pw)
			identities, sessions := srv.CountRows(t, "identities"), srv.CountRows(t, "sessions")
			f, _, _ := sdk.FrontendAPI.CreateNativeRegistrationFlow(ctx).Execute()
			_, res, err := sdk.FrontendAPI.UpdateRegistrationFlow(ctx).Flow(f.Id).
				UpdateRegistrationFlowBody(regBody(email("OLGA@example.test"), "Another-pass-9931", "")).Execute()
			rf := rejectedFlow(t, err)
			if res.StatusCode != 400 || !reflect.DeepEqual(servertest.MessageIDs(rf.Ui.Messages), []int64{4000007}) ||
				rf.Ui.Messages[0].Text != "An account with the same identifier (email, phone, username, ...) exists already." {
				t.Fatalf("%d %s", res.StatusCode, errBody(err))
			}
			if v := servertest.Input(rf.Ui.Nodes, "traits.email").Value; v != "OLGA@example.test" {
				t.Fatalf("email value %v", v)
			}
			if srv.CountRows(t, "identities") != identities || srv.CountRows(t, "sessions") != sessions {
				t.Fatal("a rejected registration wrote rows")
			}
		})

		t.Run("WeakPasswordsAreRefusedWithThePolicyMessage", func(t *testing.T) {
			breached := breachedPassword(t)
			for _, c := range []struct {
				name, email, password string
				id                    int64
			}{
				{"TooShort", "pat@example.test", "Sh0rt!", 4000032},
				{"TooLong", "pat@example.test", strings.Repeat("Long-pass-", 8), 4000033},
				{"SimilarToTheIdentifier", "patricia.longname@example.test", "patricia.longname@example", 4000031},
				{"Breached", "pat@example.test", breached, 4000034},
			} {
				t.Run(c.name, func(t *testing.T) {
					f, _, _ := sdk.FrontendAPI.CreateNativeRegistrationFlow(ctx).Execute()
					_, _, err := sdk.FrontendAPI.UpdateRegistrationFlow(ctx).Flow(f.Id).
						UpdateRegistrationFlowBody(regBody(email(c.email), c.password, "")).Execute()
					rf := rejectedFlow(t, err)
					if ids := servertest.NodeMessageIDs(rf.Ui.Nodes, "password"); !reflect.DeepEqual(ids, []int64{c.id}) {
						t.Fatalf("password messages %v, want %d", ids, c.id)
					}
				})
			}
			if found, _, err := sdk.IdentityAPI.ListIdentities(ctx).CredentialsIdentifier("pat@example.test").Execute(); err != nil || len(found) != 0 {
				t.Fatalf("an identity was created with a weak password (%v)", err)
			}
		})

		t.Run("SchemaErrorsAreShownOnTheirInputs", func(t *testing.T) {
			for _, c := range []struct {
				name   string
				traits map[string]any
				id     int64
			}{
				{"MissingEmail", map[string]any{"name": "Quinn"}, 4000002},
				{"InvalidEmail", email("quinn"), 4000040},
			} {
				t.Run(c.name, func(t *testing.T) {
					f, _, _ := sdk.FrontendAPI.CreateNativeRegistrationFlow(ctx).Execute()
					_, _, err := sdk.FrontendAPI.UpdateRegistrationFlow(ctx).Flow(f.Id).
						UpdateRegistrationFlowBody(regBody(c.traits, pw, "")).Execute()
					rf := rejectedFlow(t, err)
					if ids := servertest.NodeMessageIDs(rf.Ui.Nodes, "traits.email"); !reflect.DeepEqual(ids, []int64{c.id}) {
						t.Fatalf("email messages %v, want %d", ids, c.id)
					}
				})
			}
		})

		t.Run("MissingPasswordIsReported", func(t *testing.T) {
			f, _, _ := sdk.FrontendAPI.CreateNativeRegistrationFlow(ctx).Execute()
			_, _, err := sdk.FrontendAPI.UpdateRegistrationFlow(ctx).Flow(f.Id).
				UpdateRegistrationFlowBody(regBody(email("rita@example.test"), "", "")).Execute()
			rf := rejectedFlow(t, err)
			if ids := servertest.NodeMessageIDs(rf.Ui.Nodes, "password"); !reflect.DeepEqual(ids, []int64{4000002}) {
				t.Fatalf("password messages %v", ids)
			}
		})

		t.Run("UnknownMethodHasNoStrategy", func(t *testing.T) {
			f, _, _ := sdk.FrontendAPI.CreateNativeRegistrationFlow(ctx).Execute()
			res, body := servertest.Do(t, http.DefaultClient, "POST", srv.Config.PublicURL("self-service/registration?flow="+f.Id),
				map[string]any{"method": "oidc", "provider": "x"}, nil)
			msgs := body["ui"].(map[string]any)["messages"].([]any)
			if res.StatusCode != 400 || msgs[0].(map[string]any)["id"] != float64(4010003) {
				t.Fatalf("%d %v", res.StatusCode, body)
			}
		})

		t.Run("ExpiredFlowIsReplaced", func(t *testing.T) {
			f, _, _ := sdk.FrontendAPI.CreateNativeRegistrationFlow(ctx).Execute()
			srv.Clock.Advance(61 * time.Minute)
			res, body := servertest.Do(t, http.DefaultClient, "POST", srv.Config.PublicURL("self-service/registration?flow="+f.Id),
				map[string]any{"method": "password", "password": pw, "traits": email("sam@example.test")}, nil)
			if res.StatusCode != 410 || body["error"].(map[string]any)["id"] != "self_service_flow_expired" {
				t.Fatalf("%d %v", res.StatusCode, body)
			}
			nf, _, err := sdk.FrontendAPI.GetRegistrationFlow(ctx).Id(body["use_flow_id"].(string)).Execute()
			if err != nil || !reflect.DeepEqual(servertest.MessageIDs(nf.Ui.Messages), []int64{4040001}) {
				t.Fatalf("replacement %+v %v", nf, err)
			}

			c := srv.HTTPClient(true)
			id, csrf := startForm(t, srv, c)
			srv.Clock.Advance(61 * time.Minute)
			res, _ = servertest.Do(t, c, "POST", srv.Config.PublicURL("self-service/registration?flow="+id),
				url.Values{"method": {"password"}, "traits.email": {"sam@example.test"}, "password": {pw}, "csrf_token": {csrf}}, htmlAccept)
			loc := res.Header.Get("Location")
			if res.StatusCode != 303 || !strings.HasPrefix(loc, servertest.EntryRegisterUI+"?flow=") || strings.HasSuffix(loc, id) {
				t.Fatalf("form %d %q", res.StatusCode, loc)
			}
			// The new form keeps the traits typed, not the password.
			nf, _, err = srv.SDKWith(c).FrontendAPI.GetRegistrationFlow(ctx).Id(strings.TrimPrefix(loc, servertest.EntryRegisterUI+"?flow=")).Execute()
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range nf.Ui.Nodes {
				a := n.Attributes.UiNodeInputAttributes
				if a == nil {
					continue
				}
				switch a.Name {
				case "traits.email":
					if a.Value != "sam@example.test" {
						t.Errorf("traits.email = %v, want the address typed", a.Value)
					}
				case "password":
					if a.Value != nil && a.Value != "" {
						t.Errorf("the password was kept: %v", a.Value)
					}
				}
			}
		})

		t.Run("ReturnToOfAnotherHostIsForbidden", func(t *testing.T) {
			b := srv.SDK(true)
			_, _, err := b.FrontendAPI.CreateBrowserRegistrationFlow(ctx).ReturnTo("https://evil.test/").Execute()
			if e := servertest.ErrorBody(t, err)["error"].(map[string]any); e["id"] != "self_service_flow_return_to_forbidden" || e["code"] != float64(400) {
				t.Fatalf("error %v", e)
			}
			c := srv.HTTPClient(true)
			res, _ := servertest.Do(t, c, "GET", srv.Config.PublicURL("self-service/registration/browser?return_to=https%3A%2F%2Fevil.test%2F"), nil, htmlAccept)
			if res.StatusCode != 303 || !strings.HasPrefix(res.Header.Get("Location"), servertest.EntryErrorUI+"?id=") {
				t.Fatalf("form %d %q", res.StatusCode, res.Header.Get("Location"))
			}
		})
	})
}

func TestRegistrationWithoutSessionHook(t *testing.T) {
	// No session hook after a password registration (Latchkey's default has one).
	servertest.Each(t, servertest.EntryOptions("SELFSERVICE_FLOWS_REGISTRATION_AFTER_PASSWORD_HOOKS=[]"), func(t *testing.T, srv *servertest.Server) {
		ctx := context.Background()
		sdk := srv.SDK(false)
		f, _, _ := sdk.FrontendAPI.CreateNativeRegistrationFlow(ctx).Execute()
		res, raw := servertest.DoRaw(t, http.DefaultClient, "POST", srv.Config.PublicURL("self-service/registration?flow="+f.Id),
			map[string]any{"method": "password", "password": pw, "traits": email("tom@example.test")}, nil)
		if res.StatusCode != 200 {
			t.Fatalf("%d %s", res.StatusCode, raw)
		}
		if keys := servertest.Keys(t, raw); !reflect.DeepEqual(keys, []string{"identity", "continue_with"}) {
			t.Fatalf("keys %v: %s", keys, raw)
		}
		if srv.CountRows(t, "sessions") != 0 {
			t.Fatal("a session was issued without the session hook")
		}
		c := srv.HTTPClient(true)
		id, csrf := startForm(t, srv, c)
		res, _ = servertest.Do(t, c, "POST", srv.Config.PublicURL("self-service/registration?flow="+id),
			url.Values{"method": {"password"}, "traits.email": {"uma@example.test"}, "password": {pw}, "csrf_token": {csrf}}, htmlAccept)
		if res.StatusCode != 303 || res.Header.Get("Location") != servertest.EntryDefaultReturn || setsCookie(res, "ory_kratos_session") {
			t.Fatalf("form %d %q %v", res.StatusCode, res.Header.Get("Location"), res.Header["Set-Cookie"])
		}
	})
}

// register signs an identity up through a native flow.
func register(t *testing.T, srv *servertest.Server, addr, password string) *ory.SuccessfulNativeRegistration {
	t.Helper()
	sdk := srv.SDK(false)
	f, _, err := sdk.FrontendAPI.CreateNativeRegistrationFlow(context.Background()).Execute()
	if err != nil {
		t.Fatal(err)
	}
	ok, _, err := sdk.FrontendAPI.UpdateRegistrationFlow(context.Background()).Flow(f.Id).
		UpdateRegistrationFlowBody(regBody(email(addr), password, "")).Execute()
	if err != nil {
		t.Fatalf("register %s: %v %s", addr, err, errBody(err))
	}
	return ok
}

// startForm starts a browser flow as an HTML page would; it returns the
// flow id and the csrf token a UI server reads from the flow.
func startForm(t *testing.T, srv *servertest.Server, c *http.Client) (string, string) {
	t.Helper()
	res, _ := servertest.Do(t, c, "GET", srv.Config.PublicURL("self-service/registration/browser"), nil, htmlAccept)
	loc := res.Header.Get("Location")
	if res.StatusCode != 303 || !strings.HasPrefix(loc, servertest.EntryRegisterUI+"?flow=") {
		t.Fatalf("init %d %q", res.StatusCode, loc)
	}
	id := strings.TrimPrefix(loc, servertest.EntryRegisterUI+"?flow=")
	f, _, err := srv.SDKWith(c).FrontendAPI.GetRegistrationFlow(context.Background()).Id(id).Execute()
	if err != nil {
		t.Fatalf("fetch %v %s", err, errBody(err))
	}
	return id, servertest.CSRFToken(f.Ui.Nodes)
}

func setsCookie(res *http.Response, name string) bool {
	for _, c := range res.Cookies() {
		if c.Name == name && c.Value != "" && c.MaxAge >= 0 {
			return true
		}
	}
	return false
}

// breachedPassword is a password of acceptable length on the embedded
// breach list.
func breachedPassword(t *testing.T) string {
	t.Helper()
	p, err := password.NewPolicy(password.DefaultPolicyConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"password", "iloveyou", "12345678", "sunshine", "football", "baseball"} {
		if v := p.Validate([]string{"pat@example.test"}, c); v != nil && v.ID == 4000034 {
			return c
		}
	}
	t.Fatal("no breached password found in the embedded list")
	return ""
}
