package recovery

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/lookup"
	"github.com/latchkey/latchkey/internal/ratelimit"
	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/internal/storeerr"
)

// Recovery with a backup code (a Latchkey departure, opt-in with
// selfservice.methods.lookup_secret.config.use_for_recovery): the user
// types the email address of the account and one unused backup code; no
// mailbox is involved (Kratos #1419, #2979).
//
// Enumeration: an unknown address, an address without backup codes, a
// wrong code and a code used before all get the same answer (400, the
// flow with message 4000016, the same nodes), count against the same
// budgets (the flow's submissions, the address and IP limits) and do the
// same work: one identity read, opening one sealed set of codes, and
// comparing with all of its codes in constant time.
//
// Success lands as any recovery does (success.go). The session records
// [code_recovery/aal1, lookup_secret/aal2]: the code recovered the
// account, and it is the identity's second factor, so the session is
// aal2 and settings under required_aal highest_available takes the new
// password at once; a backup code asks for no more than the aal2 step-up
// after a mailed recovery would.

// MethodLookup is the backup-code method: its node group and the value
// of the "method" field.
const MethodLookup Method = "lookup_secret"

// nodeLookup is the backup code input.
const nodeLookup = "lookup_secret"

// BackupCodes checks and spends backup codes for recovery.
type BackupCodes struct {
	Spender *lookup.Spender

	decoyOnce sync.Once
	decoy     *identity.Identity
	decoyErr  error
}

// decoyIdentity is an identity nobody has, with a sealed set of codes
// nobody has seen: what an unknown address is checked against, so it
// costs what a known one does.
func (b *BackupCodes) decoyIdentity() (*identity.Identity, error) {
	b.decoyOnce.Do(func() {
		id := uuid.New()
		cred, err := lookup.Credential(b.Spender.Sealer, id, lookup.Generate())
		b.decoy, b.decoyErr = &identity.Identity{ID: id, Credentials: map[identity.CredentialType]identity.Credential{identity.CredentialLookupSecret: cred}}, err
	})
	return b.decoy, b.decoyErr
}

// lookupNodes are the backup-code form a choose_method flow offers
// beside the mailed method.
func lookupNodes() []flow.Node {
	g := string(MethodLookup)
	return []flow.Node{
		flow.Input(g, "email", "email", flow.LabelEmail()).Required(),
		flow.Input(g, nodeLookup, "text", flow.LabelLookupInput()).Required(),
		flow.Input(g, "method", "submit", flow.LabelLookupLogin()).WithValue(g),
	}
}

// backupCodesOn reports whether flows offer recovery with a backup code.
func (s *Service) backupCodesOn() bool { return s.Config.BackupCodes && s.BackupCodes != nil }

// typedEmail is the address of a backup-code submission: a UI that puts
// both groups in one form sends two email fields, one of them empty.
func typedEmail(body map[string][]string) string {
	for _, v := range body["email"] {
		if v != "" {
			return v
		}
	}
	return ""
}

