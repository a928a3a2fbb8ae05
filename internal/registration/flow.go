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
	"github.com/latchkey/latchkey/internal/social"
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
	// TokenExchange: a native app's flow created with
	// return_session_token_exchange_code=true; a social sign-up hands its
	// session to the exchange.
	TokenExchange bool
	// transientPayload is the submission's transient_payload, shown to
	// web_hooks (not stored, not in the flow's JSON).
	transientPayload json.RawMessage
	// exchangeCode is the init code, shown only in the creation answer.
	exchangeCode string
	// callback: the flow is being completed by a provider's callback.
	callback bool
	// social is the provider account being signed up, if any.
	social *social.External
}

// wireFlow is the registrationFlow of the Kratos API, in Kratos key order.
type wireFlow struct {
	flow.EntryHead
	State        State  `json:"state"`
	ExchangeCode string `json:"session_token_exchange_code,omitempty"`
}

// MarshalJSON writes the flow as Kratos does (organization_id is always null).
func (f *Flow) MarshalJSON() ([]byte, error) {
	return json.Marshal(wireFlow{EntryHead: f.EntryHead(), State: f.State, ExchangeCode: f.exchangeCode})
}

// Record converts the flow for storage: flow.Stored goes in Data, the
// rest in the record's own columns.
func (f *Flow) Record() (*flow.Record, error) {
	return f.Base.Record(Kind, string(f.State), nil, storedFlow{Stored: f.Stored(), TokenExchange: f.TokenExchange})
}

// storedFlow is what a flow.Record keeps in Data.
type storedFlow struct {
	flow.Stored
	TokenExchange bool `json:"token_exchange,omitempty"`
}

// fromRecord rebuilds a flow from storage.
func fromRecord(r *flow.Record) (*Flow, error) {
	var d storedFlow
	if err := flow.Decode(r, &d); err != nil {
		return nil, err
	}
	return &Flow{Base: flow.BaseOf(r, d.Stored), State: State(r.State), TokenExchange: d.TokenExchange}, nil
}
