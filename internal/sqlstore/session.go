package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/session"
)

// SessionStore implements session.Store on the sessions table. Tokens are
// never seen here: only their keyed hashes.
type SessionStore struct {
	DB *DB
}

// NewSessionStore returns the session store of db.
func NewSessionStore(db *DB) *SessionStore { return &SessionStore{DB: db} }

var _ session.Store = (*SessionStore)(nil)

// sessionColumns is what scanSession reads, in order.
const sessionColumns = `id, identity_id, active, aal, authentication_methods, devices,
	authenticated_at, issued_at, expires_at, created_at, updated_at`

// CreateSession inserts a session with the hash of its token.
func (s *SessionStore) CreateSession(ctx context.Context, ss *session.Session, tokenHash string) error {
	row, err := s.sessionRow(ss, tokenHash)
	if err != nil {
		return err
	}
	// A fresh id and a fresh random token's hash: sent with the
	// transaction's next statement on PostgreSQL.
	return s.DB.ExecLater(ctx, `INSERT INTO sessions (`+sessionInsertColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, row...)
}

// CreateSessions inserts sessions, tokenHashes[i] being the hash of the
// token of list[i], in multi-row statements.
func (s *SessionStore) CreateSessions(ctx context.Context, list []*session.Session, tokenHashes []string) error {
	rows := make([][]any, 0, len(list))
	for k, ss := range list {
		row, err := s.sessionRow(ss, tokenHashes[k])
		if err != nil {
			return err
		}
		rows = append(rows, row)
	}
	return s.DB.insertRows(ctx, "sessions", sessionInsertColumns, rows)
}

const sessionInsertColumns = `id, identity_id, token_hash, active, aal, authentication_methods, devices,
	authenticated_at, issued_at, expires_at, created_at, updated_at`

// sessionRow is the values of sessionInsertColumns for ss.
func (s *SessionStore) sessionRow(ss *session.Session, tokenHash string) ([]any, error) {
	methods, devices, err := sessionJSONColumns(ss)
	if err != nil {
		return nil, err
	}
	return []any{ss.ID.String(), ss.IdentityID.String(), tokenHash, ss.Active, ss.AAL, methods, devices,
		s.DB.T(ss.AuthenticatedAt), s.DB.T(ss.IssuedAt), s.DB.T(ss.ExpiresAt), s.DB.T(ss.CreatedAt), s.DB.T(ss.UpdatedAt)}, nil
}

