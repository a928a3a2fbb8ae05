// Package hook runs the web_hooks of the self-service flows
// (selfservice.flows.<flow>.{before,after}[.<method>].hooks), as Kratos's
// web_hook does: an HTTP call whose body a Jsonnet template renders from
// the flow, the request, the identity and the session; with
// response.parse it may change the identity before it is written or stop
// the flow with messages; with response.ignore it runs in the background
// once the flow has finished.
//
// The other hooks (session, revoke_active_sessions,
// require_verified_address, show_verification_ui) change what a flow
// writes; they are switches on each flow's own Config, set by
// internal/server, and run inside the flow's transaction.
//
// A flow calls its Runner at three points (docs/hooks.md):
//
//   - Before, when a flow is created and before it is stored: an error
//     refuses the flow.
//   - After, when a submission succeeded and before anything is written:
//     first the hooks that parse their answer (they may change the
//     identity or interrupt the flow), then the other blocking hooks. A
//     failure leaves nothing written. No database transaction is open
//     during the calls, so a slow hook never holds SQLite's single writer.
//   - AfterCommit, once the flow's transaction committed: the
//     response.ignore hooks are handed to the background queue.
package hook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/session"
)

// Flow kinds, as hooks and their logs and metrics name them.
const (
	Registration = "registration"
	Login        = "login"
	Settings     = "settings"
	Recovery     = "recovery"
	Verification = "verification"
)

// Event is what a flow hands its hooks at one point: the Jsonnet ctx of
// every web_hook called there.
type Event struct {
	// FlowID names the flow in logs.
	FlowID uuid.UUID
	// Flow is ctx.flow: a value that marshals to the flow's API JSON.
	Flow any
	// TransientPayload is the submission's transient_payload; it becomes
	// ctx.flow.transient_payload when the flow's JSON has none.
	TransientPayload json.RawMessage
	// Request gives ctx.request_method, _url, _headers and _cookies.
	Request *flow.Request
	// Identity is ctx.identity (its public view: no credentials, no admin
	// metadata, as in Kratos); nil before hooks.
	Identity *identity.Identity
	// Session is ctx.session (login and settings); nil elsewhere.
	Session *session.Session
	// Method selects after.<method>.hooks (password, profile, ...).
	Method string
}

// Hooks is what a flow calls at its three points; *Runner implements it
// (a nil *Runner runs nothing). Each flow names it Hooks.
type Hooks interface {
	// RunBefore runs before.hooks on a new flow, before it is stored; an
	// error refuses it.
	RunBefore(ctx context.Context, ev *Event) error
	// HasAfter reports whether method has after-hooks at all, so a flow
	// can skip building what they would see.
	HasAfter(method string) bool
	// HasBlockingAfter reports whether method has after-hooks to wait for.
	HasBlockingAfter(method string) bool
	// RunAfter runs them before anything is written.
	RunAfter(ctx context.Context, ev *Event) (*Changes, error)
	// AfterCommit queues the response.ignore hooks once written.
	AfterCommit(ctx context.Context, ev *Event)
}

var _ Hooks = (*Runner)(nil)

// Runner runs the web_hooks of one flow. Its fields are set once by the
// server; a nil *Runner runs nothing.
type Runner struct {
	// Flow is the flow's kind (Registration, Login, ...).
	Flow string
	// Before are the before.hooks web_hooks.
	Before []*WebHook
	// After are the after-hooks by method; After[""] is after.hooks, used
	// for a method without an entry (Kratos's rule: the lists are never
	// merged, and a method whose own list has hooks but no web_hook has
	// an empty entry).
	After map[string][]*WebHook
	// Caller makes the calls (the HTTP client, the background queue, the
	// log and the metrics).
	Caller *Caller
}

// after is the after-hooks list of method.
func (r *Runner) after(method string) []*WebHook {
	if hooks, ok := r.After[method]; ok {
		return hooks
	}
	return r.After[""]
}

// HasAfter reports whether method has after-hooks at all, so a flow can
// skip building what they would see.
func (r *Runner) HasAfter(method string) bool {
	return r != nil && len(r.after(method)) > 0
}

