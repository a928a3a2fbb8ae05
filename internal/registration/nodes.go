package registration

import (
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/identity"
)

// Node names of the password method.
const (
	nodePassword = "password"
	nodeMethod   = "method"
)

// passwordMethodNodes are the form of the password method: one input per
// trait of the schema (group default, in schema path order), the new
// password and the "Sign up" button.
func passwordMethodNodes(sch *identity.Schema) []flow.Node {
	nodes := make([]flow.Node, 0, len(sch.Traits)+2)
	for _, p := range sch.Traits {
		nodes = append(nodes, traitNode(p))
	}
	return append(nodes,
		flow.Input(flow.GroupPassword, nodePassword, "password", flow.LabelPassword()).
			Required().WithAutocomplete("new-password"),
		flow.Input(flow.GroupPassword, nodeMethod, "submit", flow.LabelSignUp()).WithValue(MethodPassword),
	)
}

// traitNode is the input of one trait: its type follows the JSON type and
// format, its label the schema title.
func traitNode(p identity.TraitProperty) flow.Node {
	typ, autocomplete := "text", ""
	switch p.Type {
	case "number", "integer":
		typ = "number"
	case "boolean":
		typ = "checkbox"
	}
	switch p.Format {
	case "email":
		typ, autocomplete = "email", "email"
	case "tel":
		typ, autocomplete = "tel", "tel"
	case "uri":
		typ, autocomplete = "url", "url"
	case "date":
		typ = "date"
	case "date-time":
		typ = "datetime-local"
	}
	var label *flow.Message
	if p.Title != "" {
		label = flow.LabelTrait(p.Title, p.Name())
	}
	n := flow.Input(flow.GroupDefault, p.Name(), typ, label)
	if p.Required {
		n = n.Required()
	}
	if autocomplete != "" {
		n = n.WithAutocomplete(autocomplete)
	}
	if p.Pattern != "" {
		n = n.WithPattern(p.Pattern)
	}
	return n
}