// SessionByTokenHash finds the session whose token hash is any of hashes.
func (s *SessionStore) SessionByTokenHash(ctx context.Context, hashes []string) (*session.Session, error) {
	if len(hashes) == 0 {
		return nil, ErrNotFound
	}
	_, args := inList(hashes)
	return scanSession(s.DB.QueryRow(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE token_hash`+oneOf(len(hashes)), args...))
}

// whoamiColumns are the session's columns (as sessionColumns), the
// identity's, and whether the identity holds a second factor.
const whoamiColumns = `s.id, s.identity_id, s.active, s.aal, s.authentication_methods, s.devices,
	s.authenticated_at, s.issued_at, s.expires_at, s.created_at, s.updated_at,
	i.schema_id, i.state, i.state_changed_at, i.traits, i.metadata_public, i.external_id, i.created_at, i.updated_at,
	EXISTS (SELECT 1 FROM identity_credentials c WHERE c.identity_id = i.id AND c.type IN (%s))`

// SessionForWhoami is the whoami lookup: the session of a token hash
// joined with its identity in one indexed query, then the identity's
// addresses in a second. Outside a transaction the answer is kept for a
// moment (see whoamiCache) and shared: callers must not modify it.
func (s *SessionStore) SessionForWhoami(ctx context.Context, hashes []string, secondFactors []identity.CredentialType) (*session.Session, bool, error) {
	if len(hashes) == 0 {
		return nil, false, ErrNotFound
	}
	cache := s.DB.whoami
	if inTx(ctx) {
		cache = nil // the transaction may see its own uncommitted writes
	}
	if cache != nil {
		s.DB.feed.start() // the other instances' changes (see invalidations.go)
	}
	// The key is every candidate: the answer holds only while the
	// secrets that could match stay the same.
	key := hashes[0]
	if len(hashes) > 1 {
		key = strings.Join(hashes, ",")
	}
	if ss, secondFactor, ok := cache.get(key); ok {
		return ss, secondFactor, nil
	}
	epoch, at := cache.start()
	ss, secondFactor, err := s.loadForWhoami(ctx, hashes, secondFactors)
	if err != nil {
		return nil, false, err
	}
	cache.put(key, ss, secondFactor, epoch, at)
	return ss, secondFactor, nil
}

func (s *SessionStore) loadForWhoami(ctx context.Context, hashes []string, secondFactors []identity.CredentialType) (*session.Session, bool, error) {
	args := make([]any, 0, len(secondFactors)+len(hashes))
	for _, t := range secondFactors {
		args = append(args, string(t))
	}
	for _, h := range hashes {
		args = append(args, h)
	}
	// With one token hash the query text depends only on the number of
	// second factors, fixed for the life of the process: the DB prepares
	// it once where that pays.
	q := fmt.Sprintf(`SELECT `+whoamiColumns+` FROM sessions s JOIN identities i ON i.id = s.identity_id WHERE s.token_hash`,
		placeholders(len(secondFactors))) + oneOf(len(hashes))
	row := s.DB.QueryRow(ctx, q, args...)
	var (
		ss               session.Session
		ident            identity.Identity
		id, identityID   string
		methods, devices string
		state, traits    string
		stateChangedAt   sql.NullTime
		metaPublic, ex   sql.NullString
		secondFactor     bool
	)
	err := row.Scan(&id, &identityID, &ss.Active, &ss.AAL, &methods, &devices,
		&ss.AuthenticatedAt, &ss.IssuedAt, &ss.ExpiresAt, &ss.CreatedAt, &ss.UpdatedAt,
		&ident.SchemaID, &state, &stateChangedAt, &traits, &metaPublic, &ex, &ident.CreatedAt, &ident.UpdatedAt,
		&secondFactor)
	if err != nil {
		return nil, false, ScanErr(err)
	}
	if err := fillSession(&ss, id, identityID, methods, devices); err != nil {
		return nil, false, err
	}
	ident.ID = ss.IdentityID
	// The session's join leaves the admin metadata out: it is never shown to the session's owner.
	setIdentityColumns(&ident, state, stateChangedAt, traits, metaPublic, sql.NullString{}, ex)
	if err := s.loadAddresses(ctx, &ident); err != nil {
		return nil, false, err
	}
	ss.Identity = &ident
	return &ss, secondFactor, nil
}

// loadAddresses fills the identity's verifiable and recovery addresses.
func (s *SessionStore) loadAddresses(ctx context.Context, ident *identity.Identity) error {
	return s.DB.loadIdentityChildren(ctx, []*identity.Identity{ident}, false)
}

// GetSession loads a session by id.
func (s *SessionStore) GetSession(ctx context.Context, id uuid.UUID) (*session.Session, error) {
	return scanSession(s.DB.QueryRow(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = ?`, id.String()))
}

// UpdateSession saves the mutable fields of a session.
func (s *SessionStore) UpdateSession(ctx context.Context, ss *session.Session) error {
	methods, devices, err := sessionJSONColumns(ss)
	if err != nil {
		return err
	}
	return s.DB.InTx(ctx, func(ctx context.Context) error {
		res, err := s.DB.Exec(ctx, `UPDATE sessions
			SET active = ?, aal = ?, authentication_methods = ?, devices = ?,
			    authenticated_at = ?, issued_at = ?, expires_at = ?, updated_at = ?
			WHERE id = ?`,
			ss.Active, ss.AAL, methods, devices,
			s.DB.T(ss.AuthenticatedAt), s.DB.T(ss.IssuedAt), s.DB.T(ss.ExpiresAt), s.DB.T(ss.UpdatedAt), ss.ID.String())
		if err != nil {
			return err
		}
		s.DB.sessionsChanged(ctx, ss.ID)
		return s.sessionChanged(ctx, res, `id = ?`, ss.ID.String())
	})
}

