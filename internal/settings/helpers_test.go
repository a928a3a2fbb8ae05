package settings_test

import (
	"encoding/json"
	"errors"
	"net/url"
	"testing"

	ory "github.com/ory/client-go"
)

// node returns the input attributes and messages of the first node named
// name in group (any group when group is "").
func node(t *testing.T, f *ory.SettingsFlow, group, name string) (*ory.UiNodeInputAttributes, []ory.UiText) {
	t.Helper()
	for _, n := range f.Ui.Nodes {
		a := n.Attributes.UiNodeInputAttributes
		if a != nil && a.Name == name && (group == "" || n.Group == group) {
			return a, n.Messages
		}
	}
	t.Fatalf("flow %s has no node %s/%s", f.Id, group, name)
	return nil, nil
}

// csrfOf is the csrf_token value of a flow.
func csrfOf(t *testing.T, f *ory.SettingsFlow) string {
	t.Helper()
	a, _ := node(t, f, "default", "csrf_token")
	s, _ := a.Value.(string)
	return s
}

// ids lists message ids.
func ids(ms []ory.UiText) []int64 {
	out := []int64{}
	for _, m := range ms {
		out = append(out, m.Id)
	}
	return out
}

// wantIDs fails unless ms has exactly these message ids.
func wantIDs(t *testing.T, what string, ms []ory.UiText, want ...int64) {
	t.Helper()
	got := ids(ms)
	if len(want) == 0 {
		want = []int64{}
	}
	if !equalInts(got, want) {
		t.Fatalf("%s: message ids %v, want %v (%+v)", what, got, want, ms)
	}
}

func equalInts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// apiError unpacks an SDK error: the status and the raw JSON body.
func apiError(t *testing.T, err error) map[string]any {
	t.Helper()
	var oe *ory.GenericOpenAPIError
	if !errors.As(err, &oe) {
		t.Fatalf("want an API error, got %v", err)
	}
	var m map[string]any
	if jerr := json.Unmarshal(oe.Body(), &m); jerr != nil {
		t.Fatalf("error body is not JSON: %s", oe.Body())
	}
	return m
}

// errorID is body.error.id ("" when absent).
func errorID(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	id, _ := e["id"].(string)
	return id
}

// errorField is body.error[key].
func errorField(body map[string]any, key string) any {
	e, _ := body["error"].(map[string]any)
	return e[key]
}

// flowOf reads a 400 SDK error's settings flow.
func flowOf(t *testing.T, err error) *ory.SettingsFlow {
	t.Helper()
	var oe *ory.GenericOpenAPIError
	if !errors.As(err, &oe) {
		t.Fatalf("want an API error, got %v", err)
	}
	f, ok := oe.Model().(ory.SettingsFlow)
	if !ok {
		t.Fatalf("error model is %T, want SettingsFlow: %s", oe.Model(), oe.Body())
	}
	return &f
}

// passwordBody is a password-method submission.
func passwordBody(pw, csrf string) ory.UpdateSettingsFlowBody {
	b := ory.NewUpdateSettingsFlowWithPasswordMethod("password", pw)
	if csrf != "" {
		b.SetCsrfToken(csrf)
	}
	return ory.UpdateSettingsFlowWithPasswordMethodAsUpdateSettingsFlowBody(b)
}

// profileBody is a profile-method submission.
func profileBody(traits map[string]any, csrf string) ory.UpdateSettingsFlowBody {
	b := ory.NewUpdateSettingsFlowWithProfileMethod("profile", traits)
	if csrf != "" {
		b.SetCsrfToken(csrf)
	}
	return ory.UpdateSettingsFlowWithProfileMethodAsUpdateSettingsFlowBody(b)
}

// flowIDOf is the flow query parameter of a URL.
func flowIDOf(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("flow")
}
