// Package verification owns the verification flow: proving control of a
// verifiable address (an email) with a 6-digit code or a link sent to it
// (selfservice.flows.verification.use), for browsers and native apps, and
// sending that code or link after a registration or a profile change adds
// an address.
//
// Read it in this order: Flow (the flow object and its UI), service.go
// (starting, fetching, dispatching submissions, replacing flows), send.go
// (an email submission), request.go (the courier's preparation: lookup,
// code or link, mail), code.go (checking a code), link.go (the emailed
// link), verify.go (what success does), after.go (codes sent for new
// addresses), handler.go (the emailed links' route).
package verification

import (
	"encoding/json"

	"github.com/latchkey/latchkey/internal/flow"
)

// FlowKind is the flow.Record kind of verification flows.
const FlowKind = "verification"

// State is where a verification flow is: choose_method → sent_email →
// passed_challenge.
type State string

// States of a verification flow.
const (
	StateChooseMethod    State = "choose_method"
	StateSentEmail       State = "sent_email"
	StatePassedChallenge State = "passed_challenge"
)

// Flow is a verification flow. Its JSON is Kratos's verification flow
// object.
type Flow struct {
	flow.Base
	Active string
	State  State
	// ContinueWith and TransientPayload belong to one answer; not stored.
	ContinueWith     []flow.ContinueWith
	TransientPayload json.RawMessage
}

type flowJSON struct {
	flow.Head
	ReturnTo         string              `json:"return_to,omitempty"`
	Active           string              `json:"active,omitempty"`
	UI               flow.Container      `json:"ui"`
	State            State               `json:"state"`
	ContinueWith     []flow.ContinueWith `json:"continue_with,omitempty"`
	TransientPayload json.RawMessage     `json:"transient_payload,omitempty"`
}

// MarshalJSON writes the Kratos verification flow object.
func (f *Flow) MarshalJSON() ([]byte, error) {
	return json.Marshal(flowJSON{
		Head: f.Head(), ReturnTo: f.ReturnTo, Active: f.Active, UI: f.UI, State: f.State,
		ContinueWith: f.ContinueWith, TransientPayload: f.TransientPayload,
	})
}

type storedFlow struct {
	flow.Stored
	Active string `json:"active"`
}

// Record converts the flow for storage.
func (f *Flow) Record() (*flow.Record, error) {
	return f.Base.Record(FlowKind, string(f.State), nil, storedFlow{Stored: f.Stored(), Active: f.Active})
}

func fromRecord(r *flow.Record) (*Flow, error) {
	var d storedFlow
	if err := flow.Decode(r, &d); err != nil {
		return nil, err
	}
	return &Flow{Base: flow.BaseOf(r, d.Stored), Active: d.Active, State: State(r.State)}, nil
}

// The UI of each state; native flows have no csrf_token node (the
// responder fills the browser's in on every render).

// chooseMethodNodes is the email form of method m.
func chooseMethodNodes(t flow.Type, m Method) []flow.Node {
	return emailNodes(t, m, "")
}

// emailNodes asks for the address to verify; a link flow keeps showing
// it, with the address typed, after the link was sent (as Kratos's).
func emailNodes(t flow.Type, m Method, email string) []flow.Node {
	g := string(m)
	in := flow.Input(g, "email", "email", flow.LabelEmail()).Required()
	if email != "" {
		in = in.WithValue(email)
	}
	return withCSRF(t, in, flow.Input(g, "method", "submit", flow.LabelContinue()).WithValue(g))
}

// sentNodes is the code form; with the address known, a resend button.
func sentNodes(t flow.Type, email string) []flow.Node {
	nodes := []flow.Node{
		flow.Input(flow.GroupCode, "method", "hidden", nil).WithValue(flow.GroupCode),
		flow.Input(flow.GroupCode, "code", "text", flow.LabelVerificationCode()).Required().WithPattern("[0-9]+").WithMaxLength(codeLength),
		flow.Input(flow.GroupCode, "method", "submit", flow.LabelContinue()).WithValue(flow.GroupCode),
	}
	if email != "" {
		nodes = append(nodes, flow.Input(flow.GroupCode, "email", "submit", flow.LabelResendCode()).WithValue(email))
	}
	return withCSRF(t, nodes...)
}

// passedNodes is the UI after success: one link on to returnTo.
func passedNodes(t flow.Type, m Method, returnTo string) []flow.Node {
	return withCSRF(t, flow.Anchor(string(m), "continue", returnTo, *flow.LabelContinue()))
}

func withCSRF(t flow.Type, nodes ...flow.Node) []flow.Node {
	if t == flow.TypeBrowser {
		return append([]flow.Node{flow.CSRFNode("")}, nodes...)
	}
	return nodes
}
