// Package login owns the self-service login flow: creating browser and
// native flows, the password method (identifier + password, compared in
// the same time whether or not the identifier exists), refresh
// re-authentication of an existing session (refresh=true) and the answers
// each client type expects (native JSON, browser JSON, HTML-form
// redirects).
//
// Handler decodes requests and renders results; Service holds the rules.
// Flows are persisted through flow.Store (implemented by sqlstore).
package login

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/flow"
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

// Method names of the login methods Latchkey implements.
const MethodPassword = "password"

// Flow is one login attempt.
type Flow struct {
	ID         uuid.UUID
	Type       flow.Type
	ExpiresAt  time.Time
	IssuedAt   time.Time
	RequestURL string
	// ReturnTo is the validated return_to of the request that created the flow.
	ReturnTo string
	UI       flow.Container
	// Refresh asks an existing session to sign in again (refresh=true).
	Refresh      bool
	RequestedAAL string
	State        State
	// IdentityID is the identity whose session a refresh flow
	// re-authenticates (nil for first-factor logins).
	IdentityID *uuid.UUID
	// CSRF is the fingerprint of the CSRF token a browser flow was created
	// with (empty for native flows).
	CSRF      string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Expired reports whether the flow can no longer be submitted.
func (f *Flow) Expired(now time.Time) bool { return !now.Before(f.ExpiresAt) }

// wireFlow is the loginFlow of the Kratos API, in Kratos key order.
type wireFlow struct {
	ID             uuid.UUID      `json:"id"`
	OrganizationID *uuid.UUID     `json:"organization_id"`
	Type           flow.Type      `json:"type"`
	ExpiresAt      time.Time      `json:"expires_at"`
	IssuedAt       time.Time      `json:"issued_at"`
	RequestURL     string         `json:"request_url"`
	ReturnTo       string         `json:"return_to,omitempty"`
	UI             flow.Container `json:"ui"`
	CreatedAt      time.Time      `json:"created_at"`
	UpdatedAt      time.Time      `json:"updated_at"`
	Refresh        bool           `json:"refresh"`
	RequestedAAL   string         `json:"requested_aal"`
	State          State          `json:"state"`
}

// MarshalJSON writes the flow as Kratos does (organization_id is always null).
func (f *Flow) MarshalJSON() ([]byte, error) {
	return json.Marshal(wireFlow{
		ID: f.ID, Type: f.Type, ExpiresAt: f.ExpiresAt, IssuedAt: f.IssuedAt,
		RequestURL: f.RequestURL, ReturnTo: f.ReturnTo, UI: f.UI.ForAPI(),
		CreatedAt: f.CreatedAt, UpdatedAt: f.UpdatedAt,
		Refresh: f.Refresh, RequestedAAL: f.RequestedAAL, State: f.State,
	})
}

// storedFlow is what a flow.Record keeps in Data; the record's own columns
// hold the rest (type, state, identity, CSRF fingerprint, expiry).
type storedFlow struct {
	flow.Stored
	Refresh      bool   `json:"refresh"`
	RequestedAAL string `json:"requested_aal"`
}

// record converts the flow for storage.
func (f *Flow) record() (*flow.Record, error) {
	data, err := json.Marshal(storedFlow{
		Stored:  flow.Stored{IssuedAt: f.IssuedAt, RequestURL: f.RequestURL, ReturnTo: f.ReturnTo, UI: f.UI},
		Refresh: f.Refresh, RequestedAAL: f.RequestedAAL,
	})
	if err != nil {
		return nil, fmt.Errorf("encode login flow: %w", err)
	}
	return &flow.Record{
		ID: f.ID, Kind: Kind, Type: f.Type, State: string(f.State), IdentityID: f.IdentityID,
		CSRF: f.CSRF, Data: data, ExpiresAt: f.ExpiresAt, CreatedAt: f.CreatedAt, UpdatedAt: f.UpdatedAt,
	}, nil
}

// fromRecord rebuilds a flow from storage.
func fromRecord(r *flow.Record) (*Flow, error) {
	var d storedFlow
	if err := json.Unmarshal(r.Data, &d); err != nil {
		return nil, fmt.Errorf("decode login flow %s: %w", r.ID, err)
	}
	return &Flow{
		ID: r.ID, Type: r.Type, ExpiresAt: r.ExpiresAt, IssuedAt: d.IssuedAt,
		RequestURL: d.RequestURL, ReturnTo: d.ReturnTo, UI: d.UI,
		Refresh: d.Refresh, RequestedAAL: d.RequestedAAL, State: State(r.State),
		IdentityID: r.IdentityID, CSRF: r.CSRF, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}, nil
}
