// Package registration owns the self-service registration flow: creating
// browser and native flows whose form is generated from the identity
// schema's traits, the password method (schema validation, the password
// policy, the duplicate-identifier message), creating the identity and,
// with the session after-hook, signing it in.
//
// Handler decodes requests and renders results; Service holds the rules.
// Flows are persisted through flow.Store (implemented by sqlstore).
package registration

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
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

// MethodPassword is the registration method Latchkey implements.
const MethodPassword = "password"

// Flow is one registration attempt.
type Flow struct {
	ID         uuid.UUID
	Type       flow.Type
	ExpiresAt  time.Time
	IssuedAt   time.Time
	RequestURL string
	// ReturnTo is the validated return_to of the request that created the flow.
	ReturnTo string
	UI       flow.Container
	State    State
	// CSRF is the fingerprint of the CSRF token a browser flow was created
	// with (empty for native flows).
	CSRF      string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Expired reports whether the flow can no longer be submitted.
func (f *Flow) Expired(now time.Time) bool { return !now.Before(f.ExpiresAt) }

// wireFlow is the registrationFlow of the Kratos API, in Kratos key order.
type wireFlow struct {
	ID             uuid.UUID      `json:"id"`
	OrganizationID *uuid.UUID     `json:"organization_id"`
	Type           flow.Type      `json:"type"`
	ExpiresAt      time.Time      `json:"expires_at"`
	IssuedAt       time.Time      `json:"issued_at"`
	RequestURL     string         `json:"request_url"`
	ReturnTo       string         `json:"return_to,omitempty"`
	UI             flow.Container `json:"ui"`
	State          State          `json:"state"`
}

// MarshalJSON writes the flow as Kratos does (organization_id is always null).
func (f *Flow) MarshalJSON() ([]byte, error) {
	return json.Marshal(wireFlow{
		ID: f.ID, Type: f.Type, ExpiresAt: f.ExpiresAt, IssuedAt: f.IssuedAt,
		RequestURL: f.RequestURL, ReturnTo: f.ReturnTo, UI: f.UI.ForAPI(), State: f.State,
	})
}

// record converts the flow for storage: flow.Stored goes in Data, the
// rest in the record's own columns.
func (f *Flow) record() (*flow.Record, error) {
	data, err := json.Marshal(flow.Stored{IssuedAt: f.IssuedAt, RequestURL: f.RequestURL, ReturnTo: f.ReturnTo, UI: f.UI})
	if err != nil {
		return nil, fmt.Errorf("encode registration flow: %w", err)
	}
	return &flow.Record{
		ID: f.ID, Kind: Kind, Type: f.Type, State: string(f.State), CSRF: f.CSRF, Data: data,
		ExpiresAt: f.ExpiresAt, CreatedAt: f.CreatedAt, UpdatedAt: f.UpdatedAt,
	}, nil
}

// fromRecord rebuilds a flow from storage.
func fromRecord(r *flow.Record) (*Flow, error) {
	var d flow.Stored
	if err := json.Unmarshal(r.Data, &d); err != nil {
		return nil, fmt.Errorf("decode registration flow %s: %w", r.ID, err)
	}
	return &Flow{
		ID: r.ID, Type: r.Type, ExpiresAt: r.ExpiresAt, IssuedAt: d.IssuedAt,
		RequestURL: d.RequestURL, ReturnTo: d.ReturnTo, UI: d.UI, State: State(r.State),
		CSRF: r.CSRF, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}, nil
}
