package settings

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/lookup"
	"github.com/latchkey/latchkey/internal/session"
)

// MethodLookup is the backup codes method's name and node group.
const MethodLookup = "lookup_secret"

// Node names of the lookup_secret group, Kratos's.
const (
	nodeLookupReveal     = "lookup_secret_reveal"
	nodeLookupRegenerate = "lookup_secret_regenerate"
	nodeLookupConfirm    = "lookup_secret_confirm"
	nodeLookupDisable    = "lookup_secret_disable"
	nodeLookupCodes      = "lookup_secret_codes"
)

// pendingLookup is the key of the method's entry in Flow.Pending.
const pendingLookup = MethodLookup

// Reasons Kratos gives (as message 4000001) for actions out of order.
const (
	reasonLookupNotGenerated = "You must (re-)generate recovery backup codes before you can save them."
	reasonLookupNone         = "Can not reveal lookup codes because you have none."
)

// Lookup is the settings side of backup codes: generate a set and confirm
// it (nothing is stored before), reveal the stored set, disable it. Like
// Kratos, a submission is this method's when it sets one of the four
// lookup_secret_* fields, with or without method=lookup_secret.
type Lookup struct {
	flow.Switch // selfservice.methods.lookup_secret.enabled
	// Sealer seals the codes in the credential and in the flow's pending
	// state (*secret.Cipher).
	Sealer     identity.Sealer
	Identities FactorCredentials
}

var _ Method = (*Lookup)(nil)

// ID implements flow.Method.
func (l *Lookup) ID() string { return MethodLookup }

// Claims implements flow.Claimer: any of the four buttons makes a submission
// this method's.
func (l *Lookup) Claims(body *httpx.FormBody) bool {
	for _, n := range []string{nodeLookupReveal, nodeLookupRegenerate, nodeLookupConfirm, nodeLookupDisable} {
		if lookupFlag(body, n) {
			return true
		}
	}
	return false
}

// lookupFlag reads a button: "true" from a form or JSON's true.
func lookupFlag(body *httpx.FormBody, name string) bool { return body.Get(name) == "true" }

// Nodes implements Method: reveal and disable for an identity with
// backup codes, regenerate for one without.
func (l *Lookup) Nodes(ctx context.Context, f *Flow) ([]flow.Node, error) {
	has, err := l.hasCodes(ctx, f.Identity)
	if err != nil {
		return nil, err
	}
	if has {
		return []flow.Node{lookupButton(nodeLookupReveal, flow.LabelLookupReveal()), lookupButton(nodeLookupDisable, flow.LabelLookupDisable())}, nil
	}
	return []flow.Node{lookupButton(nodeLookupRegenerate, flow.LabelLookupRegenerate())}, nil
}

func (l *Lookup) hasCodes(ctx context.Context, ident *identity.Identity) (bool, error) {
	if ident.Credentials == nil {
		full, err := l.Identities.Get(ctx, ident.ID)
		if err != nil {
			return false, fmt.Errorf("load identity: %w", err)
		}
		ident = full
	}
	c, ok := ident.Credentials[identity.CredentialLookupSecret]
	return ok && len(c.Config) > 0, nil
}

func lookupButton(name string, label *flow.Message) flow.Node {
	return flow.Input(MethodLookup, name, "submit", label).WithValue("true")
}

// shownCodes is what Pending holds for this method: the set shown in the
// lookup_secret_codes node, and whether it is a new one awaiting
// confirmation (rather than the stored one revealed).
type shownCodes struct {
	Set         lookup.Set `json:"set"`
	Regenerated bool       `json:"regenerated"`
}

// pendingContext binds a sealed pending entry to its flow.
func pendingContext(f *Flow) []byte {
	return []byte("settings_flow.pending\x00" + f.ID.String() + "\x00" + MethodLookup)
}

func (l *Lookup) setPending(f *Flow, v shownCodes) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if f.Pending == nil {
		f.Pending = map[string]string{}
	}
	f.Pending[pendingLookup] = l.Sealer.Seal(b, pendingContext(f))
	return nil
}