// RevokeSession deactivates a session (of identityID, unless uuid.Nil).
func (s *SessionStore) RevokeSession(ctx context.Context, identityID, id uuid.UUID, at time.Time) error {
	where, args := `id = ?`, []any{id.String()}
	if identityID != uuid.Nil {
		where, args = `id = ? AND identity_id = ?`, []any{id.String(), identityID.String()}
	}
	return s.DB.InTx(ctx, func(ctx context.Context) error {
		res, err := s.DB.Exec(ctx, `UPDATE sessions SET active = ?, updated_at = ? WHERE `+where,
			append([]any{false, s.DB.T(at)}, args...)...)
		if err != nil {
			return err
		}
		s.DB.sessionsChanged(ctx, id)
		return s.sessionChanged(ctx, res, where, args...)
	})
}

// RevokeIdentitySessions deactivates the identity's active sessions
// except one and returns how many it deactivated.
func (s *SessionStore) RevokeIdentitySessions(ctx context.Context, identityID, except uuid.UUID, at time.Time) (int, error) {
	var n int64
	err := s.DB.InTx(ctx, func(ctx context.Context) error {
		res, err := s.DB.Exec(ctx, `UPDATE sessions SET active = ?, updated_at = ?
			WHERE identity_id = ? AND id <> ? AND active = ?`,
			false, s.DB.T(at), identityID.String(), except.String(), true)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil || n == 0 {
			return err // nothing revoked: no instance needs to hear of it (or wait)
		}
		s.DB.sessionsChanged(ctx, identityID)
		return nil
	})
	return int(n), err
}

