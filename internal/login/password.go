package login

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/internal/storeerr"
)

// MethodPassword is the password method's name.
const MethodPassword = "password"

// Node names of the password method.
const (
	nodeIdentifier = "identifier"
	nodePassword   = "password"
	nodeMethod     = "method"
)

// Identities is what the password method needs of identity.Service.
type Identities interface {
	// FindByIdentifier returns the identity (with credentials) owning a
	// password identifier, or an error matching storeerr.ErrNotFound.
	FindByIdentifier(ctx context.Context, ct identity.CredentialType, identifier string) (*identity.Identity, error)
	// SetPassword replaces the identity's password hash (re-hash on login).
	SetPassword(ctx context.Context, id uuid.UUID, hashedPassword string) error
	// Get loads an identity with its credentials (the identifier shown
	// in a refresh flow).
	Get(ctx context.Context, id uuid.UUID) (*identity.Identity, error)
}

// Schemas gives the identity schema whose identifier trait labels the
// identifier input. identity.Schemas implements it.
type Schemas interface {
	Get(id string) (*identity.Schema, error)
}

// Passwords checks and (re)hashes passwords; password.Hasher implements
// it. Compare and CompareDummy do the same work, so a login for an unknown
// identifier costs what a wrong password costs.
type Passwords interface {
	Hash(ctx context.Context, plain []byte) (string, error)
	// Compare is (false, nil) for a wrong password.
	Compare(ctx context.Context, plain []byte, encoded string) (bool, error)
	CompareDummy(ctx context.Context, plain []byte) (bool, error)
	NeedsRehash(encoded string) bool
}

// Password signs in with an identifier and a password.
type Password struct {
	flow.Switch // selfservice.methods.password.enabled
	// SchemaID is identity.default_schema_id: its password identifier
	// trait names the identifier input ("E-Mail" rather than "ID").
	SchemaID   string
	Identities Identities
	Schemas    Schemas
	Passwords  Passwords
	// Throttle refuses attempts once too many failed (nil: no limits).
	Throttle *Throttle
}

// ID implements Method.
func (p *Password) ID() string { return MethodPassword }

// Nodes implements Method: identifier, password and the "Sign in with
// password" button; a refresh fixes the session's identifier. An identity
// without a password gets no inputs (it cannot sign in with one).
func (p *Password) Nodes(ctx context.Context, f *Flow, sess *session.Session) ([]flow.Node, error) {
	if !f.Refresh || sess == nil {
		return []flow.Node{
			flow.Input(flow.GroupDefault, nodeIdentifier, "text", p.identifierLabel()).WithValue("").Required(),
			passwordNode(),
			flow.Input(flow.GroupPassword, nodeMethod, "submit", flow.LabelSignInPassword()).WithValue(MethodPassword),
		}, nil
	}
	ident := sess.Identity
	if ident == nil || ident.Credentials == nil {
		var err error
		if ident, err = p.Identities.Get(ctx, sess.IdentityID); err != nil {
			return nil, fmt.Errorf("load session identity: %w", err)
		}
	}
	ids := ident.PasswordIdentifiers()
	if ident.HashedPassword() == "" || len(ids) == 0 {
		return nil, nil
	}
	return []flow.Node{
		flow.Input(flow.GroupDefault, nodeIdentifier, "hidden", nil).WithValue(ids[0]),
		passwordNode(),
		flow.Input(flow.GroupPassword, nodeMethod, "submit", flow.LabelSignIn()).WithValue(MethodPassword),
	}, nil
}

// credentialNodes are the password inputs of an identifier-first login's
// second screen.
func (p *Password) credentialNodes() []flow.Node {
	return []flow.Node{
		passwordNode(),
		flow.Input(flow.GroupPassword, nodeMethod, "submit", flow.LabelSignInPassword()).WithValue(MethodPassword),
	}
}

func passwordNode() flow.Node {
	return flow.Input(flow.GroupPassword, nodePassword, "password", flow.LabelPassword()).
		Required().WithAutocomplete("current-password")
}

// identifierLabel is the label of the identifier input: the title of the
// schema's password identifier trait when exactly one such trait has a
// title (1070002), "ID" (1070004) otherwise.
func (p *Password) identifierLabel() *flow.Message {
	sch, err := p.Schemas.Get(p.SchemaID)
	if err != nil {
		return flow.LabelID()
	}
	var found []identity.TraitProperty
	for _, t := range sch.Traits {
		if t.Extension.PasswordIdentifier && t.Title != "" {
			found = append(found, t)
		}
	}
	if len(found) != 1 {
		return flow.LabelID()
	}
	return flow.LabelTrait(found[0].Title, found[0].Name())
}

