package sqlstore

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/audit"
)

// AuditStore implements audit.Store: the append-only audit_events table.
type AuditStore struct{ DB *DB }

// NewAuditStore returns the audit store of db.
func NewAuditStore(db *DB) *AuditStore { return &AuditStore{DB: db} }

var _ audit.Store = (*AuditStore)(nil)

// ErrBadPageToken is returned for a page token this store did not write
// (audit.ErrBadPageToken, which the admin API answers with a 400).
var ErrBadPageToken = audit.ErrBadPageToken

// AppendEvent inserts e in the transaction ctx carries.
func (s *AuditStore) AppendEvent(ctx context.Context, e *audit.Event) error {
	details := "{}"
	if len(e.Details) > 0 {
		b, err := json.Marshal(e.Details)
		if err != nil {
			return fmt.Errorf("details: %w", err)
		}
		details = string(b)
	}
	// Sent with the transaction's next statement on PostgreSQL: a new row
	// under a fresh id.
	return s.DB.ExecLater(ctx, `INSERT INTO audit_events
		(id, created_at, type, identity_id, actor, flow_id, method, client_ip, user_agent, result, reason, details)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID.String(), s.DB.T(e.Time), string(e.Type), nullableUUID(e.IdentityID), string(e.Actor), nullableUUID(e.FlowID),
		e.Method, e.ClientIP, e.UserAgent, e.Result, e.Reason, details)
}

// AfterCommit runs fn once ctx's transaction has committed.
func (s *AuditStore) AfterCommit(ctx context.Context, fn func()) { s.DB.AfterCommit(ctx, fn) }

// ListEvents pages through events oldest first, keyed on the id (a
// UUIDv7, written in order). The page token is the last id of the page.
func (s *AuditStore) ListEvents(ctx context.Context, f audit.Filter) ([]audit.Event, string, error) {
	var (
		where []string
		args  []any
	)
	if f.PageToken != "" {
		raw, err := base64.RawURLEncoding.DecodeString(f.PageToken)
		if err != nil {
			return nil, "", ErrBadPageToken
		}
		after, err := uuid.Parse(string(raw))
		if err != nil {
			return nil, "", ErrBadPageToken
		}
		where, args = append(where, "id > ?"), append(args, after.String())
	}
	if f.IdentityID != nil {
		where, args = append(where, "identity_id = ?"), append(args, f.IdentityID.String())
	}
	if len(f.Types) > 0 {
		marks := strings.TrimSuffix(strings.Repeat("?, ", len(f.Types)), ", ")
		where = append(where, "type IN ("+marks+")")
		for _, t := range f.Types {
			args = append(args, string(t))
		}
	}
	if !f.Since.IsZero() {
		where, args = append(where, "created_at >= ?"), append(args, s.DB.T(f.Since))
	}
	if !f.Until.IsZero() {
		where, args = append(where, "created_at < ?"), append(args, s.DB.T(f.Until))
	}
	size := f.PageSize
	if size <= 0 {
		size = 250
	}
	q := `SELECT id, created_at, type, identity_id, actor, flow_id, method, client_ip, user_agent, result, reason, details
		FROM audit_events`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += fmt.Sprintf(" ORDER BY id LIMIT %d", size+1)
	// The query text varies with the filters: run it unprepared.
	rows, err := s.DB.queryText(ctx, q, args...)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	var out []audit.Event
	for rows.Next() {
		var (
			e                  audit.Event
			id, typ, actor     string
			identityID, flowID *string
			details            string
		)
		if err := rows.Scan(&id, &e.Time, &typ, &identityID, &actor, &flowID, &e.Method, &e.ClientIP, &e.UserAgent, &e.Result, &e.Reason, &details); err != nil {
			return nil, "", err
		}
		e.ID, _ = uuid.Parse(id)
		e.Time = e.Time.UTC()
		e.Type, e.Actor = audit.Type(typ), audit.Actor(actor)
		e.IdentityID, e.FlowID = parseOptionalUUID(identityID), parseOptionalUUID(flowID)
		if details != "" && details != "{}" {
			if err := json.Unmarshal([]byte(details), &e.Details); err != nil {
				return nil, "", fmt.Errorf("audit event %s: details: %w", id, err)
			}
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > size {
		out = out[:size]
		next = base64.RawURLEncoding.EncodeToString([]byte(out[size-1].ID.String()))
	}
	return out, next, nil
}

func parseOptionalUUID(s *string) *uuid.UUID {
	if s == nil {
		return nil
	}
	id, err := uuid.Parse(*s)
	if err != nil {
		return nil
	}
	return &id
}
