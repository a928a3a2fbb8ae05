package login

import "github.com/latchkey/latchkey/internal/flow"

// Node names of the password method.
const (
	nodeIdentifier = "identifier"
	nodePassword   = "password"
	nodeMethod     = "method"
)

// firstFactorNodes are the password method's inputs of a new login:
// identifier, password and the "Sign in with password" button. label is
// the identifier's label (the schema title of the identifier trait, or "ID").
func firstFactorNodes(label *flow.Message) []flow.Node {
	return []flow.Node{
		flow.Input(flow.GroupDefault, nodeIdentifier, "text", label).WithValue("").Required(),
		passwordNode(),
		flow.Input(flow.GroupPassword, nodeMethod, "submit", flow.LabelSignInPassword()).WithValue(MethodPassword),
	}
}

// refreshNodes are the password method's inputs when a session signs in
// again: the identifier is fixed (hidden) and the button says "Sign in".
func refreshNodes(identifier string) []flow.Node {
	return []flow.Node{
		flow.Input(flow.GroupDefault, nodeIdentifier, "hidden", nil).WithValue(identifier),
		passwordNode(),
		flow.Input(flow.GroupPassword, nodeMethod, "submit", flow.LabelSignIn()).WithValue(MethodPassword),
	}
}

func passwordNode() flow.Node {
	return flow.Input(flow.GroupPassword, nodePassword, "password", flow.LabelPassword()).
		Required().WithAutocomplete("current-password")
}
