package settings_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

// TestWireShape compares a flow with the recorded Kratos transcript
// (a-native-code-continue-with.md step 8): key order, every node, and the
// 1060001 message of a flow started by recovery. The golden file holds
// the transcript's nodes with the email replaced by EMAIL.
func TestWireShape(t *testing.T) {
	servertest.Each(t, options("SELFSERVICE_FLOWS_SETTINGS_PRIVILEGED_SESSION_MAX_AGE=15m"), func(t *testing.T, srv *servertest.Server) {
		ctx := context.Background()
		const email = "shape@example.test"
		ident := mustIdentity(t, srv, email)
		rec := srv.MustRecover(t, ident.Id, "api", "")
		tok, id := rec.Token, rec.SettingsFlowID
		sess, _, err := srv.SDK(false).FrontendAPI.ToSession(ctx).XSessionToken(tok).Execute()
		if err != nil {
			t.Fatal(err)
		}
		r := do(t, srv, http.MethodGet, "/self-service/settings/flows?id="+id, nil, "X-Session-Token", tok, "Accept", acceptJSON)
		if r.Status != http.StatusOK {
			t.Fatalf("fetch = %d %s", r.Status, r.Body)
		}
		if got, want := topLevelKeys(t, r.Body), "id type expires_at issued_at request_url ui identity state"; got != want {
			t.Fatalf("keys %q, want %q", got, want)
		}
		var f struct {
			UI struct {
				Action   string          `json:"action"`
				Method   string          `json:"method"`
				Nodes    json.RawMessage `json:"nodes"`
				Messages json.RawMessage `json:"messages"`
			} `json:"ui"`
			Identity struct {
				SchemaURL string `json:"schema_url"`
			} `json:"identity"`
		}
		if err := json.Unmarshal(r.Body, &f); err != nil {
			t.Fatal(err)
		}
		golden, err := os.ReadFile("testdata/recovered_flow_nodes.json")
		if err != nil {
			t.Fatal(err)
		}
		var want bytes.Buffer
		if err := json.Compact(&want, bytes.ReplaceAll(golden, []byte("EMAIL"), []byte(email))); err != nil {
			t.Fatal(err)
		}
		if string(f.UI.Nodes) != want.String() {
			t.Fatalf("nodes differ from the transcript\ngot  %s\nwant %s", f.UI.Nodes, want.String())
		}
		if f.UI.Action != srv.Config.PublicURL("self-service/settings?flow="+id) || f.UI.Method != "POST" {
			t.Fatalf("action %s %s", f.UI.Action, f.UI.Method)
		}
		until := sess.AuthenticatedAt.Add(15 * time.Minute)
		untilJSON, _ := json.Marshal(until)
		wantMsg := `[{"id":1060001,"text":"You successfully recovered your account. Please change your password or set up an alternative login method (e.g. social sign in) within the next 15.00 minutes.","type":"success","context":{"privilegedSessionExpiresAt":` +
			string(untilJSON) + `,"privileged_session_expires_at":` + string(untilJSON) + `,"privileged_session_expires_at_unix":` + jsonInt(until.Unix()) + `}}]`
		if string(f.UI.Messages) != wantMsg {
			t.Fatalf("messages\ngot  %s\nwant %s", f.UI.Messages, wantMsg)
		}
		if f.Identity.SchemaURL != srv.Config.PublicURL("schemas/ZGVmYXVsdA") {
			t.Fatalf("schema_url = %s", f.Identity.SchemaURL)
		}
		if strings.Contains(string(r.Body), `"credentials"`) || strings.Contains(string(r.Body), "hashed_password") {
			t.Fatal("the flow shows credentials")
		}

		// The success answer: same id, a fresh form, the spec's key order.
		r = do(t, srv, http.MethodPost, "/self-service/settings?flow="+id, `{"method":"password","password":"`+newPassword+`","transient_payload":{"k":"v"}}`, "X-Session-Token", tok)
		if got, want := topLevelKeys(t, r.Body), "id type expires_at issued_at request_url ui identity state transient_payload"; got != want {
			t.Fatalf("success keys %q, want %q (%s)", got, want, r.Body)
		}
		if !strings.Contains(string(r.Body), `"messages":[{"id":1050001,"text":"Your changes have been saved!","type":"success"}]`) {
			t.Fatalf("success messages: %s", r.Body)
		}
		if !strings.Contains(string(r.Body), `"transient_payload":{"k":"v"}`) {
			t.Fatalf("transient_payload not echoed: %s", r.Body)
		}
	})
}

// topLevelKeys lists an object's keys in document order.
func topLevelKeys(t *testing.T, body []byte) string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", body)
	}
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return strings.Join(keys, " ")
}

func jsonInt(i int64) string { b, _ := json.Marshal(i); return string(b) }
