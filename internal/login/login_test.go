package login_test

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	ory "github.com/ory/client-go"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

const pw = "correct-Horse-battery-77"

func passwordBody(identifier, password string) ory.UpdateLoginFlowBody {
	return ory.UpdateLoginFlowWithPasswordMethodAsUpdateLoginFlowBody(ory.NewUpdateLoginFlowWithPasswordMethod(identifier, "password", password))
}

// mustNativeLogin signs in through a native flow and returns the token.
func mustNativeLogin(t *testing.T, srv *servertest.Server, email, password string) (string, *ory.Session) {
	t.Helper()
	sdk := srv.SDK(false)
	f, _, err := sdk.FrontendAPI.CreateNativeLoginFlow(context.Background()).Execute()
	if err != nil {
		t.Fatal(err)
	}
	ok, _, err := sdk.FrontendAPI.UpdateLoginFlow(context.Background()).Flow(f.Id).UpdateLoginFlowBody(passwordBody(email, password)).Execute()
	if err != nil {
		t.Fatalf("login: %v %v", err, errBody(err))
	}
	return ok.GetSessionToken(), &ok.Session
}

func errBody(err error) string {
	if ge, ok := err.(*ory.GenericOpenAPIError); ok {
		return string(ge.Body())
	}
	return ""
}

