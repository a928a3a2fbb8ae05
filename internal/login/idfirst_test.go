package login_test

import (
	"context"
	"net/http"
	"net/url"
	"reflect"
	"testing"

	ory "github.com/ory/client-go"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

func idFirstBody(identifier, csrf string) ory.UpdateLoginFlowBody {
	b := ory.NewUpdateLoginFlowWithIdentifierFirstMethod(identifier, "identifier_first")
	if csrf != "" {
		b.SetCsrfToken(csrf)
	}
	return ory.UpdateLoginFlowWithIdentifierFirstMethodAsUpdateLoginFlowBody(b)
}

func loginShape(nodes []ory.UiNode) []string {
	var out []string
	for _, n := range nodes {
		if a := n.Attributes.UiNodeInputAttributes; a != nil {
			s := n.Group + "/" + a.Name + "/" + a.Type
			if v, ok := a.Value.(string); ok && a.Name != "csrf_token" && v != "" {
				s += "=" + v
			}
			out = append(out, s)
		}
	}
	return out
}

func TestIdentifierFirst(t *testing.T) {
	servertest.Each(t, servertest.EntryOptions("SELFSERVICE_FLOWS_LOGIN_STYLE=identifier_first"), func(t *testing.T, srv *servertest.Server) {
		ctx := context.Background()
		srv.MustCreateIdentity(t, "alice@example.test", pw)

		// identify starts a native flow and submits the identifier: the raw
		// answer, ids and times masked, and the flow id.
		identify := func(t *testing.T, identifier string) (int, map[string]any, string) {
			sdk := srv.SDK(false)
			f, _, err := sdk.FrontendAPI.CreateNativeLoginFlow(ctx).Execute()
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"default/csrf_token/hidden", "identifier_first/identifier/text", "identifier_first/method/submit=identifier_first"}
			if got := loginShape(f.Ui.Nodes); !reflect.DeepEqual(got, want) {
				t.Fatalf("first screen %v", got)
			}
			res, body := servertest.Do(t, http.DefaultClient, "POST", srv.Config.PublicURL("self-service/login?flow="+f.Id),
				map[string]any{"method": "identifier_first", "identifier": identifier}, nil)
			return res.StatusCode, body, f.Id
		}

		t.Run("KnownAndUnknownLookTheSame", func(t *testing.T) {
			s1, known, _ := identify(t, "alice@example.test")
			s2, unknown, _ := identify(t, "nobody@example.test")
			if s1 != 400 || s2 != 400 {
				t.Fatalf("status %d %d", s1, s2)
			}
			if a, b := normalise(known), normalise(unknown); a != b {
				t.Fatalf("known and unknown differ:\n%s\n%s", a, b)
			}
			if messageIDs(known) != "" {
				t.Fatalf("messages %s", messageIDs(known))
			}
		})

		t.Run("ThenThePassword", func(t *testing.T) {
			sdk := srv.SDK(false)
			f, _, _ := sdk.FrontendAPI.CreateNativeLoginFlow(ctx).Execute()
			_, res, err := sdk.FrontendAPI.UpdateLoginFlow(ctx).Flow(f.Id).UpdateLoginFlowBody(idFirstBody("alice@example.test", "")).Execute()
			lf := rejectedFlow(t, err)
			want := []string{"default/csrf_token/hidden", "identifier_first/identifier/hidden=alice@example.test", "password/password/password", "password/method/submit=password"}
			if got := loginShape(lf.Ui.Nodes); res.StatusCode != 400 || !reflect.DeepEqual(got, want) {
				t.Fatalf("%d second screen %v", res.StatusCode, got)
			}
			ok, _, err := sdk.FrontendAPI.UpdateLoginFlow(ctx).Flow(f.Id).UpdateLoginFlowBody(passwordBody("alice@example.test", pw)).Execute()
			if err != nil || ok.GetSessionToken() == "" {
				t.Fatalf("%v %s", err, errBody(err))
			}
		})

		t.Run("UnknownFailsWithInvalidCredentials", func(t *testing.T) {
			_, _, id := identify(t, "nobody@example.test")
			res, body := servertest.Do(t, http.DefaultClient, "POST", srv.Config.PublicURL("self-service/login?flow="+id),
				map[string]any{"method": "password", "identifier": "nobody@example.test", "password": pw}, nil)
			if res.StatusCode != 400 || messageIDs(body) != "4000006" {
				t.Fatalf("%d %s", res.StatusCode, messageIDs(body))
			}
		})

		t.Run("MissingIdentifier", func(t *testing.T) {
			s, body, _ := identify(t, "")
			lf := body["ui"].(map[string]any)["nodes"].([]any)
			if s != 400 || len(lf) != 3 || jsonString(lf[1].(map[string]any)["messages"]) == "[]" {
				t.Fatalf("%d %v", s, body)
			}
		})

		t.Run("BrowserForm", func(t *testing.T) {
			c := srv.HTTPClient(true)
			res, _ := servertest.Do(t, c, "GET", srv.Config.PublicURL("self-service/login/browser"), nil, http.Header{"Accept": {"text/html"}})
			loc, _ := url.Parse(res.Header.Get("Location"))
			id := loc.Query().Get("flow")
			f, _, err := srv.SDKWith(c).FrontendAPI.GetLoginFlow(ctx).Id(id).Execute()
			if err != nil {
				t.Fatal(err)
			}
			csrf := servertest.CSRFToken(f.Ui.Nodes)
			res, _ = servertest.Do(t, srv.SDKWith(c).GetConfig().HTTPClient, "POST", srv.Config.PublicURL("self-service/login?flow="+id),
				map[string]any{"method": "identifier_first", "identifier": "alice@example.test", "csrf_token": "d3Jvbmc="}, nil)
			if res.StatusCode != 403 {
				t.Fatalf("wrong csrf: %d", res.StatusCode)
			}
			res, _ = servertest.Do(t, c, "POST", srv.Config.PublicURL("self-service/login?flow="+id),
				url.Values{"method": {"identifier_first"}, "identifier": {"alice@example.test"}, "csrf_token": {csrf}}, http.Header{"Accept": {"text/html"}})
			if res.StatusCode != 303 || res.Header.Get("Location") != loc.String() {
				t.Fatalf("%d %q", res.StatusCode, res.Header.Get("Location"))
			}
			res, _ = servertest.Do(t, c, "POST", srv.Config.PublicURL("self-service/login?flow="+id),
				url.Values{"method": {"password"}, "identifier": {"alice@example.test"}, "password": {pw}, "csrf_token": {csrf}}, http.Header{"Accept": {"text/html"}})
			if res.StatusCode != 303 || res.Header.Get("Location") == loc.String() {
				t.Fatalf("login %d %q", res.StatusCode, res.Header.Get("Location"))
			}
		})
	})
}