// HasBlockingAfter reports whether method has after-hooks the flow waits
// for (all but response.ignore).
func (r *Runner) HasBlockingAfter(method string) bool {
	if r == nil {
		return false
	}
	for _, h := range r.after(method) {
		if !h.Ignore {
			return true
		}
	}
	return false
}

// RunBefore runs the before hooks of a new flow (before it is stored). A
// hook that fails or interrupts refuses the flow: the error is the answer
// (502 or 504 for a failed call, 400 with the hook's messages).
func (r *Runner) RunBefore(ctx context.Context, ev *Event) error {
	if r == nil || len(r.Before) == 0 {
		return nil
	}
	for _, h := range r.Before {
		if h.Ignore {
			r.Caller.enqueue(ctx, r.Flow, h, ev)
			continue
		}
		if _, err := r.Caller.call(ctx, r.Flow, h, ev); err != nil {
			var in *Interrupted
			if errors.As(err, &in) {
				// A new flow has no form to show messages on yet.
				return httpx.ErrBadRequest(in.Text()).WithDetail("messages", in.Messages)
			}
			return err
		}
	}
	return nil
}

// RunAfter runs the blocking after-hooks of ev.Method before the flow
// writes anything: first those that parse their answer, in order (each
// sees the identity as the ones before it changed it), then the others.
// It returns the changes to the identity (nil when none); an
// *Interrupted error carries messages for the flow's form (400); any
// other error is the answer (502 or 504), and the flow writes nothing.
func (r *Runner) RunAfter(ctx context.Context, ev *Event) (*Changes, error) {
	if !r.HasBlockingAfter(ev.Method) {
		return nil, nil
	}
	hooks := r.after(ev.Method)
	var changes *Changes
	seen := *ev
	for _, h := range hooks {
		if h.Ignore || !h.Parses() {
			continue
		}
		ch, err := r.Caller.call(ctx, r.Flow, h, &seen)
		if err != nil {
			return nil, err
		}
		if ch != nil && seen.Identity != nil {
			changes = changes.merge(ch)
			seen.Identity = ch.applied(seen.Identity)
		}
	}
	for _, h := range hooks {
		if h.Ignore || h.Parses() {
			continue
		}
		if _, err := r.Caller.call(ctx, r.Flow, h, &seen); err != nil {
			return nil, err
		}
	}
	return changes, nil
}

// AfterCommit hands the response.ignore after-hooks of ev.Method to the
// background queue; call it once the flow's transaction committed, with
// the identity as written. It never blocks: what the hooks see is
// rendered now, the calls are made later.
func (r *Runner) AfterCommit(ctx context.Context, ev *Event) {
	if r == nil {
		return
	}
	for _, h := range r.after(ev.Method) {
		if h.Ignore {
			r.Caller.enqueue(ctx, r.Flow, h, ev)
		}
	}
}

// Message is one message a hook put on a flow: on the node named Node
// ("traits.email"), or on the flow itself when Node is empty.
type Message struct {
	Node    string       `json:"node,omitempty"`
	Message flow.Message `json:"message"`
}

// Interrupted is the error of a parsing web_hook that answered 4xx with
// messages: the flow stops and shows them (400), as Kratos does.
type Interrupted struct {
	Messages []Message
}

func (e *Interrupted) Error() string { return "web_hook interrupted the flow: " + e.Text() }

// Text is the messages' texts, for an answer without a form.
func (e *Interrupted) Text() string {
	texts := make([]string, 0, len(e.Messages))
	for _, m := range e.Messages {
		texts = append(texts, m.Message.Text)
	}
	return strings.Join(texts, " ")
}

// ShowOn puts the messages on a flow's form: on the node they name, or on
// the flow when it has no such node.
func (e *Interrupted) ShowOn(ui *flow.Container) {
	for _, m := range e.Messages {
		if m.Node == "" {
			ui.AddMessage(m.Message)
			continue
		}
		ui.AddNodeMessage(m.Node, m.Message)
	}
}

// Changes are what parsing web_hooks changed in the identity (their 200
// answer's "identity" object). Nil fields are unchanged.
type Changes struct {
	Traits              json.RawMessage
	SchemaID            string
	State               identity.State
	MetadataPublic      json.RawMessage
	MetadataAdmin       json.RawMessage
	ExternalID          *string
	VerifiableAddresses []identity.VerifiableAddress
}