func (l *Lookup) pending(f *Flow) (shownCodes, bool) {
	sealed, ok := f.Pending[pendingLookup]
	if !ok {
		return shownCodes{}, false
	}
	b, err := l.Sealer.Open(sealed, pendingContext(f))
	if err != nil {
		return shownCodes{}, false
	}
	var v shownCodes
	if json.Unmarshal(b, &v) != nil {
		return shownCodes{}, false
	}
	return v, true
}

// Show implements Method: the codes node shows the pending set.
func (l *Lookup) Show(f *Flow) {
	v, ok := l.pending(f)
	for i := range f.UI.Nodes {
		n := &f.UI.Nodes[i]
		if n.Type != "text" || n.Attributes.ID != nodeLookupCodes {
			continue
		}
		// Without a readable pending set (a flow sealed with a retired
		// key, say) the node shows an empty list rather than break clients.
		if !ok {
			v = shownCodes{}
		}
		text := codeList(v.Set)
		n.Attributes.Text = &text
	}
}

// codeList is the text of the codes node: each unused code, and for each
// spent one when it was used.
func codeList(set lookup.Set) flow.Message {
	formatted := make([]string, len(set.RecoveryCodes))
	each := make([]flow.Message, len(set.RecoveryCodes))
	for i, c := range set.RecoveryCodes {
		if c.UsedAt == nil {
			formatted[i], each[i] = c.Code, flow.MsgLookupCode(c.Code)
		} else {
			formatted[i], each[i] = "used", flow.MsgLookupCodeUsed(*c.UsedAt)
		}
	}
	return flow.MsgLookupCodeList(formatted, each)
}

// codesNode is the (stored empty) text node Show fills in.
func codesNode() flow.Node {
	return flow.Text(MethodLookup, nodeLookupCodes, flow.Message{}, flow.LabelLookupCodes())
}

// Update implements Method. Checks run in Kratos's order: one of the
// buttons, CSRF (browser) or no browser signals (api), the privileged
// window; then confirm, reveal, disable or regenerate, in that order of
// precedence.
func (l *Lookup) Update(ctx context.Context, s *Service, f *Flow, sub submission) (*flow.Result, error) {
	if !l.Claims(sub.body) {
		f.UI.AddMessage(flow.MsgSettingsNoStrategy())
		return s.reject(ctx, f)
	}
	if r, err := s.checkOrigin(ctx, f, sub); r != nil || err != nil {
		return r, err
	}
	if err := s.checkPrivileged(sub.session, f); err != nil {
		return nil, err
	}
	switch {
	case lookupFlag(sub.body, nodeLookupConfirm):
		return l.confirm(ctx, s, f, sub)
	case lookupFlag(sub.body, nodeLookupReveal):
		return l.reveal(ctx, s, f)
	case lookupFlag(sub.body, nodeLookupDisable):
		return l.disable(ctx, s, f, sub)
	}
	return l.regenerate(ctx, s, f)
}

// withoutLookupNodes is f's nodes without this method's group.
func withoutLookupNodes(nodes []flow.Node) []flow.Node {
	out := nodes[:0:0]
	for _, n := range nodes {
		if n.Group != MethodLookup {
			out = append(out, n)
		}
	}
	return out
}

// regenerate offers a new set on the flow, sealed in Pending; nothing is
// stored with the identity until it is confirmed.
func (l *Lookup) regenerate(ctx context.Context, s *Service, f *Flow) (*flow.Result, error) {
	if err := l.setPending(f, shownCodes{Set: lookup.Generate(), Regenerated: true}); err != nil {
		return nil, err
	}
	f.UI.Nodes = append(withoutLookupNodes(f.UI.Nodes), codesNode(), lookupButton(nodeLookupConfirm, flow.LabelLookupConfirm()))
	return l.showForm(ctx, s, f)
}

