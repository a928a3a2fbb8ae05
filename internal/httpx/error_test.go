package httpx

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestErrorEnvelope(t *testing.T) {
	e := ErrForbidden("too old").WithID("session_refresh_required").
		WithExtra("redirect_browser_to", "http://x/login?refresh=true&return_to=y")
	b, err := e.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"error":{"id":"session_refresh_required","code":403,"status":"Forbidden","reason":"too old","message":"The requested action was forbidden"},"redirect_browser_to":"http://x/login?refresh=true&return_to=y"}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
}

func TestWriteErrorUnknownIsOpaque500(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteError(rec, httptest.NewRequest(http.MethodGet, "/", nil), errString("db password is hunter2"))
	if rec.Code != 500 {
		t.Fatalf("status %d", rec.Code)
	}
	if got := rec.Body.String(); got != `{"error":{"code":500,"status":"Internal Server Error","message":"An internal server error occurred, please contact the system administrator"}}`+"\n" {
		t.Fatalf("body leaks or differs: %s", got)
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func TestNegotiation(t *testing.T) {
	cases := []struct {
		accept, ctype   string
		isJSON, accJSON bool
	}{
		{"application/json", "", true, true},
		{"application/json, text/plain, */*", "", true, true},
		{"text/html,application/xhtml+xml,*/*;q=0.8", "", false, false},
		{"", "application/json", true, false},
		{"", "application/x-www-form-urlencoded", false, false},
		{"*/*", "", false, false},
	}
	for _, c := range cases {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		if c.accept != "" {
			r.Header.Set("Accept", c.accept)
		}
		if c.ctype != "" {
			r.Header.Set("Content-Type", c.ctype)
		}
		if got := IsJSONRequest(r); got != c.isJSON {
			t.Errorf("IsJSONRequest(accept=%q, ct=%q) = %v", c.accept, c.ctype, got)
		}
		if got := AcceptsJSON(r); got != c.accJSON {
			t.Errorf("AcceptsJSON(accept=%q) = %v", c.accept, got)
		}
	}
}
