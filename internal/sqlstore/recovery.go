package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/recovery"
)

// RecoveryStore implements recovery.Store: the recovery_codes and
// recovery_tokens tables (send counters are in RateLimitStore).
type RecoveryStore struct{ DB *DB }

// NewRecoveryStore returns the recovery store of db.
func NewRecoveryStore(db *DB) *RecoveryStore { return &RecoveryStore{DB: db} }

var _ recovery.Store = (*RecoveryStore)(nil)

// CreateCode inserts a recovery code.
func (s *RecoveryStore) CreateCode(ctx context.Context, c *recovery.Secret) error {
	return s.insert(ctx, "recovery_codes", "code_hash", c)
}

// FlowCodes lists the codes of a flow.
func (s *RecoveryStore) FlowCodes(ctx context.Context, flowID uuid.UUID) ([]recovery.Secret, error) {
	return s.list(ctx, `SELECT id, flow_id, identity_id, recovery_address_id, code_hash, kind, expires_at, used_at, created_at
		FROM recovery_codes WHERE flow_id = ? ORDER BY created_at`, flowID)
}

// CountCodeSubmission counts a code submission and lists the flow's codes.
// On PostgreSQL, where each read is a round trip, it is one statement: the
// count's UPDATE as a data-modifying WITH query, joined with the codes.
// Its codes are read in the statement's snapshot, which may predate a
// code's use committed by a submission this one waited for: the use of
// the code (UseCode) re-checks, as it always must.
func (s *RecoveryStore) CountCodeSubmission(ctx context.Context, flowID uuid.UUID) (int, []recovery.Secret, error) {
	if s.DB.Dialect != Postgres {
		n, err := (&FlowStore{DB: s.DB}).IncrementSubmissions(ctx, flowID)
		if err != nil {
			return 0, nil, err
		}
		codes, err := s.FlowCodes(ctx, flowID)
		return n, codes, err
	}
	rows, err := s.DB.Query(ctx, `WITH counted AS (
			UPDATE selfservice_flows SET submissions = submissions + 1 WHERE id = ? RETURNING submissions)
		SELECT counted.submissions, c.id, c.flow_id, c.identity_id, c.recovery_address_id, c.code_hash, c.kind, c.expires_at, c.used_at, c.created_at
		FROM counted LEFT JOIN recovery_codes c ON c.flow_id = ? ORDER BY c.created_at`, flowID.String(), flowID.String())
	if err != nil {
		return 0, nil, err
	}
	n, found := 0, false
	codes, err := scanSecrets(rows, func(dest []any) []any {
		found = true
		return append([]any{&n}, dest...)
	})
	if err == nil && !found {
		err = ErrNotFound
	}
	return n, codes, err
}

// DeleteFlowCodes removes every code of a flow.
func (s *RecoveryStore) DeleteFlowCodes(ctx context.Context, flowID uuid.UUID) error {
	return s.DB.ExecLater(ctx, `DELETE FROM recovery_codes WHERE flow_id = ?`, flowID.String())
}

// UseCode marks a code used. Only one of several concurrent callers sees
// true: the conditional UPDATE takes the row lock and re-checks used_at.
func (s *RecoveryStore) UseCode(ctx context.Context, id uuid.UUID, at time.Time) (bool, error) {
	return s.DB.spendSecret(ctx, "recovery_codes", id, at)
}

// CreateToken inserts a link token.
func (s *RecoveryStore) CreateToken(ctx context.Context, t *recovery.Secret) error {
	return s.insert(ctx, "recovery_tokens", "token_hash", t)
}

// FlowTokens lists the link tokens of a flow.
func (s *RecoveryStore) FlowTokens(ctx context.Context, flowID uuid.UUID) ([]recovery.Secret, error) {
	return s.list(ctx, `SELECT id, flow_id, identity_id, recovery_address_id, token_hash, kind, expires_at, used_at, created_at
		FROM recovery_tokens WHERE flow_id = ? ORDER BY created_at`, flowID)
}

// UseToken marks a link token used (exactly one concurrent caller wins).
func (s *RecoveryStore) UseToken(ctx context.Context, id uuid.UUID, at time.Time) (bool, error) {
	return s.DB.spendSecret(ctx, "recovery_tokens", id, at)
}

