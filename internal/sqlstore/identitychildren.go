package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/identity"
)

// identityChildren lists the addresses and, past the first UNION ALL
// that childrenWithCredentials adds, the credentials of the identities
// in an IN list (%s), all in one round trip; identityItself adds the
// identities' own rows, so that GetIdentity is one statement too. Each
// row says its kind first ('a' the identity, 'c' credential, 'i'
// identifier, 'r' recovery address, 'v' verifiable address): the identity
// sorts first, credentials before their identifiers, and addresses by
// creation then value, as the API lists them. The verifiable addresses
// come first in the text: SQLite types a compound's columns after its
// first SELECT, and only that one has every timestamp column; PostgreSQL
// types a NULL column as text, so the version is 0 where a row has none.
// The last three columns are the identity's metadata and external id.
const identityChildren = `SELECT 'v', identity_id, id, via, value, verified, status, verified_at, 0, created_at, updated_at, NULL, NULL, NULL
	FROM identity_verifiable_addresses WHERE identity_id IN (%[1]s)
	UNION ALL
	SELECT 'r', identity_id, id, via, value, NULL, NULL, NULL, 0, created_at, updated_at, NULL, NULL, NULL
	FROM identity_recovery_addresses WHERE identity_id IN (%[1]s)`

const childrenWithCredentials = `
	UNION ALL
	SELECT 'c', identity_id, id, type, config, NULL, NULL, NULL, version, created_at, updated_at, NULL, NULL, NULL
	FROM identity_credentials WHERE identity_id IN (%[1]s)
	UNION ALL
	SELECT 'i', identity_id, NULL, credential_type, identifier, NULL, NULL, NULL, 0, NULL, NULL, NULL, NULL, NULL
	FROM identity_credential_identifiers WHERE identity_id IN (%[1]s)`

// identityItself puts schema_id where an address has its channel, the
// traits where it has its value, the state where it has its status and
// when the state changed where it has when it was verified.
const identityItself = `
	UNION ALL
	SELECT 'a', id, id, schema_id, traits, NULL, state, state_changed_at, 0, created_at, updated_at, metadata_public, metadata_admin, external_id
	FROM identities WHERE id IN (%[1]s)`

// readIdentity loads one identity with its addresses (and credentials)
// in one statement; ErrNotFound when there is none.
func (db *DB) readIdentity(ctx context.Context, id uuid.UUID, withCredentials bool) (*identity.Identity, error) {
	byID := map[uuid.UUID]*identity.Identity{}
	if err := db.queryIdentityRows(ctx, byID, "?", []any{id.String()}, withCredentials, true); err != nil {
		return nil, err
	}
	i := byID[id]
	if i == nil {
		return nil, ErrNotFound
	}
	return i, nil
}

// ownerOfRecoveryAddress selects the identity id of a recovery address
// (its channel and value are the arguments).
const ownerOfRecoveryAddress = `SELECT identity_id FROM identity_recovery_addresses WHERE via = ? AND value = ?`

// readRecoveryAddressOwner loads the identity owning the recovery address
// (via, value), with its addresses and credentials, in one statement;
// ErrNotFound when no identity has that address.
func (db *DB) readRecoveryAddressOwner(ctx context.Context, via, value string) (*identity.Identity, error) {
	byID := map[uuid.UUID]*identity.Identity{}
	if err := db.queryIdentityRows(ctx, byID, ownerOfRecoveryAddress, []any{via, value}, true, true); err != nil {
		return nil, err
	}
	for _, i := range byID {
		return i, nil // the address is unique: at most one owner
	}
	return nil, ErrNotFound
}

// loadIdentityChildren fills addresses (and credentials) of the listed
// identities with one query.
func (db *DB) loadIdentityChildren(ctx context.Context, list []*identity.Identity, withCredentials bool) error {
	if len(list) == 0 {
		return nil
	}
	byID := make(map[uuid.UUID]*identity.Identity, len(list))
	ids := make([]any, len(list))
	for n, i := range list {
		byID[i.ID] = i
		ids[n] = i.ID.String()
		i.RecoveryAddresses, i.VerifiableAddresses = nil, nil
		if withCredentials {
			i.Credentials = map[identity.CredentialType]identity.Credential{}
		}
	}
	return db.queryIdentityRows(ctx, byID, placeholders(len(ids)), ids, withCredentials, false)
}

