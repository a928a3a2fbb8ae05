// Package rowid makes the ids of rows that requests insert.
package rowid

import "github.com/google/uuid"

// New returns a version 7 UUID. Its first 48 bits are the time in
// milliseconds, so rows inserted one after another sit side by side in the
// primary key's B-tree (SQLite's index, PostgreSQL's btree, InnoDB's
// clustered key): an insert extends the last page instead of changing a
// random one, which with random (version 4) ids cost every insert a page
// write of its own in the write-ahead log. The remaining 74 bits come from
// crypto/rand, so an id is no easier to guess than before; none of these
// ids is a secret (flow ids travel in URLs, Kratos's own included).
func New() uuid.UUID {
	return uuid.Must(uuid.NewV7())
}
