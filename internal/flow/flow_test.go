package flow

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

func TestRoute(t *testing.T) {
	for _, c := range []struct{ base, path, want string }{
		{"http://127.0.0.1:4433/", "self-service/login", "http://127.0.0.1:4433/self-service/login"},
		{"http://127.0.0.1:4433", "/self-service/login", "http://127.0.0.1:4433/self-service/login"},
		{"https://id.example.com/base/", "/self-service/registration/api", "https://id.example.com/base/self-service/registration/api"},
	} {
		if got := Route(c.base, c.path); got != c.want {
			t.Errorf("Route(%q, %q) = %q, want %q", c.base, c.path, got, c.want)
		}
	}
}

func TestReturnToValidOr(t *testing.T) {
	p := ReturnToPolicy{Allowed: nil, PublicBase: mustURL("http://127.0.0.1:4433/")}
	if got := p.ValidOr("http://127.0.0.1:4433/welcome", "http://fallback/"); got != "http://127.0.0.1:4433/welcome" {
		t.Errorf("allowed return_to: got %q", got)
	}
	for _, raw := range []string{"", "https://evil.example.com/"} {
		if got := p.ValidOr(raw, "http://fallback/"); got != "http://fallback/" {
			t.Errorf("ValidOr(%q) = %q, want the fallback", raw, got)
		}
	}
}

func TestContainerForAPIShowsNodesAsArray(t *testing.T) {
	b, err := json.Marshal(Container{Action: "a", Method: "POST"}.ForAPI())
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"action":"a","method":"POST","nodes":[]}`; string(b) != want {
		t.Errorf("got %s, want %s", b, want)
	}
}

func TestExpiredBrowserFetchError(t *testing.T) {
	e := ExpiredBrowserFetchError("login", "http://x/self-service/login/browser", "https://app/after")
	if e.Code != http.StatusGone {
		t.Errorf("code %d, want 410", e.Code)
	}
	if want := "The login flow has expired. Redirect the user to the login flow init endpoint to initialize a new login flow."; e.Reason != want {
		t.Errorf("reason %q", e.Reason)
	}
	if got := e.Details["redirect_to"]; got != "http://x/self-service/login/browser?return_to=https%3A%2F%2Fapp%2Fafter" {
		t.Errorf("redirect_to %v", got)
	}
}

func TestExpiredAPIFetchErrorNamesNoReplacement(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	e := ExpiredAPIFetchError(now.Add(-time.Minute), now, "http://x/self-service/login/api")
	if e.Extra != nil {
		t.Errorf("extra %v, want none (no use_flow_id)", e.Extra)
	}
	if e.ID != "self_service_flow_expired" || e.Details["api"] != "http://x/self-service/login/api" {
		t.Errorf("got id %q details %v", e.ID, e.Details)
	}
}
