package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/courier"
	"github.com/latchkey/latchkey/internal/secret"
)

// CourierStore is courier.Store on the database: tables courier_messages
// and courier_message_dispatches.
//
// Subject, body and template data carry recovery codes and links, so they
// are sealed with the cipher (secrets.cipher) on every write and opened on
// every read: a reader of the database learns recipients, statuses and
// times, never a code. Each sealed value is bound to its row and column.
// Values written before encryption existed (no secret.SealedPrefix) are
// read as they are.
type CourierStore struct {
	*DB
	cipher *secret.Cipher
}

// NewCourierStore returns the courier store of db, sealing message content
// with cipher. A nil cipher panics: a store that writes codes in clear is
// never what the caller wants.
func NewCourierStore(db *DB, cipher *secret.Cipher) *CourierStore {
	if cipher == nil {
		panic("sqlstore: NewCourierStore needs a cipher")
	}
	return &CourierStore{DB: db, cipher: cipher}
}

var _ courier.Store = (*CourierStore)(nil)

const courierMessageColumns = `id, type, status, recipient, subject, body, template_type, template_data,
	send_count, last_error, next_attempt_at, claimed_at, claimed_by, created_at, updated_at, expires_at, priority`

// seal encrypts the value of column for the message id.
func (s *CourierStore) seal(id uuid.UUID, column, value string) string {
	return s.cipher.Seal([]byte(value), sealPlace(id, column))
}

// open decrypts a value sealed by seal; a value without the sealed prefix
// predates encryption and is returned as it is.
func (s *CourierStore) open(id uuid.UUID, column, value string) (string, error) {
	if !secret.IsSealed(value) {
		return value, nil
	}
	b, err := s.cipher.Open(value, sealPlace(id, column))
	return string(b), err
}

// sealPlace is the additional data binding a sealed value to its cell.
func sealPlace(id uuid.UUID, column string) []byte {
	return []byte("courier_messages." + column + ":" + id.String())
}

