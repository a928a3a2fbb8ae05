package courier

import "sync"

// dueState is what a dispatcher knows of its queue: whether due mail may
// be waiting, so that neither its loop nor a slot that just recorded a
// mail claims again after a claim found the queue empty. A claim costs
// a statement even when it finds nothing, and on PostgreSQL it walks the
// claim index over the entries of every mail claimed since the last
// vacuum, so at a trickle of mail the claim chained to each result was
// most of the courier's cost for nothing.
//
// Mail may be due again after Wake (ours was queued), at a poll (other
// instances' mail) and when a retry of ours falls due: each of those
// starts a new generation. A claim that got less than it asked for marks
// the queue drained only if no new generation began while it ran, so
// mail queued during a claim that missed it is never left for the next
// poll.
type dueState struct {
	mu      sync.Mutex
	gen     uint64
	drained bool
}

// mayBeDue reports whether a claim may find mail, and the generation the
// claim's result is to be reported against (found).
func (s *dueState) mayBeDue() (gen uint64, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen, !s.drained
}

// poke starts a new generation: mail may be due.
func (s *dueState) poke() {
	s.mu.Lock()
	s.gen++
	s.drained = false
	s.mu.Unlock()
}

// found reports a claim begun in generation gen that asked for asked
// messages and got got.
func (s *dueState) found(gen uint64, got, asked int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case got >= asked:
		s.drained = false
	case gen == s.gen:
		s.drained = true
	}
}