// reveal shows the stored set, spent codes as when they were used.
func (l *Lookup) reveal(ctx context.Context, s *Service, f *Flow) (*flow.Result, error) {
	ident, err := l.Identities.Get(ctx, f.IdentityID)
	if err != nil {
		return nil, err
	}
	set, _, err := lookup.Open(l.Sealer, ident)
	if errors.Is(err, lookup.ErrNoCodes) {
		f.UI.AddMessage(flow.MsgGeneric(reasonLookupNone))
		return s.reject(ctx, f)
	}
	if err != nil {
		return nil, err
	}
	if err := l.setPending(f, shownCodes{Set: set}); err != nil {
		return nil, err
	}
	f.UI.Nodes = append(withoutLookupNodes(f.UI.Nodes), codesNode(),
		lookupButton(nodeLookupDisable, flow.LabelLookupDisable()), lookupButton(nodeLookupRegenerate, flow.LabelLookupRegenerate()))
	return l.showForm(ctx, s, f)
}

// showForm saves f and shows it (200, state show_form): the codes are
// on screen, the flow goes on.
func (l *Lookup) showForm(ctx context.Context, s *Service, f *Flow) (*flow.Result, error) {
	f.State = StateShowForm
	if err := flow.Save(ctx, s.Flows, f); err != nil {
		return nil, err
	}
	return flow.ShowFlow(s.view(f), http.StatusOK, s.Config.SettingsUIURL), nil
}

// confirm stores the set regenerated on this flow (replacing any older
// set, so every old code stops working) and, as proving the method,
// raises the session to aal2.
func (l *Lookup) confirm(ctx context.Context, s *Service, f *Flow, sub submission) (*flow.Result, error) {
	v, ok := l.pending(f)
	if !ok || !v.Regenerated || len(v.Set.RecoveryCodes) != lookup.Count {
		f.UI.AddMessage(flow.MsgGeneric(reasonLookupNotGenerated))
		return s.reject(ctx, f)
	}
	cred, err := lookup.Credential(l.Sealer, f.IdentityID, v.Set)
	if err != nil {
		return nil, err
	}
	return l.save(ctx, s, f, sub, func(ctx context.Context) error {
		current, err := l.Identities.Get(ctx, f.IdentityID)
		if err != nil {
			return err
		}
		_, replaced := current.Credentials[identity.CredentialLookupSecret]
		if err := l.Identities.PutCredential(ctx, f.IdentityID, cred); err != nil {
			return err
		}
		if err := s.recordSecondFactor(ctx, audit.SecondFactorAdded, f, MethodLookup, map[string]any{"regenerated": replaced}); err != nil {
			return err
		}
		if err := s.Sessions.Reauthenticate(ctx, sub.session, session.MethodLookupSecret); err != nil {
			return fmt.Errorf("raise session to aal2: %w", err)
		}
		return nil
	})
}

// disable removes the identity's backup codes.
func (l *Lookup) disable(ctx context.Context, s *Service, f *Flow, sub submission) (*flow.Result, error) {
	return l.save(ctx, s, f, sub, func(ctx context.Context) error {
		err := l.Identities.DeleteCredential(ctx, f.IdentityID, identity.CredentialLookupSecret)
		switch {
		case err == nil:
			return s.recordSecondFactor(ctx, audit.SecondFactorRemoved, f, MethodLookup, nil)
		case !errors.Is(err, identity.ErrNotFound):
			return err
		}
		return nil
	})
}

// save writes a change (with the method's hooks, see saveWithHooks) and
// answers it with the updated identity; the codes shown leave the flow.
func (l *Lookup) save(ctx context.Context, s *Service, f *Flow, sub submission, write func(ctx context.Context) error) (*flow.Result, error) {
	return s.saveWithHooks(ctx, f, sub, MethodLookup, func(ctx context.Context) (*identity.Identity, error) {
		if err := write(ctx); err != nil {
			return nil, err
		}
		delete(f.Pending, pendingLookup)
		return l.Identities.Get(ctx, f.IdentityID)
	})
}
