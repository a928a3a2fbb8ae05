package sqlstore

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/verification"
)

// VerificationStore implements verification.Store: the verification_codes
// and verification_tokens tables and the status of
// identity_verifiable_addresses.
type VerificationStore struct{ DB *DB }

// NewVerificationStore returns the verification store of db.
func NewVerificationStore(db *DB) *VerificationStore { return &VerificationStore{DB: db} }

var _ verification.Store = (*VerificationStore)(nil)

// CreateCode inserts a verification code.
func (s *VerificationStore) CreateCode(ctx context.Context, c *verification.Secret) error {
	return s.insert(ctx, "verification_codes", "code_hash", c)
}

// FlowCodes lists the codes of a flow.
func (s *VerificationStore) FlowCodes(ctx context.Context, flowID uuid.UUID) ([]verification.Secret, error) {
	return s.list(ctx, `SELECT id, flow_id, identity_id, address_id, code_hash, expires_at, used_at, created_at
		FROM verification_codes WHERE flow_id = ? ORDER BY created_at`, flowID)
}

// DeleteFlowCodes removes every code of a flow.
func (s *VerificationStore) DeleteFlowCodes(ctx context.Context, flowID uuid.UUID) error {
	_, err := s.DB.Exec(ctx, `DELETE FROM verification_codes WHERE flow_id = ?`, flowID.String())
	return err
}

// CopyCodes copies the unused codes of flow from to flow to (new ids,
// same hashes, expiry and address).
func (s *VerificationStore) CopyCodes(ctx context.Context, from, to uuid.UUID) error {
	codes, err := s.FlowCodes(ctx, from)
	if err != nil {
		return err
	}
	for _, c := range codes {
		if c.UsedAt != nil {
			continue
		}
		c.ID, c.FlowID, c.CreatedAt = uuid.New(), to, s.DB.NowUTC()
		if err := s.CreateCode(ctx, &c); err != nil {
			return err
		}
	}
	return nil
}

// UseCode marks a code used.
func (s *VerificationStore) UseCode(ctx context.Context, id uuid.UUID, at time.Time) (bool, error) {
	return s.DB.spendSecret(ctx, "verification_codes", id, at)
}

// CreateToken inserts a verification link token.
func (s *VerificationStore) CreateToken(ctx context.Context, t *verification.Secret) error {
	return s.insert(ctx, "verification_tokens", "token_hash", t)
}

// FlowTokens lists the link tokens of a flow.
func (s *VerificationStore) FlowTokens(ctx context.Context, flowID uuid.UUID) ([]verification.Secret, error) {
	return s.list(ctx, `SELECT id, flow_id, identity_id, address_id, token_hash, expires_at, used_at, created_at
		FROM verification_tokens WHERE flow_id = ? ORDER BY created_at`, flowID)
}

// UseToken marks a link token used.
func (s *VerificationStore) UseToken(ctx context.Context, id uuid.UUID, at time.Time) (bool, error) {
	return s.DB.spendSecret(ctx, "verification_tokens", id, at)
}

// insert adds a code or token row; table and hashColumn are constants.
func (s *VerificationStore) insert(ctx context.Context, table, hashColumn string, c *verification.Secret) error {
	if c.CreatedAt.IsZero() {
		c.CreatedAt = s.DB.NowUTC()
	}
	_, err := s.DB.Exec(ctx, `INSERT INTO `+table+` (id, flow_id, identity_id, address_id, `+hashColumn+`, expires_at, used_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?, NULL, ?)`,
		c.ID.String(), c.FlowID.String(), c.IdentityID.String(), c.AddressID.String(), c.Hash, s.DB.T(c.ExpiresAt), s.DB.T(c.CreatedAt))
	return err
}

// list runs a SELECT of code or token rows of one flow.
func (s *VerificationStore) list(ctx context.Context, q string, flowID uuid.UUID) ([]verification.Secret, error) {
	rows, err := s.DB.Query(ctx, q, flowID.String())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []verification.Secret
	for rows.Next() {
		var (
			c                     verification.Secret
			id, flow, ident, addr string
			used                  *time.Time
		)
		if err := rows.Scan(&id, &flow, &ident, &addr, &c.Hash, &c.ExpiresAt, &used, &c.CreatedAt); err != nil {
			return nil, err
		}
		c.ID, c.FlowID, c.IdentityID, c.AddressID = uuid.MustParse(id), uuid.MustParse(flow), uuid.MustParse(ident), uuid.MustParse(addr)
		c.ExpiresAt, c.CreatedAt = c.ExpiresAt.UTC(), c.CreatedAt.UTC()
		if used != nil {
			u := used.UTC()
			c.UsedAt = &u
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// FindAddress looks a verifiable address up by via and value.
func (s *VerificationStore) FindAddress(ctx context.Context, via, value string) (*verification.Address, error) {
	var a verification.Address
	var id, owner string
	err := s.DB.QueryRow(ctx, `SELECT id, identity_id, via, value, status FROM identity_verifiable_addresses
		WHERE via = ? AND value = ?`, via, value).Scan(&id, &owner, &a.Via, &a.Value, &a.Status)
	if err != nil {
		return nil, ScanErr(err)
	}
	a.ID, a.IdentityID = uuid.MustParse(id), uuid.MustParse(owner)
	return &a, nil
}

// MarkSent moves a pending address to "sent". The identity (and so every
// cached whoami of its sessions) changes with it.
func (s *VerificationStore) MarkSent(ctx context.Context, a *verification.Address, at time.Time) error {
	return s.DB.InTx(ctx, func(ctx context.Context) error {
		res, err := s.DB.Exec(ctx, `UPDATE identity_verifiable_addresses SET status = ?, updated_at = ?
			WHERE id = ? AND status = ?`, identity.VerifiableStatusSent, s.DB.T(at), a.ID.String(), identity.VerifiableStatusPending)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err == nil && n > 0 {
			s.DB.sessionsChanged(ctx, a.IdentityID)
		}
		return err
	})
}

// MarkVerified sets the address verified and completed.
func (s *VerificationStore) MarkVerified(ctx context.Context, a *verification.Address, at time.Time) error {
	return s.DB.InTx(ctx, func(ctx context.Context) error {
		s.DB.sessionsChanged(ctx, a.IdentityID)
		_, err := s.DB.Exec(ctx, `UPDATE identity_verifiable_addresses
			SET verified = ?, status = ?, verified_at = ?, updated_at = ? WHERE id = ?`,
			true, identity.VerifiableStatusCompleted, s.DB.T(at), s.DB.T(at), a.ID.String())
		return err
	})
}
