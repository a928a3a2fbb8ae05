package hook

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/identity"
)

// WebHook is one configured web_hook (config.WebHook, checked at load),
// ready to call.
type WebHook struct {
	// Name names the hook in logs: its config id, else its URL's host.
	Name   string
	URL    string
	Method string
	// Headers are sent with every call.
	Headers map[string]string
	// Template is the Jsonnet body template; empty sends no body.
	// TemplateURI names it in errors.
	Template    string
	TemplateURI string
	Auth        Auth
	// Parse (response.parse): a 200 answer may change the identity, a 4xx
	// answer with messages interrupts the flow.
	Parse bool
	// CanInterrupt (Kratos's deprecated can_interrupt): only the
	// interrupting half of Parse.
	CanInterrupt bool
	// Ignore (response.ignore): called in the background after the flow
	// finished; its answer does not matter.
	Ignore bool
}

// Parses reports whether the hook's answer is read: such a hook runs
// before the other blocking hooks.
func (h *WebHook) Parses() bool { return h.Parse || h.CanInterrupt }

// host is the URL's host, the only part of it logs show (a path or query
// may carry a token).
func (h *WebHook) host() string {
	if u, err := url.Parse(h.URL); err == nil {
		return u.Host
	}
	return ""
}

// Auth is a web_hook's authentication. Value and Password are secrets:
// they go into the request and nowhere else.
type Auth struct {
	// Type is "", "api_key" or "basic_auth".
	Type string
	// Name, Value and In ("header", the default, or "cookie") are an
	// api_key's.
	Name, Value, In string
	// User and Password are basic_auth's.
	User, Password string
}

// apply adds the credentials to req.
func (a Auth) apply(req *http.Request) {
	switch a.Type {
	case "api_key":
		if a.In == "cookie" {
			req.AddCookie(&http.Cookie{Name: a.Name, Value: a.Value})
			return
		}
		req.Header.Set(a.Name, a.Value)
	case "basic_auth":
		req.SetBasicAuth(a.User, a.Password)
	}
}

// Limits bound every web_hook call. The zero value is Kratos's.
type Limits struct {
	// Timeout bounds one call, retries included (Kratos: 30 s per
	// attempt, up to three attempts; Latchkey: 30 s in all, so a user
	// never waits longer).
	Timeout time.Duration
	// RetryWait is the wait before the first retry; it doubles for the
	// second (Kratos: 1 s).
	RetryWait time.Duration
}

// Defaults of Limits.
const (
	DefaultTimeout   = 30 * time.Second
	DefaultRetryWait = time.Second
	// retries are the attempts after the first (Kratos: 2), made for a
	// connection failure, a 429 or a 5xx other than 501.
	retries = 2
	// maxResponse is how much of an answer is read (Kratos: 5 MB).
	maxResponse = 5 << 20
)

// Caller makes web_hook calls for every flow's Runner: one HTTP client,
// one background queue, one set of metrics. It logs to the request's
// logger (httpx.Logger). Build it with NewCaller.
type Caller struct {
	client  *http.Client
	limits  Limits
	metrics *Metrics
	queue   *Background
	// HeaderAllowlist are the request headers ctx.request_headers keeps
	// (clients.web_hook.header_allowlist), in canonical form.
	headerAllowlist []string
	// render turns identities and sessions into their API JSON.
	render Renderer
}

// CallerConfig is what NewCaller needs.
type CallerConfig struct {
	Limits Limits
	// HeaderAllowlist is clients.web_hook.header_allowlist.
	HeaderAllowlist []string
	Renderer        Renderer
	// Metrics may be nil (nothing counted).
	Metrics *Metrics
	// Egress is clients.http's policy (nil: any address may be called).
	Egress *Egress
	// Client is the HTTP client (nil: one that obeys Egress).
	Client *http.Client
}

