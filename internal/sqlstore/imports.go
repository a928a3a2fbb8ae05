package sqlstore

import (
	"context"
	"database/sql"
	"strings"
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
	in := ` IN (` + placeholders(len(ids)) + `)`
	for _, q := range []string{
		`SELECT id, updated_at FROM identities WHERE id` + in,
		`SELECT identity_id, updated_at FROM identity_credentials WHERE identity_id` + in,
	} {
		if err := s.latestByID(ctx, q, ids, out); err != nil {
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

// Owners returns who owns each of keys that some identity owns. Keys are
// looked up by (kind, value), the unique indexes' order, one query per
// kind and table.
func (s *ImportStore) Owners(ctx context.Context, keys []Owned) (map[Owned]uuid.UUID, error) {
	out := map[Owned]uuid.UUID{}
	byKind := map[string][]any{}
	var kinds []string
	for _, k := range keys {
		if byKind[k.Kind] == nil {
			kinds = append(kinds, k.Kind)
		}
		byKind[k.Kind] = append(byKind[k.Kind], k.Value)
	}
	for _, kind := range kinds {
		values := byKind[kind]
		q := `SELECT identity_id, identifier FROM identity_credential_identifiers WHERE credential_type = ? AND identifier IN (` + placeholders(len(values)) + `)`
		param := kind
		if via, ok := strings.CutPrefix(kind, "recovery:"); ok {
			q, param = `SELECT identity_id, value FROM identity_recovery_addresses WHERE via = ? AND value IN (`+placeholders(len(values))+`)`, via
		} else if via, ok := strings.CutPrefix(kind, "verifiable:"); ok {
			q, param = `SELECT identity_id, value FROM identity_verifiable_addresses WHERE via = ? AND value IN (`+placeholders(len(values))+`)`, via
		}
		err := s.each(ctx, q, append([]any{param}, values...), func(rows *sql.Rows) error {
			var owner, value string
			if err := rows.Scan(&owner, &value); err != nil {
				return err
			}
			id, err := uuid.Parse(owner)
			if err != nil {
				return err
			}
			out[Owned{Kind: kind, Value: value}] = id
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
	if err := s.latestByID(ctx, `SELECT id, updated_at FROM sessions WHERE id IN (`+placeholders(len(ids))+`)`, ids, out); err != nil {
		return nil, err
	}
	return out, nil
}

// latestByID runs a query over ids returning (id, time) rows and keeps in
// out the latest time of each id.
func (s *ImportStore) latestByID(ctx context.Context, query string, ids []uuid.UUID, out map[uuid.UUID]time.Time) error {
	return s.each(ctx, query, idArgs(ids), func(rows *sql.Rows) error {
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
}

// PutSessions writes sessions under their own ids, replacing the rows of
// those ids; tokenHashes[i] is the keyed hash of the token of list[i].
func (s *ImportStore) PutSessions(ctx context.Context, list []*session.Session, tokenHashes []string) error {
	if len(list) == 0 {
		return nil
	}
	ids := make([]uuid.UUID, 0, len(list))
	for _, ss := range list {
		ids = append(ids, ss.ID, ss.IdentityID)
	}
	return s.DB.InTx(ctx, func(ctx context.Context) error {
		sessionIDs := make([]any, 0, len(list))
		for _, ss := range list {
			sessionIDs = append(sessionIDs, ss.ID.String())
		}
		if _, err := s.DB.Exec(ctx, `DELETE FROM sessions WHERE id IN (`+placeholders(len(sessionIDs))+`)`, sessionIDs...); err != nil {
			return err
		}
		s.DB.sessionsChanged(ctx, ids...)
		return NewSessionStore(s.DB).CreateSessions(ctx, list, tokenHashes)
	})
}

// PutIdentities creates the identities of create and brings those of
// update in line with what they carry, second factors included (which
// UpdateIdentity leaves alone).
func (s *ImportStore) PutIdentities(ctx context.Context, create, update []*identity.Identity) error {
	return s.DB.InTx(ctx, func(ctx context.Context) error {
		if err := s.CreateIdentities(ctx, create); err != nil {
			return err
		}
		for _, i := range update {
			if err := s.UpdateIdentity(ctx, i); err != nil {
				return err
			}
			for _, t := range []identity.CredentialType{identity.CredentialTOTP, identity.CredentialLookupSecret} {
				c, ok := i.Credentials[t]
				var err error
				if ok {
					err = s.replaceCredential(ctx, i.ID, c)
				} else {
					err = s.deleteCredential(ctx, i.ID, t)
				}
				if err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// replaceCredential stores c with its own id, timestamps and identifiers.
func (s *ImportStore) replaceCredential(ctx context.Context, identityID uuid.UUID, c identity.Credential) error {
	if err := s.deleteCredential(ctx, identityID, c.Type); err != nil {
		return err
	}
	if err := s.insertCredential(ctx, identityID, c); err != nil {
		return err
	}
	only := &identity.Identity{ID: identityID, Credentials: map[identity.CredentialType]identity.Credential{c.Type: c}}
	return s.insertIdentifiers(ctx, only)
}

// deleteCredential removes the identity's credential of type t, if any,
// with its identifiers.
func (s *ImportStore) deleteCredential(ctx context.Context, identityID uuid.UUID, t identity.CredentialType) error {
	if _, err := s.DB.Exec(ctx, `DELETE FROM identity_credentials WHERE identity_id = ? AND type = ?`, identityID.String(), string(t)); err != nil {
		return err
	}
	_, err := s.DB.Exec(ctx, `DELETE FROM identity_credential_identifiers WHERE identity_id = ? AND credential_type = ?`, identityID.String(), string(t))
	return err
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
