package social

import (
	"encoding/json"
	"net/url"
	"testing"

	"github.com/latchkey/latchkey/internal/httpx"
)

func TestUpstreamParameters(t *testing.T) {
	tests := []struct {
		name string
		body *httpx.FormBody
		want url.Values // added to the authorization URL
	}{
		{name: "JSON object", body: &httpx.FormBody{JSON: true, Raw: map[string]json.RawMessage{"upstream_parameters": json.RawMessage(`{"login_hint":"ann@example.com","prompt":"select_account","evil":"x","hd":7}`)}},
			want: url.Values{"login_hint": {"ann@example.com"}, "prompt": {"select_account"}}},
		{name: "form fields", body: &httpx.FormBody{Values: url.Values{"upstream_parameters.hd": {"example.com"}, "upstream_parameters.redirect_uri": {"https://evil.example"}}},
			want: url.Values{"hd": {"example.com"}}},
		{name: "none", body: &httpx.FormBody{Values: url.Values{}}, want: url.Values{}},
		{name: "not an object", body: &httpx.FormBody{JSON: true, Raw: map[string]json.RawMessage{"upstream_parameters": json.RawMessage(`"prompt=none"`)}}, want: url.Values{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := url.Parse(withUpstream("https://op.example/auth?client_id=c&state=s", Upstream(tt.body)))
			if err != nil {
				t.Fatal(err)
			}
			q := got.Query()
			if q.Get("client_id") != "c" || q.Get("state") != "s" || q.Get("redirect_uri") != "" {
				t.Fatalf("the request's own parameters changed: %s", got)
			}
			q.Del("client_id")
			q.Del("state")
			if q.Encode() != tt.want.Encode() {
				t.Errorf("added %q, want %q", q.Encode(), tt.want.Encode())
			}
		})
	}
}