// CreateCodeAsOf inserts a code while its identity's updated_at is asOf.
func (s *RecoveryStore) CreateCodeAsOf(ctx context.Context, c *recovery.Secret, asOf time.Time) (bool, error) {
	return s.insertAsOf(ctx, "recovery_codes", "code_hash", c, asOf)
}

// CreateTokenAsOf inserts a link token while its identity's updated_at is asOf.
func (s *RecoveryStore) CreateTokenAsOf(ctx context.Context, t *recovery.Secret, asOf time.Time) (bool, error) {
	return s.insertAsOf(ctx, "recovery_tokens", "token_hash", t, asOf)
}

func (s *RecoveryStore) insert(ctx context.Context, table, hashColumn string, c *recovery.Secret) error {
	return s.DB.ExecLater(ctx, `INSERT INTO `+table+` (id, flow_id, identity_id, recovery_address_id, `+hashColumn+`, kind, expires_at, used_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?)`, s.row(c)...)
}

// insertAsOf is insert guarded by the identity: one statement, which
// inserts nothing when no identity row has that id and updated_at.
func (s *RecoveryStore) insertAsOf(ctx context.Context, table, hashColumn string, c *recovery.Secret, asOf time.Time) (bool, error) {
	res, err := s.DB.Exec(ctx, `INSERT INTO `+table+` (id, flow_id, identity_id, recovery_address_id, `+hashColumn+`, kind, expires_at, used_at, created_at)
		SELECT ?, ?, ?, ?, ?, ?, ?, NULL, ? FROM identities WHERE id = ? AND updated_at = ?`,
		append(s.row(c), c.IdentityID.String(), s.DB.T(asOf))...)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// row is the values of c's columns but used_at.
func (s *RecoveryStore) row(c *recovery.Secret) []any {
	if c.CreatedAt.IsZero() {
		c.CreatedAt = s.DB.NowUTC()
	}
	var addr any
	if c.AddressID != nil {
		addr = c.AddressID.String()
	}
	return []any{c.ID.String(), c.FlowID.String(), c.IdentityID.String(), addr, c.Hash, string(c.Kind), s.DB.T(c.ExpiresAt), s.DB.T(c.CreatedAt)}
}

func (s *RecoveryStore) list(ctx context.Context, q string, flowID uuid.UUID) ([]recovery.Secret, error) {
	rows, err := s.DB.Query(ctx, q, flowID.String())
	if err != nil {
		return nil, err
	}
	return scanSecrets(rows, nil)
}

// scanSecrets reads and closes rows of secrets (id, flow_id, identity_id,
// recovery_address_id, hash, kind, expires_at, used_at, created_at). before,
// when set, puts destinations of its own before those of each row; a row
// whose secret columns are all NULL (an outer join that found none) adds
// no secret.
func scanSecrets(rows *sql.Rows, before func(dest []any) []any) ([]recovery.Secret, error) {
	defer rows.Close()
	var out []recovery.Secret
	for rows.Next() {
		var (
			id, flow, ident, addr, hash, kind *string
			expires, used, created            *time.Time
		)
		dest := []any{&id, &flow, &ident, &addr, &hash, &kind, &expires, &used, &created}
		if before != nil {
			dest = before(dest)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		if id == nil {
			continue
		}
		c := recovery.Secret{ID: uuid.MustParse(*id), FlowID: uuid.MustParse(*flow), IdentityID: uuid.MustParse(*ident),
			Hash: *hash, Kind: recovery.Kind(*kind), ExpiresAt: expires.UTC(), CreatedAt: created.UTC()}
		if addr != nil {
			if a, err := uuid.Parse(*addr); err == nil {
				c.AddressID = &a
			}
		}
		if used != nil {
			u := used.UTC()
			c.UsedAt = &u
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// InvalidateIdentitySecrets spends every unused, unexpired recovery code
// and link token of the identity (a lockdown): each then answers as an
// already used one. It returns how many there were.
func (s *RecoveryStore) InvalidateIdentitySecrets(ctx context.Context, identityID uuid.UUID, at time.Time) (int, error) {
	total := 0
	for _, table := range []string{"recovery_codes", "recovery_tokens"} {
		res, err := s.DB.Exec(ctx, `UPDATE `+table+` SET used_at = ? WHERE identity_id = ? AND used_at IS NULL AND expires_at > ?`,
			s.DB.T(at), identityID.String(), s.DB.T(at))
		if err != nil {
			return 0, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, err
		}
		total += int(n)
	}
	return total, nil
}
