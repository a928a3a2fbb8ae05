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
		OwnPages:      []*url.URL{mustURL("https://accounts.example.io/settings")},
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
		{"https://accounts.example.io/settings?flow=1", "https://accounts.example.io/settings?flow=1", true}, // own settings UI
		{"https://accounts.example.io/settings/x", "", false},                                                // own page: exact path
		{"https://accounts.example.io/other", "", false},
	}
	for _, c := range cases {
		got, err := p.Validate(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("Validate(%q) = %q, %v; want %q ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}

// A return_to is answered as a well-formed URI: what may not appear in a
// query is percent-encoded, what already was encoded stays as it was
// (found by FuzzReturnTo: "? " came back with its space).
func TestReturnToEscapesQuery(t *testing.T) {
	p := ReturnToPolicy{DefaultReturn: mustURL("https://home.example.net/")}
	for in, want := range map[string]string{
		"? ":                                    "https://home.example.net/?%20",
		"/x?a=<b>&c=\"d\"|é":                    "https://home.example.net/x?a=%3Cb%3E&c=%22d%22%7C%C3%A9",
		"https://home.example.net/?q=a%20b&r=1": "https://home.example.net/?q=a%20b&r=1",
		"/p?back=\\evil.com{}^`":                "https://home.example.net/p?back=%5Cevil.com%7B%7D%5E%60",
	} {
		got, err := p.Validate(in)
		if err != nil || got != want {
			t.Errorf("Validate(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
