package settings

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/internal/totp"
)

// MethodTOTP is the totp method's name (and its node group).
const MethodTOTP = "totp"

// Node names of the totp method.
const (
	nodeTOTPQR     = "totp_qr"
	nodeTOTPSecret = "totp_secret_key"
	nodeTOTPCode   = "totp_code"
	nodeTOTPUnlink = "totp_unlink"
)

// TOTP enrols and unlinks an authenticator app. An identity without one
// is offered a new key (sealed in the flow's Pending, shown as a QR code
// and as text) and confirms it with a code; an identity with one can
// unlink it. Both need a privileged session, as in Kratos.
type TOTP struct {
	flow.Switch // selfservice.methods.totp.enabled
	// Issuer is selfservice.methods.totp.config.issuer (Config.TOTPIssuer).
	Issuer      string
	Sealer      identity.Sealer
	Credentials FactorCredentials
	Now         func() time.Time
}

// ID implements flow.Method.
func (t *TOTP) ID() string { return MethodTOTP }

// Claims implements flow.Claimer: the unlink button is a submit named
// totp_unlink, so an HTML form sends no method field with it.
func (t *TOTP) Claims(body *httpx.FormBody) bool { return body.Get(nodeTOTPUnlink) == "true" }

// Nodes implements Method: the unlink button for an identity with TOTP,
// otherwise a new key to enrol, its QR code and secret (filled in by
// Show), the code input and the save button.
func (t *TOTP) Nodes(_ context.Context, f *Flow) ([]flow.Node, error) {
	if hasTOTP(f.Identity) {
		return []flow.Node{
			flow.Input(flow.GroupTOTP, nodeTOTPUnlink, "submit", flow.LabelTOTPUnlink()).WithValue("true").Required(),
		}, nil
	}
	key, err := totp.Generate(t.Issuer, f.Identity.ID.String())
	if err != nil {
		return nil, err
	}
	if f.Pending == nil {
		f.Pending = map[string]string{}
	}
	f.Pending[MethodTOTP] = t.Sealer.Seal([]byte(key.URL()), totpPendingContext(f.IdentityID))
	return []flow.Node{
		flow.Image(flow.GroupTOTP, nodeTOTPQR, "", 256, 256, flow.LabelTOTPQRCode()),
		flow.Text(flow.GroupTOTP, nodeTOTPSecret, flow.MsgTOTPSecret(""), flow.LabelTOTPSecret()),
		flow.Input(flow.GroupTOTP, nodeTOTPCode, "text", flow.LabelVerifyCode()).Required(),
		flow.Input(flow.GroupTOTP, nodeMethod, "submit", flow.LabelSave()).WithValue(MethodTOTP),
	}, nil
}

// Show implements Method: the pending key's QR code and secret go into
// their nodes (they are stored empty).
func (t *TOTP) Show(f *Flow) {
	key, err := t.pendingKey(f)
	if err != nil {
		return
	}
	qr, err := key.QRCode()
	if err != nil {
		return
	}
	for i := range f.UI.Nodes {
		n := &f.UI.Nodes[i]
		switch {
		case n.Group != flow.GroupTOTP:
		case n.Attributes.NodeType == "img" && n.Attributes.ID == nodeTOTPQR:
			n.Attributes.Src = qr
		case n.Attributes.NodeType == "text" && n.Attributes.ID == nodeTOTPSecret:
			msg := flow.MsgTOTPSecret(key.Secret())
			n.Attributes.Text = &msg
		}
	}
}

// Update implements Method. Checks run in Kratos's order: origin, the
// privileged window, then enrol or unlink by what the identity has. A
// code sent for an identity that enrolled meanwhile (from a flow started
// before) changes nothing and succeeds, as in Kratos: the factor in use
// is never replaced by a second enrolment.
func (t *TOTP) Update(ctx context.Context, s *Service, f *Flow, sub submission) (*flow.Result, error) {
	if r, err := s.checkOrigin(ctx, f, sub); r != nil || err != nil {
		return r, err
	}
	if err := s.checkPrivileged(sub.session, f); err != nil {
		return nil, err
	}
	if hasTOTP(f.Identity) {
		return t.unlink(ctx, s, f, sub)
	}
	return t.enrol(ctx, s, f, sub)
}

