package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/identity"
)

// IdentityStore implements identity.Store over the identities,
// identity_credentials, identity_credential_identifiers,
// identity_recovery_addresses and identity_verifiable_addresses tables.
// Every write that changes an existing identity tells the whoami cache
// (see whoamiCache).
type IdentityStore struct{ DB *DB }

// NewIdentityStore returns the identity store of db.
func NewIdentityStore(db *DB) *IdentityStore { return &IdentityStore{DB: db} }

var _ identity.Store = (*IdentityStore)(nil)

// InTx runs fn in a transaction (joining the one in ctx).
func (s *IdentityStore) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	return s.DB.InTx(ctx, fn)
}

// CreateIdentity inserts an identity and everything it owns.
func (s *IdentityStore) CreateIdentity(ctx context.Context, i *identity.Identity) error {
	return s.CreateIdentities(ctx, []*identity.Identity{i})
}

// CreateIdentities inserts identities and everything they own in one
// transaction, a table at a time in multi-row statements (an import
// writes hundreds at once).
func (s *IdentityStore) CreateIdentities(ctx context.Context, list []*identity.Identity) error {
	var idents, creds, identifiers, recovery, verifiable [][]any
	for _, i := range list {
		idents = append(idents, []any{i.ID.String(), i.SchemaID, string(i.State), s.nullTime(i.StateChangedAt), string(i.Traits),
			jsonOrNull(i.MetadataPublic), jsonOrNull(i.MetadataAdmin), stringOrNull(i.ExternalID), s.DB.T(i.CreatedAt), s.DB.T(i.UpdatedAt)})
		for _, c := range i.Credentials {
			creds = append(creds, s.credentialRow(i.ID, c))
		}
		identifiers = append(identifiers, identifierRows(i)...)
		for _, a := range i.RecoveryAddresses {
			recovery = append(recovery, s.recoveryAddressRow(i.ID, a))
		}
		for _, a := range i.VerifiableAddresses {
			verifiable = append(verifiable, s.verifiableAddressRow(i.ID, a))
		}
	}
	return s.DB.InTx(ctx, func(ctx context.Context) error {
		for _, t := range []struct {
			table, columns string
			rows           [][]any
		}{
			{"identities", identityInsertColumns, idents},
			{"identity_credentials", credentialInsertColumns, creds},
			{"identity_credential_identifiers", identifierInsertColumns, identifiers},
			{"identity_recovery_addresses", recoveryAddressInsertColumns, recovery},
			{"identity_verifiable_addresses", verifiableAddressInsertColumns, verifiable},
		} {
			if err := s.DB.insertRows(ctx, t.table, t.columns, t.rows); err != nil {
				return err
			}
		}
		return nil
	})
}

