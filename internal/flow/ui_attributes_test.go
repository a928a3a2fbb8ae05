package flow

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestNodeAttributesShapes(t *testing.T) {
	tests := []struct {
		name string
		node Node
		want string
	}{
		{"input", Input(GroupPassword, "password", "password", nil).Required(),
			`{"name":"password","type":"password","required":true,"disabled":false,"node_type":"input"}`},
		{"img", Image("totp", "totp_qr", "data:image/png;base64,AAA", 256, 256, nil),
			`{"src":"data:image/png;base64,AAA","id":"totp_qr","width":256,"height":256,"node_type":"img"}`},
		{"text", Text("totp", "totp_secret_key", Message{ID: 1050006, Text: "ABC", Type: "info", Context: map[string]any{"secret": "ABC"}}, nil),
			`{"text":{"id":1050006,"text":"ABC","type":"info","context":{"secret":"ABC"}},"id":"totp_secret_key","node_type":"text"}`},
		{"a", Anchor("oidc", "unlink", "https://example.com/x?a=1&b=2", Message{ID: 1050019, Text: "Unlink", Type: "info"}),
			`{"href":"https://example.com/x?a=1\u0026b=2","title":{"id":1050019,"text":"Unlink","type":"info"},"id":"unlink","node_type":"a"}`},
		{"input with a value", Input(GroupDefault, "email", "email", nil).WithValue("a@example.com").WithAutocomplete("email"),
			`{"name":"email","type":"email","value":"a@example.com","autocomplete":"email","disabled":false,"node_type":"input"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.node.Attributes)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Fatalf("attributes = %s\nwant        %s", b, tt.want)
			}
			var back Attributes
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, tt.node.Attributes) {
				t.Fatalf("round trip = %#v, want %#v", back, tt.node.Attributes)
			}
		})
	}
}
