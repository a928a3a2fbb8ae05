package login

import (
	"context"

	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/httpx"
)

// Identifier-first login (selfservice.flows.login.style:
// identifier_first), as Kratos's idfirst strategy: the first screen asks
// for the identifier only and submits method=identifier_first; the answer
// keeps the identifier as a hidden input and shows the first-factor
// credential inputs (the password). The identifier is not looked up, so a
// known and an unknown one get the same screen (Kratos with
// security.account_enumeration.mitigate); the password step then fails
// with the usual 4000006 and counts against the login throttle.

// Login styles.
const (
	StyleUnified         = "unified"
	StyleIdentifierFirst = "identifier_first"
)

// MethodIdentifierFirst is the "method" of the identifier screen.
const MethodIdentifierFirst = "identifier_first"

// groupIdentifierFirst is the node group of the identifier screen.
const groupIdentifierFirst = "identifier_first"

// identifierFirstNoder is a first-factor method that can show its inputs
// once the identifier is known.
type identifierFirstNoder interface {
	identifierLabel() *flow.Message
	credentialNodes() []flow.Node
}

func (s *Service) identifierFirst(f *Flow) bool {
	return s.Config.Style == StyleIdentifierFirst && f.RequestedAAL == AAL1 && !f.Refresh
}

func (s *Service) identifierLabel() *flow.Message {
	for _, m := range s.Methods {
		if n, ok := m.(identifierFirstNoder); ok && m.Enabled() {
			return n.identifierLabel()
		}
	}
	return flow.LabelID()
}

func (s *Service) identifierNode(value string, typ string) flow.Node {
	return flow.Input(groupIdentifierFirst, nodeIdentifier, typ, s.identifierLabel()).
		WithValue(value).Required().WithAutocomplete("username webauthn")
}

// identifierScreen are the nodes of the first screen (after csrf_token).
func (s *Service) identifierScreen() []flow.Node {
	return []flow.Node{
		s.identifierNode("", "text"),
		flow.Input(groupIdentifierFirst, nodeMethod, "submit", flow.LabelContinue()).WithValue(MethodIdentifierFirst),
	}
}

// identify answers method=identifier_first: a missing identifier stays on
// the first screen with 4000002; any other gets the credentials screen,
// 400 with the flow to JSON clients and 303 to the UI for browser forms.
func (s *Service) identify(ctx context.Context, q *flow.Request, f *Flow, body *httpx.FormBody) (*flow.Result, error) {
	if err := f.Common().CheckOrigin(q, true); err != nil {
		if f.Type == flow.TypeBrowser {
			return nil, err
		}
		return flow.RejectError(ctx, s.Flows, f, s.Config.UIURL, err)
	}
	identifier := body.Get(nodeIdentifier)
	if identifier == "" {
		f.UI.SetNodeValue(nodeIdentifier, "")
		f.UI.AddNodeMessage(nodeIdentifier, flow.MsgMissingProperty(nodeIdentifier))
		return s.flows().Reject(ctx, f)
	}
	nodes := []flow.Node{flow.CSRFNode(""), s.identifierNode(identifier, "hidden")}
	for _, n := range f.UI.Nodes {
		if n.Attributes.Name == "csrf_token" {
			nodes[0] = n
		}
	}
	for _, m := range s.methodsFor(AAL1) {
		if c, ok := m.(identifierFirstNoder); ok && m.Enabled() {
			nodes = append(nodes, c.credentialNodes()...)
		}
	}
	f.UI.Nodes = nodes
	return s.flows().Reject(ctx, f)
}
