package sqlstore

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/notify"
)

// LockdownStore implements notify.Store: lockdown_uses, the links used,
// and lockdown_tokens, the stored tokens of links mailed before tokens
// were derived.
type LockdownStore struct{ DB *DB }

// NewLockdownStore returns the lockdown token store of db.
func NewLockdownStore(db *DB) *LockdownStore { return &LockdownStore{DB: db} }

var _ notify.Store = (*LockdownStore)(nil)

// LinkUsedAt says when the link of (eventID, recipient) was used, and
// ErrNotFound when identityID names no identity (any more).
func (s *LockdownStore) LinkUsedAt(ctx context.Context, identityID, eventID uuid.UUID, recipient int) (*time.Time, error) {
	var (
		id   string
		used *time.Time
	)
	err := s.DB.QueryRow(ctx, `SELECT i.id, u.used_at FROM identities i
		LEFT JOIN lockdown_uses u ON u.event_id = ? AND u.recipient = ?
		WHERE i.id = ?`, eventID.String(), recipient, identityID.String()).Scan(&id, &used)
	if err != nil {
		return nil, ScanErr(err)
	}
	return utcPtr(used), nil
}

// UseLink spends the link of (eventID, recipient): the primary key lets
// exactly one of concurrent callers insert its row.
func (s *LockdownStore) UseLink(ctx context.Context, eventID uuid.UUID, recipient int, at, expiresAt time.Time) (bool, error) {
	_, err := s.DB.Exec(ctx, `INSERT INTO lockdown_uses (event_id, recipient, used_at, expires_at) VALUES (?, ?, ?, ?)`,
		eventID.String(), recipient, s.DB.T(at), s.DB.T(expiresAt))
	if errors.Is(err, ErrConflict) {
		return false, nil
	}
	return err == nil, err
}

// LegacyTokenByHash finds the stored token (lockdown_tokens, links mailed
// before tokens were derived) whose hash is any of hashes.
func (s *LockdownStore) LegacyTokenByHash(ctx context.Context, hashes []string) (*notify.Token, error) {
	if len(hashes) == 0 {
		return nil, ErrNotFound
	}
	_, args := inList(hashes)
	var (
		t                           notify.Token
		id, ident, event, eventType string
		used                        *time.Time
	)
	err := s.DB.QueryRow(ctx, `SELECT id, identity_id, event_id, event_type, event_time, expires_at, used_at
		FROM lockdown_tokens WHERE token_hash`+oneOf(len(hashes)), args...).
		Scan(&id, &ident, &event, &eventType, &t.EventTime, &t.ExpiresAt, &used)
	if err != nil {
		return nil, ScanErr(err)
	}
	t.LegacyID, t.IdentityID, t.EventID = uuid.MustParse(id), uuid.MustParse(ident), uuid.MustParse(event)
	t.EventType = audit.Type(eventType)
	t.EventTime, t.ExpiresAt, t.UsedAt = t.EventTime.UTC(), t.ExpiresAt.UTC(), utcPtr(used)
	return &t, nil
}

// UseLegacyToken marks a stored token used; exactly one concurrent caller
// sees true (the conditional UPDATE re-checks used_at under the row lock).
func (s *LockdownStore) UseLegacyToken(ctx context.Context, id uuid.UUID, at time.Time) (bool, error) {
	res, err := s.DB.Exec(ctx, `UPDATE lockdown_tokens SET used_at = ? WHERE id = ? AND used_at IS NULL`, s.DB.T(at), id.String())
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}
