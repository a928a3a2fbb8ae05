package sqlstore

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/notify"
)

// LockdownStore implements notify.Store: the lockdown_tokens table.
type LockdownStore struct{ DB *DB }

// NewLockdownStore returns the lockdown token store of db.
func NewLockdownStore(db *DB) *LockdownStore { return &LockdownStore{DB: db} }

var _ notify.Store = (*LockdownStore)(nil)

// CreateLockdownToken inserts a token.
func (s *LockdownStore) CreateLockdownToken(ctx context.Context, t *notify.Token) error {
	if t.CreatedAt.IsZero() {
		t.CreatedAt = s.DB.NowUTC()
	}
	return s.DB.ExecLater(ctx, `INSERT INTO lockdown_tokens (id, identity_id, token_hash, event_id, event_type, event_time, expires_at, used_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?)`,
		t.ID.String(), t.IdentityID.String(), t.Hash, t.EventID.String(), string(t.EventType),
		s.DB.T(t.EventTime), s.DB.T(t.ExpiresAt), s.DB.T(t.CreatedAt))
}

// LockdownTokenByHash finds the token whose hash is any of hashes.
func (s *LockdownStore) LockdownTokenByHash(ctx context.Context, hashes []string) (*notify.Token, error) {
	if len(hashes) == 0 {
		return nil, ErrNotFound
	}
	_, args := inList(hashes)
	var (
		t                           notify.Token
		id, ident, event, eventType string
		used                        *time.Time
	)
	err := s.DB.QueryRow(ctx, `SELECT id, identity_id, token_hash, event_id, event_type, event_time, expires_at, used_at, created_at
		FROM lockdown_tokens WHERE token_hash`+oneOf(len(hashes)), args...).
		Scan(&id, &ident, &t.Hash, &event, &eventType, &t.EventTime, &t.ExpiresAt, &used, &t.CreatedAt)
	if err != nil {
		return nil, ScanErr(err)
	}
	t.ID, t.IdentityID, t.EventID = uuid.MustParse(id), uuid.MustParse(ident), uuid.MustParse(event)
	t.EventType = audit.Type(eventType)
	t.EventTime, t.ExpiresAt, t.CreatedAt = t.EventTime.UTC(), t.ExpiresAt.UTC(), t.CreatedAt.UTC()
	if used != nil {
		u := used.UTC()
		t.UsedAt = &u
	}
	return &t, nil
}

// UseLockdownToken marks a token used; exactly one concurrent caller
// sees true (the conditional UPDATE re-checks used_at under the row lock).
func (s *LockdownStore) UseLockdownToken(ctx context.Context, id uuid.UUID, at time.Time) (bool, error) {
	res, err := s.DB.Exec(ctx, `UPDATE lockdown_tokens SET used_at = ? WHERE id = ? AND used_at IS NULL`, s.DB.T(at), id.String())
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}
