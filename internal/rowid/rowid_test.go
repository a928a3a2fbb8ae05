package rowid

import (
	"bytes"
	"testing"
)

// Ids made one after another sort in the order they were made (the point
// of the package), and are distinct.
func TestNewIsOrderedAndUnique(t *testing.T) {
	seen := map[[16]byte]bool{}
	prev := New()
	for range 10000 {
		id := New()
		if id.Version() != 7 {
			t.Fatalf("version %d", id.Version())
		}
		if bytes.Compare(prev[:], id[:]) >= 0 {
			t.Fatalf("%s came after %s", id, prev)
		}
		if seen[id] {
			t.Fatalf("%s twice", id)
		}
		seen[id] = true
		prev = id
	}
}
