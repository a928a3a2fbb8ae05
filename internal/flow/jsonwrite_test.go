package flow

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
)

// The structs a container was marshalled through before it was written
// by hand: encoding/json on the struct tags, each node's attributes
// marshalled on their own in the shape of the node's type.
type (
	containerByReflection struct {
		Action   string             `json:"action"`
		Method   string             `json:"method"`
		Nodes    []nodeByReflection `json:"nodes"`
		Messages []Message          `json:"messages,omitempty"`
	}
	nodeByReflection struct {
		Type       string          `json:"type"`
		Group      string          `json:"group"`
		Attributes json.RawMessage `json:"attributes"`
		Messages   []Message       `json:"messages"`
		Meta       Meta            `json:"meta"`
	}
)

func attributesByReflection(t *testing.T, a Attributes) json.RawMessage {
	t.Helper()
	var v any = inputAttributes(a)
	switch a.NodeType {
	case "img":
		v = imageAttributes{Src: a.Src, ID: a.ID, Width: a.Width, Height: a.Height, NodeType: a.NodeType}
	case "text":
		v = textAttributes{Text: a.Text, ID: a.ID, NodeType: a.NodeType}
	case "a":
		v = anchorAttributes{Href: a.Href, Title: a.Text, ID: a.ID, NodeType: a.NodeType}
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func marshalByReflection(t *testing.T, c Container) string {
	t.Helper()
	r := containerByReflection{Action: c.Action, Method: c.Method, Messages: c.Messages}
	if c.Nodes != nil {
		r.Nodes = []nodeByReflection{}
	}
	for _, n := range c.Nodes {
		r.Nodes = append(r.Nodes, nodeByReflection{Type: n.Type, Group: n.Group, Attributes: attributesByReflection(t, n.Attributes), Messages: n.Messages, Meta: n.Meta})
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// awkward strings: HTML, quotes, control characters, invalid UTF-8,
// JavaScript's line separators, non-ASCII.
const awkward = "a&b<c>\"d\\e\x00\x1f\b\f\n\r\t\xff\xfe\u2028\u2029 é 日本 🔑 end"

func testContainers() map[string]Container {
	label := LabelEmail()
	ctxMsg := Message{ID: 4000001, Text: awkward, Type: MessageError, Context: map[string]any{"reason": awkward, "at": time.Date(2026, 12, 4, 1, 2, 3, 4, time.UTC), "n": 3}}
	return map[string]Container{
		"empty":    {},
		"no nodes": {Action: "http://x/self-service/recovery?flow=1&x=<y>", Method: "POST", Nodes: []Node{}},
		"every kind of node": {
			Action: "https://id.example.com/self-service/settings?flow=" + uuid.NewString(), Method: "POST",
			Nodes: []Node{
				CSRFNode(""),
				CSRFNode("masked/+="),
				Input(GroupCode, "code", "text", LabelRecoveryCode()).Required().WithPattern("[0-9]+").WithMaxLength(6),
				Input(GroupProfile, "traits.email", "email", label).WithValue(awkward).WithAutocomplete("email"),
				Input(GroupProfile, "traits.newsletter", "checkbox", nil).WithValue(true),
				Input(GroupProfile, "traits.age", "number", nil).WithValue(42.5),
				Input(GroupProfile, "traits.tags", "text", nil).WithValue([]any{"a", "<b>", 1}),
				Input(GroupProfile, "traits.name", "text", LabelTrait("Name & more", "traits.name")).WithValue(map[string]any{"first": "A&B"}),
				Input(GroupPassword, "password", "password", nil).WithValue(false),
				{Type: "input", Group: GroupDefault, Attributes: Attributes{Name: "x", Type: "text", Disabled: true, Label: "lbl", NodeType: "input"}, Messages: nil},
				Image("totp", "totp_qr", "data:image/png;base64,AAA&", 256, 256, label),
				Text("lookup_secret", "lookup_secret_codes", ctxMsg, nil),
				{Type: "text", Group: "x", Attributes: Attributes{ID: "nil text", NodeType: "text"}, Messages: []Message{}},
				Anchor("oidc", "link", "https://x/?a=1&b=2", Message{ID: 1, Text: "go", Type: MessageInfo}),
			},
			Messages: []Message{ctxMsg, {ID: 1060003, Text: "sent", Type: MessageInfo}},
		},
		"node messages": {
			Action: "a", Method: "POST",
			Nodes: []Node{func() Node {
				n := Input(GroupDefault, "identifier", "text", nil)
				n.Messages = append(n.Messages, ctxMsg, Message{ID: 2, Text: "t", Type: MessageError})
				return n
			}()},
		},
	}
}

// A container is written as encoding/json wrote it before, byte for byte.
func TestContainerJSONAsByReflection(t *testing.T) {
	for name, c := range testContainers() {
		t.Run(name, func(t *testing.T) {
			want := marshalByReflection(t, c)
			got, err := json.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != want {
				t.Fatalf("json.Marshal:\n%s\nwant\n%s", got, want)
			}
			o := NewJSONObject(nil)
			o.UI("ui", &c)
			got, err = o.End()
			if err != nil {
				t.Fatal(err)
			}
			if want := `{"ui":` + want + `}`; string(got) != want {
				t.Fatalf("JSONObject.UI:\n%s\nwant\n%s", got, want)
			}
			// and it reads back as it was written
			var back Container
			if err := json.Unmarshal(got[len(`{"ui":`):len(got)-1], &back); err != nil {
				t.Fatal(err)
			}
			if again, _ := json.Marshal(back); string(again) != marshalByReflection(t, back) {
				t.Fatalf("read back and written again:\n%s", again)
			}
		})
	}
}

// Every member kind is written as json.Marshal writes the struct field.
func TestJSONObjectMembers(t *testing.T) {
	type reference struct {
		ID     uuid.UUID       `json:"id"`
		S      string          `json:"s"`
		Empty  string          `json:"empty,omitempty"`
		Full   string          `json:"full,omitempty"`
		B      bool            `json:"b"`
		N      int             `json:"n"`
		At     time.Time       `json:"at"`
		Zero   time.Time       `json:"zero"`
		V      any             `json:"v"`
		Raw    json.RawMessage `json:"raw,omitempty"`
		NoRaw  json.RawMessage `json:"no_raw,omitempty"`
		Values []ContinueWith  `json:"values"`
	}
	at := time.Date(2026, 12, 4, 12, 0, 0, 123456789, time.FixedZone("x", 3600))
	r := reference{
		ID: uuid.New(), S: awkward, Full: "<x>", B: true, N: -7, At: at, V: map[string]any{"k": "<v>"},
		Raw: json.RawMessage(" {\"a\" : [1, \"<&>\"] } "), Values: []ContinueWith{ShowRecoveryUI(uuid.New())},
	}
	want, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	o := NewJSONObject([]byte("prefix"))
	o.UUID("id", r.ID)
	o.String("s", r.S)
	o.StringOmitEmpty("empty", r.Empty)
	o.StringOmitEmpty("full", r.Full)
	o.Bool("b", r.B)
	o.Int("n", r.N)
	o.Time("at", r.At)
	o.Time("zero", r.Zero)
	o.Value("v", r.V)
	o.RawOmitEmpty("raw", r.Raw)
	o.RawOmitEmpty("no_raw", r.NoRaw)
	o.Value("values", r.Values)
	got, err := o.End()
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "prefix"+string(want) {
		t.Fatalf("got\n%s\nwant\nprefix%s", got, want)
	}
}

// What encoding/json cannot write, the object reports.
func TestJSONObjectErrors(t *testing.T) {
	for name, write := range map[string]func(o *JSONObject){
		"year 10000":  func(o *JSONObject) { o.Time("t", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)) },
		"channel":     func(o *JSONObject) { o.Value("v", make(chan int)) },
		"invalid raw": func(o *JSONObject) { o.RawOmitEmpty("r", json.RawMessage("{")) },
		"bad node value": func(o *JSONObject) {
			o.UI("ui", &Container{Nodes: []Node{Input("g", "n", "text", nil).WithValue(func() {})}})
		},
	} {
		t.Run(name, func(t *testing.T) {
			o := NewJSONObject(nil)
			o.String("before", "x")
			write(o)
			o.String("after", "y")
			if b, err := o.End(); err == nil {
				t.Fatalf("no error, wrote %s", b)
			}
		})
	}
}

// FuzzJSONString: any string is escaped as json.Marshal escapes it.
func FuzzJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", awkward, "\u2028", "\xed\xa0\x80", "\xf4\x90\x80\x80", "<script>&amp;"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := appendJSONString(nil, s); string(got) != string(want) {
			t.Fatalf("appendJSONString(%q) = %s, want %s", s, got, want)
		}
	})
}
