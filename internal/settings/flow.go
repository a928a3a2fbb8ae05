// Package settings owns the self-service settings flow: where a signed-in
// user (typically one who has just recovered the account) sets a new
// password or edits the profile traits.
//
// Handler decodes requests and renders results per client (native JSON,
// browser JSON, HTML-form redirects); Service holds the rules: the
// privileged-session window, the assurance level, the password policy,
// schema validation of traits, and the after-hooks (revoking the other
// sessions of the identity). Flows are persisted through flow.Store.
//
// The recovery flow starts a settings flow with Service.StartAfterRecovery.
package settings

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/identity"
)

// Kind is the flow.Record kind of settings flows.
const Kind = "settings"

// State is where a settings flow stands.
type State string

// Settings flow states.
const (
	// StateShowForm: waiting for a submission (or the last one failed).
	StateShowForm State = "show_form"
	// StateSuccess: the last submission was saved. The flow can still be
	// submitted again.
	StateSuccess State = "success"
)

// Settings methods.
const (
	MethodPassword = "password"
	MethodProfile  = "profile"
)

// Flow is one settings flow of one identity.
type Flow struct {
	ID         uuid.UUID
	Type       flow.Type
	ExpiresAt  time.Time
	IssuedAt   time.Time
	RequestURL string
	// ReturnTo is the validated return_to the flow was created with.
	ReturnTo string
	UI       flow.Container
	State    State
	// IdentityID is the identity the flow belongs to; only a session of
	// that identity may fetch or submit it.
	IdentityID uuid.UUID
	// Identity is the identity as shown in the flow JSON (loaded per
	// request, never stored with the flow).
	Identity *identity.Identity
	// ContinueWith is only set on a response (an SPA's success).
	ContinueWith []flow.ContinueWith
	// TransientPayload is echoed back after a JSON submission that sent one.
	TransientPayload json.RawMessage
	// CSRF is the fingerprint of the CSRF token a browser flow was created
	// with (informational: fetching a settings flow does not check it).
	CSRF string
}

// Expired reports whether the flow can no longer be submitted.
func (f *Flow) Expired(now time.Time) bool { return !now.Before(f.ExpiresAt) }

// wireFlow is the settingsFlow of the Kratos API, in Kratos key order.
type wireFlow struct {
	ID               uuid.UUID           `json:"id"`
	Type             flow.Type           `json:"type"`
	ExpiresAt        time.Time           `json:"expires_at"`
	IssuedAt         time.Time           `json:"issued_at"`
	RequestURL       string              `json:"request_url"`
	ReturnTo         string              `json:"return_to,omitempty"`
	UI               flow.Container      `json:"ui"`
	Identity         any                 `json:"identity"`
	State            State               `json:"state"`
	ContinueWith     []flow.ContinueWith `json:"continue_with,omitempty"`
	TransientPayload json.RawMessage     `json:"transient_payload,omitempty"`
}

// JSON returns the flow as the API shows it; schemaURL is the public URL
// of the identity's schema.
func (f *Flow) JSON(schemaURL string) any {
	var ident any = map[string]any{}
	if f.Identity != nil {
		ident = f.Identity.JSON(identity.PublicView, schemaURL)
	}
	return wireFlow{
		ID: f.ID, Type: f.Type, ExpiresAt: f.ExpiresAt, IssuedAt: f.IssuedAt,
		RequestURL: f.RequestURL, ReturnTo: f.ReturnTo, UI: f.UI.ForAPI(), Identity: ident,
		State: f.State, ContinueWith: f.ContinueWith, TransientPayload: f.TransientPayload,
	}
}

// record converts the flow for storage: flow.Stored goes in Data, the
// rest in the record's own columns.
func (f *Flow) record() (*flow.Record, error) {
	data, err := json.Marshal(flow.Stored{IssuedAt: f.IssuedAt, RequestURL: f.RequestURL, ReturnTo: f.ReturnTo, UI: f.UI})
	if err != nil {
		return nil, fmt.Errorf("encode settings flow: %w", err)
	}
	id := f.IdentityID
	return &flow.Record{
		ID: f.ID, Kind: Kind, Type: f.Type, State: string(f.State), IdentityID: &id,
		CSRF: f.CSRF, Data: data, ExpiresAt: f.ExpiresAt,
	}, nil
}

// fromRecord rebuilds a flow from storage.
func fromRecord(r *flow.Record) (*Flow, error) {
	var d flow.Stored
	if err := json.Unmarshal(r.Data, &d); err != nil {
		return nil, fmt.Errorf("decode settings flow %s: %w", r.ID, err)
	}
	f := &Flow{
		ID: r.ID, Type: r.Type, ExpiresAt: r.ExpiresAt, IssuedAt: d.IssuedAt,
		RequestURL: d.RequestURL, ReturnTo: d.ReturnTo, UI: d.UI, State: State(r.State), CSRF: r.CSRF,
	}
	if r.IdentityID != nil {
		f.IdentityID = *r.IdentityID
	}
	return f, nil
}
