package flow

import (
	"net/url"
	"testing"
)

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func TestReturnToPolicy(t *testing.T) {
	p := ReturnToPolicy{
		Allowed:       []*url.URL{mustURL("https://app.example.com/"), mustURL("https://*.example.org/welcome")},
		PublicBase:    mustURL("http://127.0.0.1:4433/"),
		DefaultReturn: mustURL("https://home.example.net/"),
	}
	cases := []struct {
		in, want string
		ok       bool
	}{
		{"", "", true},
		{"https://app.example.com/dashboard", "https://app.example.com/dashboard", true},
		{"https://APP.example.com/x", "https://APP.example.com/x", true},
		{"https://a.example.org/welcome/x", "https://a.example.org/welcome/x", true},
		{"https://example.org/welcome", "", false},               // wildcard needs a subdomain
		{"https://a.example.org/other", "", false},               // path prefix enforced
		{"http://app.example.com/", "", false},                   // scheme must match
		{"https://evil.com/", "", false},                         // open redirect
		{"https://app.example.com.evil.com/", "", false},         // host suffix trick
		{"//evil.com/", "", false},                               // protocol-relative
		{"javascript:alert(1)", "", false},                       // not http(s)
		{"/settings", "https://home.example.net/settings", true}, // relative → default return url
		{"http://127.0.0.1:4433/ui/welcome", "http://127.0.0.1:4433/ui/welcome", true},
	}
	for _, c := range cases {
		got, err := p.Validate(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("Validate(%q) = %q, %v; want %q ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}
