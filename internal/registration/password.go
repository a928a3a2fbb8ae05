package registration

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/password"
)

// MethodPassword is the password method's name.
const MethodPassword = "password"

// Node names of the password method.
const (
	nodePassword = "password"
	nodeMethod   = "method"
)

// Passwords hashes new passwords; password.Hasher implements it.
type Passwords interface {
	Hash(ctx context.Context, plain []byte) (string, error)
}

// Policy decides whether a new password is acceptable; password.Policy
// implements it.
type Policy interface {
	Validate(identifiers []string, password string) *password.Violation
}

// Password signs up with the schema's traits and a password.
type Password struct {
	flow.Switch // selfservice.methods.password.enabled
	Identities  Identities
	Passwords   Passwords
	Policy      Policy
}

// ID implements Method.
func (p *Password) ID() string { return MethodPassword }

// Nodes implements Method: one input per trait of the schema (group
// default, in schema path order), the new password and the "Sign up"
// button.
func (p *Password) Nodes(sch *identity.Schema) []flow.Node {
	nodes := make([]flow.Node, 0, len(sch.Traits)+2)
	for _, t := range sch.Traits {
		nodes = append(nodes, traitNode(t))
	}
	return append(nodes, p.CredentialNodes()...)
}

// CredentialNodes are the password method's own inputs: the new password
// and its submit button (the second screen of a profile_first flow).
func (p *Password) CredentialNodes() []flow.Node {
	return []flow.Node{
		flow.Input(flow.GroupPassword, nodePassword, "password", flow.LabelPassword()).
			Required().WithAutocomplete("new-password"),
		flow.Input(flow.GroupPassword, nodeMethod, "submit", flow.LabelSignUp()).WithValue(MethodPassword),
	}
}

// Register implements Method: the traits must satisfy the schema, name
// at least one password identifier, and the password must pass the
// policy. The password is hashed here, before any transaction: hashing
// is slow.
func (p *Password) Register(ctx context.Context, f *Flow, sch *identity.Schema, body *httpx.FormBody) (*identity.CreateInput, error) {
	traits := submittedTraits(sch, body)
	decoded := decodeTraits(traits)
	showTraits(f, sch, decoded)
	plain := body.Get(nodePassword)
	if plain == "" {
		f.UI.AddNodeMessage(nodePassword, flow.MsgMissingProperty(nodePassword))
		return nil, nil
	}
	if errs := p.Identities.ValidateTraits(sch.ID, traits); len(errs) > 0 {
		showFieldErrors(f, errs)
		return nil, nil
	}
	identifiers := passwordIdentifiers(sch, decoded)
	if len(identifiers) == 0 {
		f.UI.AddMessage(flow.MsgNoIdentifiers())
		return nil, nil
	}
	if v := p.Policy.Validate(identifiers, plain); v != nil {
		f.UI.AddNodeMessage(nodePassword, flow.MsgFromPolicy(v.ID, v.Text, v.Context))
		return nil, nil
	}
	hashed, err := p.Passwords.Hash(ctx, []byte(plain))
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	return &identity.CreateInput{
		SchemaID: sch.ID,
		Traits:   traits,
		Credentials: &identity.CredentialsInput{Password: &identity.PasswordCredentialsInput{
			Config: identity.PasswordInputConfig{HashedPassword: hashed},
		}},
	}, nil
}

// submittedTraits is the traits object of a submission: JSON bodies keep
// theirs as sent, form bodies bring traits.<path> fields.
func submittedTraits(sch *identity.Schema, body *httpx.FormBody) json.RawMessage {
	traits := body.Raw["traits"]
	if !body.JSON {
		fields := map[string]string{}
		for k := range body.Values {
			if _, ok := traitPath(k); ok {
				fields[k] = body.Get(k)
			}
		}
		traits = formTraits(sch, fields)
	}
	if len(traits) == 0 {
		traits = json.RawMessage("{}")
	}
	return traits
}
