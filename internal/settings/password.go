package settings

import (
	"context"
	"errors"
	"fmt"

	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/password"
)

// PasswordPolicy decides whether a new password is acceptable for an
// identity with these password identifiers (*password.Policy); nil means
// it is.
type PasswordPolicy interface {
	Validate(identifiers []string, password string) *password.Violation
}

// PasswordHasher hashes and compares passwords (*password.Hasher, which
// runs the work in a bounded pool).
type PasswordHasher interface {
	Hash(ctx context.Context, plain []byte) (string, error)
	Compare(ctx context.Context, plain []byte, encoded string) (bool, error)
}

// updatePassword is the password method: a new password for the session's
// identity. The privileged window is checked before the password itself,
// so an old session learns nothing about the policy.
func (s *Service) updatePassword(ctx context.Context, f *Flow, sub submission) (*flow.Result, error) {
	pw := sub.body.Get("password")
	if pw == "" {
		f.UI.AddNodeMessage(nodePassword, flow.MsgMissingProperty("password"))
		return s.reject(ctx, f)
	}
	if r, err := s.checkOrigin(ctx, f, sub); r != nil || err != nil {
		return r, err
	}
	sess := sub.session
	if err := s.checkPrivileged(sess, f); err != nil {
		return nil, err
	}
	ident := sess.Identity
	identifiers := ident.PasswordIdentifiers()
	if len(identifiers) == 0 {
		f.UI.AddMessage(flow.MsgNoIdentifiers())
		return s.reject(ctx, f)
	}
	if v := s.Policy.Validate(identifiers, pw); v != nil {
		f.UI.AddNodeMessage(nodePassword, flow.MsgFromPolicy(v.ID, v.Text, v.Context))
		return s.reject(ctx, f)
	}
	hashed, same, err := s.hashUnlessSame(ctx, ident.HashedPassword(), pw)
	if errors.Is(err, password.ErrPasswordTooLong) {
		// Only reached when the policy's maximum is not the hasher's.
		f.UI.AddNodeMessage(nodePassword, flow.MsgFromPolicy(4000033,
			fmt.Sprintf("The password must be at most %d characters long, but got %d.", password.BcryptMaxLength, len(pw)),
			map[string]any{"max_length": password.BcryptMaxLength, "actual_length": len(pw)}))
		return s.reject(ctx, f)
	}
	if err != nil {
		return nil, err
	}
	if same {
		f.UI.AddNodeMessage(nodePassword, flow.MsgPasswordSameAsOld())
		return s.reject(ctx, f)
	}
	changes, refused, err := s.runAfterHooks(ctx, f, sub, ident, MethodPassword)
	if refused != nil || err != nil {
		return refused, err
	}
	var res *flow.Result
	var updated *identity.Identity
	// The other sessions revoked here are logged as part of this flow.
	ctx = audit.InFlow(ctx, f.ID, string(MethodPassword))
	err = s.Tx.InTx(ctx, func(ctx context.Context) error {
		if err := s.Identities.SetPassword(ctx, ident.ID, hashed); err != nil {
			return err
		}
		revoked := 0
		if s.Config.RevokeOtherSessions {
			var err error
			if revoked, err = s.Sessions.RevokeOthers(ctx, ident.ID, sess.ID); err != nil {
				return fmt.Errorf("revoke other sessions: %w", err)
			}
		}
		if err := s.Audit.Record(ctx, audit.Event{Type: audit.PasswordChanged, IdentityID: &ident.ID, FlowID: &f.ID, Method: string(MethodPassword),
			Details: map[string]any{"session_id": sess.ID.String(), "revoked_sessions": revoked}}); err != nil {
			return err
		}
		var err error
		if updated, err = s.Identities.Get(ctx, ident.ID); err != nil {
			return err
		}
		if updated, err = s.applyHookChanges(ctx, updated, changes); err != nil {
			return err
		}
		res, err = s.succeed(ctx, sub, f, updated, MethodPassword)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.afterCommit(ctx, f, sub, updated, MethodPassword)
	return res, nil
}

// hashUnlessSame hashes the new password while, at the same time, checking
// whether it is the current one (both are deliberately slow; together
// they take the time of one).
func (s *Service) hashUnlessSame(ctx context.Context, current, pw string) (hashed string, same bool, err error) {
	type hashResult struct {
		hash string
		err  error
	}
	done := make(chan hashResult, 1)
	go func() {
		h, err := s.Passwords.Hash(ctx, []byte(pw))
		done <- hashResult{h, err}
	}()
	if current != "" {
		ok, cerr := s.Passwords.Compare(ctx, []byte(pw), current)
		// A stored hash that cannot be verified (a broken import) is
		// simply not the same password.
		same = cerr == nil && ok
		if cerr != nil && (errors.Is(cerr, context.Canceled) || errors.Is(cerr, context.DeadlineExceeded)) {
			<-done
			return "", false, cerr
		}
	}
	r := <-done
	if r.err != nil {
		return "", false, fmt.Errorf("hash password: %w", r.err)
	}
	return r.hash, same, nil
}
