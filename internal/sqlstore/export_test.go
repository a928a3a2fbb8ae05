package sqlstore

// QueuedWriters is how many transactions wait for SQLite's writer (tests
// use it to build a group deterministically).
func QueuedWriters(db *DB) int {
	if db.group == nil {
		return 0
	}
	db.group.mu.Lock()
	defer db.group.mu.Unlock()
	return len(db.group.queue)
}
