package registration_test

import (
	"context"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	ory "github.com/ory/client-go"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

func profileBody(traits map[string]any, screen, csrf string) ory.UpdateRegistrationFlowBody {
	b := ory.NewUpdateRegistrationFlowWithProfileMethod("profile", traits)
	if screen != "" {
		b.SetScreen(screen)
	}
	if csrf != "" {
		b.SetCsrfToken(csrf)
	}
	return ory.UpdateRegistrationFlowWithProfileMethodAsUpdateRegistrationFlowBody(b)
}

// nodeShape is "group/name/type=value" per node, in order.
func nodeShape(nodes []ory.UiNode) []string {
	var out []string
	for _, n := range nodes {
		a := n.Attributes.UiNodeInputAttributes
		if a == nil {
			continue
		}
		s := n.Group + "/" + a.Name + "/" + a.Type
		if a.Name != "csrf_token" && a.Value != nil {
			if v, ok := a.Value.(string); ok {
				s += "=" + v
			}
		}
		out = append(out, s)
	}
	return out
}

func messageIDs(f *ory.RegistrationFlow) []int64 {
	var ids []int64
	for _, m := range f.Ui.Messages {
		ids = append(ids, m.Id)
	}
	return ids
}

var (
	profileScreen = []string{"default/csrf_token/hidden", "default/traits.email/email", "default/traits.name/text", "profile/method/submit=profile"}
	credsScreen   = []string{"default/csrf_token/hidden", "default/traits.email/hidden=ann@example.test", "default/traits.name/hidden=Ann",
		"password/password/password", "password/method/submit=password", "profile/screen/submit=previous"}
	profileBack = []string{"default/csrf_token/hidden", "default/traits.email/email=ann@example.test", "default/traits.name/text=Ann", "profile/method/submit=profile"}
)

func TestProfileFirst(t *testing.T) {
	servertest.Each(t, servertest.EntryOptions(), func(t *testing.T, srv *servertest.Server) {
		ctx := context.Background()
		ann := map[string]any{"email": "ann@example.test", "name": "Ann"}

		t.Run("NativeBothStepsAndBack", func(t *testing.T) {
			sdk := srv.SDK(false)
			f, _, err := sdk.FrontendAPI.CreateNativeRegistrationFlow(ctx).Execute()
			if err != nil {
				t.Fatal(err)
			}
			if got := nodeShape(f.Ui.Nodes); !reflect.DeepEqual(got, profileScreen) {
				t.Fatalf("first screen %v", got)
			}
			_, res, err := sdk.FrontendAPI.UpdateRegistrationFlow(ctx).Flow(f.Id).UpdateRegistrationFlowBody(profileBody(ann, "", "")).Execute()
			rf := rejectedFlow(t, err)
			if res.StatusCode != 400 || !reflect.DeepEqual(messageIDs(rf), []int64{1040009}) || rf.Ui.Messages[0].Type != "info" {
				t.Fatalf("second screen %d %v", res.StatusCode, messageIDs(rf))
			}
			if got := nodeShape(rf.Ui.Nodes); !reflect.DeepEqual(got, credsScreen) {
				t.Fatalf("second screen %v", got)
			}
			if l := servertest.Input(rf.Ui.Nodes, "screen"); l == nil {
				t.Fatal("no back button")
			}
			for _, n := range rf.Ui.Nodes {
				if a := n.Attributes.UiNodeInputAttributes; a != nil && a.Name == "screen" && (n.Meta.Label == nil || n.Meta.Label.Id != 1040008) {
					t.Fatalf("back label %+v", n.Meta.Label)
				}
			}
			// Back keeps the values.
			_, _, err = sdk.FrontendAPI.UpdateRegistrationFlow(ctx).Flow(f.Id).UpdateRegistrationFlowBody(profileBody(ann, "previous", "")).Execute()
			rf = rejectedFlow(t, err)
			if got := nodeShape(rf.Ui.Nodes); !reflect.DeepEqual(got, profileBack) || len(rf.Ui.Messages) != 0 {
				t.Fatalf("back %v %v", got, messageIDs(rf))
			}
			_, _, err = sdk.FrontendAPI.UpdateRegistrationFlow(ctx).Flow(f.Id).UpdateRegistrationFlowBody(profileBody(ann, "", "")).Execute()
			rejectedFlow(t, err)
			ok, _, err := sdk.FrontendAPI.UpdateRegistrationFlow(ctx).Flow(f.Id).UpdateRegistrationFlowBody(regBody(ann, pw, "")).Execute()
			if err != nil {
				t.Fatalf("%v %s", err, errBody(err))
			}
			if ok.Identity.Traits.(map[string]any)["email"] != "ann@example.test" || ok.SessionToken == nil {
				t.Fatalf("%+v", ok)
			}
		})

		t.Run("InvalidTraitsStayOnTheFirstScreen", func(t *testing.T) {
			sdk := srv.SDK(false)
			f, _, _ := sdk.FrontendAPI.CreateNativeRegistrationFlow(ctx).Execute()
			_, res, err := sdk.FrontendAPI.UpdateRegistrationFlow(ctx).Flow(f.Id).
				UpdateRegistrationFlowBody(profileBody(map[string]any{"email": "not-an-email", "name": "Bo"}, "", "")).Execute()
			rf := rejectedFlow(t, err)
			if res.StatusCode != 400 || len(rf.Ui.Messages) != 0 {
				t.Fatalf("%d %v", res.StatusCode, messageIDs(rf))
			}
			if ids := servertest.NodeMessageIDs(rf.Ui.Nodes, "traits.email"); !reflect.DeepEqual(ids, []int64{4000040}) {
				t.Fatalf("email messages %v", ids)
			}
			if servertest.Input(rf.Ui.Nodes, "password") != nil || servertest.Input(rf.Ui.Nodes, "traits.name").Value != "Bo" {
				t.Fatalf("nodes %v", nodeShape(rf.Ui.Nodes))
			}
			_, _, err = sdk.FrontendAPI.UpdateRegistrationFlow(ctx).Flow(f.Id).UpdateRegistrationFlowBody(profileBody(map[string]any{}, "", "")).Execute()
			rf = rejectedFlow(t, err)
			if ids := servertest.NodeMessageIDs(rf.Ui.Nodes, "traits.email"); !reflect.DeepEqual(ids, []int64{4000002}) {
				t.Fatalf("missing email messages %v", ids)
			}
		})

		t.Run("PasswordWithTraitsInOneRequestStillRegisters", func(t *testing.T) {
			sdk := srv.SDK(false)
			f, _, _ := sdk.FrontendAPI.CreateNativeRegistrationFlow(ctx).Execute()
			ok, _, err := sdk.FrontendAPI.UpdateRegistrationFlow(ctx).Flow(f.Id).
				UpdateRegistrationFlowBody(regBody(email("one-step@example.test"), pw, "")).Execute()
			if err != nil || ok.Identity.Id == "" {
				t.Fatalf("%v %s", err, errBody(err))
			}
		})

		t.Run("BadInputNeverBreaks", func(t *testing.T) {
			for _, body := range []map[string]any{
				{"method": "profile", "traits": "nope"},
				{"method": "profile", "screen": "elsewhere", "traits": map[string]any{"email": "x@example.test"}},
				{"method": "profile", "screen": 7},
				{"method": "profile:back"},
				{"method": "nope"},
			} {
				f, _, _ := srv.SDK(false).FrontendAPI.CreateNativeRegistrationFlow(ctx).Execute()
				res, got := servertest.Do(t, http.DefaultClient, "POST", srv.Config.PublicURL("self-service/registration?flow="+f.Id), body, nil)
				if res.StatusCode != 400 || (got["ui"] == nil && got["error"] == nil) {
					t.Fatalf("%v: %d %v", body, res.StatusCode, got)
				}
			}
		})

		t.Run("BrowserSPA", func(t *testing.T) {
			b := srv.SDK(true)
			f, _, err := b.FrontendAPI.CreateBrowserRegistrationFlow(ctx).Execute()
			if err != nil {
				t.Fatal(err)
			}
			csrf := servertest.CSRFToken(f.Ui.Nodes)
			for _, screen := range []string{"", "previous"} {
				_, res, err := b.FrontendAPI.UpdateRegistrationFlow(ctx).Flow(f.Id).UpdateRegistrationFlowBody(profileBody(ann, screen, "d3Jvbmc=")).Execute()
				if e := servertest.ErrorBody(t, err)["error"].(map[string]any); res.StatusCode != 403 || e["id"] != "security_csrf_violation" {
					t.Fatalf("wrong csrf %q: %d %v", screen, res.StatusCode, e)
				}
			}
			_, res, err := b.FrontendAPI.UpdateRegistrationFlow(ctx).Flow(f.Id).UpdateRegistrationFlowBody(profileBody(ann, "", csrf)).Execute()
			rf := rejectedFlow(t, err)
			if res.StatusCode != 400 || !reflect.DeepEqual(messageIDs(rf), []int64{1040009}) || servertest.Input(rf.Ui.Nodes, "password") == nil {
				t.Fatalf("%d %v", res.StatusCode, nodeShape(rf.Ui.Nodes))
			}
			ok, _, err := b.FrontendAPI.UpdateRegistrationFlow(ctx).Flow(f.Id).
				UpdateRegistrationFlowBody(regBody(map[string]any{"email": "spa@example.test", "name": "Spa"}, pw, csrf)).Execute()
			if err != nil || ok.Identity.Traits.(map[string]any)["email"] != "spa@example.test" {
				t.Fatalf("%v %s", err, errBody(err))
			}
		})

		t.Run("BrowserFormRedirects", func(t *testing.T) {
			c := srv.HTTPClient(true)
			id, csrf := startForm(t, srv, c)
			post := func(v url.Values) *http.Response {
				v.Set("csrf_token", csrf)
				res, _ := servertest.Do(t, c, "POST", srv.Config.PublicURL("self-service/registration?flow="+id), v, htmlAccept)
				return res
			}
			toUI := servertest.EntryRegisterUI + "?flow=" + id
			fetch := func() *ory.RegistrationFlow {
				f, _, err := srv.SDKWith(c).FrontendAPI.GetRegistrationFlow(ctx).Id(id).Execute()
				if err != nil {
					t.Fatal(err)
				}
				return f
			}
			if res := post(url.Values{"method": {"profile"}, "traits.email": {"form@example.test"}, "traits.name": {"Form"}}); res.StatusCode != 303 || res.Header.Get("Location") != toUI {
				t.Fatalf("profile %d %q", res.StatusCode, res.Header.Get("Location"))
			}
			if f := fetch(); servertest.Input(f.Ui.Nodes, "password") == nil || servertest.Input(f.Ui.Nodes, "traits.email").Type != "hidden" {
				t.Fatalf("second screen %v", nodeShape(f.Ui.Nodes))
			}
			if res := post(url.Values{"screen": {"previous"}, "traits.email": {"form@example.test"}, "traits.name": {"Form"}}); res.StatusCode != 303 || res.Header.Get("Location") != toUI {
				t.Fatalf("back %d", res.StatusCode)
			}
			if f := fetch(); servertest.Input(f.Ui.Nodes, "password") != nil || servertest.Input(f.Ui.Nodes, "traits.email").Value != "form@example.test" {
				t.Fatalf("back screen %v", nodeShape(f.Ui.Nodes))
			}
			post(url.Values{"method": {"profile"}, "traits.email": {"form@example.test"}, "traits.name": {"Form"}})
			res := post(url.Values{"method": {"password"}, "password": {pw}, "traits.email": {"form@example.test"}, "traits.name": {"Form"}})
			if res.StatusCode != 303 || strings.Contains(res.Header.Get("Location"), "flow="+id) || !setsCookie(res, srv.Config.Session.Cookie.Name) {
				t.Fatalf("register %d %q", res.StatusCode, res.Header.Get("Location"))
			}
		})
	})
}

func TestUnifiedStyle(t *testing.T) {
	srv := servertest.Start(t, servertest.EntryOptions("SELFSERVICE_FLOWS_REGISTRATION_STYLE=unified"))
	ctx := context.Background()
	sdk := srv.SDK(false)
	f, _, _ := sdk.FrontendAPI.CreateNativeRegistrationFlow(ctx).Execute()
	if servertest.Input(f.Ui.Nodes, "password") == nil || servertest.Input(f.Ui.Nodes, "traits.email").Type != "email" {
		t.Fatalf("unified form %v", nodeShape(f.Ui.Nodes))
	}
	_, res, err := sdk.FrontendAPI.UpdateRegistrationFlow(ctx).Flow(f.Id).
		UpdateRegistrationFlowBody(profileBody(map[string]any{"email": "u@example.test"}, "", "")).Execute()
	rf := rejectedFlow(t, err)
	if res.StatusCode != 400 || !reflect.DeepEqual(messageIDs(rf), []int64{4010003}) {
		t.Fatalf("%d %v", res.StatusCode, messageIDs(rf))
	}
}
