package sqlstore

import (
	"testing"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/identity"
)

// Which statements make a transaction forget the identities it read.
func TestSawStatementForgetsIdentities(t *testing.T) {
	for q, forget := range map[string]bool{
		`SELECT id FROM identities WHERE id = ?`:                             false,
		`INSERT INTO selfservice_flows (id, identity_id) VALUES (?, ?)`:      false,
		`UPDATE sessions SET identity_id = ? WHERE id = ?`:                   false,
		`DELETE FROM recovery_codes WHERE identity_id = ?`:                   false,
		`  INSERT INTO audit_events (id) VALUES (?)`:                         false,
		`INSERT INTO identities (id) VALUES (?)`:                             true,
		`UPDATE identities SET traits = ? WHERE id = ?`:                      true,
		`update identity_credentials set config = ?`:                         true,
		`DELETE FROM identity_recovery_addresses WHERE id = ?`:               true,
		"INSERT INTO\n identity_verifiable_addresses (id) VALUES (?)":        true,
		`INSERT INTO identity_credential_identifiers (id) VALUES (?)`:        true,
		`WITH x AS (SELECT 1) UPDATE identities SET state = ?`:               true,
		`SAVEPOINT latchkey_sp`:                                              true,
		`INSERT INTO courier_messages SELECT * FROM identities`:              false,
		`UPDATE session_cache_counter SET last_seq = last_seq + 1 RETURNING`: false,
	} {
		st := &txState{identities: map[identityKey]*identity.Identity{{id: uuid.New()}: {}}}
		st.sawStatement(q)
		if forgot := st.identities == nil; forgot != forget {
			t.Errorf("%q: forgot = %v, want %v", q, forgot, forget)
		}
	}
}
