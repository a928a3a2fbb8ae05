package login_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	ory "github.com/ory/client-go"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

// lookupLogin is one aal2 native login flow of an aal1 session token.
func lookupFlow(t *testing.T, srv *servertest.Server, token string) *ory.LoginFlow {
	t.Helper()
	f, _, err := srv.SDK(false).FrontendAPI.CreateNativeLoginFlow(context.Background()).Aal("aal2").XSessionToken(token).Execute()
	if err != nil {
		t.Fatalf("aal2 login flow: %v %s", err, errBody(err))
	}
	return f
}

// submitCode posts a backup code to flow f with token, from ip.
func submitCode(t *testing.T, srv *servertest.Server, ip, token, flowID, code string) attempt {
	t.Helper()
	res, body := servertest.Do(t, srv.HTTPClientFrom(ip, false), http.MethodPost, srv.Config.PublicURL("self-service/login?flow="+flowID),
		map[string]any{"method": "lookup_secret", "lookup_secret": code}, http.Header{"X-Session-Token": {token}})
	return attempt{status: res.StatusCode, retryAfter: res.Header.Get("Retry-After"), body: body}
}

// methodsOf lists a session's authentication methods as method/aal.
func methodsOf(s map[string]any) string {
	var out []string
	ms, _ := s["authentication_methods"].([]any)
	for _, m := range ms {
		m := m.(map[string]any)
		out = append(out, m["method"].(string)+"/"+m["aal"].(string))
	}
	return strings.Join(out, ",")
}

