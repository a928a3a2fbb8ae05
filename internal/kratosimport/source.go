package kratosimport

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/latchkey/latchkey/internal/sqlstore"
)

// SupportedMigration is the newest row of Kratos's schema_migration table
// after `kratos migrate sql` of v26.2.0: the schema this importer reads.
const SupportedMigration = "20260114175904000000"

// Source reads a Kratos database: one network's identities in id order,
// a batch at a time, with everything they own.
type Source struct {
	db  *sqlstore.DB
	nid string
}

// OpenSource connects to the Kratos database named by dsn (the forms
// Kratos accepts: sqlite://, postgres://, cockroach://, mysql://),
// checks that its schema is Kratos v26.2.0's and picks the network to
// read: network when given, else the only one there is.
func OpenSource(ctx context.Context, dsn, network string) (*Source, error) {
	db, err := sqlstore.OpenReadOnly(ctx, dsn)
	if err != nil {
		return nil, err
	}
	s := &Source{db: db}
	if err := s.checkVersion(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	if s.nid, err = s.pickNetwork(ctx, network); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the connection to the Kratos database.
func (s *Source) Close() error { return s.db.Close() }

// Network is the id of the Kratos network being read.
func (s *Source) Network() string { return s.nid }

func (s *Source) checkVersion(ctx context.Context) error {
	var version string
	err := s.db.QueryRow(ctx, `SELECT version FROM schema_migration ORDER BY version DESC LIMIT 1`).Scan(&version)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return errors.New("the source database has no Kratos migrations applied (schema_migration is empty): run `kratos migrate sql` with Kratos v26.2.0 first")
	case err != nil:
		return fmt.Errorf("the source does not look like a Kratos database (reading schema_migration: %v)", err)
	case version == SupportedMigration:
		return nil
	case version < SupportedMigration:
		return fmt.Errorf("the Kratos database is at migration %s, older than Kratos v26.2.0 (%s): upgrade it with `kratos migrate sql` of Kratos v26.2.0, then import", version, SupportedMigration)
	default:
		return fmt.Errorf("the Kratos database is at migration %s, newer than Kratos v26.2.0 (%s), whose schema this importer reads; its tables may have changed, so nothing was imported", version, SupportedMigration)
	}
}

func (s *Source) pickNetwork(ctx context.Context, want string) (string, error) {
	var nids []string
	rows, err := s.db.Query(ctx, `SELECT id FROM networks ORDER BY id`)
	if err != nil {
		return "", fmt.Errorf("read Kratos networks: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return "", err
		}
		nids = append(nids, id)
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	switch {
	case want != "":
		for _, id := range nids {
			if strings.EqualFold(id, want) {
				return id, nil
			}
		}
		return "", fmt.Errorf("the Kratos database has no network %s (it has: %s)", want, strings.Join(nids, ", "))
	case len(nids) == 1:
		return nids[0], nil
	case len(nids) == 0:
		return "", errors.New("the Kratos database has no network: it was migrated but never started")
	}
	return "", fmt.Errorf("the Kratos database holds %d networks (%s): choose one with --network", len(nids), strings.Join(nids, ", "))
}

// Count is the number of identities in the network.
func (s *Source) Count(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM identities WHERE nid = ?`, s.nid).Scan(&n)
	return n, err
}

// Record is one Kratos identity as stored, with what it owns.
type Record struct {
	Identity    identityRow
	Credentials []credentialRow
	Verifiable  []verifiableRow
	Recovery    []recoveryRow
	Sessions    []sessionRow
}

type identityRow struct {
	ID, SchemaID, State           string
	Traits                        []byte
	MetadataPublic, MetadataAdmin []byte
	ExternalID                    nullText
	StateChangedAt                nullTime
	CreatedAt, UpdatedAt          nullTime
}

type credentialRow struct {
	ID, IdentityID, Type string
	Config               []byte
	Version              int
	Identifiers          []string
	CreatedAt, UpdatedAt nullTime
}

type verifiableRow struct {
	ID, IdentityID, Via, Value, Status string
	Verified                           flexBool
	VerifiedAt, CreatedAt, UpdatedAt   nullTime
}

type recoveryRow struct {
	ID, IdentityID, Via, Value string
	CreatedAt, UpdatedAt       nullTime
}

type sessionRow struct {
	ID, IdentityID, AAL                  string
	Token                                nullText
	Active                               flexBool
	Methods                              []byte
	AuthenticatedAt, IssuedAt, ExpiresAt nullTime
	CreatedAt, UpdatedAt                 nullTime
	Devices                              []deviceRow
}

type deviceRow struct {
	ID                          string
	IPAddress, UserAgent, Where nullText
}

// Batch reads up to n identities whose id sorts after afterID ("" for the
// start), in id order, with their credentials, addresses and sessions:
// six queries per batch whatever its size.
func (s *Source) Batch(ctx context.Context, afterID string, n int) ([]*Record, error) {
	var list []*Record
	byID := map[string]*Record{}
	err := s.each(ctx, `SELECT id, schema_id, traits, state, state_changed_at, metadata_public, metadata_admin, external_id, created_at, updated_at
		FROM identities WHERE nid = ? AND id > ? ORDER BY id LIMIT ?`, []any{s.nid, afterOrStart(afterID), n}, func(rows *sql.Rows) error {
		var r Record
		i := &r.Identity
		var traits, mp, ma nullText
		if err := rows.Scan(&i.ID, &i.SchemaID, &traits, &i.State, &i.StateChangedAt, &mp, &ma, &i.ExternalID, &i.CreatedAt, &i.UpdatedAt); err != nil {
			return err
		}
		i.ID = strings.ToLower(i.ID)
		i.Traits, i.MetadataPublic, i.MetadataAdmin = traits.bytes(), mp.bytes(), ma.bytes()
		list = append(list, &r)
		byID[i.ID] = &r
		return nil
	})
	if err != nil || len(list) == 0 {
		return list, err
	}
	// The rows an identity owns are looked up by the identity's (or their
	// credential's or session's) id alone: every Kratos index on those
	// columns leads with them, where a filter on nid would make SQLite
	// walk the network's whole index instead. Ids are UUIDs, so no row of
	// another network can match.
	ids := make([]any, 0, len(list))
	for _, r := range list {
		ids = append(ids, r.Identity.ID)
	}
	in := inList(len(list))

	creds := map[string]*credentialRow{}
	err = s.each(ctx, `SELECT c.id, c.identity_id, t.name, c.config, c.version, c.created_at, c.updated_at
		FROM identity_credentials c JOIN identity_credential_types t ON t.id = c.identity_credential_type_id
		WHERE c.identity_id`+in+` ORDER BY c.created_at, c.id`, ids, func(rows *sql.Rows) error {
		var c credentialRow
		var config nullText
		if err := rows.Scan(&c.ID, &c.IdentityID, &c.Type, &config, &c.Version, &c.CreatedAt, &c.UpdatedAt); err != nil {
			return err
		}
		c.ID, c.IdentityID, c.Config = strings.ToLower(c.ID), strings.ToLower(c.IdentityID), config.bytes()
		r := byID[c.IdentityID]
		r.Credentials = append(r.Credentials, c)
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Pointers into the slices are taken only after every append is done.
	for _, r := range list {
		for i := range r.Credentials {
			creds[r.Credentials[i].ID] = &r.Credentials[i]
		}
	}
	// Identifiers and devices through their credential's and session's
	// ids: Kratos indexes those columns, not their identity_id.
	if len(creds) > 0 {
		credIDs := make([]any, 0, len(creds))
		for id := range creds {
			credIDs = append(credIDs, id)
		}
		err = s.each(ctx, `SELECT identity_credential_id, identifier FROM identity_credential_identifiers
			WHERE identity_credential_id`+inList(len(credIDs))+` ORDER BY identifier`, credIDs, func(rows *sql.Rows) error {
			var credID, identifier string
			if err := rows.Scan(&credID, &identifier); err != nil {
				return err
			}
			if c := creds[strings.ToLower(credID)]; c != nil {
				c.Identifiers = append(c.Identifiers, identifier)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	err = s.each(ctx, `SELECT id, identity_id, via, value, verified, status, verified_at, created_at, updated_at
		FROM identity_verifiable_addresses WHERE identity_id`+in+` ORDER BY created_at, id`, ids, func(rows *sql.Rows) error {
		var a verifiableRow
		if err := rows.Scan(&a.ID, &a.IdentityID, &a.Via, &a.Value, &a.Verified, &a.Status, &a.VerifiedAt, &a.CreatedAt, &a.UpdatedAt); err != nil {
			return err
		}
		r := byID[strings.ToLower(a.IdentityID)]
		r.Verifiable = append(r.Verifiable, a)
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = s.each(ctx, `SELECT id, identity_id, via, value, created_at, updated_at
		FROM identity_recovery_addresses WHERE identity_id`+in+` ORDER BY created_at, id`, ids, func(rows *sql.Rows) error {
		var a recoveryRow
		if err := rows.Scan(&a.ID, &a.IdentityID, &a.Via, &a.Value, &a.CreatedAt, &a.UpdatedAt); err != nil {
			return err
		}
		r := byID[strings.ToLower(a.IdentityID)]
		r.Recovery = append(r.Recovery, a)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sessions := map[string][2]int{} // session id → (index in list, index in Sessions)
	idx := map[string]int{}
	for k, r := range list {
		idx[r.Identity.ID] = k
	}
	err = s.each(ctx, `SELECT id, identity_id, token, active, aal, authentication_methods, authenticated_at, issued_at, expires_at, created_at, updated_at
		FROM sessions WHERE identity_id`+in+` ORDER BY created_at, id`, ids, func(rows *sql.Rows) error {
		var ss sessionRow
		var methods nullText
		if err := rows.Scan(&ss.ID, &ss.IdentityID, &ss.Token, &ss.Active, &ss.AAL, &methods,
			&ss.AuthenticatedAt, &ss.IssuedAt, &ss.ExpiresAt, &ss.CreatedAt, &ss.UpdatedAt); err != nil {
			return err
		}
		ss.ID, ss.IdentityID, ss.Methods = strings.ToLower(ss.ID), strings.ToLower(ss.IdentityID), methods.bytes()
		k := idx[ss.IdentityID]
		list[k].Sessions = append(list[k].Sessions, ss)
		sessions[ss.ID] = [2]int{k, len(list[k].Sessions) - 1}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(sessions) > 0 {
		sessionIDs := make([]any, 0, len(sessions))
		for id := range sessions {
			sessionIDs = append(sessionIDs, id)
		}
		err = s.each(ctx, `SELECT id, session_id, ip_address, user_agent, location
			FROM session_devices WHERE session_id`+inList(len(sessionIDs))+` ORDER BY created_at, id`, sessionIDs, func(rows *sql.Rows) error {
			var d deviceRow
			var sessionID string
			if err := rows.Scan(&d.ID, &sessionID, &d.IPAddress, &d.UserAgent, &d.Where); err != nil {
				return err
			}
			if at, ok := sessions[strings.ToLower(sessionID)]; ok {
				ss := &list[at[0]].Sessions[at[1]]
				ss.Devices = append(ss.Devices, d)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return list, nil
}

func (s *Source) each(ctx context.Context, query string, args []any, fn func(*sql.Rows) error) error {
	rows, err := s.db.Query(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("read Kratos database: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return fmt.Errorf("read Kratos database: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read Kratos database: %w", err)
	}
	return nil
}

// inList is " IN (?, …)" for n values.
func inList(n int) string {
	return ` IN (` + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + `)`
}

// afterOrStart is the keyset cursor of the first batch: the nil UUID, which
// PostgreSQL's uuid column accepts where "" would be a syntax error.
func afterOrStart(afterID string) string {
	if afterID == "" {
		return "00000000-0000-0000-0000-000000000000"
	}
	return afterID
}

// rawJSON is b as JSON, nil when the column was NULL or empty.
func rawJSON(b []byte) json.RawMessage {
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	return json.RawMessage(b)
}
