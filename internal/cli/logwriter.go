package cli

import (
	"io"
	"sync"
)

// A logWriter takes the server's log records off the request path. slog's
// handlers format a record and then write it with one Write, holding their
// lock: to stderr that is a system call per line, and every request that
// logs waits in line for the others' (10% of the CPU of a recovery-flow
// run at 64 clients, one line per flow). A logWriter copies the record
// into a buffer and returns; one goroutine writes whatever has gathered
// with one Write, at once: an idle server's lines go out as they come,
// a busy one's in batches. Records stay whole and in order.
//
// A record is lost only if the process dies between its copy and that
// Write (a kill -9): the writer does not wait for a timer. Close writes
// what is left. A writer that cannot keep up (a stalled pipe) holds at
// most maxPending bytes; then Write waits, as it would have on the pipe.
type logWriter struct {
	w    io.Writer
	kick chan struct{} // a Write left data (capacity 1)
	done chan struct{} // closed when run returns

	mu      sync.Mutex
	room    *sync.Cond // signalled when pending is taken
	pending []byte
	closed  bool
	// spare is the buffer run wrote last, for reuse; only run uses it.
	spare []byte
}

// maxPending is how much log a logWriter holds before Write waits.
const maxPending = 1 << 20

// newLogWriter starts a logWriter writing to w.
func newLogWriter(w io.Writer) *logWriter {
	l := &logWriter{w: w, kick: make(chan struct{}, 1), done: make(chan struct{})}
	l.room = sync.NewCond(&l.mu)
	go l.run()
	return l
}

// Write copies p to be written soon. After Close it writes p itself.
func (l *logWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	for len(l.pending) >= maxPending && !l.closed {
		l.room.Wait()
	}
	if l.closed {
		l.mu.Unlock()
		return l.w.Write(p)
	}
	l.pending = append(l.pending, p...)
	// Under mu, so Close cannot close kick meanwhile.
	select {
	case l.kick <- struct{}{}:
	default: // a kick is pending: run takes this record with it
	}
	l.mu.Unlock()
	return len(p), nil
}

// run writes what gathered, each time a Write kicks it, until Close.
func (l *logWriter) run() {
	defer close(l.done)
	for range l.kick {
		l.flush()
	}
	l.flush()
}

// flush writes the pending records with one Write. Only run calls it.
func (l *logWriter) flush() {
	l.mu.Lock()
	out := l.pending
	l.pending, l.spare = l.spare[:0], nil
	l.room.Broadcast()
	l.mu.Unlock()
	if len(out) > 0 {
		// An error has nowhere to go: it is the log that failed.
		_, _ = l.w.Write(out)
	}
	if cap(out) <= 2*maxPending {
		l.spare = out[:0]
	}
}

// Close writes what is pending and makes later Writes direct.
func (l *logWriter) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.room.Broadcast()
	close(l.kick)
	l.mu.Unlock()
	<-l.done
	return nil
}
