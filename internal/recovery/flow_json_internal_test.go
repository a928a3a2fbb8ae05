package recovery

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/flow"
)

// flowJSON is the wire form, in Kratos key order, as it was marshalled
// before the flow wrote its JSON by hand.
type flowJSON struct {
	flow.Head
	ReturnTo         string              `json:"return_to,omitempty"`
	Active           string              `json:"active,omitempty"`
	UI               flow.Container      `json:"ui"`
	State            State               `json:"state"`
	ContinueWith     []flow.ContinueWith `json:"continue_with,omitempty"`
	TransientPayload json.RawMessage     `json:"transient_payload,omitempty"`
}

func testFlows() map[string]*Flow {
	now := time.Date(2026, 12, 4, 12, 0, 0, 123456789, time.UTC)
	newFlow := func(t flow.Type, returnTo string) *Flow {
		f := &Flow{
			Base:   flow.NewBase(t, now, time.Hour, "http://127.0.0.1:4433/self-service/recovery/api?return_to=a&b=<c>", returnTo, "http://127.0.0.1:4433/self-service/recovery"),
			Active: string(MethodCode), State: StateChooseMethod,
		}
		f.UI.Nodes = chooseMethodNodes(MethodCode)
		return f
	}
	sent := newFlow(flow.TypeBrowser, "https://app.example.com/after?x=1&y=2")
	sent.State, sent.UI.Nodes = StateSentEmail, sentNodes(MethodCode, "a&b@example.com")
	sent.UI.SetCSRF("masked+/=")
	sent.UI.AddMessage(flow.Message{ID: 1060003, Text: "sent <x>", Type: flow.MessageInfo})
	sent.ContinueWith = []flow.ContinueWith{flow.ShowRecoveryUI(uuid.New()), flow.SetSessionToken("ory_st_x")}
	sent.TransientPayload = json.RawMessage(` {"k": "<v>", "n": [1, 2]} `)
	admin := newFlow(flow.TypeBrowser, "")
	admin.UI.Nodes, admin.AdminCreated, admin.State = adminCodeNodes(), true, StateSentEmail
	defaulted := newFlow(flow.TypeAPI, "")
	defaulted.Active = ""
	return map[string]*Flow{"choose_method": newFlow(flow.TypeAPI, ""), "sent_email": sent, "admin": admin, "no active": defaulted}
}

// The flow's JSON is what json.Marshal wrote for flowJSON, byte for byte.
func TestFlowJSONAsMarshalled(t *testing.T) {
	for name, f := range testFlows() {
		t.Run(name, func(t *testing.T) {
			want, err := json.Marshal(flowJSON{
				Head: f.Head(), ReturnTo: f.ReturnTo, Active: f.Active, UI: f.UI, State: f.State,
				ContinueWith: f.ContinueWith, TransientPayload: f.TransientPayload,
			})
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.Marshal(f)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Fatalf("got\n%s\nwant\n%s", got, want)
			}
			if got, _ := f.AppendJSON([]byte("x")); string(got) != "x"+string(want) {
				t.Fatalf("AppendJSON:\n%s", got)
			}
		})
	}
}

// A flow's record holds what json.Marshal wrote for storedFlow, and
// reads back as the flow it was.
func TestFlowRecordAsMarshalled(t *testing.T) {
	for name, f := range testFlows() {
		t.Run(name, func(t *testing.T) {
			want, err := json.Marshal(storedFlow{Stored: f.Stored(), Active: f.Active, AdminCreated: f.AdminCreated})
			if err != nil {
				t.Fatal(err)
			}
			rec, err := f.Record()
			if err != nil {
				t.Fatal(err)
			}
			if string(rec.Data) != string(want) {
				t.Fatalf("data\n%s\nwant\n%s", rec.Data, want)
			}
			back, err := fromRecord(rec)
			if err != nil {
				t.Fatal(err)
			}
			f.ContinueWith, f.TransientPayload = nil, nil // not stored
			a, _ := json.Marshal(f)
			b, _ := json.Marshal(back)
			if string(a) != string(b) || back.AdminCreated != f.AdminCreated {
				t.Fatalf("read back as\n%s\nwant\n%s", b, a)
			}
		})
	}
}

// BenchmarkLoadFlow: decoding a stored flow, which every submission and
// the courier's preparation of an email submission do.
func BenchmarkLoadFlow(b *testing.B) {
	rec, err := testFlows()["sent_email"].Record()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := fromRecord(rec); err != nil {
			b.Fatal(err)
		}
	}
}