// NewCaller returns a Caller; its background queue is served by
// (*Caller).Run, which the server runs as a worker.
func NewCaller(c CallerConfig) *Caller {
	if c.Limits.Timeout <= 0 {
		c.Limits.Timeout = DefaultTimeout
	}
	if c.Limits.RetryWait <= 0 {
		c.Limits.RetryWait = DefaultRetryWait
	}
	if c.Client == nil {
		c.Client = c.Egress.Client()
	}
	allow := make([]string, len(c.HeaderAllowlist))
	for i, h := range c.HeaderAllowlist {
		allow[i] = http.CanonicalHeaderKey(h)
	}
	caller := &Caller{client: c.Client, limits: c.Limits, metrics: c.Metrics, headerAllowlist: allow, render: c.Renderer}
	caller.queue = newBackground(caller, defaultQueueSize, defaultWorkers)
	return caller
}

// Run serves the background queue until ctx ends, then finishes the
// calls in flight and those still queued (each within its timeout).
func (c *Caller) Run(ctx context.Context) { c.queue.run(ctx) }

// Outcomes of a call, as the metrics and logs name them.
const (
	outcomeOK          = "ok"
	outcomeFailed      = "failed"
	outcomeTimeout     = "timeout"
	outcomeInterrupted = "interrupted"
	outcomeCancelled   = "cancelled"
	outcomeDropped     = "dropped"
)

// call makes one blocking call of h for ev: the rendered request, sent
// with retries within the timeout, its answer read as h says. Changes
// are nil unless a parsing hook answered 200 with an identity.
func (c *Caller) call(ctx context.Context, kind string, h *WebHook, ev *Event) (*Changes, error) {
	ctx, cancel := context.WithTimeout(ctx, c.limits.Timeout)
	defer cancel()
	log := httpx.Logger(ctx).With("flow", kind, "flow_id", ev.FlowID, "hook", h.Name, "host", h.host())
	var (
		changes *Changes
		outcome = outcomeFailed
	)
	tc, err := c.templateContext(ev)
	if err == nil {
		changes, outcome, err = c.do(ctx, h, tc, ev.Identity != nil, log)
	}
	c.metrics.count(kind, outcome)
	switch outcome {
	case outcomeOK, outcomeCancelled:
		log.Debug("web_hook called", "outcome", outcome)
	case outcomeInterrupted:
		log.Info("web_hook interrupted the flow")
	default:
		log.Error("web_hook failed", "outcome", outcome, "error", err)
	}
	if err != nil && outcome != outcomeInterrupted {
		return nil, publicError(outcome, err)
	}
	return changes, err
}

// publicError is what the user is answered for a failed call: never the
// hook's URL or its error text.
func publicError(outcome string, err error) error {
	var he *httpx.Error
	switch {
	case outcome == outcomeTimeout:
		return errUpstreamTimeout()
	case errors.As(err, &he):
		return he
	case errors.Is(err, errUnreachable):
		// The network's error names the hook's address: the log has it.
		return errUpstream(errUnreachable.Error())
	case errors.Is(err, errUpstreamAnswer):
		return errUpstream(err.Error())
	}
	return errBroken(err)
}

var (
	// errUnreachable: no answer (connection refused, DNS, TLS, ...).
	errUnreachable = errors.New("webhook request failed")
	// errUpstreamAnswer: an answer the hook's settings refuse.
	errUpstreamAnswer = errors.New("webhook answered improperly")
)

// do renders (from the template ctx tc), sends and reads one call; the
// outcome names what happened, err is for the log (and, for an
// interruption, the flow). hasIdentity: the flow has an identity a
// parsing hook may change.
func (c *Caller) do(ctx context.Context, h *WebHook, tc []byte, hasIdentity bool, log *slog.Logger) (*Changes, string, error) {
	body, contentType, err := renderBody(h, tc)
	if errors.Is(err, errCancel) {
		return nil, outcomeCancelled, nil
	}
	if err != nil {
		return nil, outcomeFailed, err
	}
	res, err := c.send(ctx, h, body, contentType, log)
	if err != nil {
		if ctx.Err() != nil || isTimeout(err) {
			return nil, outcomeTimeout, err
		}
		return nil, outcomeFailed, err
	}
	defer res.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(res.Body, maxResponse))
	if err != nil {
		if ctx.Err() != nil {
			return nil, outcomeTimeout, err
		}
		return nil, outcomeFailed, fmt.Errorf("%w: reading the answer: %v", errUnreachable, err)
	}
	if h.Ignore {
		if res.StatusCode >= 400 {
			return nil, outcomeFailed, fmt.Errorf("%w: status %d", errUpstreamAnswer, res.StatusCode)
		}
		return nil, outcomeOK, nil
	}
	return readAnswer(h, res.StatusCode, answer, hasIdentity)
}

