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