// DeleteIdentitySessions deletes the identity's sessions and returns how
// many there were.
func (s *SessionStore) DeleteIdentitySessions(ctx context.Context, identityID uuid.UUID) (int, error) {
	var n int64
	err := s.DB.InTx(ctx, func(ctx context.Context) error {
		res, err := s.DB.Exec(ctx, `DELETE FROM sessions WHERE identity_id = ?`, identityID.String())
		if err != nil {
			return err
		}
		s.DB.sessionsChanged(ctx, identityID)
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

// ListIdentitySessions returns a page of an identity's sessions, newest
// first, and how many match in total.
func (s *SessionStore) ListIdentitySessions(ctx context.Context, q session.IdentityQuery) ([]*session.Session, int, error) {
	where, args := `identity_id = ?`, []any{q.IdentityID.String()}
	if q.Except != uuid.Nil {
		where += ` AND id <> ?`
		args = append(args, q.Except.String())
	}
	where, args = s.activeFilter(where, args, q.Active, q.Now)
	var total int
	if err := s.DB.QueryRow(ctx, `SELECT COUNT(*) FROM sessions WHERE `+where, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	list, err := s.querySessions(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE `+where+`
		ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`, append(args, q.Limit, q.Offset)...)
	return list, total, err
}

// ListSessions returns up to q.Limit sessions, newest first, after q.After.
func (s *SessionStore) ListSessions(ctx context.Context, q session.ListQuery) ([]*session.Session, error) {
	where, args := `1 = 1`, []any{}
	where, args = s.activeFilter(where, args, q.Active, q.Now)
	if q.After != nil {
		at := s.DB.T(q.After.CreatedAt)
		where += ` AND (created_at < ? OR (created_at = ? AND id < ?))`
		args = append(args, at, at, q.After.ID.String())
	}
	return s.querySessions(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE `+where+`
		ORDER BY created_at DESC, id DESC LIMIT ?`, append(args, q.Limit)...)
}

// activeFilter narrows a WHERE clause: active means the flag is set and
// the session has not expired at now; inactive is everything else.
func (s *SessionStore) activeFilter(where string, args []any, active *bool, now time.Time) (string, []any) {
	switch {
	case active == nil:
		return where, args
	case *active:
		return where + ` AND active = ? AND expires_at > ?`, append(args, true, s.DB.T(now))
	default:
		return where + ` AND (active = ? OR expires_at <= ?)`, append(args, false, s.DB.T(now))
	}
}

func (s *SessionStore) querySessions(ctx context.Context, q string, args ...any) ([]*session.Session, error) {
	rows, err := s.DB.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	list := []*session.Session{}
	for rows.Next() {
		ss, err := scanSession(rows)
		if err != nil {
			return nil, err
		}
		list = append(list, ss)
	}
	return list, rows.Err()
}

// sessionChanged turns "no row updated" into ErrNotFound. MySQL counts
// only rows whose values changed, so a zero count is confirmed by looking
// the row up before calling it missing.
func (s *SessionStore) sessionChanged(ctx context.Context, res sql.Result, where string, args ...any) error {
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		return err
	}
	var n int
	if err := s.DB.QueryRow(ctx, `SELECT COUNT(*) FROM sessions WHERE `+where, args...).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// rowScanner is what *sql.Row and *sql.Rows share.
type rowScanner interface{ Scan(dest ...any) error }

func scanSession(row rowScanner) (*session.Session, error) {
	var (
		ss               session.Session
		id, identityID   string
		methods, devices string
	)
	err := row.Scan(&id, &identityID, &ss.Active, &ss.AAL, &methods, &devices,
		&ss.AuthenticatedAt, &ss.IssuedAt, &ss.ExpiresAt, &ss.CreatedAt, &ss.UpdatedAt)
	if err != nil {
		return nil, ScanErr(err)
	}
	if err := fillSession(&ss, id, identityID, methods, devices); err != nil {
		return nil, err
	}
	return &ss, nil
}

// fillSession completes a scanned session: ids, JSON columns, UTC times.
func fillSession(ss *session.Session, id, identityID, methods, devices string) error {
	var err error
	if ss.ID, err = uuid.Parse(id); err != nil {
		return fmt.Errorf("session id %q: %w", id, err)
	}
	if ss.IdentityID, err = uuid.Parse(identityID); err != nil {
		return fmt.Errorf("session identity id %q: %w", identityID, err)
	}
	if err := json.Unmarshal([]byte(methods), &ss.AuthenticationMethods); err != nil {
		return fmt.Errorf("session %s authentication_methods: %w", id, err)
	}
	if err := json.Unmarshal([]byte(devices), &ss.Devices); err != nil {
		return fmt.Errorf("session %s devices: %w", id, err)
	}
	ss.AuthenticatedAt, ss.IssuedAt, ss.ExpiresAt = ss.AuthenticatedAt.UTC(), ss.IssuedAt.UTC(), ss.ExpiresAt.UTC()
	ss.CreatedAt, ss.UpdatedAt = ss.CreatedAt.UTC(), ss.UpdatedAt.UTC()
	for i := range ss.AuthenticationMethods {
		ss.AuthenticationMethods[i].CompletedAt = ss.AuthenticationMethods[i].CompletedAt.UTC()
	}
	return nil
}

// sessionJSONColumns encodes the JSON columns; nil lists are stored as [].
func sessionJSONColumns(ss *session.Session) (methods, devices string, err error) {
	m, d := ss.AuthenticationMethods, ss.Devices
	if m == nil {
		m = []session.AuthMethod{}
	}
	if d == nil {
		d = []session.Device{}
	}
	mb, err := json.Marshal(m)
	if err != nil {
		return "", "", err
	}
	db, err := json.Marshal(d)
	if err != nil {
		return "", "", err
	}
	return string(mb), string(db), nil
}

// placeholders is "?, ?, …" for n values.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// oneOf is the condition "equals one of n values": " = ?" for one, so the
// common lookup keeps one query text, else " IN (?, …)".
func oneOf(n int) string {
	if n == 1 {
		return ` = ?`
	}
	return ` IN (` + placeholders(n) + `)`
}