func TestLogin(t *testing.T) {
	servertest.Each(t, servertest.EntryOptions(), func(t *testing.T, srv *servertest.Server) {
		ctx := context.Background()
		sdk := srv.SDK(false)
		alice := srv.MustCreateIdentity(t, "alice@example.test", pw)

		t.Run("NativeFlowLooksLikeKratos", func(t *testing.T) {
			res, raw := servertest.DoRaw(t, http.DefaultClient, "GET", srv.Config.PublicURL("self-service/login/api"), nil, nil)
			if res.StatusCode != 200 || res.Header.Get("Cache-Control") != "private, no-cache, no-store, must-revalidate" {
				t.Fatalf("status %d, headers %v", res.StatusCode, res.Header)
			}
			var body map[string]any
			_ = json.Unmarshal(raw, &body)
			keys := servertest.Keys(t, raw)
			want := []string{"id", "organization_id", "type", "expires_at", "issued_at", "request_url", "ui", "created_at", "updated_at", "refresh", "requested_aal", "state"}
			if !reflect.DeepEqual(keys, want) {
				t.Fatalf("keys %v, want %v", keys, want)
			}
			if body["organization_id"] != nil || body["type"] != "api" || body["refresh"] != false || body["requested_aal"] != "aal1" || body["state"] != "choose_method" {
				t.Fatalf("flow %v", body)
			}
			if body["request_url"] != srv.Config.PublicURL("self-service/login/api") {
				t.Fatalf("request_url %v", body["request_url"])
			}
			ui := body["ui"].(map[string]any)
			if ui["action"] != srv.Config.PublicURL("self-service/login?flow="+body["id"].(string)) || ui["method"] != "POST" {
				t.Fatalf("ui %v", ui)
			}
			var rawUI struct {
				UI struct {
					Nodes json.RawMessage `json:"nodes"`
				} `json:"ui"`
			}
			_ = json.Unmarshal(raw, &rawUI)
			got := rawUI.UI.Nodes
			want2 := `[{"type":"input","group":"default","attributes":{"name":"csrf_token","type":"hidden","value":"","required":true,"disabled":false,"node_type":"input"},"messages":[],"meta":{}},` +
				`{"type":"input","group":"default","attributes":{"name":"identifier","type":"text","value":"","required":true,"disabled":false,"node_type":"input"},"messages":[],"meta":{"label":{"id":1070002,"text":"E-Mail","type":"info","context":{"name":"traits.email","title":"E-Mail"}}}},` +
				`{"type":"input","group":"password","attributes":{"name":"password","type":"password","required":true,"autocomplete":"current-password","disabled":false,"node_type":"input"},"messages":[],"meta":{"label":{"id":1070001,"text":"Password","type":"info"}}},` +
				`{"type":"input","group":"password","attributes":{"name":"method","type":"submit","value":"password","disabled":false,"node_type":"input"},"messages":[],"meta":{"label":{"id":1010022,"text":"Sign in with password","type":"info"}}}]`
			if string(got) != want2 {
				t.Fatalf("nodes\n got %s\nwant %s", got, want2)
			}
		})

		t.Run("NativeLoginReturnsTokenAndSession", func(t *testing.T) {
			f, _, err := sdk.FrontendAPI.CreateNativeLoginFlow(ctx).Execute()
			if err != nil {
				t.Fatal(err)
			}
			res, raw := servertest.DoRaw(t, http.DefaultClient, "POST", srv.Config.PublicURL("self-service/login?flow="+f.Id),
				map[string]any{"method": "password", "identifier": "ALICE@example.test ", "password": pw}, nil)
			var body map[string]any
			_ = json.Unmarshal(raw, &body)
			if res.StatusCode != 200 {
				t.Fatalf("status %d: %s", res.StatusCode, raw)
			}
			if keys := servertest.Keys(t, raw); !reflect.DeepEqual(keys, []string{"session_token", "session", "continue_with"}) {
				t.Fatalf("keys %v", keys)
			}
			if body["continue_with"] != nil {
				t.Fatalf("continue_with %v, want null", body["continue_with"])
			}
			token := body["session_token"].(string)
			if !regexp.MustCompile(`^ory_st_[A-Za-z0-9]{32}$`).MatchString(token) {
				t.Fatalf("token %q", token)
			}
			sess := body["session"].(map[string]any)
			methods := sess["authentication_methods"].([]any)
			if sess["active"] != true || methods[0].(map[string]any)["method"] != "password" || sess["identity"].(map[string]any)["id"] != alice.Id {
				t.Fatalf("session %v", sess)
			}
			who, _, err := sdk.FrontendAPI.ToSession(ctx).XSessionToken(token).Execute()
			if err != nil || who.Id != sess["id"] {
				t.Fatalf("whoami: %v %v", who, err)
			}
			// The flow is spent.
			_, _, err = sdk.FrontendAPI.UpdateLoginFlow(ctx).Flow(f.Id).UpdateLoginFlowBody(passwordBody("alice@example.test", pw)).Execute()
			lf := rejectedFlow(t, err)
			if ids := servertest.MessageIDs(lf.Ui.Messages); !reflect.DeepEqual(ids, []int64{4010007}) {
				t.Fatalf("messages %v", ids)
			}
		})

		t.Run("WrongPasswordAndUnknownIdentifierLookTheSame", func(t *testing.T) {
			attempt := func(identifier string) (int, map[string]any) {
				f, _, err := sdk.FrontendAPI.CreateNativeLoginFlow(ctx).Execute()
				if err != nil {
					t.Fatal(err)
				}
				res, body := servertest.Do(t, http.DefaultClient, "POST", srv.Config.PublicURL("self-service/login?flow="+f.Id),
					map[string]any{"method": "password", "identifier": identifier, "password": "not-the-password-1"}, nil)
				return res.StatusCode, body
			}
			s1, wrong := attempt("alice@example.test")
			s2, unknown := attempt("nobody@example.test")
			if s1 != 400 || s2 != 400 {
				t.Fatalf("status %d and %d, want 400", s1, s2)
			}
			a, b := normalise(wrong), normalise(unknown)
			if a != b {
				t.Fatalf("bodies differ:\n%s\n%s", a, b)
			}
			msgs := wrong["ui"].(map[string]any)["messages"].([]any)
			if len(msgs) != 1 || msgs[0].(map[string]any)["id"] != float64(4000006) ||
				msgs[0].(map[string]any)["text"] != "The provided credentials are invalid, check for spelling mistakes in your password or username, email address, or phone number." {
				t.Fatalf("messages %v", msgs)
			}
		})

		t.Run("MissingFieldsAreReportedOnTheirInputs", func(t *testing.T) {
			f, _, _ := sdk.FrontendAPI.CreateNativeLoginFlow(ctx).Execute()
			_, _, err := sdk.FrontendAPI.UpdateLoginFlow(ctx).Flow(f.Id).UpdateLoginFlowBody(passwordBody("", "")).Execute()
			lf := rejectedFlow(t, err)
			if ids := servertest.NodeMessageIDs(lf.Ui.Nodes, "identifier"); !reflect.DeepEqual(ids, []int64{4000002}) {
				t.Fatalf("identifier messages %v", ids)
			}
			if ids := servertest.NodeMessageIDs(lf.Ui.Nodes, "password"); !reflect.DeepEqual(ids, []int64{4000002}) {
				t.Fatalf("password messages %v", ids)
			}
		})

		t.Run("LegacyPasswordIdentifierIsAccepted", func(t *testing.T) {
			f, _, _ := sdk.FrontendAPI.CreateNativeLoginFlow(ctx).Execute()
			res, body := servertest.Do(t, http.DefaultClient, "POST", srv.Config.PublicURL("self-service/login?flow="+f.Id),
				map[string]any{"method": "password", "password_identifier": "alice@example.test", "password": pw}, nil)
			if res.StatusCode != 200 || body["session_token"] == nil {
				t.Fatalf("status %d: %v", res.StatusCode, body)
			}
		})

		t.Run("UnknownMethodHasNoStrategy", func(t *testing.T) {
			f, _, _ := sdk.FrontendAPI.CreateNativeLoginFlow(ctx).Execute()
			res, body := servertest.Do(t, http.DefaultClient, "POST", srv.Config.PublicURL("self-service/login?flow="+f.Id),
				map[string]any{"method": "totp", "totp_code": "123456"}, nil)
			if res.StatusCode != 400 || messageIDs(body) != "4010002" {
				t.Fatalf("status %d: %v", res.StatusCode, body)
			}
		})

		t.Run("NativeFlowRejectsBrowserCookies", func(t *testing.T) {
			f, _, _ := sdk.FrontendAPI.CreateNativeLoginFlow(ctx).Execute()
			res, body := servertest.Do(t, http.DefaultClient, "POST", srv.Config.PublicURL("self-service/login?flow="+f.Id),
				map[string]any{"method": "password", "identifier": "alice@example.test", "password": pw},
				http.Header{"Cookie": {"some_cookie=1"}})
			if res.StatusCode != 400 || messageIDs(body) != "4000001" {
				t.Fatalf("status %d: %v", res.StatusCode, body)
			}
		})

		t.Run("InactiveIdentityIsRefusedAfterThePassword", func(t *testing.T) {
			bob := srv.MustCreateIdentity(t, "bob@example.test", pw)
			if _, _, err := sdk.IdentityAPI.PatchIdentity(ctx, bob.Id).JsonPatch([]ory.JsonPatch{{Op: "replace", Path: "/state", Value: "inactive"}}).Execute(); err != nil {
				t.Fatalf("deactivate: %v %s", err, errBody(err))
			}
			f, _, _ := sdk.FrontendAPI.CreateNativeLoginFlow(ctx).Execute()
			res, body := servertest.Do(t, http.DefaultClient, "POST", srv.Config.PublicURL("self-service/login?flow="+f.Id),
				map[string]any{"method": "password", "identifier": "bob@example.test", "password": pw}, nil)
			e := body["error"].(map[string]any)
			if res.StatusCode != 401 || e["reason"] != "This account was disabled." || e["message"] != "identity is disabled" {
				t.Fatalf("status %d: %v", res.StatusCode, body)
			}
		})

		t.Run("NativeInitWithSessionIsAlreadyAvailable", func(t *testing.T) {
			token, _ := mustNativeLogin(t, srv, "alice@example.test", pw)
			_, _, err := sdk.FrontendAPI.CreateNativeLoginFlow(ctx).XSessionToken(token).Execute()
			e := servertest.ErrorBody(t, err)["error"].(map[string]any)
			if e["id"] != "session_already_available" || e["code"] != float64(400) ||
				e["reason"] != "A valid session was detected and thus login is not possible. Did you forget to set `?refresh=true`?" ||
				e["message"] != "you are already logged in" {
				t.Fatalf("error %v", e)
			}
		})

		t.Run("AAL2WithoutSessionNeedsAAL1", func(t *testing.T) {
			_, _, err := sdk.FrontendAPI.CreateNativeLoginFlow(ctx).Aal("aal2").Execute()
			e := servertest.ErrorBody(t, err)["error"].(map[string]any)
			if e["id"] != "session_aal1_required" || e["code"] != float64(401) {
				t.Fatalf("error %v", e)
			}
		})

		t.Run("AAL2WithoutSecondFactorsOffersNoMethod", func(t *testing.T) {
			token, _ := mustNativeLogin(t, srv, "alice@example.test", pw)
			f, _, err := sdk.FrontendAPI.CreateNativeLoginFlow(ctx).Aal("aal2").XSessionToken(token).Execute()
			if err != nil {
				t.Fatalf("%v %s", err, errBody(err))
			}
			if f.GetRequestedAal() != "aal2" || len(f.Ui.Nodes) != 0 || !reflect.DeepEqual(servertest.MessageIDs(f.Ui.Messages), []int64{1010004}) {
				t.Fatalf("flow %+v", f.Ui)
			}
		})

		t.Run("ExpiredNativeFlowIsGoneWithAReplacement", func(t *testing.T) {
			f, _, _ := sdk.FrontendAPI.CreateNativeLoginFlow(ctx).Execute()
			srv.Clock.Advance(time.Hour + time.Minute)
			res, body := servertest.Do(t, http.DefaultClient, "POST", srv.Config.PublicURL("self-service/login?flow="+f.Id),
				map[string]any{"method": "password", "identifier": "alice@example.test", "password": pw}, nil)
			e, _ := body["error"].(map[string]any)
			if res.StatusCode != 410 || e["id"] != "self_service_flow_expired" || body["use_flow_id"] == nil {
				t.Fatalf("status %d: %v", res.StatusCode, body)
			}
			if !strings.HasPrefix(e["reason"].(string), "The self-service flow expired 1.0") { // 1.00, or a little more on a slow machine
				t.Fatalf("reason %q", e["reason"])
			}
			nf, _, err := sdk.FrontendAPI.GetLoginFlow(ctx).Id(body["use_flow_id"].(string)).Execute()
			if err != nil {
				t.Fatal(err)
			}
			if ids := servertest.MessageIDs(nf.Ui.Messages); !reflect.DeepEqual(ids, []int64{4010001}) {
				t.Fatalf("replacement messages %v", ids)
			}
			// The replacement works.
			if _, _, err := sdk.FrontendAPI.UpdateLoginFlow(ctx).Flow(nf.Id).UpdateLoginFlowBody(passwordBody("alice@example.test", pw)).Execute(); err != nil {
				t.Fatalf("%v %s", err, errBody(err))
			}
			// Fetching the expired flow is 410 as well.
			_, _, err = sdk.FrontendAPI.GetLoginFlow(ctx).Id(f.Id).Execute()
			ge := servertest.ErrorBody(t, err)["error"].(map[string]any)
			if ge["code"] != float64(410) || ge["details"].(map[string]any)["api"] != srv.Config.PublicURL("self-service/login/api") {
				t.Fatalf("fetch expired: %v", ge)
			}
		})

		t.Run("UnknownFlowIsNotFound", func(t *testing.T) {
			res, body := servertest.Do(t, http.DefaultClient, "POST", srv.Config.PublicURL("self-service/login?flow=00000000-0000-0000-0000-000000000001"),
				map[string]any{"method": "password"}, nil)
			if res.StatusCode != 404 || body["error"].(map[string]any)["reason"] != "The login request could not be found. Please restart the flow." {
				t.Fatalf("status %d: %v", res.StatusCode, body)
			}
			res, _ = servertest.Do(t, http.DefaultClient, "GET", srv.Config.PublicURL("self-service/login/flows?id=nope"), nil, nil)
			if res.StatusCode != 404 {
				t.Fatalf("fetch status %d", res.StatusCode)
			}
		})

		t.Run("ReturnToOfAnotherHostIsForbidden", func(t *testing.T) {
			_, _, err := sdk.FrontendAPI.CreateNativeLoginFlow(ctx).ReturnTo("https://evil.test/steal").Execute()
			e := servertest.ErrorBody(t, err)["error"].(map[string]any)
			if e["id"] != "self_service_flow_return_to_forbidden" || e["code"] != float64(400) {
				t.Fatalf("error %v", e)
			}
			b := srv.HTTPClient(true)
			res, _ := servertest.Do(t, b, "GET", srv.Config.PublicURL("self-service/login/browser?return_to=https%3A%2F%2Fevil.test%2F"), nil, http.Header{"Accept": {"text/html"}})
			if res.StatusCode != 303 || !strings.HasPrefix(res.Header.Get("Location"), servertest.EntryErrorUI+"?id=") {
				t.Fatalf("browser: %d %s", res.StatusCode, res.Header.Get("Location"))
			}
		})
	})
}