// useBackupCode handles a backup-code submission.
func (s *Service) useBackupCode(ctx context.Context, q *flow.Request, f *Flow, in submission, sess *session.Session) (*flow.Result, error) {
	if sess != nil {
		return nil, s.sessionAvailable()
	}
	if f.State == StatePassedChallenge {
		return s.replace(ctx, q, f, f.Type, httpx.ErrBadRequest(reasonDoneBefore), flow.MsgRecoveryRetrySuccess())
	}
	f.Active = string(MethodLookup)
	f.UI.ResetMessages()
	setGroupValue(&f.UI, "email", in.Email)
	if in.Email == "" || in.LookupSecret == "" {
		if in.Email == "" {
			addGroupMessage(&f.UI, "email", flow.MsgMissingProperty("email"))
		}
		if in.LookupSecret == "" {
			addGroupMessage(&f.UI, nodeLookup, flow.MsgMissingProperty(nodeLookup))
		}
		return flow.Reject(ctx, s.Flows, f, s.Config.RecoveryUIURL)
	}
	n, err := s.Flows.IncrementSubmissions(ctx, f.ID)
	if err != nil {
		return nil, err
	}
	if n > s.Config.MaxSubmissions {
		// No lookup yet (the address stays unchecked): no identity id.
		if err := s.Tx.InTx(ctx, func(ctx context.Context) error {
			return s.recordFailed(ctx, f, MethodLookup, uuid.Nil, audit.ResultTooManyAttempts)
		}); err != nil {
			return nil, err
		}
		return s.replace(ctx, q, f, f.Type, httpx.ErrBadRequest(reasonTooOften), flow.MsgGeneric(reasonTooOften))
	}
	err = s.Tx.InTx(ctx, func(ctx context.Context) error { return s.countSend(ctx, in.Email, q.Caller.IP) })
	var limited *ratelimit.ExceededError
	if errors.As(err, &limited) {
		return s.showLimited(ctx, f, limited, "recovery backup-code limit hit", MethodLookup, in.Email)
	}
	if err != nil {
		return nil, err
	}
	ident, ok, err := s.checkBackupCode(ctx, in.Email, in.LookupSecret)
	if err != nil {
		return nil, err
	}
	if !ok {
		httpx.Logger(ctx).Info("recovery backup code wrong", "flow_id", f.ID, "submissions", n)
		f.UI.AddMessage(flow.MsgLookupInvalid())
		owner := uuid.Nil
		if ident != nil {
			owner = ident.ID
		}
		var res *flow.Result
		err := s.Tx.InTx(ctx, func(ctx context.Context) error {
			if err := s.recordFailed(ctx, f, MethodLookup, owner, audit.ResultInvalidBackupCode); err != nil {
				return err
			}
			var err error
			res, err = flow.Reject(ctx, s.Flows, f, s.Config.RecoveryUIURL)
			return err
		})
		return res, err
	}
	sec := &Secret{IdentityID: ident.ID, Kind: KindSelf}
	res, err := s.succeed(ctx, q, f, sec, MethodLookup, func(ctx context.Context, _ uuid.UUID, now time.Time) (bool, error) {
		m, err := s.BackupCodes.Spender.SpendOnce(ctx, ident, in.LookupSecret, now)
		if errors.Is(err, lookup.ErrChanged) || errors.Is(err, lookup.ErrNoCodes) {
			return false, nil
		}
		return m == lookup.Unused, err
	})
	if errors.Is(err, errAlreadyUsed) {
		return s.replace(ctx, q, f, f.Type, httpx.ErrBadRequest(reasonCodeUsed), flow.MsgGeneric(reasonCodeUsed))
	}
	if err != nil {
		return nil, err
	}
	f.TransientPayload = orEmptyObject(in.TransientPayload)
	return res, nil
}

// checkBackupCode finds the identity of address and compares code with
// its unused backup codes. Whatever the outcome, one identity is read
// and one sealed set is opened and compared in full. The identity is
// returned whenever the address has one (for the audit log); ok says
// whether the code is one of its unused codes.
func (s *Service) checkBackupCode(ctx context.Context, address, code string) (*identity.Identity, bool, error) {
	_, ident, err := s.Identities.FindRecoveryAddress(ctx, "email", address)
	if errors.Is(err, storeerr.ErrNotFound) {
		// The read a known address costs.
		if _, err := s.Identities.Get(ctx, uuid.New()); err != nil && !errors.Is(err, storeerr.ErrNotFound) {
			return nil, false, err
		}
		ident = nil
	} else if err != nil {
		return nil, false, err
	}
	target := ident
	if target == nil || target.Credentials[identity.CredentialLookupSecret].Config == nil {
		if target, err = s.BackupCodes.decoyIdentity(); err != nil {
			return nil, false, err
		}
	}
	set, _, err := lookup.Open(s.BackupCodes.Spender.Sealer, target)
	if err != nil && target == ident {
		// An unreadable set (say, imported unsealed) checks like none.
		httpx.Logger(ctx).Error("backup codes cannot be opened", "identity_id", ident.ID, "error", err)
		if target, err = s.BackupCodes.decoyIdentity(); err == nil {
			set, _, err = lookup.Open(s.BackupCodes.Spender.Sealer, target)
		}
	}
	if err != nil {
		return nil, false, err
	}
	_, m := set.Find(code)
	if ident == nil || target != ident || m != lookup.Unused {
		return ident, false, nil
	}
	return ident, true, nil
}

// setGroupValue and addGroupMessage address the backup-code group's
// nodes (the mailed method's group has an email input too).
func setGroupValue(ui *flow.Container, name string, v any) {
	for i := range ui.Nodes {
		if n := &ui.Nodes[i]; n.Group == string(MethodLookup) && n.Attributes.Name == name {
			n.Attributes.Value = v
		}
	}
}

func addGroupMessage(ui *flow.Container, name string, m flow.Message) {
	for i := range ui.Nodes {
		if n := &ui.Nodes[i]; n.Group == string(MethodLookup) && n.Attributes.Name == name {
			n.Messages = append(n.Messages, m)
			return
		}
	}
	ui.AddMessage(m)
}
