// Package recovery owns account recovery: the self-service recovery flow
// (an emailed 6-digit code, or an emailed link) for browsers and native
// apps, and the admin API that creates recovery codes and links for an
// identity. A successful recovery issues a privileged session and starts a
// settings flow in which the user sets a new password.
//
// The four routes every flow has are flow.Handler's; Service holds the
// rules. Read it in this order: Flow (the flow object and its UI),
// service.go (starting, fetching and dispatching submissions, replacing
// flows), send.go (an email submission: send limits, the queued
// request), request.go (the courier's preparation of that request: the
// lookup, the code or link, the mail), code.go
// and link.go (one method each), success.go (completing a flow),
// handler.go (the link route), admin.go (the admin endpoints).
package recovery

import (
	"encoding/json"
	"fmt"

	"github.com/latchkey/latchkey/internal/flow"
)

// FlowKind is the flow.Record kind of recovery flows.
const FlowKind = "recovery"

// State is where a recovery flow is: choose_method → sent_email →
// passed_challenge. Failures never move it back; some replace the flow.
type State string

// States of a recovery flow.
const (
	StateChooseMethod    State = "choose_method"
	StateSentEmail       State = "sent_email"
	StatePassedChallenge State = "passed_challenge"
)

// Flow is a recovery flow. Its JSON is Kratos's recovery flow object. Its
// base's ReturnTo comes from the return_to query of the creating request;
// it is handed to the settings flow after recovery.
type Flow struct {
	flow.Base
	// Active is the node group in use: "code" or "link" (or "default"
	// after a submission no method was found for).
	Active string
	State  State
	// ContinueWith and TransientPayload are only part of the response to a
	// submission; they are not stored.
	ContinueWith     []flow.ContinueWith
	TransientPayload json.RawMessage

	// AdminCreated marks flows made by the admin API: they skip CSRF
	// checks and offer no resend.
	AdminCreated bool
}

// MarshalJSON writes the Kratos recovery flow object: id, type,
// expires_at, issued_at, request_url, return_to, active, ui, state,
// continue_with, transient_payload (the last two only in the answer to a
// submission), as json.Marshal writes flowJSON (flow_json_internal_test.go).
func (f *Flow) MarshalJSON() ([]byte, error) { return f.AppendJSON(nil) }

// AppendJSON appends the flow's JSON (see MarshalJSON).
func (f *Flow) AppendJSON(b []byte) ([]byte, error) {
	o := flow.NewJSONObject(b)
	f.AppendHead(o)
	o.StringOmitEmpty("return_to", f.ReturnTo)
	o.StringOmitEmpty("active", f.Active)
	o.UI("ui", &f.UI)
	o.String("state", string(f.State))
	if len(f.ContinueWith) > 0 {
		o.Value("continue_with", f.ContinueWith)
	}
	o.RawOmitEmpty("transient_payload", f.TransientPayload)
	return o.End()
}

// storedFlow is what Record.Data holds; ID, type, state, expiry and the
// CSRF fingerprint live in the record's columns.
type storedFlow struct {
	flow.Stored
	Active       string `json:"active"`
	AdminCreated bool   `json:"admin_created,omitempty"`
}

// Record converts the flow for storage: Data is what json.Marshal writes
// for storedFlow.
func (f *Flow) Record() (*flow.Record, error) {
	o := flow.NewJSONObject(make([]byte, 0, 1536)) // a new flow's data takes about 1 100 bytes
	f.AppendStored(o)
	o.String("active", f.Active)
	if f.AdminCreated {
		o.Bool("admin_created", true)
	}
	data, err := o.End()
	if err != nil {
		return nil, fmt.Errorf("encode recovery flow: %w", err)
	}
	return f.RecordData(FlowKind, string(f.State), nil, data), nil
}

// fromRecord rebuilds a flow from storage.
func fromRecord(r *flow.Record) (*Flow, error) {
	var d storedFlow
	if err := flow.Decode(r, &d); err != nil {
		return nil, err
	}
	return &Flow{Base: flow.BaseOf(r, d.Stored), Active: d.Active, State: State(r.State), AdminCreated: d.AdminCreated}, nil
}

// checksCSRF reports whether requests must carry the browser's anti-CSRF
// token: browser flows, except those the admin API created.
func (f *Flow) checksCSRF() bool { return f.Type == flow.TypeBrowser && !f.AdminCreated }

// method is the flow's recovery method (from its active group).
func (f *Flow) method() Method {
	if f.Active == string(MethodLink) {
		return MethodLink
	}
	return MethodCode
}

// The UI of each state. The csrf_token node is stored empty; the
// responder puts a freshly masked token in it on every render.

// chooseMethodNodes asks for the email address.
func chooseMethodNodes(m Method) []flow.Node {
	g := string(m)
	return []flow.Node{
		flow.CSRFNode(""),
		flow.Input(g, "email", "email", flow.LabelEmail()).Required(),
		flow.Input(g, "method", "submit", flow.LabelContinue()).WithValue(g),
	}
}

// sentNodes is the UI after an email was accepted: the code form with a
// resend button (code), or the email form again (link).
func sentNodes(m Method, email string) []flow.Node {
	if m == MethodLink {
		return []flow.Node{
			flow.CSRFNode(""),
			flow.Input(flow.GroupLink, "email", "email", flow.LabelEmail()).WithValue(email).Required(),
			flow.Input(flow.GroupLink, "method", "submit", flow.LabelContinue()).WithValue(flow.GroupLink),
		}
	}
	return []flow.Node{
		flow.CSRFNode(""),
		codeNode(),
		flow.Input(flow.GroupCode, "method", "hidden", nil).WithValue(flow.GroupCode),
		flow.Input(flow.GroupCode, "method", "submit", flow.LabelContinue()).WithValue(flow.GroupCode),
		flow.Input(flow.GroupCode, "email", "submit", flow.LabelResendCode()).WithValue(email),
	}
}

// adminCodeNodes is the UI of an admin-created code flow: no CSRF token
// and no resend (there is no address to resend to).
func adminCodeNodes() []flow.Node {
	return []flow.Node{
		codeNode(),
		flow.Input(flow.GroupCode, "method", "submit", flow.LabelContinue()).WithValue(flow.GroupCode),
	}
}

func codeNode() flow.Node {
	return flow.Input(flow.GroupCode, "code", "text", flow.LabelRecoveryCode()).Required().WithPattern("[0-9]+").WithMaxLength(codeLength)
}
