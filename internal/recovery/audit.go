package recovery

import (
	"context"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/audit"
)

// recordFailed writes a recovery.failed event with result (one of the
// audit.Result* failures) in the transaction ctx carries. f is nil when
// the submission named no flow; identityID is uuid.Nil when unknown.
// Never the submitted code or token.
func (s *Service) recordFailed(ctx context.Context, f *Flow, m Method, identityID uuid.UUID, result string) error {
	e := audit.Event{Type: audit.RecoveryFailed, IdentityID: audit.ID(identityID), Method: string(m), Result: result}
	if f != nil {
		e.FlowID = &f.ID
	}
	return s.Audit.Record(ctx, e)
}

// flowIdentity is the identity the flow's codes or link tokens were
// issued for (uuid.Nil when none was): who a failure concerns.
func (s *Service) flowIdentity(ctx context.Context, f *Flow) (uuid.UUID, error) {
	list := s.Store.FlowCodes
	if f.method() == MethodLink {
		list = s.Store.FlowTokens
	}
	secrets, err := list(ctx, f.ID)
	if err != nil {
		return uuid.Nil, err
	}
	return secretsIdentity(secrets), nil
}

// secretsIdentity is the identity of the first of secrets (all of a
// flow's secrets belong to one identity).
func secretsIdentity(secrets []Secret) uuid.UUID {
	if len(secrets) == 0 {
		return uuid.Nil
	}
	return secrets[0].IdentityID
}
