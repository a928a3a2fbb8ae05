package servertest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	ory "github.com/ory/client-go"
)

// Do sends a request and decodes a JSON answer (nil for other bodies).
// body is sent as JSON, or as a form when it is url.Values.
func Do(t testing.TB, c *http.Client, method, target string, body any, header http.Header) (*http.Response, map[string]any) {
	t.Helper()
	res, raw := DoRaw(t, c, method, target, body, header)
	var m map[string]any
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("%s %s: bad JSON %q", method, target, raw)
		}
	}
	return res, m
}

// DoRaw sends a request and returns the raw answer.
func DoRaw(t testing.TB, c *http.Client, method, target string, body any, header http.Header) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case url.Values:
		rd, ct = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	default:
		j, _ := json.Marshal(b)
		rd, ct = bytes.NewReader(j), "application/json"
	}
	req, err := http.NewRequest(method, target, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if ct != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", ct)
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res, raw
}

// Keys returns the keys of a JSON object in document order: the order
// is part of the Kratos wire shape.
func Keys(t testing.TB, raw []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", raw)
	}
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatalf("bad object: %s", raw)
		}
		keys = append(keys, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatalf("bad object: %s", raw)
		}
	}
	return keys
}

// Input returns the attributes of the first input node named name, or nil.
func Input(nodes []ory.UiNode, name string) *ory.UiNodeInputAttributes {
	for _, n := range nodes {
		if a := n.Attributes.UiNodeInputAttributes; a != nil && a.Name == name {
			return a
		}
	}
	return nil
}

// NodeMessageIDs returns the message ids of the first input node named name.
func NodeMessageIDs(nodes []ory.UiNode, name string) []int64 {
	for _, n := range nodes {
		if a := n.Attributes.UiNodeInputAttributes; a != nil && a.Name == name {
			return MessageIDs(n.Messages)
		}
	}
	return nil
}

// MessageIDs lists the ids of messages.
func MessageIDs(msgs []ory.UiText) []int64 {
	ids := make([]int64, 0, len(msgs))
	for _, m := range msgs {
		ids = append(ids, m.Id)
	}
	return ids
}

// CSRFToken is the value of a flow's csrf_token input.
func CSRFToken(nodes []ory.UiNode) string {
	if a := Input(nodes, "csrf_token"); a != nil {
		if s, ok := a.Value.(string); ok {
			return s
		}
	}
	return ""
}

// ErrorBody returns the response body of a failed SDK call, decoded.
func ErrorBody(t testing.TB, err error) map[string]any {
	t.Helper()
	var ge *ory.GenericOpenAPIError
	if !errors.As(err, &ge) {
		t.Fatalf("want an API error, got %v", err)
	}
	var m map[string]any
	if jerr := json.Unmarshal(ge.Body(), &m); jerr != nil {
		t.Fatalf("error body is not JSON: %s", ge.Body())
	}
	return m
}

// ErrorText is the raw body of a failed SDK call, for failure messages
// ("" for other errors).
func ErrorText(err error) string {
	var ge *ory.GenericOpenAPIError
	if errors.As(err, &ge) {
		return string(ge.Body())
	}
	return ""
}