// queryIdentityRows runs identityChildren for the identities whose id is
// in the list in (placeholders, or a subquery) gives with inArgs, and
// fills the identities of byID; with itself, it also reads the identities
// and adds them to byID (their rows sort first).
func (db *DB) queryIdentityRows(ctx context.Context, byID map[uuid.UUID]*identity.Identity, in string, inArgs []any, withCredentials, itself bool) error {
	q, parts := identityChildren, 2
	if withCredentials {
		q, parts = q+childrenWithCredentials, 4
	}
	if itself {
		q, parts = q+identityItself, parts+1
	}
	q = fmt.Sprintf(q+`
	ORDER BY 1, 10, 5`, in)
	args := make([]any, 0, parts*len(inArgs))
	for range parts {
		args = append(args, inArgs...)
	}
	rows, err := db.Query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			kind, owner, via, value           string
			id, status                        sql.NullString
			verified                          sql.NullBool
			verifiedAt                        sql.NullTime
			version                           int
			createdAt, updatedAt              sql.NullTime
			metaPublic, metaAdmin, externalID sql.NullString
		)
		if err := rows.Scan(&kind, &owner, &id, &via, &value, &verified, &status, &verifiedAt, &version, &createdAt, &updatedAt,
			&metaPublic, &metaAdmin, &externalID); err != nil {
			return err
		}
		ownerID, err := uuid.Parse(owner)
		if err != nil {
			return fmt.Errorf("identity id %q: %w", owner, err)
		}
		if kind == "a" {
			i := &identity.Identity{ID: ownerID, SchemaID: via, CreatedAt: createdAt.Time, UpdatedAt: updatedAt.Time}
			setIdentityColumns(i, status.String, verifiedAt, value, metaPublic, metaAdmin, externalID)
			if withCredentials {
				i.Credentials = map[identity.CredentialType]identity.Credential{}
			}
			byID[ownerID] = i
			continue
		}
		o := byID[ownerID]
		if o == nil {
			continue
		}
		var rowID uuid.UUID
		if kind != "i" {
			if rowID, err = uuid.Parse(id.String); err != nil {
				return fmt.Errorf("%s id %q: %w", childKinds[kind], id.String, err)
			}
		}
		switch kind {
		case "v":
			o.VerifiableAddresses = append(o.VerifiableAddresses, identity.VerifiableAddress{
				ID: rowID, Via: via, Value: value, Verified: verified.Bool, Status: status.String,
				VerifiedAt: utcTimePtr(verifiedAt), CreatedAt: createdAt.Time.UTC(), UpdatedAt: updatedAt.Time.UTC(),
			})
		case "r":
			o.RecoveryAddresses = append(o.RecoveryAddresses, identity.RecoveryAddress{
				ID: rowID, Via: via, Value: value, CreatedAt: createdAt.Time.UTC(), UpdatedAt: updatedAt.Time.UTC(),
			})
		case "c":
			o.Credentials[identity.CredentialType(via)] = identity.Credential{
				ID: rowID, Type: identity.CredentialType(via), Config: json.RawMessage(value),
				Version: version, Identifiers: []string{}, CreatedAt: createdAt.Time.UTC(), UpdatedAt: updatedAt.Time.UTC(),
			}
		case "i":
			ct := identity.CredentialType(via)
			if c, ok := o.Credentials[ct]; ok {
				c.Identifiers = append(c.Identifiers, value)
				o.Credentials[ct] = c
			}
		}
	}
	return rows.Err()
}

// childKinds name the kinds of identityChildren rows in errors.
var childKinds = map[string]string{"v": "verifiable address", "r": "recovery address", "c": "credential"}
