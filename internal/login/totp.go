package login

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/session"
)

// nodeTOTPCode is the code input of the totp method.
const nodeTOTPCode = "totp_code"

// TOTPCodes checks a code against an identity's authenticator, each code
// once (*totp.Verifier).
type TOTPCodes interface {
	Use(ctx context.Context, ident *identity.Identity, code string) (bool, error)
}

// IdentityGetter loads an identity with its credentials.
type IdentityGetter interface {
	Get(ctx context.Context, id uuid.UUID) (*identity.Identity, error)
}

// TOTP is the second login step with an authenticator app's code, on an
// aal2 flow of a signed-in identity that enrolled one.
type TOTP struct {
	flow.Switch // selfservice.methods.totp.enabled
	Identities  IdentityGetter
	Codes       TOTPCodes
	// Throttle limits guesses per identity and per client IP, with the
	// budgets of the password method (nil: no limits).
	Throttle *Throttle
}

// ID implements Method.
func (t *TOTP) ID() string { return session.MethodTOTP }

// Nodes implements Method: the code input and "Use Authenticator", only
// for an identity that has TOTP.
func (t *TOTP) Nodes(ctx context.Context, f *Flow, _ *session.Session) ([]flow.Node, error) {
	if f.IdentityID == nil {
		return nil, nil
	}
	ident, err := t.Identities.Get(ctx, *f.IdentityID)
	if err != nil {
		return nil, fmt.Errorf("load identity of aal2 login: %w", err)
	}
	if _, ok := ident.Credentials[identity.CredentialTOTP]; !ok {
		return nil, nil
	}
	return []flow.Node{
		flow.Input(flow.GroupTOTP, nodeTOTPCode, "text", flow.LabelLoginTOTPCode()).WithValue("").Required(),
		flow.Input(flow.GroupTOTP, nodeMethod, "submit", flow.LabelLoginUseTOTP()).WithValue(session.MethodTOTP),
	}, nil
}

// Authenticate implements Method. Every guess counts against the
// identity's and the IP's failed-login budgets before the code is
// checked; a right code gives it back.
func (t *TOTP) Authenticate(ctx context.Context, f *Flow, body *httpx.FormBody, caller httpx.Caller) (*Authenticated, error) {
	code := body.Get(nodeTOTPCode)
	if code == "" {
		f.UI.AddNodeMessage(nodeTOTPCode, flow.MsgMissingProperty(nodeTOTPCode))
		return nil, nil
	}
	if f.IdentityID == nil { // submit refuses aal2 flows without one
		return nil, ErrAAL1Required
	}
	ident, err := t.Identities.Get(ctx, *f.IdentityID)
	if err != nil {
		return nil, fmt.Errorf("load identity of aal2 login: %w", err)
	}
	if _, ok := ident.Credentials[identity.CredentialTOTP]; !ok {
		f.UI.AddMessage(flow.MsgNoTOTPDevice())
		return nil, nil
	}
	budget := secondFactorKey(session.MethodTOTP, ident.ID)
	if err := t.Throttle.takeSecondFactor(ctx, budget, caller.IP); err != nil {
		return nil, err
	}
	ok, err := t.Codes.Use(ctx, ident, code)
	if err != nil {
		return nil, err
	}
	if !ok {
		f.UI.AddMessage(flow.MsgTOTPCodeInvalid())
		return nil, refused(ident.ID, audit.ResultInvalidTOTP)
	}
	if ident.State != identity.StateActive {
		return nil, inactive(ident.ID)
	}
	return &Authenticated{Identity: ident, Commit: func(ctx context.Context) error {
		return t.Throttle.succeededSecondFactor(ctx, budget, caller.IP)
	}}, nil
}