// Authenticate implements Method. An unknown identifier, an identity
// without a password and a wrong password give the same message and cost
// the same hashing work, and count against the same failed-login
// budgets; over budget it returns a *ratelimit.ExceededError before any
// comparison.
func (p *Password) Authenticate(ctx context.Context, f *Flow, body *httpx.FormBody, caller httpx.Caller) (*Authenticated, error) {
	identifier, password := body.Get(nodeIdentifier), body.Get(nodePassword)
	if identifier == "" {
		identifier = body.Get("password_identifier") // the deprecated name
	}
	if f.IdentityID == nil {
		f.UI.SetNodeValue(nodeIdentifier, identifier)
	}
	if identifier == "" || password == "" {
		if identifier == "" {
			f.UI.AddNodeMessage(nodeIdentifier, flow.MsgMissingProperty(nodeIdentifier))
		}
		if password == "" {
			f.UI.AddNodeMessage(nodePassword, flow.MsgMissingProperty(nodePassword))
		}
		return nil, nil
	}
	if err := p.Throttle.take(ctx, identifier, caller.IP); err != nil {
		return nil, err
	}
	ident, ok, hash, err := p.verify(ctx, identifier, password)
	if err != nil {
		return nil, err
	}
	// A refresh flow re-authenticates its own identity only.
	if !ok || (f.IdentityID != nil && *f.IdentityID != ident.ID) {
		f.UI.AddMessage(flow.MsgInvalidCredentials())
		matched := uuid.Nil
		if ident != nil {
			matched = ident.ID
		}
		return nil, refused(matched, audit.ResultInvalidCredentials)
	}
	if ident.State != identity.StateActive {
		return nil, inactive(ident.ID)
	}
	rehashed := p.rehash(ctx, hash, password)
	return &Authenticated{Identity: ident, Commit: func(ctx context.Context) error {
		if err := p.Throttle.succeeded(ctx, identifier, caller.IP); err != nil {
			return fmt.Errorf("reset failed-login budget: %w", err)
		}
		if rehashed == "" {
			return nil
		}
		if err := p.Identities.SetPassword(ctx, ident.ID, rehashed); err != nil {
			return fmt.Errorf("store re-hashed password: %w", err)
		}
		return nil
	}}, nil
}

// verify finds the identity of identifier (nil when none) and checks
// password against its hash: ok when both are right. In every case one
// password hash comparison has been made.
func (p *Password) verify(ctx context.Context, identifier, password string) (ident *identity.Identity, ok bool, hash string, err error) {
	plain := []byte(password)
	ident, err = p.Identities.FindByIdentifier(ctx, identity.CredentialPassword, identifier)
	if errors.Is(err, storeerr.ErrNotFound) {
		return nil, false, "", p.compareDummy(ctx, plain)
	}
	if err != nil {
		return nil, false, "", fmt.Errorf("find identity by identifier: %w", err)
	}
	hash = ident.HashedPassword()
	if hash == "" {
		return ident, false, "", p.compareDummy(ctx, plain)
	}
	ok, err = p.Passwords.Compare(ctx, plain, hash)
	if err != nil {
		if ctx.Err() != nil {
			return nil, false, "", ctx.Err()
		}
		// An unusable stored hash cannot match; it still costs a comparison.
		httpx.Logger(ctx).Error("stored password hash is unusable", "identity_id", ident.ID, "error", err)
		return ident, false, "", p.compareDummy(ctx, plain)
	}
	return ident, ok, hash, nil
}

// compareDummy spends the time of one comparison; only the pool's context
// error is worth reporting.
func (p *Password) compareDummy(ctx context.Context, plain []byte) error {
	if _, err := p.Passwords.CompareDummy(ctx, plain); err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return nil
}

// rehash returns a new hash of password when hash was made with another
// algorithm or cost than the configured ones, "" otherwise. A failure only
// postpones the upgrade to the next login.
func (p *Password) rehash(ctx context.Context, hash, password string) string {
	if !p.Passwords.NeedsRehash(hash) {
		return ""
	}
	h, err := p.Passwords.Hash(ctx, []byte(password))
	if err != nil {
		httpx.Logger(ctx).Warn("could not re-hash password on login", "error", err)
		return ""
	}
	return h
}
