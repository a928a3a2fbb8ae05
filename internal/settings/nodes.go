package settings

import (
	"encoding/json"
	"strings"

	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/identity"
)

// Node names.
const (
	nodeCSRF     = "csrf_token"
	nodePassword = "password"
	nodeMethod   = "method"
)

// nodes are the form of a settings flow: the CSRF input, the
// profile group (one input per trait, in the schema's path order, then
// its Save button) and the password group. The CSRF value is left empty:
// browser flows get a freshly masked token each time they are rendered.
func (c Config) nodes(sch *identity.Schema, traits json.RawMessage) []flow.Node {
	nodes := []flow.Node{flow.CSRFNode("")}
	if c.ProfileEnabled {
		values := traitValues(traits)
		for _, p := range sch.Traits {
			nodes = append(nodes, traitNode(p, values))
		}
		nodes = append(nodes, flow.Input(flow.GroupProfile, nodeMethod, "submit", flow.LabelSave()).WithValue(MethodProfile))
	}
	if c.PasswordEnabled {
		nodes = append(nodes,
			flow.Input(flow.GroupPassword, nodePassword, "password", flow.LabelPassword()).
				Required().WithAutocomplete("new-password"),
			flow.Input(flow.GroupPassword, nodeMethod, "submit", flow.LabelSave()).WithValue(MethodPassword),
		)
	}
	return nodes
}

// traitNode is the input of one trait property, showing values[path].
func traitNode(p identity.TraitProperty, values map[string]any) flow.Node {
	var label *flow.Message
	if p.Title != "" {
		label = flow.LabelTrait(p.Title, p.Name())
	}
	n := flow.Input(flow.GroupProfile, p.Name(), inputType(p), label)
	if p.Format == "email" {
		n = n.WithAutocomplete("email")
	}
	if p.Pattern != "" {
		n = n.WithPattern(p.Pattern)
	}
	if v, ok := values[p.Path]; ok {
		n = n.WithValue(v)
	}
	return n
}

// inputType is the HTML input type of a trait property.
func inputType(p identity.TraitProperty) string {
	switch p.Format {
	case "email":
		return "email"
	case "tel":
		return "tel"
	case "date":
		return "date"
	case "date-time":
		return "datetime-local"
	case "uri", "url":
		return "url"
	}
	switch p.Type {
	case "number", "integer":
		return "number"
	case "boolean":
		return "checkbox"
	}
	return "text"
}

// traitValues flattens traits to dotted paths ("name.first"); arrays stay
// whole values.
func traitValues(traits json.RawMessage) map[string]any {
	out := map[string]any{}
	var m map[string]any
	if err := json.Unmarshal(traits, &m); err != nil {
		return out
	}
	flatten(out, "", m)
	return out
}

func flatten(out map[string]any, prefix string, m map[string]any) {
	for k, v := range m {
		path := k
		if prefix != "" {
			path = prefix + "." + k
		}
		if child, ok := v.(map[string]any); ok {
			flatten(out, path, child)
			continue
		}
		out[path] = v
	}
}

// setTraitValues shows submitted trait values in the form again (after a
// failed profile submission), so the user does not retype them.
func setTraitValues(ui *flow.Container, traits map[string]any) {
	values := map[string]any{}
	flatten(values, "", traits)
	for i := range ui.Nodes {
		n := &ui.Nodes[i]
		path, ok := strings.CutPrefix(n.Attributes.Name, "traits.")
		if !ok || n.Group != flow.GroupProfile {
			continue
		}
		if v, ok := values[path]; ok {
			n.Attributes.Value = v
		} else {
			n.Attributes.Value = nil
		}
	}
}