// rejectedFlow asserts a 400 answer carrying the login flow.
func rejectedFlow(t *testing.T, err error) *ory.LoginFlow {
	t.Helper()
	ge, ok := err.(*ory.GenericOpenAPIError)
	if !ok {
		t.Fatalf("want a 400 flow, got %v", err)
	}
	lf, ok := ge.Model().(ory.LoginFlow)
	if !ok {
		t.Fatalf("want a login flow, got %s", ge.Body())
	}
	return &lf
}

func messageIDs(body map[string]any) string {
	ui, _ := body["ui"].(map[string]any)
	msgs, _ := ui["messages"].([]any)
	var ids []string
	for _, m := range msgs {
		ids = append(ids, strings.TrimSuffix(strings.TrimSuffix(jsonString(m.(map[string]any)["id"]), ".0"), ".00"))
	}
	return strings.Join(ids, ",")
}

func jsonString(v any) string { b, _ := json.Marshal(v); return string(b) }

// normalise blanks what legitimately differs between two failed logins
// (ids, times, the submitted identifier) and returns the rest as JSON.
func normalise(m map[string]any) string {
	b, _ := json.Marshal(m)
	s := string(b)
	s = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`).ReplaceAllString(s, "ID")
	s = regexp.MustCompile(`"\d{4}-\d\d-\d\dT[^"]*"`).ReplaceAllString(s, `"TIME"`)
	s = strings.NewReplacer("alice@example.test", "X", "nobody@example.test", "X").Replace(s)
	return s
}
