package httpx

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzDecodeForm: any self-service submission body, with any Content-Type
// and query string, decodes into dotted form values or is refused with a
// 4xx Kratos error; never a panic.
func FuzzDecodeForm(f *testing.F) {
	for _, s := range []struct{ ct, query, body string }{
		{"application/json", "flow=x", `{"method":"password","identifier":"ada@example.test","password":"pw","csrf_token":"t"}`},
		{"application/json; charset=utf-8", "", `{"method":"profile","traits":{"email":"a@b.test","name":{"first":"Ada"}},"transient_payload":{"a":[1,{"b":null}]}}`},
		{"application/vnd.api+json", "", `{"code":123456,"email":null,"x":true,"y":1e400}`},
		{"application/json", "", `[1,2]`},
		{"application/json", "", `{"a":1} {"b":2}`},
		{"application/json", "", "   "},
		{"application/x-www-form-urlencoded", "flow=x&method=code", "method=code&code=123456&csrf_token=abc%2B%3D&traits.email=a%40b.test"},
		{"application/x-www-form-urlencoded", "", "a=%zz&b=1"},
		{"multipart/form-data; boundary=x", "", "--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--x--"},
		{"text/plain", "%zz", "a;b=c"},
		{"", "", "method=password"},
		{"application/json; charset", "", `{"traits.email":"a","traits":{"email":"b"}}`},
	} {
		f.Add(s.ct, s.query, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, contentType, query string, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/self-service/login", strings.NewReader(string(body)))
		r.URL.RawQuery = query
		r.Header.Set("Content-Type", contentType)
		fb, err := DecodeForm(r)
		if err != nil {
			var he *Error
			if !errors.As(err, &he) || he.Code < 400 || he.Code > 499 {
				t.Fatalf("DecodeForm(%q, %q) error %v is not a 4xx Kratos error", contentType, body, err)
			}
			if _, err := json.Marshal(he); err != nil {
				t.Fatalf("error does not marshal: %v", err)
			}
			return
		}
		if fb.JSON != IsJSONContent(r) {
			t.Fatalf("JSON = %v for Content-Type %q", fb.JSON, contentType)
		}
		for k, raw := range fb.Raw {
			if !json.Valid(raw) {
				t.Fatalf("Raw[%q] = %q is not JSON", k, raw)
			}
		}
		if fb.Values == nil {
			t.Fatal("nil Values")
		}
		_ = fb.Get("method")
		_ = fb.Has("csrf_token")
	})
}
