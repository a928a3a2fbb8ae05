// Package login owns the self-service login flow: creating browser and
// native flows, refresh re-authentication of an existing session
// (refresh=true), and the answers each client type expects. Methods plug
// in through Method, one file each (password.go).
//
// The routes are flow.Handler's; Service holds the rules.
package login

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/identity"
)

// Kind is the flow.Record kind of login flows.
const Kind = "login"

// State is where a login flow stands.
type State string

// Login flow states.
const (
	// StateChooseMethod: waiting for the user to sign in.
	StateChooseMethod State = "choose_method"
	// StatePassedChallenge: the user signed in; the flow is spent.
	StatePassedChallenge State = "passed_challenge"
)

// Assurance levels a login flow may request.
const (
	AAL1 = "aal1"
	AAL2 = "aal2"
)

// Flow is one login attempt.
type Flow struct {
	flow.Base
	// Refresh asks an existing session to sign in again (refresh=true).
	Refresh      bool
	RequestedAAL string
	State        State
	// IdentityID is the identity whose session a refresh flow
	// re-authenticates (nil for first-factor logins).
	IdentityID *uuid.UUID
	// TokenExchange: a native app's flow created with
	// return_session_token_exchange_code=true; a social sign-in hands
	// its session to the exchange.
	TokenExchange bool
	// PendingLink is a provider account whose sign-up found the address
	// taken: signing in on this flow links it (1010016).
	PendingLink *identity.SocialLink
	// transientPayload is the submission's transient_payload, shown to
	// web_hooks (not stored, not in the flow's JSON).
	transientPayload json.RawMessage
	// exchangeCode is the init code, shown only in the creation answer.
	exchangeCode string
	// callback: the flow is being completed by a provider's callback.
	callback bool
}

// wireFlow is the loginFlow of the Kratos API, in Kratos key order.
type wireFlow struct {
	flow.EntryHead
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	Refresh      bool      `json:"refresh"`
	RequestedAAL string    `json:"requested_aal"`
	State        State     `json:"state"`
	ExchangeCode string    `json:"session_token_exchange_code,omitempty"`
}

// MarshalJSON writes the flow as Kratos does (organization_id is always null).
func (f *Flow) MarshalJSON() ([]byte, error) {
	return json.Marshal(wireFlow{
		EntryHead: f.EntryHead(), CreatedAt: f.CreatedAt, UpdatedAt: f.UpdatedAt,
		Refresh: f.Refresh, RequestedAAL: f.RequestedAAL, State: f.State, ExchangeCode: f.exchangeCode,
	})
}

// storedFlow is what a flow.Record keeps in Data; the record's own columns
// hold the rest (type, state, identity, CSRF fingerprint, expiry).
type storedFlow struct {
	flow.Stored
	Refresh       bool                 `json:"refresh"`
	RequestedAAL  string               `json:"requested_aal"`
	TokenExchange bool                 `json:"token_exchange,omitempty"`
	PendingLink   *identity.SocialLink `json:"pending_link,omitempty"`
}

// Record converts the flow for storage.
func (f *Flow) Record() (*flow.Record, error) {
	return f.Base.Record(Kind, string(f.State), f.IdentityID, storedFlow{Stored: f.Stored(), Refresh: f.Refresh, RequestedAAL: f.RequestedAAL,
		TokenExchange: f.TokenExchange, PendingLink: f.PendingLink})
}

// fromRecord rebuilds a flow from storage.
func fromRecord(r *flow.Record) (*Flow, error) {
	var d storedFlow
	if err := flow.Decode(r, &d); err != nil {
		return nil, err
	}
	return &Flow{Base: flow.BaseOf(r, d.Stored), Refresh: d.Refresh, RequestedAAL: d.RequestedAAL, State: State(r.State), IdentityID: r.IdentityID,
		TokenExchange: d.TokenExchange, PendingLink: d.PendingLink}, nil
}
