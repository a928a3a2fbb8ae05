package recovery_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

// The wire shapes below are copied from the recorded Kratos transcripts
// (a-native-code-*, d-admin-recovery-code): key order, omitted fields and
// node order are the contract UIs and SDKs rely on.
const (
	chooseMethodNodes = `[{"type":"input","group":"default","attributes":{"name":"csrf_token","type":"hidden","value":"","required":true,"disabled":false,"node_type":"input"},"messages":[],"meta":{}},{"type":"input","group":"code","attributes":{"name":"email","type":"email","required":true,"disabled":false,"node_type":"input"},"messages":[],"meta":{"label":{"id":1070007,"text":"Email","type":"info"}}},{"type":"input","group":"code","attributes":{"name":"method","type":"submit","value":"code","disabled":false,"node_type":"input"},"messages":[],"meta":{"label":{"id":1070009,"text":"Continue","type":"info"}}}]`
	sentEmailNodes    = `[{"type":"input","group":"default","attributes":{"name":"csrf_token","type":"hidden","value":"","required":true,"disabled":false,"node_type":"input"},"messages":[],"meta":{}},{"type":"input","group":"code","attributes":{"name":"code","type":"text","required":true,"pattern":"[0-9]+","disabled":false,"maxlength":6,"node_type":"input"},"messages":[],"meta":{"label":{"id":1070010,"text":"Recovery code","type":"info"}}},{"type":"input","group":"code","attributes":{"name":"method","type":"hidden","value":"code","disabled":false,"node_type":"input"},"messages":[],"meta":{}},{"type":"input","group":"code","attributes":{"name":"method","type":"submit","value":"code","disabled":false,"node_type":"input"},"messages":[],"meta":{"label":{"id":1070009,"text":"Continue","type":"info"}}},{"type":"input","group":"code","attributes":{"name":"email","type":"submit","value":"EMAIL","disabled":false,"node_type":"input"},"messages":[],"meta":{"label":{"id":1070008,"text":"Resend code","type":"info"}}}]`
	sentEmailMessages = `[{"id":1060003,"text":"An email containing a recovery code has been sent to the email address you provided. If you have not received an email, check the spelling of the address and make sure to use the address you registered with.","type":"info"}]`
	adminCodeNodes    = `[{"type":"input","group":"code","attributes":{"name":"code","type":"text","required":true,"pattern":"[0-9]+","disabled":false,"maxlength":6,"node_type":"input"},"messages":[],"meta":{"label":{"id":1070010,"text":"Recovery code","type":"info"}}},{"type":"input","group":"code","attributes":{"name":"method","type":"submit","value":"code","disabled":false,"node_type":"input"},"messages":[],"meta":{"label":{"id":1070009,"text":"Continue","type":"info"}}}]`
)

// flowKeys are the top-level keys of a flow, in order.
func flowKeys(t *testing.T, body []byte) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(string(body)))
	var keys []string
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	for dec.More() {
		k, _ := dec.Token()
		keys = append(keys, k.(string))
		var skip json.RawMessage
		_ = dec.Decode(&skip)
	}
	return keys
}

func compact(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	var v json.RawMessage = raw
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(b.String())
}

func TestWireShapes(t *testing.T) {
	srv := servertest.Start(t, options())
	email := uniqueEmail("shape")
	ident := mustIdentity(t, srv, email)

	res, body := do(t, nil, "GET", srv.Public.URL+"/self-service/recovery/api", nil, "")
	if res.Header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Errorf("Content-Type = %q", res.Header.Get("Content-Type"))
	}
	var f struct {
		ID string `json:"id"`
		UI struct {
			Action   string          `json:"action"`
			Nodes    json.RawMessage `json:"nodes"`
			Messages json.RawMessage `json:"messages"`
		} `json:"ui"`
	}
	_ = json.Unmarshal(body, &f)
	if got := strings.Join(flowKeys(t, body), ","); got != "id,type,expires_at,issued_at,request_url,active,ui,state" {
		t.Errorf("keys = %s", got)
	}
	if got := compact(t, f.UI.Nodes); got != chooseMethodNodes {
		t.Errorf("choose_method nodes:\n%s\nwant\n%s", got, chooseMethodNodes)
	}
	if f.UI.Action != srv.Public.URL+"/self-service/recovery?flow="+f.ID {
		t.Errorf("action = %q", f.UI.Action)
	}

	res, body = do(t, nil, "POST", srv.Public.URL+"/self-service/recovery?flow="+f.ID, map[string]string{"Content-Type": "application/json"}, `{"method":"code","email":"`+email+`"}`)
	_ = json.Unmarshal(body, &f)
	if got := strings.Join(flowKeys(t, body), ","); got != "id,type,expires_at,issued_at,request_url,active,ui,state,transient_payload" {
		t.Errorf("keys after email = %s", got)
	}
	if got := strings.ReplaceAll(compact(t, f.UI.Nodes), email, "EMAIL"); got != sentEmailNodes {
		t.Errorf("sent_email nodes:\n%s\nwant\n%s", got, sentEmailNodes)
	}
	if got := compact(t, f.UI.Messages); got != sentEmailMessages {
		t.Errorf("messages = %s", got)
	}

	_, body = do(t, nil, "POST", srv.Admin.URL+"/admin/recovery/code", map[string]string{"Content-Type": "application/json"}, `{"identity_id":"`+ident.Id+`"}`)
	var ac map[string]any
	_ = json.Unmarshal(body, &ac)
	if got := strings.Join(flowKeys(t, body), ","); got != "recovery_link,recovery_code,expires_at" {
		t.Errorf("admin code keys = %s", got)
	}
	id := strings.TrimPrefix(ac["recovery_link"].(string), recoveryUI+"?flow=")
	_, body = do(t, nil, "GET", srv.Public.URL+"/self-service/recovery/flows?id="+id, nil, "")
	_ = json.Unmarshal(body, &f)
	if got := compact(t, f.UI.Nodes); got != adminCodeNodes {
		t.Errorf("admin code nodes:\n%s\nwant\n%s", got, adminCodeNodes)
	}
}