// InsertMessage stores a new message.
func (s *CourierStore) InsertMessage(ctx context.Context, m *courier.Message) error {
	var expires any
	if !m.ExpiresAt.IsZero() {
		expires = s.T(m.ExpiresAt)
	}
	_, err := s.Exec(ctx, `INSERT INTO courier_messages (id, type, status, recipient, subject, body, template_type,
		template_data, send_count, next_attempt_at, created_at, updated_at, expires_at, priority)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.ID.String(), string(m.Type), string(m.Status), m.Recipient,
		s.seal(m.ID, "subject", m.Subject), s.seal(m.ID, "body", m.Body), string(m.TemplateType),
		s.seal(m.ID, "template_data", string(m.TemplateData)), m.SendCount, s.T(m.NextAttemptAt), s.T(m.CreatedAt), s.T(m.UpdatedAt), expires,
		int(m.Priority))
	return err
}

// ClaimMessages marks due messages as processing under c.Token: queued
// ones whose next attempt is due and processing ones whose claim went
// stale, lowest priority value first (courier.PriorityOf), then due
// before stale, oldest first. PostgreSQL and MySQL lock the candidate rows
// with FOR UPDATE SKIP LOCKED, so concurrent claimants take disjoint sets
// without waiting for each other; SQLite claims each row with a
// conditional update.
func (s *CourierStore) ClaimMessages(ctx context.Context, c courier.Claim) ([]courier.Message, error) {
	var msgs []courier.Message
	err := s.InTx(ctx, func(ctx context.Context) error {
		lock := " FOR UPDATE SKIP LOCKED"
		if s.Dialect == SQLite {
			lock = ""
		}
		// courier_messages_claim_idx (status, priority, next_attempt_at, id)
		// serves this order.
		cands, err := s.claimCandidates(ctx, `SELECT id, priority FROM courier_messages
			WHERE status = 'queued' AND next_attempt_at <= ?
			ORDER BY priority, next_attempt_at, id LIMIT ?`+lock, s.T(c.Now), c.Limit)
		if err != nil {
			return err
		}
		// A stale claim (its dispatcher died) is rare, but its message may
		// be a code someone waits for, which must not wait behind a burst of
		// due notifications: look for stale ones unless the due ones fill
		// the claim with interactive mail, and merge by priority.
		if len(cands) < c.Limit || cands[len(cands)-1].priority > courier.PriorityInteractive {
			stale, err := s.claimCandidates(ctx, `SELECT id, priority FROM courier_messages
				WHERE status = 'processing' AND claimed_at < ?
				ORDER BY priority, claimed_at, id LIMIT ?`+lock, s.T(c.StaleBefore), c.Limit)
			if err != nil {
				return err
			}
			// Stable: within a priority, due ones (first in cands) stay first.
			cands = append(cands, stale...)
			slices.SortStableFunc(cands, func(a, b claimCandidate) int { return cmp.Compare(a.priority, b.priority) })
			cands = cands[:min(len(cands), c.Limit)]
		}
		if len(cands) == 0 {
			return nil
		}
		ids := make([]string, len(cands))
		for i, cand := range cands {
			ids[i] = cand.id
		}

		claimed := ids
		if s.Dialect == SQLite {
			claimed = claimed[:0:0]
			for _, id := range ids {
				res, err := s.Exec(ctx, `UPDATE courier_messages
					SET status = 'processing', claimed_at = ?, claimed_by = ?, send_count = send_count + 1, updated_at = ?
					WHERE id = ? AND ((status = 'queued' AND next_attempt_at <= ?) OR (status = 'processing' AND claimed_at < ?))`,
					s.T(c.Now), c.Token, s.T(c.Now), id, s.T(c.Now), s.T(c.StaleBefore))
				if err != nil {
					return err
				}
				if n, err := res.RowsAffected(); err != nil {
					return err
				} else if n == 1 {
					claimed = append(claimed, id)
				}
			}
			if len(claimed) == 0 {
				return nil
			}
		} else {
			in, args := inList(claimed)
			if _, err := s.Exec(ctx, `UPDATE courier_messages
				SET status = 'processing', claimed_at = ?, claimed_by = ?, send_count = send_count + 1, updated_at = ?
				WHERE id IN (`+in+`)`, append([]any{s.T(c.Now), c.Token, s.T(c.Now)}, args...)...); err != nil {
				return err
			}
		}

		in, args := inList(claimed)
		if msgs, err = s.queryMessages(ctx, `SELECT `+courierMessageColumns+` FROM courier_messages
			WHERE id IN (`+in+`)`, args...); err != nil {
			return err
		}
		// In claim order.
		pos := make(map[string]int, len(claimed))
		for i, id := range claimed {
			pos[id] = i
		}
		slices.SortFunc(msgs, func(a, b courier.Message) int { return cmp.Compare(pos[a.ID.String()], pos[b.ID.String()]) })
		return nil
	})
	if err != nil {
		return nil, err
	}
	return msgs, nil
}

// claimCandidate is a row ClaimMessages may claim.
type claimCandidate struct {
	id       string
	priority courier.Priority
}

func (s *CourierStore) claimCandidates(ctx context.Context, q string, args ...any) ([]claimCandidate, error) {
	rows, err := s.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []claimCandidate
	for rows.Next() {
		var c claimCandidate
		if err := rows.Scan(&c.id, &c.priority); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// FinishMessage records the outcome of a claimed message, if the claim
// still holds.
func (s *CourierStore) FinishMessage(ctx context.Context, o courier.Outcome) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		set := []string{"status = ?", "claimed_at = NULL", "claimed_by = NULL", "updated_at = ?"}
		args := []any{string(o.Status), s.T(o.Now)}
		if o.Status == courier.StatusQueued {
			set = append(set, "next_attempt_at = ?")
			args = append(args, s.T(o.NextAttemptAt))
		}
		if o.LastError != "" {
			set = append(set, "last_error = ?")
			args = append(args, o.LastError)
		}
		if o.Release {
			set = append(set, "send_count = send_count - 1")
		}
		if o.Status == courier.StatusSent || o.Status == courier.StatusAbandoned {
			// The wipe: nothing of the code or link survives the delivery.
			subject, body := cmp.Or(o.KeptSubject, "[redacted]"), cmp.Or(o.KeptBody, "[redacted]")
			set = append(set, "subject = ?", "body = ?", "template_data = ?")
			args = append(args, s.seal(o.MessageID, "subject", subject), s.seal(o.MessageID, "body", body),
				s.seal(o.MessageID, "template_data", "{}"))
		}
		args = append(args, o.MessageID.String(), o.ClaimToken)
		res, err := s.Exec(ctx, `UPDATE courier_messages SET `+strings.Join(set, ", ")+`
			WHERE id = ? AND status = 'processing' AND claimed_by = ?`, args...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return courier.ErrClaimLost
		}
		if d := o.Dispatch; d != nil {
			var derr any
			if len(d.Error) > 0 {
				derr = string(d.Error)
			}
			if _, err := s.Exec(ctx, `INSERT INTO courier_message_dispatches (id, message_id, status, error, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?)`,
				d.ID.String(), d.MessageID.String(), string(d.Status), derr, s.T(d.CreatedAt), s.T(d.UpdatedAt)); err != nil {
				return err
			}
		}
		return nil
	})
}

// GetMessage returns a message with its dispatches.
func (s *CourierStore) GetMessage(ctx context.Context, id uuid.UUID) (courier.Message, error) {
	msgs, err := s.queryMessages(ctx, `SELECT `+courierMessageColumns+` FROM courier_messages WHERE id = ?`, id.String())
	if err != nil {
		return courier.Message{}, err
	}
	if len(msgs) == 0 {
		return courier.Message{}, fmt.Errorf("%w (%w)", courier.ErrMessageNotFound, ErrNotFound)
	}
	if err := s.loadDispatches(ctx, msgs); err != nil {
		return courier.Message{}, err
	}
	return msgs[0], nil
}

// ListMessages returns messages newest first.
func (s *CourierStore) ListMessages(ctx context.Context, f courier.MessageFilter) ([]courier.Message, error) {
	// Internal messages are work for the dispatcher, not mail.
	internal := make([]string, len(courier.InternalTemplateTypes))
	for i, tt := range courier.InternalTemplateTypes {
		internal[i] = string(tt)
	}
	in, args := inList(internal)
	where := []string{"template_type NOT IN (" + in + ")"}
	if f.Status != "" {
		where = append(where, "status = ?")
		args = append(args, string(f.Status))
	}
	if f.Recipient != "" {
		where = append(where, "recipient = ?")
		args = append(args, f.Recipient)
	}
	if f.After != nil {
		where = append(where, "(created_at < ? OR (created_at = ? AND id < ?))")
		args = append(args, s.T(f.After.CreatedAt), s.T(f.After.CreatedAt), f.After.ID.String())
	}
	q := `SELECT ` + courierMessageColumns + ` FROM courier_messages WHERE ` + strings.Join(where, " AND ")
	q += ` ORDER BY created_at DESC, id DESC`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	msgs, err := s.queryMessages(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	if f.WithDispatches {
		if err := s.loadDispatches(ctx, msgs); err != nil {
			return nil, err
		}
	}
	return msgs, nil
}

// ExtendClaim moves claimed_at of the messages still held by token to now.
func (s *CourierStore) ExtendClaim(ctx context.Context, token string, now time.Time) error {
	_, err := s.Exec(ctx, `UPDATE courier_messages SET claimed_at = ?
		WHERE status = 'processing' AND claimed_by = ?`, s.T(now), token)
	return err
}

// DeleteMessage removes a message still held by claimToken, and its
// dispatch records.
func (s *CourierStore) DeleteMessage(ctx context.Context, id uuid.UUID, claimToken string) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		res, err := s.Exec(ctx, `DELETE FROM courier_messages WHERE id = ? AND status = 'processing' AND claimed_by = ?`, id.String(), claimToken)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return courier.ErrClaimLost
		}
		// ON DELETE CASCADE removes them too; this keeps the store correct
		// should a database run without foreign keys.
		_, err = s.Exec(ctx, `DELETE FROM courier_message_dispatches WHERE message_id = ?`, id.String())
		return err
	})
}

// CountQueued counts messages waiting for delivery.
func (s *CourierStore) CountQueued(ctx context.Context) (int, error) {
	var n int
	err := s.QueryRow(ctx, `SELECT COUNT(*) FROM courier_messages WHERE status = 'queued'`).Scan(&n)
	return n, err
}

// OldestPendingSince is the creation time of the oldest queued or
// processing message (zero when there is none).
func (s *CourierStore) OldestPendingSince(ctx context.Context) (time.Time, error) {
	var at time.Time
	err := s.QueryRow(ctx, `SELECT created_at FROM courier_messages
		WHERE status IN ('queued', 'processing') ORDER BY created_at LIMIT 1`).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	return at.UTC(), err
}

func (s *CourierStore) queryMessages(ctx context.Context, q string, args ...any) ([]courier.Message, error) {
	rows, err := s.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []courier.Message
	for rows.Next() {
		var (
			m                                  courier.Message
			typ, status, tt, subject, body, td string
			lastError, claimedBy               sql.NullString
			claimedAt, expiresAt               sql.NullTime
		)
		if err := rows.Scan(&m.ID, &typ, &status, &m.Recipient, &subject, &body, &tt, &td,
			&m.SendCount, &lastError, &m.NextAttemptAt, &claimedAt, &claimedBy, &m.CreatedAt, &m.UpdatedAt, &expiresAt, &m.Priority); err != nil {
			return nil, err
		}
		m.Type, m.Channel = courier.MessageType(typ), typ
		m.Status, m.TemplateType = courier.MessageStatus(status), courier.TemplateType(tt)
		m.LastError, m.ClaimedBy = lastError.String, claimedBy.String
		if claimedAt.Valid {
			m.ClaimedAt = claimedAt.Time.UTC()
		}
		m.NextAttemptAt, m.CreatedAt, m.UpdatedAt = m.NextAttemptAt.UTC(), m.CreatedAt.UTC(), m.UpdatedAt.UTC()
		m.ExpiresAt = m.CreatedAt.Add(courier.DefaultMessageLifespan)
		if expiresAt.Valid {
			m.ExpiresAt = expiresAt.Time.UTC()
		}
		s.openContent(&m, subject, body, td)
		out = append(out, m)
	}
	return out, rows.Err()
}

// openContent decrypts subject, body and template data into m. A message
// that no configured key opens stays listable (the admin API still shows
// its status and recipient) with ContentError set.
func (s *CourierStore) openContent(m *courier.Message, subject, body, data string) {
	var err1, err2, err3 error
	m.Subject, err1 = s.open(m.ID, "subject", subject)
	m.Body, err2 = s.open(m.ID, "body", body)
	td, err3 := s.open(m.ID, "template_data", data)
	m.TemplateData = json.RawMessage(td)
	if err := cmp.Or(err1, err2, err3); err != nil {
		m.Subject, m.Body, m.TemplateData = "", "", nil
		m.ContentError = fmt.Errorf("courier: message content cannot be decrypted (was a secrets.cipher key removed?): %w", err)
	}
}

// loadDispatches fills the Dispatches of msgs, oldest attempt first.
func (s *CourierStore) loadDispatches(ctx context.Context, msgs []courier.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	byID := make(map[uuid.UUID]*courier.Message, len(msgs))
	ids := make([]string, len(msgs))
	for i := range msgs {
		byID[msgs[i].ID] = &msgs[i]
		ids[i] = msgs[i].ID.String()
	}
	in, args := inList(ids)
	rows, err := s.Query(ctx, `SELECT id, message_id, status, error, created_at, updated_at
		FROM courier_message_dispatches WHERE message_id IN (`+in+`) ORDER BY created_at, id`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			d      courier.Dispatch
			status string
			derr   sql.NullString
		)
		if err := rows.Scan(&d.ID, &d.MessageID, &status, &derr, &d.CreatedAt, &d.UpdatedAt); err != nil {
			return err
		}
		d.Status = courier.DispatchStatus(status)
		if derr.Valid {
			d.Error = json.RawMessage(derr.String)
		}
		d.CreatedAt, d.UpdatedAt = d.CreatedAt.UTC(), d.UpdatedAt.UTC()
		if m := byID[d.MessageID]; m != nil {
			m.Dispatches = append(m.Dispatches, d)
		}
	}
	return rows.Err()
}

// inList returns "?, ?, ?" and the values as arguments.
func inList(values []string) (string, []any) {
	args := make([]any, len(values))
	for i, v := range values {
		args[i] = v
	}
	return strings.TrimSuffix(strings.Repeat("?, ", len(values)), ", "), args
}
