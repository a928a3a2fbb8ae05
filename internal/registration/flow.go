// Package registration owns the self-service registration flow: creating
// browser and native flows whose form is generated from the identity
// schema's traits, the password method (schema validation, the password
// policy, the duplicate-identifier message), creating the identity and,
// with the session after-hook, signing it in.
//
// The routes are flow.Handler's; Service holds the rules, and methods plug
// in through Method, one file each (password.go).
package registration

import (
	"encoding/json"

	"github.com/latchkey/latchkey/internal/flow"
)

// Kind is the flow.Record kind of registration flows.
const Kind = "registration"

// State is where a registration flow stands.
type State string

// Registration flow states.
const (
	// StateChooseMethod: waiting for the form.
	StateChooseMethod State = "choose_method"
	// StatePassedChallenge: the identity was created; the flow is spent.
	StatePassedChallenge State = "passed_challenge"
)

// Flow is one registration attempt.
type Flow struct {
	flow.Base
	State State
	// transientPayload is the submission's transient_payload, shown to
	// web_hooks (not stored, not in the flow's JSON).
	transientPayload json.RawMessage
}

// wireFlow is the registrationFlow of the Kratos API, in Kratos key order.
type wireFlow struct {
	flow.EntryHead
	State State `json:"state"`
}

// MarshalJSON writes the flow as Kratos does (organization_id is always null).
func (f *Flow) MarshalJSON() ([]byte, error) {
	return json.Marshal(wireFlow{EntryHead: f.EntryHead(), State: f.State})
}

// Record converts the flow for storage: flow.Stored goes in Data, the
// rest in the record's own columns.
func (f *Flow) Record() (*flow.Record, error) {
	return f.Base.Record(Kind, string(f.State), nil, f.Stored())
}

// fromRecord rebuilds a flow from storage.
func fromRecord(r *flow.Record) (*Flow, error) {
	var d flow.Stored
	if err := flow.Decode(r, &d); err != nil {
		return nil, err
	}
	return &Flow{Base: flow.BaseOf(r, d), State: State(r.State)}, nil
}