// readAnswer reads a hook's answer as Kratos does: a 4xx of a parsing
// hook carries messages that interrupt the flow, any other status of 400
// or more fails the call; a 200 of a response.parse hook may carry the
// identity to write (204, an empty body and other statuses change
// nothing).
func readAnswer(h *WebHook, status int, body []byte, hasIdentity bool) (*Changes, string, error) {
	if status >= 400 {
		if h.Parses() && status < 500 {
			in, err := parseMessages(body)
			if err != nil {
				return nil, outcomeFailed, fmt.Errorf("%w: status %d with %v", errUpstreamAnswer, status, err)
			}
			return nil, outcomeInterrupted, in
		}
		return nil, outcomeFailed, errUpstream(fmt.Sprintf("webhook failed with status code %d", status))
	}
	if !h.Parse || status != http.StatusOK || !hasIdentity {
		return nil, outcomeOK, nil
	}
	ch, err := parseIdentity(body)
	if err != nil {
		return nil, outcomeFailed, fmt.Errorf("%w: %v", errUpstreamAnswer, err)
	}
	return ch, outcomeOK, nil
}

// send makes the request, retrying a connection failure, a 429 and a 5xx
// (not 501) up to twice, as Kratos's client does, with waits of
// RetryWait and twice that, all within ctx's deadline. The last answer
// is returned as it is, whatever its status.
func (c *Caller) send(ctx context.Context, h *WebHook, body []byte, contentType string, log *slog.Logger) (*http.Response, error) {
	wait := c.limits.RetryWait
	for attempt := 0; ; attempt++ {
		req, err := c.request(ctx, h, body, contentType)
		if err != nil {
			return nil, err
		}
		res, err := c.client.Do(req)
		retry := attempt < retries && retryable(res, err)
		if !retry {
			if err != nil {
				return nil, unwrapURLError(err)
			}
			return res, nil
		}
		if res != nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, maxResponse))
			res.Body.Close()
			log.Debug("web_hook retried", "status", res.StatusCode, "attempt", attempt+1)
		} else {
			log.Debug("web_hook retried", "error", unwrapURLError(err), "attempt", attempt+1)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		wait *= 2
	}
}

// request builds one attempt's request: the configured headers (JSON
// unless they say otherwise), the credentials, the body.
func (c *Caller) request(ctx context.Context, h *WebHook, body []byte, contentType string) (*http.Request, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, h.Method, h.URL, r)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errUnreachable, unwrapURLError(err))
	}
	for k, v := range h.Headers {
		req.Header.Set(k, v)
	}
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", contentType)
	}
	h.Auth.apply(req)
	return req, nil
}

// retryable is Kratos's retry policy (go-retryablehttp's default).
func retryable(res *http.Response, err error) bool {
	if err != nil {
		// Like go-retryablehttp, a mistake that a second attempt repeats
		// (a redirect loop, a bad scheme, an untrusted certificate, an
		// address the egress policy refuses) is not retried.
		var certErr *tls.CertificateVerificationError
		if errors.As(err, &certErr) || errors.Is(err, errNotPublic) ||
			strings.Contains(err.Error(), "stopped after") || strings.Contains(err.Error(), "unsupported protocol scheme") {
			return false
		}
		return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
	}
	return res.StatusCode == http.StatusTooManyRequests || (res.StatusCode >= 500 && res.StatusCode != http.StatusNotImplemented)
}

// isTimeout reports a deadline, the client's or the network's.
func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &te) && te.Timeout())
}

