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
	flow.Base
	State State
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
	// Pending holds what a method offered on this flow and awaits
	// confirmation (a TOTP secret, new backup codes), each value sealed by
	// its method; the nodes showing it are filled in by Method.Show and
	// stored without it.
	Pending map[string]string
	// schemaURL is the public URL of the identity's schema, shown in the
	// flow JSON (set when the flow is answered).
	schemaURL string
}

// wireFlow is the settingsFlow of the Kratos API, in Kratos key order.
type wireFlow struct {
	flow.Head
	ReturnTo         string              `json:"return_to,omitempty"`
	UI               flow.Container      `json:"ui"`
	Identity         any                 `json:"identity"`
	State            State               `json:"state"`
	ContinueWith     []flow.ContinueWith `json:"continue_with,omitempty"`
	TransientPayload json.RawMessage     `json:"transient_payload,omitempty"`
}

// MarshalJSON writes the flow as the API shows it.
func (f *Flow) MarshalJSON() ([]byte, error) {
	var ident any = map[string]any{}
	if f.Identity != nil {
		ident = f.Identity.JSON(identity.PublicView, f.schemaURL)
	}
	return json.Marshal(wireFlow{
		Head: f.Head(), ReturnTo: f.ReturnTo, UI: f.UI.ForAPI(), Identity: ident,
		State: f.State, ContinueWith: f.ContinueWith, TransientPayload: f.TransientPayload,
	})
}

// Record converts the flow for storage: flow.Stored goes in Data, the
// rest in the record's own columns.
func (f *Flow) Record() (*flow.Record, error) {
	id := f.IdentityID
	stored := f.Stored()
	stored.UI.Nodes = withoutShownSecrets(stored.UI.Nodes)
	return f.Base.Record(Kind, string(f.State), &id, storedFlow{Stored: stored, Pending: f.Pending})
}

// storedFlow is a settings flow's data column.
type storedFlow struct {
	flow.Stored
	Pending map[string]string `json:"pending,omitempty"`
}

// withoutShownSecrets copies nodes leaving out the content of img and
// text nodes: methods show secrets there (a QR code, backup codes) and
// fill them in again from Pending whenever the flow is answered.
func withoutShownSecrets(nodes []flow.Node) []flow.Node {
	out := make([]flow.Node, len(nodes))
	for i, n := range nodes {
		if n.Attributes.NodeType == "img" || n.Attributes.NodeType == "text" {
			n.Attributes.Src, n.Attributes.Text = "", nil
		}
		out[i] = n
	}
	return out
}

// fromRecord rebuilds a flow from storage.
func fromRecord(r *flow.Record) (*Flow, error) {
	var d storedFlow
	if err := flow.Decode(r, &d); err != nil {
		return nil, err
	}
	f := &Flow{Base: flow.BaseOf(r, d.Stored), State: State(r.State), Pending: d.Pending}
	if r.IdentityID != nil {
		f.IdentityID = *r.IdentityID
	}
	return f, nil
}
