package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/session"
)

// ImportStore is what `latchkey import kratos` writes through: the
// identity store's own inserts and updates (so an imported identity is
// stored exactly as one created here), plus what only an import needs —
// which of a batch already exist and when Latchkey last changed them, who
// owns an identifier or address, sessions written with their original id,
// and the checkpoint an interrupted run goes on from.
type ImportStore struct {
	*IdentityStore
}

// NewImportStore returns the import store of db.
func NewImportStore(db *DB) *ImportStore { return &ImportStore{IdentityStore: NewIdentityStore(db)} }

// LastChanges returns, for each of ids that exists, the latest of its
// updated_at and its credentials' updated_at: a login that upgraded a
// password hash or a new second factor counts as a change.
func (s *ImportStore) LastChanges(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]time.Time, error) {
	out := map[uuid.UUID]time.Time{}
	if len(ids) == 0 {
		return out, nil
	}
	args := idArgs(ids)
	in := ` IN (` + placeholders(len(ids)) + `)`
	for _, q := range []string{
		`SELECT id, updated_at FROM identities WHERE id` + in,
		`SELECT identity_id, updated_at FROM identity_credentials WHERE identity_id` + in,
	} {
		err := s.each(ctx, q, args, func(rows *sql.Rows) error {
			var (
				id string
				at time.Time
			)
			if err := rows.Scan(&id, &at); err != nil {
				return err
			}
			u, err := uuid.Parse(id)
			if err != nil {
				return err
			}
			if at.After(out[u]) {
				out[u] = at.UTC()
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Owned names something only one identity may have: a credential
// identifier (Kind is the credential type) or an address (Kind is
// "recovery:<via>" or "verifiable:<via>").
type Owned struct {
	Kind  string
	Value string
}

// Owners returns who owns each of keys that some identity owns.
func (s *ImportStore) Owners(ctx context.Context, keys []Owned) (map[Owned]uuid.UUID, error) {
	out := map[Owned]uuid.UUID{}
	if len(keys) == 0 {
		return out, nil
	}
	values := make([]any, 0, len(keys))
	seen := map[string]bool{}
	for _, k := range keys {
		if !seen[k.Value] {
			seen[k.Value] = true
			values = append(values, k.Value)
		}
	}
	in := ` IN (` + placeholders(len(values)) + `)`
	queries := []struct{ prefix, q string }{
		{"", `SELECT identity_id, credential_type, identifier FROM identity_credential_identifiers WHERE identifier` + in},
		{"recovery:", `SELECT identity_id, via, value FROM identity_recovery_addresses WHERE value` + in},
		{"verifiable:", `SELECT identity_id, via, value FROM identity_verifiable_addresses WHERE value` + in},
	}
	for _, q := range queries {
		err := s.each(ctx, q.q, values, func(rows *sql.Rows) error {
			var owner, kind, value string
			if err := rows.Scan(&owner, &kind, &value); err != nil {
				return err
			}
			id, err := uuid.Parse(owner)
			if err != nil {
				return err
			}
			out[Owned{Kind: q.prefix + kind, Value: value}] = id
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// SessionChanges returns when each of ids that exists was last changed.
func (s *ImportStore) SessionChanges(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]time.Time, error) {
	out := map[uuid.UUID]time.Time{}
	if len(ids) == 0 {
		return out, nil
	}
	err := s.each(ctx, `SELECT id, updated_at FROM sessions WHERE id IN (`+placeholders(len(ids))+`)`, idArgs(ids), func(rows *sql.Rows) error {
		var (
			id string
			at time.Time
		)
		if err := rows.Scan(&id, &at); err != nil {
			return err
		}
		u, err := uuid.Parse(id)
		if err != nil {
			return err
		}
		out[u] = at.UTC()
		return nil
	})
	return out, err
}

// PutSession writes a session under its own id, replacing the row of that
// id if there is one; tokenHash is the keyed hash of its token.
func (s *ImportStore) PutSession(ctx context.Context, ss *session.Session, tokenHash string) error {
	return s.DB.InTx(ctx, func(ctx context.Context) error {
		if _, err := s.DB.Exec(ctx, `DELETE FROM sessions WHERE id = ?`, ss.ID.String()); err != nil {
			return err
		}
		s.DB.sessionsChanged(ctx, ss.ID, ss.IdentityID)
		return NewSessionStore(s.DB).CreateSession(ctx, ss, tokenHash)
	})
}

// PutIdentity creates the identity, or brings the stored one in line with
// it (second factors included, which UpdateIdentity leaves alone).
func (s *ImportStore) PutIdentity(ctx context.Context, i *identity.Identity, exists bool) error {
	return s.DB.InTx(ctx, func(ctx context.Context) error {
		if !exists {
			return s.CreateIdentity(ctx, i)
		}
		if err := s.UpdateIdentity(ctx, i); err != nil {
			return err
		}
		for _, t := range []identity.CredentialType{identity.CredentialTOTP, identity.CredentialLookupSecret} {
			c, ok := i.Credentials[t]
			var err error
			if ok {
				err = s.replaceCredential(ctx, i.ID, c)
			} else {
				_, err = s.DB.Exec(ctx, `DELETE FROM identity_credentials WHERE identity_id = ? AND type = ?`, i.ID.String(), string(t))
				if err == nil {
					_, err = s.DB.Exec(ctx, `DELETE FROM identity_credential_identifiers WHERE identity_id = ? AND credential_type = ?`, i.ID.String(), string(t))
				}
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// replaceCredential stores c with its own id, timestamps and identifiers.
func (s *ImportStore) replaceCredential(ctx context.Context, identityID uuid.UUID, c identity.Credential) error {
	if _, err := s.DB.Exec(ctx, `DELETE FROM identity_credentials WHERE identity_id = ? AND type = ?`, identityID.String(), string(c.Type)); err != nil {
		return err
	}
	if _, err := s.DB.Exec(ctx, `DELETE FROM identity_credential_identifiers WHERE identity_id = ? AND credential_type = ?`, identityID.String(), string(c.Type)); err != nil {
		return err
	}
	if err := s.insertCredential(ctx, identityID, c); err != nil {
		return err
	}
	only := &identity.Identity{ID: identityID, Credentials: map[identity.CredentialType]identity.Credential{c.Type: c}}
	return s.insertIdentifiers(ctx, only)
}

// Checkpoint is where an interrupted import of source stopped: the last
// source identity id whose batch committed and how many identities were
// done by then. ok is false when there is none.
func (s *ImportStore) Checkpoint(ctx context.Context, source string) (lastID string, done int64, ok bool, err error) {
	err = s.DB.QueryRow(ctx, `SELECT last_identity_id, done FROM import_checkpoints WHERE source = ?`, source).Scan(&lastID, &done)
	if err == sql.ErrNoRows {
		return "", 0, false, nil
	}
	if err != nil {
		return "", 0, false, err
	}
	return lastID, done, true, nil
}

// SaveCheckpoint records progress; call it in the batch's transaction.
func (s *ImportStore) SaveCheckpoint(ctx context.Context, source, lastID string, done int64, startedAt time.Time) error {
	return s.DB.InTx(ctx, func(ctx context.Context) error {
		if _, err := s.DB.Exec(ctx, `DELETE FROM import_checkpoints WHERE source = ?`, source); err != nil {
			return err
		}
		_, err := s.DB.Exec(ctx, `INSERT INTO import_checkpoints (source, last_identity_id, done, started_at, updated_at)
			VALUES (?, ?, ?, ?, ?)`, source, lastID, done, s.DB.T(startedAt), s.DB.T(s.DB.NowUTC()))
		return err
	})
}

// ClearCheckpoint forgets the checkpoint of source (the import finished).
func (s *ImportStore) ClearCheckpoint(ctx context.Context, source string) error {
	_, err := s.DB.Exec(ctx, `DELETE FROM import_checkpoints WHERE source = ?`, source)
	return err
}

func idArgs(ids []uuid.UUID) []any {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id.String()
	}
	return args
}
