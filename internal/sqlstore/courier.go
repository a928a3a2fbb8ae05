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

// InsertMessage stores a new message, queued or already claimed.
func (s *CourierStore) InsertMessage(ctx context.Context, m *courier.Message) error {
	return s.PrepareInsert(m)(ctx)
}

// PrepareInsert seals m's content now and returns its insert: a caller
// seals before its transaction, which then holds the writer (SQLite's
// one connection) for the insert only. The insert writes the same row
// each time it runs. A new row under a fresh id cannot fail on its own,
// so in a PostgreSQL transaction it goes with the next statement
// (ExecLater).
func (s *CourierStore) PrepareInsert(m *courier.Message) func(ctx context.Context) error {
	args := s.rowValues(m)
	return func(ctx context.Context) error {
		return s.ExecLater(ctx, `INSERT INTO courier_messages (id, type, status, recipient, subject, body, template_type,
			template_data, send_count, next_attempt_at, claimed_at, claimed_by, created_at, updated_at, expires_at, priority)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...)
	}
}

// PrepareTakeover is PrepareInsert for a mail that takes over the row of
// the message it was prepared from (an internal message on its first
// claim, held by m.ClaimedBy): one UPDATE instead of that row's DELETE
// and the mail's INSERT. It fails with courier.ErrClaimLost when the
// claim no longer holds, and in a PostgreSQL transaction goes with the
// next statement or COMMIT (ExecLaterChanging).
func (s *CourierStore) PrepareTakeover(m *courier.Message) func(ctx context.Context) error {
	args := append(s.rowValues(m)[1:], m.ID.String(), m.ClaimedBy)
	return func(ctx context.Context) error {
		return s.ExecLaterChanging(ctx, courier.ErrClaimLost, `UPDATE courier_messages SET type = ?, status = ?,
			recipient = ?, subject = ?, body = ?, template_type = ?, template_data = ?, send_count = ?, next_attempt_at = ?,
			claimed_at = ?, claimed_by = ?, created_at = ?, updated_at = ?, expires_at = ?, priority = ?, last_error = NULL
			WHERE id = ? AND status = 'processing' AND claimed_by = ?`, args...)
	}
}

// rowValues are the values PrepareInsert writes, in its order (id,
// type, status, recipient, subject, body, template_type, template_data,
// send_count, next_attempt_at, claimed_at, claimed_by, created_at,
// updated_at, expires_at, priority), the content sealed.
func (s *CourierStore) rowValues(m *courier.Message) []any {
	var expires, claimedAt, claimedBy any
	if !m.ExpiresAt.IsZero() {
		expires = s.T(m.ExpiresAt)
	}
	if m.ClaimedBy != "" {
		// Claimed as it is inserted (a preparation's mail).
		claimedAt, claimedBy = s.T(m.ClaimedAt), m.ClaimedBy
	}
	return []any{m.ID.String(), string(m.Type), string(m.Status), m.Recipient,
		s.seal(m.ID, "subject", m.Subject), s.seal(m.ID, "body", m.Body), string(m.TemplateType),
		s.seal(m.ID, "template_data", string(m.TemplateData)), m.SendCount, s.T(m.NextAttemptAt), claimedAt, claimedBy,
		s.T(m.CreatedAt), s.T(m.UpdatedAt), expires, int(m.Priority)}
}

// claimSet is what a claim changes: the arguments are the claim time,
// the token and the claim time again.
const claimSet = `SET status = 'processing', claimed_at = ?, claimed_by = ?, send_count = send_count + 1, updated_at = ?`

// ClaimMessages marks due messages as processing under c.Token: queued
// ones whose next attempt is due and, when c.StaleBefore is set,
// processing ones whose claim went stale; lowest priority value first
// (courier.PriorityOf), then due before stale, oldest first.
//
// Most claims find no stale claim to take over, and are then one
// statement on SQLite and PostgreSQL: an UPDATE … RETURNING of the rows a
// subquery picks. MariaDB and MySQL have no UPDATE … RETURNING: they
// select the rows and update them, in one transaction. PostgreSQL and
// MySQL pick rows with FOR UPDATE SKIP LOCKED, so concurrent claimants
// take disjoint sets without waiting for each other; SQLite has one
// writer. Content is opened after the claim, not while it holds the
// writer.
func (s *CourierStore) ClaimMessages(ctx context.Context, c courier.Claim) ([]courier.Message, error) {
	rows, err := s.claim(ctx, c)
	if err != nil {
		return nil, err
	}
	return s.openMessages(rows), nil
}

// FinishAndClaim records o and claims c: on SQLite and MySQL in one
// transaction (one commit, where a claim of its own would be another);
// on PostgreSQL in one statement (finishAndClaimDue), or, when the claim
// looks for stale claims too, as the one statement each of them is.
func (s *CourierStore) FinishAndClaim(ctx context.Context, o courier.Outcome, c courier.Claim) (msgs []courier.Message, recordErr, claimErr error) {
	var rows []sealedMessage
	both := func(ctx context.Context) error {
		recordErr = s.FinishMessage(ctx, o)
		if recordErr != nil && !errors.Is(recordErr, courier.ErrClaimLost) {
			return recordErr
		}
		rows, claimErr = s.claim(ctx, c)
		return claimErr
	}
	if s.Dialect == Postgres {
		if c.StaleBefore.IsZero() {
			rows, recordErr = s.finishAndClaimDue(ctx, o, c)
			if recordErr != nil && !errors.Is(recordErr, courier.ErrClaimLost) {
				return nil, recordErr, recordErr // one statement: nothing was done
			}
			return s.openMessages(rows), recordErr, nil
		}
		_ = both(ctx) // its errors are recordErr and claimErr
		return s.openMessages(rows), recordErr, claimErr
	}
	err := s.InTx(ctx, both)
	switch {
	case err == nil:
		return s.openMessages(rows), recordErr, nil
	case recordErr != nil && !errors.Is(recordErr, courier.ErrClaimLost):
		return nil, recordErr, nil
	}
	// The claim, or the commit, failed: the record went with it.
	return nil, err, err
}

// claim is ClaimMessages without opening the content.
func (s *CourierStore) claim(ctx context.Context, c courier.Claim) ([]sealedMessage, error) {
	stale := !c.StaleBefore.IsZero()
	if stale && s.Dialect != MySQL {
		var err error
		if stale, err = s.anyStale(ctx, c.StaleBefore); err != nil {
			return nil, err
		}
	}
	if stale || s.Dialect == MySQL {
		return s.claimSelected(ctx, c, stale)
	}
	return s.claimDue(ctx, c)
}

// anyStale reports whether some claim went stale (its dispatcher died).
func (s *CourierStore) anyStale(ctx context.Context, before time.Time) (bool, error) {
	var one int
	err := s.QueryRow(ctx, `SELECT 1 FROM courier_messages WHERE status = 'processing' AND claimed_at < ? LIMIT 1`, s.T(before)).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// claimDue claims due queued messages with one UPDATE … RETURNING
// (SQLite and PostgreSQL), in claim order. courier_messages_claim_idx
// (status, priority, next_attempt_at, id) serves the subquery.
func (s *CourierStore) claimDue(ctx context.Context, c courier.Claim) ([]sealedMessage, error) {
	lock := ""
	if s.Dialect == Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	q := `UPDATE courier_messages ` + claimSet + `
		WHERE id IN (SELECT id FROM courier_messages WHERE status = 'queued' AND next_attempt_at <= ?
			ORDER BY priority, next_attempt_at, id LIMIT ?` + lock + `)
		RETURNING ` + courierMessageColumns
	args := []any{s.T(c.Now), c.Token, s.T(c.Now), s.T(c.Now), c.Limit}
	var rows []sealedMessage
	run := func(ctx context.Context) error {
		var err error
		rows, err = s.scanSealed(s.Query(ctx, q, args...))
		return err
	}
	var err error
	if s.Dialect == SQLite {
		// A write: on the writer, as a one-statement transaction (which
		// joins a group commit without a savepoint).
		err = s.inTx(ctx, true, run)
	} else {
		// Autocommitted. queryText, unlike Query, never runs it twice: a
		// claim whose answer was lost must not claim more.
		rows, err = s.scanSealed(s.queryText(ctx, q, args...))
	}
	if err != nil {
		return nil, err
	}
	sortClaimed(rows)
	return rows, nil
}

// sortClaimed puts the rows of an UPDATE … RETURNING claim, which has no
// order, in the claim's: its subquery's.
func sortClaimed(rows []sealedMessage) {
	slices.SortFunc(rows, func(a, b sealedMessage) int {
		return cmp.Or(cmp.Compare(a.m.Priority, b.m.Priority), a.m.NextAttemptAt.Compare(b.m.NextAttemptAt),
			strings.Compare(a.m.ID.String(), b.m.ID.String()))
	})
}

// finishAndClaimDue records o and claims c's due queued messages in one
// statement (PostgreSQL): the record's UPDATE, its dispatch's INSERT and
// the claim's UPDATE as data-modifying WITH queries. They see one
// snapshot, in which the finished message is processing, so the claim
// never takes it; the rows they return say whether the record found its
// claim (ErrClaimLost if not: the claim is made all the same, as
// FinishAndClaim's contract says). Like claimDue it never runs twice.
func (s *CourierStore) finishAndClaimDue(ctx context.Context, o courier.Outcome, c courier.Claim) ([]sealedMessage, error) {
	update, args, dispatch := s.finishStatements(o)
	q := `WITH finished AS (` + update + ` RETURNING ` + courierMessageColumns + `)`
	if dispatch != nil {
		q += `, recorded AS (` + dispatchInsert + `)`
		args = append(args, dispatch...)
	}
	q += `, claimed AS (UPDATE courier_messages ` + claimSet + `
			WHERE id IN (SELECT id FROM courier_messages WHERE status = 'queued' AND next_attempt_at <= ?
				ORDER BY priority, next_attempt_at, id LIMIT ? FOR UPDATE SKIP LOCKED)
			RETURNING ` + courierMessageColumns + `)
		SELECT false, * FROM finished UNION ALL SELECT true, * FROM claimed`
	args = append(args, s.T(c.Now), c.Token, s.T(c.Now), s.T(c.Now), c.Limit)
	var claimed []*bool
	res, err := s.queryText(ctx, q, args...)
	rows, err := s.scanSealedAfter(res, err, func() []any {
		b := new(bool)
		claimed = append(claimed, b)
		return []any{b}
	})
	if err != nil {
		return nil, err
	}
	recorded := false
	var msgs []sealedMessage
	for i, r := range rows {
		if *claimed[i] {
			msgs = append(msgs, r)
		} else {
			recorded = true
		}
	}
	sortClaimed(msgs)
	if !recorded {
		return msgs, courier.ErrClaimLost
	}
	return msgs, nil
}

// claimSelected claims in one transaction: it selects due messages and,
// with stale, messages whose claim went stale, keeps the first c.Limit by
// priority (due before stale within one), and updates them.
func (s *CourierStore) claimSelected(ctx context.Context, c courier.Claim, stale bool) ([]sealedMessage, error) {
	lock := " FOR UPDATE SKIP LOCKED"
	if s.Dialect == SQLite {
		lock = "" // its transactions hold the database's one write lock from BEGIN
	}
	var msgs []sealedMessage
	err := s.InTx(ctx, func(ctx context.Context) error {
		var err error
		msgs, err = s.scanSealed(s.Query(ctx, `SELECT `+courierMessageColumns+` FROM courier_messages
			WHERE status = 'queued' AND next_attempt_at <= ?
			ORDER BY priority, next_attempt_at, id LIMIT ?`+lock, s.T(c.Now), c.Limit))
		if err != nil {
			return err
		}
		// A stale claim (its dispatcher died) is rare, but its message may
		// be a code someone waits for, which must not wait behind a burst of
		// due notifications: look for stale ones unless the due ones fill
		// the claim with interactive mail, and merge by priority.
		if stale && (len(msgs) < c.Limit || msgs[len(msgs)-1].m.Priority > courier.PriorityInteractive) {
			more, err := s.scanSealed(s.Query(ctx, `SELECT `+courierMessageColumns+` FROM courier_messages
				WHERE status = 'processing' AND claimed_at < ?
				ORDER BY priority, claimed_at, id LIMIT ?`+lock, s.T(c.StaleBefore), c.Limit))
			if err != nil {
				return err
			}
			// Stable: within a priority, due ones (first in msgs) stay first.
			msgs = append(msgs, more...)
			slices.SortStableFunc(msgs, func(a, b sealedMessage) int { return cmp.Compare(a.m.Priority, b.m.Priority) })
			msgs = msgs[:min(len(msgs), c.Limit)]
		}
		if len(msgs) == 0 {
			return nil
		}
		ids := make([]string, len(msgs))
		for i := range msgs {
			ids[i] = msgs[i].m.ID.String()
		}
		in, args := inList(ids)
		_, err = s.Exec(ctx, `UPDATE courier_messages `+claimSet+` WHERE id IN (`+in+`)`,
			append([]any{s.T(c.Now), c.Token, s.T(c.Now)}, args...)...)
		return err
	})
	if err != nil {
		return nil, err
	}
	// The rows as the update left them.
	now := Time(c.Now)
	for i := range msgs {
		m := &msgs[i].m
		m.Status, m.ClaimedAt, m.ClaimedBy, m.UpdatedAt = courier.StatusProcessing, now, c.Token, now
		m.SendCount++
	}
	return msgs, nil
}

// FinishMessage records the outcome of a claimed message, if the claim
// still holds: the message's new state and the dispatch record of the
// attempt, together. On PostgreSQL that is one statement.
func (s *CourierStore) FinishMessage(ctx context.Context, o courier.Outcome) error {
	update, args, dispatch := s.finishStatements(o)
	if dispatch != nil && s.Dialect == Postgres {
		// The dispatch is inserted only if the update found the claim.
		res, err := s.Exec(ctx, `WITH finished AS (`+update+` RETURNING id)`+dispatchInsert,
			append(args, dispatch...)...)
		return claimHeld(res, err)
	}
	return s.InTx(ctx, func(ctx context.Context) error {
		if err := claimHeld(s.Exec(ctx, update, args...)); err != nil {
			return err
		}
		if dispatch == nil {
			return nil
		}
		_, err := s.Exec(ctx, `INSERT INTO courier_message_dispatches (id, message_id, status, error, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?)`, dispatch[0], o.MessageID.String(), dispatch[1], dispatch[2], dispatch[3], dispatch[4])
		return err
	})
}

// dispatchInsert follows a WITH finished AS (… RETURNING id) on
// PostgreSQL: the dispatch record of the message the update found, if it
// found it. Its arguments are finishStatements' dispatch.
const dispatchInsert = `
	INSERT INTO courier_message_dispatches (id, message_id, status, error, created_at, updated_at)
	SELECT ?, id, ?, ?, ?, ? FROM finished`

// finishStatements are the UPDATE recording o, guarded by its claim, with
// its arguments, and the arguments of its dispatch record (id, status,
// error, created_at, updated_at; nil when nothing was attempted).
// Everything is sealed before the statements run.
func (s *CourierStore) finishStatements(o courier.Outcome) (update string, args, dispatch []any) {
	set := []string{"status = ?", "claimed_at = NULL", "claimed_by = NULL", "updated_at = ?"}
	args = []any{string(o.Status), s.T(o.Now)}
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
	update = `UPDATE courier_messages SET ` + strings.Join(set, ", ") + `
		WHERE id = ? AND status = 'processing' AND claimed_by = ?`
	args = append(args, o.MessageID.String(), o.ClaimToken)
	if d := o.Dispatch; d != nil {
		var derr any
		if len(d.Error) > 0 {
			derr = string(d.Error)
		}
		dispatch = []any{d.ID.String(), string(d.Status), derr, s.T(d.CreatedAt), s.T(d.UpdatedAt)}
	}
	return update, args, dispatch
}

// claimHeld is courier.ErrClaimLost when a statement guarded by the claim
// changed nothing.
func claimHeld(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return courier.ErrClaimLost
	}
	return nil
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

// DeleteMessage removes m if still held by claimToken, and its dispatch
// records. A message on its first claim has none (a dispatch records an
// attempt made under an earlier claim): their DELETE, which would find
// nothing, is left out, and in a PostgreSQL transaction the message's
// goes with the next statement or COMMIT (ExecLaterChanging).
func (s *CourierStore) DeleteMessage(ctx context.Context, m courier.Message, claimToken string) error {
	del := `DELETE FROM courier_messages WHERE id = ? AND status = 'processing' AND claimed_by = ?`
	if m.SendCount <= 1 {
		return s.ExecLaterChanging(ctx, courier.ErrClaimLost, del, m.ID.String(), claimToken)
	}
	return s.InTx(ctx, func(ctx context.Context) error {
		if err := claimHeld(s.Exec(ctx, del, m.ID.String(), claimToken)); err != nil {
			return err
		}
		// ON DELETE CASCADE removes them too; this keeps the store correct
		// should a database run without foreign keys.
		_, err := s.Exec(ctx, `DELETE FROM courier_message_dispatches WHERE message_id = ?`, m.ID.String())
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
// processing message (zero when there is none). One lookup per status,
// each the first entry of courier_messages_status_created_idx: one query
// for both (status IN …) would sort every pending message, which a
// backlog makes slow (21 ms at 10 000 queued on PostgreSQL). The two
// lookups are one statement, so they read one snapshot: as two queries, a
// message claimed between them (queued in neither the first's view nor,
// failed and queued again, the second's) was missed, and with it the
// warning about a queue stuck on that one message.
func (s *CourierStore) OldestPendingSince(ctx context.Context) (time.Time, error) {
	rows, err := s.Query(ctx, `SELECT at FROM (SELECT created_at AS at FROM courier_messages
			WHERE status = 'queued' ORDER BY created_at LIMIT 1) AS queued
		UNION ALL
		SELECT at FROM (SELECT created_at AS at FROM courier_messages
			WHERE status = 'processing' ORDER BY created_at LIMIT 1) AS processing`)
	if err != nil {
		return time.Time{}, err
	}
	defer rows.Close()
	var oldest time.Time
	for rows.Next() {
		var at time.Time
		if err := rows.Scan(&at); err != nil {
			return time.Time{}, err
		}
		if oldest.IsZero() || at.Before(oldest) {
			oldest = at.UTC()
		}
	}
	return oldest, rows.Err()
}

func (s *CourierStore) queryMessages(ctx context.Context, q string, args ...any) ([]courier.Message, error) {
	rows, err := s.scanSealed(s.Query(ctx, q, args...))
	if err != nil {
		return nil, err
	}
	return s.openMessages(rows), nil
}

// openMessages opens the content of rows (openMessage).
func (s *CourierStore) openMessages(rows []sealedMessage) []courier.Message {
	msgs := make([]courier.Message, len(rows))
	for i := range rows {
		msgs[i] = s.openMessage(rows[i])
	}
	return msgs
}

// sealedMessage is a message as read, its content still sealed.
type sealedMessage struct {
	m                   courier.Message
	subject, body, data string
}

// scanSealed reads rows of courierMessageColumns and closes them.
func (s *CourierStore) scanSealed(rows *sql.Rows, err error) ([]sealedMessage, error) {
	return s.scanSealedAfter(rows, err, nil)
}

// scanSealedAfter is scanSealed for rows whose courierMessageColumns come
// after columns of their own: lead returns their destinations, for each
// row.
func (s *CourierStore) scanSealedAfter(rows *sql.Rows, err error, lead func() []any) ([]sealedMessage, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []sealedMessage
	for rows.Next() {
		var (
			r                    sealedMessage
			m                    = &r.m
			typ, status, tt      string
			lastError, claimedBy sql.NullString
			claimedAt, expiresAt sql.NullTime
		)
		var dest []any
		if lead != nil {
			dest = lead()
		}
		dest = append(dest, &m.ID, &typ, &status, &m.Recipient, &r.subject, &r.body, &tt, &r.data,
			&m.SendCount, &lastError, &m.NextAttemptAt, &claimedAt, &claimedBy, &m.CreatedAt, &m.UpdatedAt, &expiresAt, &m.Priority)
		if err := rows.Scan(dest...); err != nil {
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
		out = append(out, r)
	}
	return out, rows.Err()
}

// openMessage decrypts the content of r. A message that no configured
// key opens stays listable (the admin API still shows its status and
// recipient) with ContentError set.
func (s *CourierStore) openMessage(r sealedMessage) courier.Message {
	m := r.m
	var err1, err2, err3 error
	m.Subject, err1 = s.open(m.ID, "subject", r.subject)
	m.Body, err2 = s.open(m.ID, "body", r.body)
	td, err3 := s.open(m.ID, "template_data", r.data)
	m.TemplateData = json.RawMessage(td)
	if err := cmp.Or(err1, err2, err3); err != nil {
		m.Subject, m.Body, m.TemplateData = "", "", nil
		m.ContentError = fmt.Errorf("courier: message content cannot be decrypted (was a secrets.cipher key removed?): %w", err)
	}
	return m
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
