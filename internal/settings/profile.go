package settings

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"

	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/identity"
)

// msgNoChanges is Kratos's answer to a profile submission without traits.
const msgNoChanges = "Did not receive any value changes."

// updateProfile is the profile method: new traits for the session's
// identity, validated against its schema; identifiers and addresses are
// derived from them again.
//
// Unlike Kratos, which asks for a recent login for every profile change,
// only a change that touches a protected trait needs the privileged
// window: a trait that is a password identifier, a recovery address or a
// verifiable address (anything the "ory.sh/kratos" schema extension
// marks). Changing such a trait can hand the account to someone else; a
// display name cannot.
func (s *Service) updateProfile(ctx context.Context, f *Flow, sub submission) (*flow.Result, error) {
	ident := sub.session.Identity
	sch, err := s.Schemas.Get(ident.SchemaID)
	if err != nil {
		return nil, err
	}
	traits, err := submittedTraits(sub.body, sch)
	if err != nil {
		f.UI.AddMessage(flow.MsgGeneric(httpx.AsError(err).Reason))
		return s.reject(ctx, f)
	}
	if len(traits) == 0 {
		f.UI.AddMessage(flow.MsgGeneric(msgNoChanges))
		return s.reject(ctx, f)
	}
	if r, err := s.checkOrigin(ctx, f, sub); r != nil || err != nil {
		return r, err
	}
	if touchesProtected(sch, ident.Traits, traits) {
		if err := s.checkPrivileged(sub.session, f); err != nil {
			return nil, err
		}
	}
	raw, err := json.Marshal(traits)
	if err != nil {
		return nil, err
	}
	next := *ident
	next.Traits = raw
	changes, refused, err := s.runAfterHooks(ctx, f, sub, &next, MethodProfile)
	if refused != nil || err != nil {
		return refused, err
	}
	if changes != nil && changes.Traits != nil {
		// Written by UpdateTraits, as the submission's would have been.
		rest := *changes
		raw, rest.Traits = changes.Traits, nil
		changes = &rest
	}
	var (
		res     *flow.Result
		updated *identity.Identity
	)
	// identity.Service records an address change; it belongs to this flow.
	ctx = audit.InFlow(ctx, f.ID, MethodProfile)
	err = s.Tx.InTx(ctx, func(ctx context.Context) error {
		var err error
		if updated, err = s.Identities.UpdateTraits(ctx, ident.ID, raw); err != nil {
			return err
		}
		if updated, err = s.applyHookChanges(ctx, updated, changes); err != nil {
			return err
		}
		res, err = s.succeed(ctx, sub, f, updated, MethodProfile)
		return err
	})
	var ve *identity.ValidationError
	switch {
	case err == nil:
		s.afterCommit(ctx, f, sub, updated, MethodProfile)
		return res, nil
	case errors.As(err, &ve):
		for _, fe := range ve.Fields {
			f.UI.AddNodeMessage(fe.Field, flow.Message{ID: fe.MessageID, Text: fe.Text, Type: flow.MessageError, Context: fe.Context})
		}
	case errIsConflict(err):
		f.UI.AddMessage(flow.MsgDuplicateIdentifier())
	case httpx.AsError(err).Code == 400:
		f.UI.AddMessage(flow.MsgGeneric(httpx.AsError(err).Reason))
	default:
		return nil, err
	}
	setTraitValues(&f.UI, traits)
	return s.reject(ctx, f)
}

// touchesProtected reports whether next changes a trait the schema marks
// as a password identifier, recovery or verification address (values are
// compared exactly, so even a change of letter case counts).
func touchesProtected(sch *identity.Schema, current json.RawMessage, next map[string]any) bool {
	before := traitValues(current)
	after := map[string]any{}
	flatten(after, "", next)
	for _, p := range sch.Traits {
		if p.Extension == (identity.Extension{}) {
			continue
		}
		if !reflect.DeepEqual(before[p.Path], after[p.Path]) {
			return true
		}
	}
	return false
}

// submittedTraits reads the traits of a profile submission: the "traits"
// object of a JSON body, or the "traits.<path>" fields of a form, whose
// text values are converted to the types the schema asks for.
func submittedTraits(b *httpx.FormBody, sch *identity.Schema) (map[string]any, error) {
	if raw, ok := b.Raw["traits"]; ok && b.JSON {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, httpx.ErrBadRequest("traits must be a JSON object")
		}
		return m, nil
	}
	if b.JSON {
		return nil, nil
	}
	m := map[string]any{}
	for key, vals := range b.Values {
		path, ok := strings.CutPrefix(key, "traits.")
		if !ok || path == "" || len(vals) == 0 {
			continue
		}
		// A checkbox may come as a hidden "false" followed by "true".
		v, keep := formValue(sch, path, vals[len(vals)-1])
		if keep {
			setPath(m, path, v)
		}
	}
	return m, nil
}

// formValue converts a form text to the trait's schema type. Empty texts
// of non-string traits are left out (an empty number field means "none").
func formValue(sch *identity.Schema, path, v string) (any, bool) {
	p, ok := sch.Trait(path)
	if !ok {
		return v, true
	}
	switch p.Type {
	case "number", "integer":
		if v == "" {
			return nil, false
		}
		if n, err := strconv.ParseFloat(v, 64); err == nil {
			return n, true
		}
	case "boolean":
		switch strings.ToLower(v) {
		case "true", "on", "1":
			return true, true
		case "false", "off", "0", "":
			return false, true
		}
	}
	return v, true
}

// setPath stores v at a dotted path, creating the objects on the way.
func setPath(m map[string]any, path string, v any) {
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		child, ok := m[p].(map[string]any)
		if !ok {
			child = map[string]any{}
			m[p] = child
		}
		m = child
	}
	m[parts[len(parts)-1]] = v
}
