package hook

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/go-jsonnet"

	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/session"
)

// Renderer turns identities and sessions into the JSON a web_hook's ctx
// shows: the views the API shows the identity itself (no credentials, no
// admin metadata), as in Kratos.
type Renderer struct {
	Identity func(*identity.Identity) any
	Session  func(*session.Session) any
}

// Content types a web_hook body is sent as.
const (
	contentJSON = "application/json"
	contentForm = "application/x-www-form-urlencoded"
)

// templateContext is the Jsonnet ctx, with Kratos's keys in Kratos's
// order.
type templateContext struct {
	Flow           json.RawMessage   `json:"flow"`
	RequestHeaders http.Header       `json:"request_headers"`
	RequestMethod  string            `json:"request_method"`
	RequestURL     string            `json:"request_url"`
	RequestCookies map[string]string `json:"request_cookies"`
	Identity       any               `json:"identity,omitempty"`
	Session        any               `json:"session,omitempty"`
}

// errCancel is a template's `error "cancel"`: the call is skipped and the
// flow goes on, as in Kratos.
var errCancel = errors.New("web_hook cancelled by its template")

// renderBody renders h's body from the template ctx tc and says which
// content type it is (the Content-Type header's, else JSON); nil without
// a template.
func renderBody(h *WebHook, tc []byte) ([]byte, string, error) {
	contentType := contentJSON
	for k, v := range h.Headers {
		if strings.EqualFold(k, "Content-Type") {
			contentType = v
		}
	}
	if h.Template == "" {
		return nil, contentType, nil
	}
	out, err := evaluate(h.TemplateURI, h.Template, tc)
	if err != nil {
		return nil, "", err
	}
	if contentType != contentForm {
		return []byte(out), contentType, nil
	}
	// A form body is rendered as an object of strings, as in Kratos.
	var fields map[string]string
	if err := json.Unmarshal([]byte(out), &fields); err != nil {
		return nil, "", fmt.Errorf("body %s: a form body must render to an object of strings: %v", h.TemplateURI, err)
	}
	form := url.Values{}
	for k, v := range fields {
		form.Set(k, v)
	}
	return []byte(form.Encode()), contentType, nil
}

// templateContext is ev as the template's ctx (JSON).
func (c *Caller) templateContext(ev *Event) ([]byte, error) {
	flowJSON, err := flowWithPayload(ev.Flow, ev.TransientPayload)
	if err != nil {
		return nil, err
	}
	tc := templateContext{Flow: flowJSON, RequestHeaders: http.Header{}, RequestCookies: map[string]string{}}
	if q := ev.Request; q != nil {
		tc.RequestMethod, tc.RequestURL = q.Method, q.URL
		for _, name := range c.headerAllowlist {
			if v, ok := q.Header[name]; ok {
				tc.RequestHeaders[name] = v
			}
		}
		// Every cookie of the request, as Kratos passes them (the session
		// cookie too: web_hook URLs are trusted configuration).
		for _, ck := range (&http.Request{Header: q.Header}).Cookies() {
			tc.RequestCookies[ck.Name] = ck.Value
		}
	}
	if ev.Identity != nil && c.render.Identity != nil {
		tc.Identity = c.render.Identity(ev.Identity)
	}
	if ev.Session != nil && c.render.Session != nil {
		tc.Session = c.render.Session(ev.Session)
	}
	return json.Marshal(tc)
}

// flowWithPayload marshals the flow, adding transient_payload when it
// has none of its own.
func flowWithPayload(f any, payload json.RawMessage) (json.RawMessage, error) {
	if f == nil {
		return json.RawMessage("null"), nil
	}
	raw, err := json.Marshal(f)
	if err != nil {
		return nil, fmt.Errorf("flow JSON: %w", err)
	}
	if len(payload) == 0 {
		return raw, nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, fmt.Errorf("flow JSON: %w", err)
	}
	if _, ok := fields["transient_payload"]; !ok {
		fields["transient_payload"] = payload
	}
	return json.Marshal(fields)
}

// evaluate runs template with ctx as its top-level argument "ctx" (a
// template that is a function receives it; one that is not ignores it).
// Imports are refused, as in Kratos: a template reads nothing but ctx.
func evaluate(name, template string, ctxJSON []byte) (string, error) {
	vm := jsonnet.MakeVM()
	vm.Importer(noImports{})
	vm.TLACode("ctx", string(ctxJSON))
	out, err := vm.EvaluateAnonymousSnippet(name, template)
	if err != nil {
		// go-jsonnet returns formatted text, not a typed error; Kratos
		// matches the text the same way (so `error "cancel…"` counts).
		if strings.Contains(err.Error(), "RUNTIME ERROR: cancel") {
			return "", errCancel
		}
		return "", fmt.Errorf("body %s: %s", name, firstLine(err.Error()))
	}
	return out, nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// noImports refuses every import.
type noImports struct{}

func (noImports) Import(_, path string) (jsonnet.Contents, string, error) {
	return jsonnet.Contents{}, "", fmt.Errorf("import %q: imports are not available to web_hook templates", path)
}