// CreateIdentitiesSkippingConflicts inserts the identities in one
// transaction, leaving out each one that conflicts with a stored identity
// or an earlier one of the list: its entry of conflicts is ErrConflict,
// and the others are written. Any other error rolls everything back.
func (s *IdentityStore) CreateIdentitiesSkippingConflicts(ctx context.Context, list []*identity.Identity) (conflicts []error, err error) {
	err = s.DB.InTx(ctx, func(ctx context.Context) error {
		// InTx may run this again from the start.
		conflicts = make([]error, len(list))
		// Most lists conflict nowhere: all of them in multi-row inserts,
		// on a savepoint so that a conflict undoes only this attempt.
		err := s.DB.Savepoint(ctx, func(ctx context.Context) error { return s.CreateIdentities(ctx, list) })
		if !errors.Is(err, ErrConflict) {
			return err
		}
		// Then one at a time, to find the ones that conflict.
		for n, i := range list {
			err := s.DB.Savepoint(ctx, func(ctx context.Context) error { return s.CreateIdentity(ctx, i) })
			switch {
			case errors.Is(err, ErrConflict):
				conflicts[n] = err
			case err != nil:
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return conflicts, nil
}

// UpdateIdentity saves the identity row and syncs what it owns: rows whose
// id i still carries are updated, the others deleted, new ones inserted.
// Keeping ids matters: other tables (recovery tokens, ...) reference them.
func (s *IdentityStore) UpdateIdentity(ctx context.Context, i *identity.Identity) error {
	return s.DB.InTx(ctx, func(ctx context.Context) error {
		if err := s.mustExist(ctx, i.ID); err != nil {
			return err
		}
		s.DB.sessionsChanged(ctx, i.ID)
		_, err := s.DB.Exec(ctx, `UPDATE identities
			SET schema_id = ?, state = ?, state_changed_at = ?, traits = ?, metadata_public = ?, metadata_admin = ?, external_id = ?, updated_at = ?
			WHERE id = ?`,
			i.SchemaID, string(i.State), s.nullTime(i.StateChangedAt), string(i.Traits),
			jsonOrNull(i.MetadataPublic), jsonOrNull(i.MetadataAdmin), stringOrNull(i.ExternalID), s.DB.T(i.UpdatedAt), i.ID.String())
		if err != nil {
			return err
		}
		if err := s.syncCredentials(ctx, i); err != nil {
			return err
		}
		if err := s.syncRecoveryAddresses(ctx, i); err != nil {
			return err
		}
		return s.syncVerifiableAddresses(ctx, i)
	})
}

// GetIdentity loads an identity, with credentials when asked.
func (s *IdentityStore) GetIdentity(ctx context.Context, id uuid.UUID, withCredentials bool) (*identity.Identity, error) {
	if i := cachedIdentity(ctx, id, withCredentials); i != nil {
		return i, nil
	}
	i, err := s.DB.readIdentity(ctx, id, withCredentials)
	if err != nil {
		return nil, err
	}
	keepIdentity(ctx, i, withCredentials)
	return i, nil
}

// DeleteIdentity deletes an identity; its rows in other tables cascade.
func (s *IdentityStore) DeleteIdentity(ctx context.Context, id uuid.UUID) error {
	return s.DB.InTx(ctx, func(ctx context.Context) error {
		res, err := s.DB.Exec(ctx, `DELETE FROM identities WHERE id = ?`, id.String())
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		s.DB.sessionsChanged(ctx, id)
		return nil
	})
}

// ListIdentities returns a page of identities in (created_at, id) order.
func (s *IdentityStore) ListIdentities(ctx context.Context, q identity.ListQuery) ([]*identity.Identity, error) {
	var (
		where []string
		args  []any
	)
	if q.After != nil {
		where = append(where, `(created_at > ? OR (created_at = ? AND id > ?))`)
		args = append(args, s.DB.T(q.After.CreatedAt), s.DB.T(q.After.CreatedAt), q.After.ID.String())
	}
	if q.Identifier != "" {
		where = append(where, `id IN (SELECT identity_id FROM identity_credential_identifiers WHERE identifier = ?)`)
		args = append(args, q.Identifier)
	}
	if q.IDs != nil {
		if len(q.IDs) == 0 {
			return []*identity.Identity{}, nil
		}
		where = append(where, `id IN (`+placeholders(len(q.IDs))+`)`)
		for _, id := range q.IDs {
			args = append(args, id.String())
		}
	}
	query := `SELECT ` + identityColumns + ` FROM identities`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	query += ` ORDER BY created_at, id LIMIT ?`
	args = append(args, q.Limit)

	rows, err := s.DB.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	list := []*identity.Identity{}
	for rows.Next() {
		i, err := scanIdentity(rows)
		if err != nil {
			return nil, err
		}
		list = append(list, i)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if err := s.loadChildren(ctx, list, q.WithCredentials); err != nil {
		return nil, err
	}
	return list, nil
}

// FindIdentityByIdentifier loads the identity owning a credential identifier.
func (s *IdentityStore) FindIdentityByIdentifier(ctx context.Context, ct identity.CredentialType, identifier string) (*identity.Identity, error) {
	var idStr string
	err := s.DB.QueryRow(ctx, `SELECT identity_id FROM identity_credential_identifiers
		WHERE credential_type = ? AND identifier = ?`, string(ct), identifier).Scan(&idStr)
	if err != nil {
		return nil, ScanErr(err)
	}
	id, err := uuid.Parse(idStr)
	if err != nil {
		return nil, err
	}
	return s.GetIdentity(ctx, id, true)
}

// FindRecoveryAddress finds a recovery address by channel and value, with
// the identity owning it (credentials included), in one statement.
func (s *IdentityStore) FindRecoveryAddress(ctx context.Context, via, value string) (*identity.RecoveryAddress, *identity.Identity, error) {
	i, err := s.DB.readRecoveryAddressOwner(ctx, via, value)
	if err != nil {
		return nil, nil, err
	}
	for n := range i.RecoveryAddresses {
		if a := &i.RecoveryAddresses[n]; a.Via == via && a.Value == value {
			keepIdentity(ctx, i, true)
			return a, i, nil
		}
	}
	return nil, nil, ErrNotFound // not reached: the identity was read for this address
}

// MarkAddressVerified marks one verifiable address as verified. An
// address verified already is left as it is: nothing changes, so no
// instance needs to hear of it (or be waited for).
func (s *IdentityStore) MarkAddressVerified(ctx context.Context, identityID uuid.UUID, via, value string, at time.Time) error {
	return s.DB.InTx(ctx, func(ctx context.Context) error {
		var (
			addrID, status string
			verified       bool
		)
		if a, ok := cachedAddress(ctx, identityID, via, value); ok {
			// The transaction read the identity already (a recovery
			// loads it before it verifies the address).
			addrID, verified, status = a.ID.String(), a.Verified, a.Status
		} else if err := s.DB.QueryRow(ctx, `SELECT id, verified, status FROM identity_verifiable_addresses
			WHERE identity_id = ? AND via = ? AND value = ?`, identityID.String(), via, value).Scan(&addrID, &verified, &status); err != nil {
			return ScanErr(err)
		}
		if verified && status == identity.VerifiableStatusCompleted {
			return nil
		}
		s.DB.sessionsChanged(ctx, identityID)
		_, err := s.DB.Exec(ctx, `UPDATE identity_verifiable_addresses
			SET verified = ?, status = ?, verified_at = ?, updated_at = ? WHERE id = ?`,
			true, identity.VerifiableStatusCompleted, s.DB.T(at), s.DB.T(at), addrID)
		return err
	})
}

// SetCredentialConfig replaces one credential's config (creating the
// credential without identifiers if the identity has none of that type).
func (s *IdentityStore) SetCredentialConfig(ctx context.Context, identityID uuid.UUID, ct identity.CredentialType, config json.RawMessage, at time.Time) error {
	return s.DB.InTx(ctx, func(ctx context.Context) error {
		if err := s.mustExist(ctx, identityID); err != nil {
			return err
		}
		s.DB.sessionsChanged(ctx, identityID)
		var credID string
		err := s.DB.QueryRow(ctx, `SELECT id FROM identity_credentials WHERE identity_id = ? AND type = ?`,
			identityID.String(), string(ct)).Scan(&credID)
		switch {
		case err == sql.ErrNoRows:
			err = s.insertCredential(ctx, identityID, identity.Credential{ID: uuid.New(), Type: ct, Config: config, CreatedAt: at, UpdatedAt: at})
		case err == nil:
			_, err = s.DB.Exec(ctx, `UPDATE identity_credentials SET config = ?, updated_at = ? WHERE id = ?`,
				string(config), s.DB.T(at), credID)
		}
		if err != nil {
			return err
		}
		_, err = s.DB.Exec(ctx, `UPDATE identities SET updated_at = ? WHERE id = ?`, s.DB.T(at), identityID.String())
		return err
	})
}

// --- writing what an identity owns

// Columns of the rows the *Row functions below build, in their order.
const (
	identityInsertColumns          = `id, schema_id, state, state_changed_at, traits, metadata_public, metadata_admin, external_id, created_at, updated_at`
	credentialInsertColumns        = `id, identity_id, type, config, version, created_at, updated_at`
	identifierInsertColumns        = `id, identity_id, credential_type, identifier`
	recoveryAddressInsertColumns   = `id, identity_id, via, value, created_at, updated_at`
	verifiableAddressInsertColumns = `id, identity_id, via, value, verified, status, verified_at, created_at, updated_at`
)

func (s *IdentityStore) credentialRow(identityID uuid.UUID, c identity.Credential) []any {
	return []any{c.ID.String(), identityID.String(), string(c.Type), credentialConfigText(c.Config), c.Version, s.DB.T(c.CreatedAt), s.DB.T(c.UpdatedAt)}
}

// identifierRows are the identifier rows of every credential of i.
func identifierRows(i *identity.Identity) [][]any {
	var rows [][]any
	for t, c := range i.Credentials {
		for _, ident := range c.Identifiers {
			rows = append(rows, []any{uuid.NewString(), i.ID.String(), string(t), ident})
		}
	}
	return rows
}

func (s *IdentityStore) recoveryAddressRow(identityID uuid.UUID, a identity.RecoveryAddress) []any {
	return []any{a.ID.String(), identityID.String(), a.Via, a.Value, s.DB.T(a.CreatedAt), s.DB.T(a.UpdatedAt)}
}

func (s *IdentityStore) verifiableAddressRow(identityID uuid.UUID, a identity.VerifiableAddress) []any {
	return []any{a.ID.String(), identityID.String(), a.Via, a.Value, a.Verified, a.Status, s.nullTime(a.VerifiedAt), s.DB.T(a.CreatedAt), s.DB.T(a.UpdatedAt)}
}

func (s *IdentityStore) insertCredential(ctx context.Context, identityID uuid.UUID, c identity.Credential) error {
	return s.DB.insertRows(ctx, "identity_credentials", credentialInsertColumns, [][]any{s.credentialRow(identityID, c)})
}

func (s *IdentityStore) insertIdentifiers(ctx context.Context, i *identity.Identity) error {
	return s.DB.insertRows(ctx, "identity_credential_identifiers", identifierInsertColumns, identifierRows(i))
}

func (s *IdentityStore) insertRecoveryAddress(ctx context.Context, identityID uuid.UUID, a identity.RecoveryAddress) error {
	return s.DB.insertRows(ctx, "identity_recovery_addresses", recoveryAddressInsertColumns, [][]any{s.recoveryAddressRow(identityID, a)})
}

func (s *IdentityStore) insertVerifiableAddress(ctx context.Context, identityID uuid.UUID, a identity.VerifiableAddress) error {
	return s.DB.insertRows(ctx, "identity_verifiable_addresses", verifiableAddressInsertColumns, [][]any{s.verifiableAddressRow(identityID, a)})
}

// syncCredentials writes the identity's credentials and identifiers.
//
// Second factors are left alone (identity.SecondFactor): they change only
// through PutCredential, SwapCredentialConfig and DeleteCredential, so an
// identity loaded before an enrolment or a spent backup code and saved
// after it neither drops the new factor nor brings the code back.
func (s *IdentityStore) syncCredentials(ctx context.Context, i *identity.Identity) error {
	existing, err := s.ids(ctx, `SELECT id FROM identity_credentials WHERE identity_id = ? AND type NOT IN `+secondFactorTypes, i.ID)
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	for _, c := range i.Credentials {
		keep[c.ID.String()] = true
	}
	for id := range existing {
		if !keep[id] {
			if _, err := s.DB.Exec(ctx, `DELETE FROM identity_credentials WHERE id = ?`, id); err != nil {
				return err
			}
		}
	}
	for t, c := range i.Credentials {
		if identity.SecondFactor(t) {
			continue
		}
		if existing[c.ID.String()] {
			_, err = s.DB.Exec(ctx, `UPDATE identity_credentials SET config = ?, version = ?, updated_at = ? WHERE id = ?`,
				credentialConfigText(c.Config), c.Version, s.DB.T(c.UpdatedAt), c.ID.String())
		} else {
			err = s.insertCredential(ctx, i.ID, c)
		}
		if err != nil {
			return err
		}
	}
	// Identifiers carry no ids anyone references: replace them wholesale.
	if _, err := s.DB.Exec(ctx, `DELETE FROM identity_credential_identifiers WHERE identity_id = ? AND credential_type NOT IN `+secondFactorTypes, i.ID.String()); err != nil {
		return err
	}
	firstFactors := *i
	firstFactors.Credentials = maps.Clone(i.Credentials)
	maps.DeleteFunc(firstFactors.Credentials, func(t identity.CredentialType, _ identity.Credential) bool { return identity.SecondFactor(t) })
	return s.insertIdentifiers(ctx, &firstFactors)
}

// secondFactorTypes is the SQL list of the identity.SecondFactor types.
const secondFactorTypes = `('` + string(identity.CredentialTOTP) + `', '` + string(identity.CredentialLookupSecret) + `')`

func (s *IdentityStore) syncRecoveryAddresses(ctx context.Context, i *identity.Identity) error {
	existing, err := s.ids(ctx, `SELECT id FROM identity_recovery_addresses WHERE identity_id = ?`, i.ID)
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	for _, a := range i.RecoveryAddresses {
		keep[a.ID.String()] = true
	}
	// Delete first: a value that moved between addresses must be free
	// before it is inserted again.
	for id := range existing {
		if !keep[id] {
			if _, err := s.DB.Exec(ctx, `DELETE FROM identity_recovery_addresses WHERE id = ?`, id); err != nil {
				return err
			}
		}
	}
	for _, a := range i.RecoveryAddresses {
		if existing[a.ID.String()] {
			_, err = s.DB.Exec(ctx, `UPDATE identity_recovery_addresses SET via = ?, value = ?, updated_at = ? WHERE id = ?`,
				a.Via, a.Value, s.DB.T(a.UpdatedAt), a.ID.String())
		} else {
			err = s.insertRecoveryAddress(ctx, i.ID, a)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *IdentityStore) syncVerifiableAddresses(ctx context.Context, i *identity.Identity) error {
	existing, err := s.ids(ctx, `SELECT id FROM identity_verifiable_addresses WHERE identity_id = ?`, i.ID)
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	for _, a := range i.VerifiableAddresses {
		keep[a.ID.String()] = true
	}
	for id := range existing {
		if !keep[id] {
			if _, err := s.DB.Exec(ctx, `DELETE FROM identity_verifiable_addresses WHERE id = ?`, id); err != nil {
				return err
			}
		}
	}
	for _, a := range i.VerifiableAddresses {
		if existing[a.ID.String()] {
			_, err = s.DB.Exec(ctx, `UPDATE identity_verifiable_addresses
				SET via = ?, value = ?, verified = ?, status = ?, verified_at = ?, updated_at = ? WHERE id = ?`,
				a.Via, a.Value, a.Verified, a.Status, s.nullTime(a.VerifiedAt), s.DB.T(a.UpdatedAt), a.ID.String())
		} else {
			err = s.insertVerifiableAddress(ctx, i.ID, a)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// ids returns the set of ids a one-column query over an identity returns.
func (s *IdentityStore) ids(ctx context.Context, query string, identityID uuid.UUID) (map[string]bool, error) {
	rows, err := s.DB.Query(ctx, query, identityID.String())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out[id] = true
	}
	return out, rows.Err()
}

// mustExist is ErrNotFound when the identity does not exist. (MySQL
// reports zero affected rows for an UPDATE that changes nothing, so
// RowsAffected cannot tell.)
func (s *IdentityStore) mustExist(ctx context.Context, id uuid.UUID) error {
	var one int
	return ScanErr(s.DB.QueryRow(ctx, `SELECT 1 FROM identities WHERE id = ?`, id.String()).Scan(&one))
}

// --- reading

const identityColumns = `id, schema_id, state, state_changed_at, traits, metadata_public, metadata_admin, external_id, created_at, updated_at`

func scanIdentity(row interface{ Scan(...any) error }) (*identity.Identity, error) {
	var (
		i                         identity.Identity
		idStr, state, traits      string
		stateChangedAt            sql.NullTime
		metaPublic, metaAdmin, ex sql.NullString
	)
	err := row.Scan(&idStr, &i.SchemaID, &state, &stateChangedAt, &traits, &metaPublic, &metaAdmin, &ex, &i.CreatedAt, &i.UpdatedAt)
	if err != nil {
		return nil, err
	}
	if i.ID, err = uuid.Parse(idStr); err != nil {
		return nil, err
	}
	setIdentityColumns(&i, state, stateChangedAt, traits, metaPublic, metaAdmin, ex)
	return &i, nil
}

// setIdentityColumns sets what an identity's row holds besides its id,
// schema and timestamps (which it turns to UTC), as read from the row.
func setIdentityColumns(i *identity.Identity, state string, stateChangedAt sql.NullTime, traits string, metaPublic, metaAdmin, externalID sql.NullString) {
	i.State = identity.State(state)
	i.StateChangedAt = utcTimePtr(stateChangedAt)
	i.Traits = json.RawMessage(traits)
	if metaPublic.Valid {
		i.MetadataPublic = json.RawMessage(metaPublic.String)
	}
	if metaAdmin.Valid {
		i.MetadataAdmin = json.RawMessage(metaAdmin.String)
	}
	i.ExternalID = externalID.String
	i.CreatedAt, i.UpdatedAt = i.CreatedAt.UTC(), i.UpdatedAt.UTC()
}

// loadChildren fills addresses (and credentials) of the listed identities
// with one query (identitychildren.go).
func (s *IdentityStore) loadChildren(ctx context.Context, list []*identity.Identity, withCredentials bool) error {
	return s.DB.loadIdentityChildren(ctx, list, withCredentials)
}

// each runs a query and calls fn for every row.
func (s *IdentityStore) each(ctx context.Context, query string, args []any, fn func(*sql.Rows) error) error {
	rows, err := s.DB.Query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

func scanRecoveryAddress(row interface{ Scan(...any) error }) (uuid.UUID, identity.RecoveryAddress, error) {
	var (
		owner, id string
		a         identity.RecoveryAddress
	)
	if err := row.Scan(&owner, &id, &a.Via, &a.Value, &a.CreatedAt, &a.UpdatedAt); err != nil {
		return uuid.Nil, a, err
	}
	ownerID, err := uuid.Parse(owner)
	if err != nil {
		return uuid.Nil, a, err
	}
	if a.ID, err = uuid.Parse(id); err != nil {
		return uuid.Nil, a, err
	}
	a.CreatedAt, a.UpdatedAt = a.CreatedAt.UTC(), a.UpdatedAt.UTC()
	return ownerID, a, nil
}

// --- small helpers

func (s *IdentityStore) nullTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return s.DB.T(*t)
}

func utcTimePtr(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	u := t.Time.UTC()
	return &u
}

func jsonOrNull(m json.RawMessage) any {
	if len(m) == 0 || string(m) == "null" {
		return nil
	}
	return string(m)
}

func stringOrNull(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func credentialConfigText(cfg json.RawMessage) string {
	if len(cfg) == 0 {
		return "{}"
	}
	return string(cfg)
}
