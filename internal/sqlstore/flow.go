package sqlstore

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/flow"
)

// FlowStore implements flow.Store.
type FlowStore struct {
	DB *DB
	// batch writes flows created outside a transaction together
	// (PostgreSQL, MySQL; nil on SQLite, where groupCommit does).
	batch *flowBatcher
}

// NewFlowStore returns the flow store of db.
func NewFlowStore(db *DB) *FlowStore {
	s := &FlowStore{DB: db}
	if db.Dialect != SQLite {
		s.batch = &flowBatcher{db: db}
	}
	return s
}

var _ flow.Store = (*FlowStore)(nil)

// CreateFlow inserts a flow.
func (s *FlowStore) CreateFlow(ctx context.Context, r *flow.Record) error {
	now := s.DB.NowUTC()
	r.CreatedAt, r.UpdatedAt = now, now
	args := []any{r.ID.String(), r.Kind, string(r.Type), r.State, nullableUUID(r.IdentityID), r.CSRF, string(r.Data), r.Submissions,
		s.DB.T(r.ExpiresAt), s.DB.T(now), s.DB.T(now)}
	if s.batch != nil && !inTx(ctx) {
		return s.batch.insert(ctx, args)
	}
	return s.DB.ExecLater(ctx, flowInserts[1], args...)
}

// GetFlow loads a flow of the given kind.
func (s *FlowStore) GetFlow(ctx context.Context, kind string, id uuid.UUID) (*flow.Record, error) {
	var (
		r          flow.Record
		idStr, typ string
		identityID *string
		data       string
	)
	err := s.DB.QueryRow(ctx, `SELECT id, kind, type, state, identity_id, csrf_fingerprint, data, submissions, expires_at, created_at, updated_at
		FROM selfservice_flows WHERE id = ? AND kind = ?`, id.String(), kind).
		Scan(&idStr, &r.Kind, &typ, &r.State, &identityID, &r.CSRF, &data, &r.Submissions, &r.ExpiresAt, &r.CreatedAt, &r.UpdatedAt)
	if err != nil {
		return nil, ScanErr(err)
	}
	r.ID = uuid.MustParse(idStr)
	r.Type = flow.Type(typ)
	if identityID != nil {
		u, err := uuid.Parse(*identityID)
		if err == nil {
			r.IdentityID = &u
		}
	}
	r.Data = json.RawMessage(data)
	r.ExpiresAt, r.CreatedAt, r.UpdatedAt = r.ExpiresAt.UTC(), r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	return &r, nil
}

// GetFlowStatus reads a flow's state and expiry only.
func (s *FlowStore) GetFlowStatus(ctx context.Context, kind string, id uuid.UUID) (string, time.Time, error) {
	var (
		state     string
		expiresAt time.Time
	)
	err := s.DB.QueryRow(ctx, `SELECT state, expires_at FROM selfservice_flows WHERE id = ? AND kind = ?`, id.String(), kind).
		Scan(&state, &expiresAt)
	if err != nil {
		return "", time.Time{}, ScanErr(err)
	}
	return state, expiresAt.UTC(), nil
}

// UpdateFlow saves a flow's mutable fields.
func (s *FlowStore) UpdateFlow(ctx context.Context, r *flow.Record) error {
	r.UpdatedAt = s.DB.NowUTC()
	// In a PostgreSQL transaction it goes with the next statement; a flow
	// gone meanwhile fails that statement with ErrNotFound.
	return s.DB.ExecLaterChanging(ctx, ErrNotFound, `UPDATE selfservice_flows
		SET state = ?, identity_id = ?, csrf_fingerprint = ?, data = ?, expires_at = ?, updated_at = ?
		WHERE id = ?`,
		r.State, nullableUUID(r.IdentityID), r.CSRF, string(r.Data), s.DB.T(r.ExpiresAt), s.DB.T(r.UpdatedAt), r.ID.String())
}

// IncrementSubmissions counts one more submission. The UPDATE takes the
// row lock, so concurrent submissions are counted one after another.
// SQLite and PostgreSQL return the new count with the UPDATE; MySQL has no
// RETURNING and reads it back in the same transaction.
func (s *FlowStore) IncrementSubmissions(ctx context.Context, id uuid.UUID) (int, error) {
	const increment = `UPDATE selfservice_flows SET submissions = submissions + 1 WHERE id = ?`
	var n int
	err := s.DB.InTx(ctx, func(ctx context.Context) error {
		if s.DB.Dialect != MySQL {
			// With the transaction's BEGIN, in one round trip.
			return ScanErr(s.DB.ReturningRow(ctx, increment+` RETURNING submissions`, id.String()).Scan(&n))
		}
		res, err := s.DB.Exec(ctx, increment, id.String())
		if err != nil {
			return err
		}
		if c, _ := res.RowsAffected(); c == 0 {
			return ErrNotFound
		}
		return ScanErr(s.DB.QueryRow(ctx, `SELECT submissions FROM selfservice_flows WHERE id = ?`, id.String()).Scan(&n))
	})
	return n, err
}

// CreateError stores a browser error for the error UI.
func (s *FlowStore) CreateError(ctx context.Context, id uuid.UUID, body json.RawMessage, at time.Time) error {
	_, err := s.DB.Exec(ctx, `INSERT INTO selfservice_errors (id, body, created_at) VALUES (?, ?, ?)`, id.String(), string(body), s.DB.T(at))
	return err
}

// GetError loads a stored browser error.
func (s *FlowStore) GetError(ctx context.Context, id uuid.UUID) (json.RawMessage, time.Time, error) {
	var body string
	var at time.Time
	err := s.DB.QueryRow(ctx, `SELECT body, created_at FROM selfservice_errors WHERE id = ?`, id.String()).Scan(&body, &at)
	if err != nil {
		return nil, time.Time{}, ScanErr(err)
	}
	return json.RawMessage(body), at.UTC(), nil
}

func nullableUUID(id *uuid.UUID) any {
	if id == nil {
		return nil
	}
	return id.String()
}
