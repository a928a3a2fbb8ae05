package sqlstore

// HoldFlowBatches stops s's flow batches from starting until release is
// called: the flows created meanwhile wait, and then go in one batch
// (tests build a batch deterministically with it). ok is false when s
// writes no batches (SQLite).
func HoldFlowBatches(s *FlowStore) (release func(), ok bool) {
	b := s.batch
	if b == nil {
		return nil, false
	}
	b.mu.Lock()
	b.held = true
	b.mu.Unlock()
	return func() {
		b.mu.Lock()
		b.held = false
		b.startLocked()
		b.mu.Unlock()
	}, true
}

// QueuedFlows is how many flows of s wait for a batch.
func QueuedFlows(s *FlowStore) int {
	b := s.batch
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue)
}