func (t *TOTP) enrol(ctx context.Context, s *Service, f *Flow, sub submission) (*flow.Result, error) {
	code := sub.body.Get(nodeTOTPCode)
	if code == "" {
		f.UI.AddNodeMessage(nodeTOTPCode, flow.MsgMissingProperty(nodeTOTPCode))
		return s.reject(ctx, f)
	}
	key, err := t.pendingKey(f)
	if errors.Is(err, errNoPendingKey) {
		// The flow was made while the identity had TOTP (it shows the
		// unlink button); offer a key now.
		if err := t.offerAgain(ctx, f); err != nil {
			return nil, err
		}
		f.UI.AddNodeMessage(nodeTOTPCode, flow.MsgTOTPCodeInvalid())
		return s.reject(ctx, f)
	}
	if err != nil {
		return nil, err
	}
	step, ok := key.Match(code, t.Now(), 0)
	if !ok {
		f.UI.AddNodeMessage(nodeTOTPCode, flow.MsgTOTPCodeInvalid())
		return s.reject(ctx, f)
	}
	cred, err := totp.Credential(t.Sealer, f.IdentityID, key, step)
	if err != nil {
		return nil, err
	}
	return s.saveWithHooks(ctx, f, sub, MethodTOTP, func(ctx context.Context) (*identity.Identity, error) {
		current, err := t.Credentials.Get(ctx, f.IdentityID)
		if err != nil {
			return nil, err
		}
		if hasTOTP(current) { // enrolled meanwhile: keep that one
			return current, nil
		}
		if err := t.Credentials.PutCredential(ctx, f.IdentityID, cred); err != nil {
			return nil, fmt.Errorf("store totp credential: %w", err)
		}
		// Enrolling proved the second factor: the session reaches aal2.
		if err := s.Sessions.Reauthenticate(ctx, sub.session, session.MethodTOTP); err != nil {
			return nil, fmt.Errorf("record totp on session: %w", err)
		}
		if err := s.recordSecondFactor(ctx, audit.SecondFactorAdded, f, MethodTOTP, nil); err != nil {
			return nil, err
		}
		httpx.Logger(ctx).Info("totp enrolled", "identity_id", f.IdentityID, "session_id", sub.session.ID, "flow_id", f.ID)
		return t.Credentials.Get(ctx, f.IdentityID)
	})
}

// unlink removes the identity's TOTP when asked to; a code sent for an
// identity that has TOTP already changes nothing (see Update).
func (t *TOTP) unlink(ctx context.Context, s *Service, f *Flow, sub submission) (*flow.Result, error) {
	return s.saveWithHooks(ctx, f, sub, MethodTOTP, func(ctx context.Context) (*identity.Identity, error) {
		if t.Claims(sub.body) {
			err := t.Credentials.DeleteCredential(ctx, f.IdentityID, identity.CredentialTOTP)
			switch {
			case err == nil:
				if err := s.recordSecondFactor(ctx, audit.SecondFactorRemoved, f, MethodTOTP, nil); err != nil {
					return nil, err
				}
			case !errors.Is(err, identity.ErrNotFound):
				return nil, fmt.Errorf("delete totp credential: %w", err)
			}
			httpx.Logger(ctx).Info("totp unlinked", "identity_id", f.IdentityID, "session_id", sub.session.ID, "flow_id", f.ID)
		}
		return t.Credentials.Get(ctx, f.IdentityID)
	})
}

// offerAgain replaces the flow's totp group with the one for the
// identity as it is now.
func (t *TOTP) offerAgain(ctx context.Context, f *Flow) error {
	nodes, err := t.Nodes(ctx, f)
	if err != nil {
		return err
	}
	kept := f.UI.Nodes[:0:0]
	for _, n := range f.UI.Nodes {
		if n.Group != flow.GroupTOTP {
			kept = append(kept, n)
		}
	}
	f.UI.Nodes = append(kept, nodes...)
	return nil
}

var errNoPendingKey = errors.New("settings: the flow offers no totp key")

// pendingKey opens the key the flow offered.
func (t *TOTP) pendingKey(f *Flow) (totp.Key, error) {
	sealed, ok := f.Pending[MethodTOTP]
	if !ok {
		return totp.Key{}, errNoPendingKey
	}
	raw, err := t.Sealer.Open(sealed, totpPendingContext(f.IdentityID))
	if err != nil {
		return totp.Key{}, fmt.Errorf("open pending totp key of flow %s: %w", f.ID, err)
	}
	return totp.Parse(string(raw))
}

// totpPendingContext binds a pending key to the identity it was made for.
// Not to the flow: a successful submission answers with a fresh flow's
// form, and its Pending, under the submitted flow's id (see succeed).
func totpPendingContext(identityID uuid.UUID) []byte {
	return []byte("settings_flow.pending\x00totp\x00" + identityID.String())
}

// hasTOTP reports whether ident (loaded with credentials) has TOTP.
func hasTOTP(ident *identity.Identity) bool {
	if ident == nil {
		return false
	}
	_, ok := ident.Credentials[identity.CredentialTOTP]
	return ok
}
