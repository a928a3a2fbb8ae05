package sqlstore

import "testing"

// Which statements may run before a PostgreSQL transaction's BEGIN.
func TestPlainRead(t *testing.T) {
	for _, c := range []struct {
		q     string
		plain bool
	}{
		{`SELECT id FROM selfservice_flows WHERE id = ?`, true},
		{"\n\t\tSELECT COUNT(*) FROM identities", true},
		{`select id from sessions`, true},
		{`SELECT id FROM courier_messages WHERE status = 'queued' LIMIT 1 FOR UPDATE SKIP LOCKED`, false},
		{`SELECT id FROM identities WHERE id = ? FOR SHARE`, false},
		{"SELECT id FROM identities WHERE id = ?\n\t\tFOR UPDATE", false},
		{"SELECT id FROM identities WHERE id = ? FOR\tSHARE SKIP LOCKED", false},
		{"SELECT\n\tid FROM identities", true},
		{`SELECT id FROM identities WHERE id = ? FOR UPDATE`, false},
		{`SELECT id, format FROM t WHERE a = 'FOR'`, true},
		{`SELECT id FROM identities WHERE id = ? FOR NO KEY UPDATE`, false},
		{`SELECT id FROM identities WHERE id = ? for key share`, false},
		{`SELECT pg_advisory_xact_lock(1)`, false},
		{`SELECT nextval('s')`, false},
		{`SELECT set_config('a', 'b', true)`, false},
		{`WITH x AS (UPDATE flows SET a = 1 RETURNING id) SELECT id FROM x`, false},
		{`UPDATE session_cache_counter SET last_seq = last_seq + 1 WHERE id = 1 RETURNING last_seq`, false},
		{`INSERT INTO a (id) VALUES (?)`, false},
		{`SELECTED`, false},
	} {
		for range 2 { // the second answer comes from the cache
			if got := plainRead(c.q); got != c.plain {
				t.Errorf("plainRead(%q) = %v, want %v", c.q, got, c.plain)
			}
		}
	}
}

// Which writes that must change a row can go with COMMIT, guarded.
func TestGuardable(t *testing.T) {
	for _, c := range []struct {
		q         string
		guardable bool
	}{
		{`UPDATE selfservice_flows SET state = $1 WHERE id = $2`, true},
		{"\n\t\tupdate recovery_codes SET used_at = $1\n\t\tWHERE id = $2 AND used_at IS NULL", true},
		{`DELETE FROM sessions WHERE id = $1`, true},
		{`INSERT INTO recovery_codes (id) SELECT $1 WHERE EXISTS (SELECT 1 FROM identities WHERE id = $2)`, true},
		{`UPDATE flows SET n = n + 1 WHERE id = $1 RETURNING n`, false},
		{"UPDATE flows SET n = n + 1 WHERE id = $1\nRETURNING\tn", false},
		{`WITH x AS (SELECT 1) UPDATE flows SET n = 1`, false},
		{`SELECT 1`, false},
		{`UPDATED`, false},
	} {
		if got := guardable(c.q); got != c.guardable {
			t.Errorf("guardable(%q) = %v, want %v", c.q, got, c.guardable)
		}
	}
}
