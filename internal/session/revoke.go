package session

import (
	"context"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/storeerr"
)

// Every way a session ends goes through these methods, so each writes
// its session.revoked event (docs/audit.md) in the transaction of the
// revocation. The actor comes from the request: the user (logout, the
// sessions API), an admin, or the system. Revoking nothing records
// nothing.

// Revoke deactivates one session (the row is kept). storeerr.ErrNotFound
// when there is no such session.
func (m *Manager) Revoke(ctx context.Context, id uuid.UUID) error {
	return m.revokeOne(ctx, uuid.Nil, id)
}

// RevokeOwn deactivates session id of the identity (DELETE
// /sessions/{id}); storeerr.ErrNotFound when the identity has no such
// session.
func (m *Manager) RevokeOwn(ctx context.Context, identityID, id uuid.UUID) error {
	return m.revokeOne(ctx, identityID, id)
}

// RevokeToken deactivates the session a token belongs to (native logout).
// storeerr.ErrNotFound when no session has this token; revoking an
// already revoked session succeeds.
func (m *Manager) RevokeToken(ctx context.Context, token string) error {
	if token == "" || len(token) > maxTokenLength {
		return storeerr.ErrNotFound
	}
	s, err := m.Store.SessionByTokenHash(ctx, m.Tokens.Candidates(token))
	if err != nil {
		return err
	}
	return m.revokeOne(ctx, uuid.Nil, s.ID)
}

// revokeOne deactivates session id (of identityID unless uuid.Nil); the
// event is written only when the session was active.
func (m *Manager) revokeOne(ctx context.Context, identityID, id uuid.UUID) error {
	return m.inTx(ctx, func(ctx context.Context) error {
		s, err := m.Store.GetSession(ctx, id)
		if err != nil {
			return err
		}
		if identityID != uuid.Nil && s.IdentityID != identityID {
			return storeerr.ErrNotFound
		}
		if err := m.Store.RevokeSession(ctx, identityID, id, m.now()); err != nil {
			return err
		}
		if !s.Active {
			return nil
		}
		return m.Audit.Record(ctx, audit.Event{Type: audit.SessionRevoked, IdentityID: &s.IdentityID,
			Details: map[string]any{"session_id": id.String()}})
	})
}

// RevokeOthers deactivates every active session of the identity except
// keepSessionID (DELETE /sessions, a password change) and returns how
// many.
func (m *Manager) RevokeOthers(ctx context.Context, identityID, keepSessionID uuid.UUID) (int, error) {
	return m.revokeMany(ctx, identityID, "others", func(ctx context.Context) (int, error) {
		return m.Store.RevokeIdentitySessions(ctx, identityID, keepSessionID, m.now())
	})
}

// RevokeAll deactivates every active session of the identity (e.g. after
// recovery, before the new session is issued) and returns how many.
func (m *Manager) RevokeAll(ctx context.Context, identityID uuid.UUID) (int, error) {
	return m.revokeMany(ctx, identityID, "all", func(ctx context.Context) (int, error) {
		return m.Store.RevokeIdentitySessions(ctx, identityID, uuid.Nil, m.now())
	})
}

// DeleteAll deletes every session of the identity (DELETE
// /admin/identities/{id}/sessions) and returns how many there were.
func (m *Manager) DeleteAll(ctx context.Context, identityID uuid.UUID) (int, error) {
	return m.revokeMany(ctx, identityID, "all", func(ctx context.Context) (int, error) {
		return m.Store.DeleteIdentitySessions(ctx, identityID)
	})
}

// revokeMany runs revoke and records how many sessions it ended.
func (m *Manager) revokeMany(ctx context.Context, identityID uuid.UUID, scope string, revoke func(ctx context.Context) (int, error)) (int, error) {
	var n int
	err := m.inTx(ctx, func(ctx context.Context) error {
		var err error
		if n, err = revoke(ctx); err != nil || n == 0 {
			return err
		}
		return m.Audit.Record(ctx, audit.Event{Type: audit.SessionRevoked, IdentityID: &identityID,
			Details: map[string]any{"count": n, "scope": scope}})
	})
	return n, err
}

func (m *Manager) inTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if m.Tx == nil {
		return fn(ctx)
	}
	return m.Tx.InTx(ctx, fn)
}
