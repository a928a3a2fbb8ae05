package sqlstore

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/storeerr"
)

// PutCredential creates the identity's credential of c.Type, or replaces
// the config and identifiers of the one it has, in one transaction.
func (s *IdentityStore) PutCredential(ctx context.Context, identityID uuid.UUID, c identity.Credential) error {
	return s.DB.InTx(ctx, func(ctx context.Context) error {
		if err := s.mustExist(ctx, identityID); err != nil {
			return err
		}
		s.DB.sessionsChanged(ctx, identityID)
		var credID string
		err := s.DB.QueryRow(ctx, `SELECT id FROM identity_credentials WHERE identity_id = ? AND type = ?`,
			identityID.String(), string(c.Type)).Scan(&credID)
		switch err = ScanErr(err); {
		case err == storeerr.ErrNotFound:
			if c.ID == uuid.Nil {
				c.ID = uuid.New()
			}
			if c.CreatedAt.IsZero() {
				c.CreatedAt = c.UpdatedAt
			}
			err = s.insertCredential(ctx, identityID, c)
		case err == nil:
			_, err = s.DB.Exec(ctx, `UPDATE identity_credentials SET config = ?, version = ?, updated_at = ? WHERE id = ?`,
				credentialConfigText(c.Config), c.Version, s.DB.T(c.UpdatedAt), credID)
		}
		if err != nil {
			return err
		}
		if _, err := s.DB.Exec(ctx, `DELETE FROM identity_credential_identifiers WHERE identity_id = ? AND credential_type = ?`,
			identityID.String(), string(c.Type)); err != nil {
			return err
		}
		for _, v := range c.Identifiers {
			if _, err := s.DB.Exec(ctx, `INSERT INTO identity_credential_identifiers (id, identity_id, credential_type, identifier) VALUES (?, ?, ?, ?)`,
				uuid.New().String(), identityID.String(), string(c.Type), v); err != nil {
				return err
			}
		}
		_, err = s.DB.Exec(ctx, `UPDATE identities SET updated_at = ? WHERE id = ?`, s.DB.T(c.UpdatedAt), identityID.String())
		return err
	})
}

// SwapCredentialConfig replaces the config of the identity's credential
// of type ct with next only if it is still old (compare-and-swap), so of
// two concurrent uses of one single-use secret exactly one wins. It is
// storeerr.ErrConflict when the config changed meanwhile and
// storeerr.ErrNotFound when there is no such credential.
func (s *IdentityStore) SwapCredentialConfig(ctx context.Context, identityID uuid.UUID, ct identity.CredentialType, old, next json.RawMessage, at time.Time) error {
	return s.DB.InTx(ctx, func(ctx context.Context) error {
		s.DB.sessionsChanged(ctx, identityID)
		res, err := s.DB.Exec(ctx, `UPDATE identity_credentials SET config = ?, updated_at = ?
			WHERE identity_id = ? AND type = ? AND config = ?`,
			credentialConfigText(next), s.DB.T(at), identityID.String(), string(ct), credentialConfigText(old))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		var one int
		if err := ScanErr(s.DB.QueryRow(ctx, `SELECT 1 FROM identity_credentials WHERE identity_id = ? AND type = ?`,
			identityID.String(), string(ct)).Scan(&one)); err != nil {
			return err
		}
		return storeerr.ErrConflict
	})
}

// DeleteCredential removes the identity's credential of type ct and its
// identifiers; storeerr.ErrNotFound when it has none.
func (s *IdentityStore) DeleteCredential(ctx context.Context, identityID uuid.UUID, ct identity.CredentialType, at time.Time) error {
	return s.DB.InTx(ctx, func(ctx context.Context) error {
		res, err := s.DB.Exec(ctx, `DELETE FROM identity_credentials WHERE identity_id = ? AND type = ?`, identityID.String(), string(ct))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return storeerr.ErrNotFound
		}
		s.DB.sessionsChanged(ctx, identityID)
		if _, err := s.DB.Exec(ctx, `DELETE FROM identity_credential_identifiers WHERE identity_id = ? AND credential_type = ?`,
			identityID.String(), string(ct)); err != nil {
			return err
		}
		_, err = s.DB.Exec(ctx, `UPDATE identities SET updated_at = ? WHERE id = ?`, s.DB.T(at), identityID.String())
		return err
	})
}