func TestLoginWithBackupCode(t *testing.T) {
	servertest.Each(t, servertest.EntryOptions(servertest.LookupEnabled), func(t *testing.T, srv *servertest.Server) {
		ctx := context.Background()
		enrol := func(t *testing.T, email string) []string {
			ident := srv.MustCreateIdentity(t, email, pw)
			return srv.MustBackupCodes(t, srv.MustRecover(t, ident.Id, "api", "").Token)
		}

		t.Run("Aal2FlowOffersTheCodeInput", func(t *testing.T) {
			enrol(t, "nodes@example.test")
			f := lookupFlow(t, srv, srv.MustNativeLogin(t, "nodes@example.test", pw))
			if f.RequestedAal == nil || *f.RequestedAal != "aal2" || !equal(servertest.MessageIDs(f.Ui.Messages), 1010004) {
				t.Fatalf("flow aal %v messages %+v", f.RequestedAal, f.Ui.Messages)
			}
			var got []string
			for _, n := range f.Ui.Nodes {
				a := n.Attributes.UiNodeInputAttributes
				if n.Group != "lookup_secret" || a == nil || n.Meta.Label == nil {
					continue
				}
				got = append(got, a.Name+"/"+a.Type+"/"+strings.TrimSpace(jsonString(a.Value))+"/"+jsonString(a.Required)+"/"+jsonString(n.Meta.Label.Id))
			}
			want := []string{`lookup_secret/text/""/true/1010007`, `method/submit/"lookup_secret"/null/1010010`}
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Fatalf("nodes %v, want %v", got, want)
			}
		})

		t.Run("UnknownCodeUsedCodeAndValidCode", func(t *testing.T) {
			codes := enrol(t, "codes@example.test")
			token, first := mustNativeLogin(t, srv, "codes@example.test", pw)
			f := lookupFlow(t, srv, token)
			if a := submitCode(t, srv, "127.0.0.21", token, f.Id, "zzzzzzzz"); a.status != http.StatusBadRequest || !equalF(a.messageIDs(), 4000016) {
				t.Fatalf("unknown code: %d %v", a.status, a.body)
			}
			if a := submitCode(t, srv, "127.0.0.21", token, f.Id, ""); a.status != http.StatusBadRequest {
				t.Fatalf("empty code: %d %v", a.status, a.body)
			}
			a := submitCode(t, srv, "127.0.0.21", token, f.Id, codes[3])
			if a.status != http.StatusOK {
				t.Fatalf("valid code: %d %v", a.status, a.body)
			}
			sess := a.body["session"].(map[string]any)
			if sess["authenticator_assurance_level"] != "aal2" || methodsOf(sess) != "password/aal1,lookup_secret/aal2" {
				t.Fatalf("session %v", sess)
			}
			if sess["id"] != first.Id {
				t.Fatalf("a new session %v, want %s", sess["id"], first.Id)
			}
			if tok, _ := a.body["session_token"].(string); tok != token {
				t.Fatalf("token changed: %q", tok)
			}

			// The code is spent: a second session cannot use it.
			other := srv.MustNativeLogin(t, "codes@example.test", pw)
			if a := submitCode(t, srv, "127.0.0.21", other, lookupFlow(t, srv, other).Id, codes[3]); a.status != http.StatusBadRequest || !equalF(a.messageIDs(), 4000012) {
				t.Fatalf("reused code: %d %v", a.status, a.body)
			}

			// Reveal shows it as used, the others as they were.
			c := srv.SDK(false)
			sf, _, err := c.FrontendAPI.CreateNativeSettingsFlow(ctx).XSessionToken(token).Execute()
			if err != nil {
				t.Fatalf("settings: %v %s", err, errBody(err))
			}
			b := ory.NewUpdateSettingsFlowWithLookupMethod("lookup_secret")
			b.SetLookupSecretReveal(true)
			shown, _, err := c.FrontendAPI.UpdateSettingsFlow(ctx).Flow(sf.Id).XSessionToken(token).
				UpdateSettingsFlowBody(ory.UpdateSettingsFlowWithLookupMethodAsUpdateSettingsFlowBody(b)).Execute()
			if err != nil {
				t.Fatalf("reveal: %v %s", err, errBody(err))
			}
			revealed := servertest.BackupCodes(shown.Ui.Nodes)
			for i, code := range revealed {
				if (i == 3) != (code == "") || (i != 3 && code != codes[i]) {
					t.Fatalf("revealed %v, codes %v", revealed, codes)
				}
			}
			for _, n := range shown.Ui.Nodes {
				if a := n.Attributes.UiNodeTextAttributes; a != nil && a.Id == "lookup_secret_codes" {
					used := a.Text.Context["secrets"].([]any)[3].(map[string]any)
					if used["id"].(float64) != 1050014 || !strings.HasPrefix(used["text"].(string), "Secret was used at ") || !strings.Contains(a.Text.Text, "used") {
						t.Fatalf("used code shown as %v", used)
					}
				}
			}
		})

		t.Run("ConcurrentUsesOfOneCodeExactlyOneWins", func(t *testing.T) {
			codes := enrol(t, "race@example.test")
			const n = 4
			tokens, flows := make([]string, n), make([]string, n)
			for i := range n {
				tokens[i] = srv.MustNativeLogin(t, "race@example.test", pw)
				flows[i] = lookupFlow(t, srv, tokens[i]).Id
			}
			results := make([]attempt, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					results[i] = submitCode(t, srv, "127.0.0.22", tokens[i], flows[i], codes[0])
				}()
			}
			wg.Wait()
			wins := 0
			for _, a := range results {
				switch {
				case a.status == http.StatusOK:
					wins++
				case a.status != http.StatusBadRequest || !equalF(a.messageIDs(), 4000012):
					t.Fatalf("loser answered %d %v", a.status, a.body)
				}
			}
			if wins != 1 {
				t.Fatalf("%d of %d concurrent uses won", wins, n)
			}
		})

		t.Run("GuessesSpendTheFailedLoginBudget", func(t *testing.T) {
			codes := enrol(t, "guess@example.test")
			token := srv.MustNativeLogin(t, "guess@example.test", pw)
			f := lookupFlow(t, srv, token)
			for i := range 10 {
				if a := submitCode(t, srv, "127.0.0.23", token, f.Id, "wrong00"+string(rune('a'+i))); a.status != http.StatusBadRequest {
					t.Fatalf("guess %d: %d %v", i, a.status, a.body)
				}
			}
			a := submitCode(t, srv, "127.0.0.24", token, f.Id, codes[1])
			mustBeThrottled(t, a, 15*60*1e9)
		})
	})
}

func equal(got []int64, want ...int64) bool {
	return jsonString(got) == jsonString(want)
}

func equalF(got []float64, want ...float64) bool {
	return jsonString(got) == jsonString(want)
}
