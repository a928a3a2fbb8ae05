package login

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/lookup"
	"github.com/latchkey/latchkey/internal/session"
)

// nodeLookup is the backup code input.
const nodeLookup = "lookup_secret"

// Lookup is the second login step with a backup code: offered on an aal2
// flow to an identity that has backup codes. A code is spent when it
// signs in; guesses count against the failed-login budgets, keyed by the
// identity (the attacker already holds its first factor) and the IP.
type Lookup struct {
	flow.Switch // selfservice.methods.lookup_secret.enabled
	Spender     *lookup.Spender
	// Throttle refuses guesses once too many failed (nil: no limits).
	Throttle *Throttle
	// Now is the clock that dates a spent code.
	Now func() time.Time
}

// ID implements flow.Method.
func (l *Lookup) ID() string { return session.MethodLookupSecret }

// Nodes implements Method: the code input and its button, for the
// session's identity when it has backup codes.
func (l *Lookup) Nodes(ctx context.Context, f *Flow, sess *session.Session) ([]flow.Node, error) {
	if f.IdentityID == nil {
		return nil, nil
	}
	ident, err := l.Spender.Identities.Get(ctx, *f.IdentityID)
	if err != nil {
		return nil, fmt.Errorf("load session identity: %w", err)
	}
	if _, ok := ident.Credentials[identity.CredentialLookupSecret]; !ok {
		return nil, nil
	}
	return []flow.Node{
		flow.Input(session.MethodLookupSecret, nodeLookup, "text", flow.LabelLookupInput()).WithValue("").Required(),
		flow.Input(session.MethodLookupSecret, nodeMethod, "submit", flow.LabelLookupLogin()).WithValue(session.MethodLookupSecret),
	}, nil
}

// Authenticate implements Method: the code is spent here, before the
// session is raised, so of two concurrent uses exactly one signs in.
// Unknown → 4000016, spent before → 4000012, no codes → 4000014.
func (l *Lookup) Authenticate(ctx context.Context, f *Flow, body *httpx.FormBody, caller httpx.Caller) (*Authenticated, error) {
	if f.IdentityID == nil {
		f.UI.AddMessage(flow.MsgLookupNone())
		return nil, nil
	}
	code := body.Get(nodeLookup)
	if code == "" {
		f.UI.AddNodeMessage(nodeLookup, flow.MsgMissingProperty(nodeLookup))
		return nil, nil
	}
	key := throttleKey(*f.IdentityID)
	if err := l.Throttle.take(ctx, key, caller.IP); err != nil {
		return nil, err
	}
	ident, err := l.Spender.Identities.Get(ctx, *f.IdentityID)
	if err != nil {
		return nil, fmt.Errorf("load identity: %w", err)
	}
	m, err := l.Spender.Spend(ctx, ident, code, l.Now())
	switch {
	case errors.Is(err, lookup.ErrNoCodes):
		f.UI.AddMessage(flow.MsgLookupNone())
		return nil, refused(ident.ID, audit.ResultInvalidBackupCode)
	case err != nil:
		return nil, err
	case m == lookup.Used:
		f.UI.AddMessage(flow.MsgLookupUsed())
		return nil, refused(ident.ID, audit.ResultAlreadyUsed)
	case m == lookup.Invalid:
		f.UI.AddMessage(flow.MsgLookupInvalid())
		return nil, refused(ident.ID, audit.ResultInvalidBackupCode)
	}
	if ident.State != identity.StateActive {
		return nil, inactive(ident.ID)
	}
	return &Authenticated{Identity: ident, Commit: func(ctx context.Context) error {
		return l.Throttle.succeeded(ctx, key, caller.IP)
	}}, nil
}

// throttleKey is the failed-login budget of an identity's second factor,
// apart from the budgets of typed identifiers.
func throttleKey(id fmt.Stringer) string { return "aal2:" + id.String() }
