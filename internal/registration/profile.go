package registration

import (
	"context"

	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/identity"
)

// Two-step registration (selfservice.flows.registration.style:
// profile_first), as Kratos v26.2.0's profile strategy: the first screen
// asks for the traits only and submits method=profile; valid traits bring
// the second screen, which keeps them as hidden inputs and asks for the
// credentials, with a screen=previous button back to the first. A method
// submission carrying the traits (method=password with traits and
// password) completes the registration from either screen, as in Kratos.

// Registration styles.
const (
	StyleProfileFirst = "profile_first"
	StyleUnified      = "unified"
)

// MethodProfile is the "method" value of the first screen's button.
const MethodProfile = "profile"

// Values of the "screen" field of a profile submission.
const (
	screenCredentialSelection = "credential-selection"
	screenPrevious            = "previous"
)

// credentialNoder is a method whose inputs can be shown without the traits
// (the second screen of a profile_first flow).
type credentialNoder interface {
	CredentialNodes() []flow.Node
}

func profileSubmitNode() flow.Node {
	return flow.Input(flow.GroupProfile, "method", "submit", flow.LabelSignUp()).WithValue(MethodProfile)
}

func previousScreenNode() flow.Node {
	return flow.Input(flow.GroupProfile, "screen", "submit", flow.LabelBack()).WithValue(screenPrevious)
}

// csrfNode is the flow's csrf_token node (a fresh one when it has none).
func csrfNode(f *Flow) flow.Node {
	for _, n := range f.UI.Nodes {
		if n.Attributes.Name == "csrf_token" {
			return n
		}
	}
	return flow.CSRFNode("")
}

// profileScreen sets the first screen: the trait inputs (with the values
// of traits, when given) and the method=profile button.
func profileScreen(f *Flow, sch *identity.Schema, traits map[string]any) {
	nodes := []flow.Node{csrfNode(f)}
	for _, t := range sch.Traits {
		nodes = append(nodes, traitNode(t))
	}
	f.UI.Nodes = append(nodes, profileSubmitNode())
	showTraits(f, sch, traits)
}

// credentialsScreen sets the second screen: the traits kept as hidden
// inputs, the credential inputs of every enabled method and the "Back"
// button; nodes in Kratos's group order (default, password, profile).
func (s *Service) credentialsScreen(f *Flow, sch *identity.Schema, traits map[string]any) {
	nodes := []flow.Node{csrfNode(f)}
	for _, t := range sch.Traits {
		n := traitNode(t)
		n.Attributes.Type = "hidden"
		nodes = append(nodes, n)
	}
	for _, m := range s.Methods {
		if c, ok := m.(credentialNoder); ok && m.Enabled() {
			nodes = append(nodes, c.CredentialNodes()...)
		}
	}
	f.UI.Nodes = append(nodes, previousScreenNode())
	showTraits(f, sch, traits)
}

// isProfileSubmission reports whether the profile step answers this
// submission: method profile (or the legacy profile:back) or any screen.
func isProfileSubmission(body *httpx.FormBody) bool {
	m := body.Get("method")
	return m == MethodProfile || m == "profile:back" || body.Get("screen") != ""
}

// profile answers a profile step: "previous" goes back to the first
// screen keeping the traits; anything else validates the traits and, when
// they are valid, shows the credentials screen with message 1040009.
// Either way the flow is answered as Kratos does (400 with the flow to
// JSON clients, 303 to the UI for browser forms).
func (s *Service) profile(ctx context.Context, q *flow.Request, f *Flow, body *httpx.FormBody) (*flow.Result, error) {
	if err := f.Common().CheckOrigin(q, true); err != nil {
		if f.Type == flow.TypeBrowser {
			return nil, err
		}
		return flow.RejectError(ctx, s.Flows, f, s.Config.UIURL, err)
	}
	sch, err := s.schema()
	if err != nil {
		return nil, err
	}
	traits := submittedTraits(sch, body)
	decoded := decodeTraits(traits)
	screen := body.Get("screen")
	if screen == screenPrevious || (screen == "" && body.Get("method") == "profile:back") {
		profileScreen(f, sch, decoded)
		return s.flows().Reject(ctx, f)
	}
	if errs := s.Identities.ValidateTraits(sch.ID, traits); len(errs) > 0 {
		showTraits(f, sch, decoded)
		showFieldErrors(f, errs)
		return s.flows().Reject(ctx, f)
	}
	s.credentialsScreen(f, sch, decoded)
	return s.flows().Reject(ctx, f, flow.MsgChooseCredentials())
}