// Empty reports whether c changes nothing (c may be nil).
func (c *Changes) Empty() bool {
	return c == nil || (c.Traits == nil && c.SchemaID == "" && c.State == "" && c.MetadataPublic == nil &&
		c.MetadataAdmin == nil && c.ExternalID == nil && c.VerifiableAddresses == nil)
}

// merge returns c with next's changes on top (c may be nil).
func (c *Changes) merge(next *Changes) *Changes {
	if c == nil {
		return next
	}
	out := *c
	next.overlay(&out.Traits, &out.SchemaID, &out.State, &out.MetadataPublic, &out.MetadataAdmin)
	if next.ExternalID != nil {
		out.ExternalID = next.ExternalID
	}
	if next.VerifiableAddresses != nil {
		out.VerifiableAddresses = next.VerifiableAddresses
	}
	return &out
}

// Apply makes the changes on i (settings: before saving it again).
// Verifiable addresses are left to the caller: they are derived from the
// traits when the identity is saved.
func (c *Changes) Apply(i *identity.Identity) {
	if c == nil {
		return
	}
	c.overlay(&i.Traits, &i.SchemaID, &i.State, &i.MetadataPublic, &i.MetadataAdmin)
	if c.ExternalID != nil {
		i.ExternalID = *c.ExternalID
	}
}

// ApplyToCreate makes the changes on an identity about to be created
// (registration); verifiable addresses a hook sends keep their verified
// status, as addresses imported through the admin API do.
func (c *Changes) ApplyToCreate(in *identity.CreateInput) {
	if c == nil {
		return
	}
	c.overlay(&in.Traits, &in.SchemaID, &in.State, &in.MetadataPublic, &in.MetadataAdmin)
	if c.ExternalID != nil {
		in.ExternalID = *c.ExternalID
	}
	if c.VerifiableAddresses != nil {
		in.VerifiableAddresses = c.VerifiableAddresses
	}
}

// overlay writes the fields c changes over the targets (the external id
// and the addresses, whose targets differ in type, are the callers').
func (c *Changes) overlay(traits *json.RawMessage, schemaID *string, state *identity.State, metadataPublic, metadataAdmin *json.RawMessage) {
	if c.Traits != nil {
		*traits = c.Traits
	}
	if c.SchemaID != "" {
		*schemaID = c.SchemaID
	}
	if c.State != "" {
		*state = c.State
	}
	if c.MetadataPublic != nil {
		*metadataPublic = c.MetadataPublic
	}
	if c.MetadataAdmin != nil {
		*metadataAdmin = c.MetadataAdmin
	}
}

// applied is a copy of i with the changes made, for the hooks that
// follow to see.
func (c *Changes) applied(i *identity.Identity) *identity.Identity {
	cp := *i
	c.Apply(&cp)
	if c.VerifiableAddresses != nil {
		cp.VerifiableAddresses = c.VerifiableAddresses
	}
	return &cp
}

// Errors a failed blocking web_hook answers with: Kratos's 502 and 504
// (the reason says nothing about the hook; the log does).
func errUpstream(detail string) *httpx.Error {
	return &httpx.Error{Code: 502, Reason: "A third-party upstream service responded improperly. Please try again later.", Message: detail}
}

func errUpstreamTimeout() *httpx.Error {
	return &httpx.Error{Code: 504, Reason: "A third-party upstream service could not be reached. Please try again later.", Message: "webhook timed out"}
}

// errBroken is a hook that could not even be called (its template failed
// to render): the operator's mistake, a 500.
func errBroken(err error) *httpx.Error {
	return httpx.ErrInternal(fmt.Errorf("web_hook: %w", err))
}

// TransientPayload is a submission's transient_payload, for
// Event.TransientPayload: the JSON body's object, or a form's field
// holding it as JSON text; nil when absent or not a JSON object.
func TransientPayload(body *httpx.FormBody) json.RawMessage {
	if body == nil {
		return nil
	}
	raw, ok := body.Raw["transient_payload"]
	if !ok {
		raw = json.RawMessage(body.Get("transient_payload"))
	}
	var obj map[string]json.RawMessage
	if len(raw) == 0 || json.Unmarshal(raw, &obj) != nil || obj == nil {
		return nil
	}
	return raw
}