// unwrapURLError drops the URL net/http puts in its errors: logs show the
// host only.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		var ne net.Error
		if errors.As(ue.Err, &ne) && ne.Timeout() {
			return ue.Err
		}
		return fmt.Errorf("%w: %v", errUnreachable, ue.Err)
	}
	return err
}

// detailedMessage and its list are the 4xx answer of a parsing hook.
type hookMessages struct {
	Messages []struct {
		InstancePtr string `json:"instance_ptr"`
		Messages    []struct {
			ID      int             `json:"id"`
			Text    string          `json:"text"`
			Type    string          `json:"type"`
			Context json.RawMessage `json:"context"`
		} `json:"messages"`
	} `json:"messages"`
}

// parseMessages reads {"messages":[{"instance_ptr":"#/traits/email",
// "messages":[{"id":…,"text":…,"type":"error","context":{…}}]}]}: each
// instance_ptr names a node ("#/traits/email" is traits.email; "#/" or
// "" the flow itself); a type other than "error" is "info", as in Kratos.
func parseMessages(body []byte) (*Interrupted, error) {
	var hm hookMessages
	if err := json.Unmarshal(body, &hm); err != nil {
		return nil, fmt.Errorf("an answer that is not the messages JSON: %v", err)
	}
	var out []Message
	for _, group := range hm.Messages {
		node := pointerToNode(group.InstancePtr)
		for _, m := range group.Messages {
			typ := flow.MessageInfo
			if m.Type == flow.MessageError {
				typ = flow.MessageError
			}
			msg := flow.Message{ID: m.ID, Text: m.Text, Type: typ}
			if len(m.Context) > 0 && string(m.Context) != "null" {
				if err := json.Unmarshal(m.Context, &msg.Context); err != nil {
					return nil, fmt.Errorf("a message context that is not an object: %v", err)
				}
			}
			out = append(out, Message{Node: node, Message: msg})
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no messages")
	}
	return &Interrupted{Messages: out}, nil
}

// pointerToNode turns a JSON pointer into a node name: "#/traits/email"
// is "traits.email" (with ~1 and ~0 unescaped); "#/" and "" are "".
func pointerToNode(ptr string) string {
	p := strings.TrimPrefix(strings.TrimPrefix(ptr, "#"), "/")
	if p == "" {
		return ""
	}
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
	}
	return strings.Join(parts, ".")
}

// parseIdentity reads a 200 answer of a response.parse hook:
// {"identity":{…}} changes the fields it has (traits, metadata_public,
// metadata_admin, state, schema_id, external_id, verifiable_addresses);
// an empty body or one without "identity" changes nothing.
func parseIdentity(body []byte) (*Changes, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nil
	}
	var answer struct {
		Identity *struct {
			Traits              json.RawMessage              `json:"traits"`
			SchemaID            string                       `json:"schema_id"`
			State               identity.State               `json:"state"`
			MetadataPublic      json.RawMessage              `json:"metadata_public"`
			MetadataAdmin       json.RawMessage              `json:"metadata_admin"`
			ExternalID          *string                      `json:"external_id"`
			VerifiableAddresses []identity.VerifiableAddress `json:"verifiable_addresses"`
		} `json:"identity"`
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		return nil, fmt.Errorf("an answer that is not JSON: %v", err)
	}
	id := answer.Identity
	if id == nil {
		return nil, nil
	}
	ch := &Changes{SchemaID: id.SchemaID, State: id.State, ExternalID: id.ExternalID}
	// As in Kratos, an empty or null value leaves the field as it is.
	if present(id.Traits) {
		ch.Traits = id.Traits
	}
	if present(id.MetadataPublic) {
		ch.MetadataPublic = id.MetadataPublic
	}
	if present(id.MetadataAdmin) {
		ch.MetadataAdmin = id.MetadataAdmin
	}
	if len(id.VerifiableAddresses) > 0 {
		ch.VerifiableAddresses = id.VerifiableAddresses
	}
	return ch, nil
}

func present(raw json.RawMessage) bool {
	return len(raw) > 0 && string(raw) != "null"
}
