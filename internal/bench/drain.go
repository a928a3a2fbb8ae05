package bench

import (
	"context"
	"fmt"
	"time"
)

// The mail a run leaves queued.
//
// A scenario whose operations cause mail (the journeys' codes, every
// security notification) may end with mail still queued: the courier did
// not keep up. Left there, it would be sent during the next scenario,
// whose figures would then include the courier's work, or, once the
// driver's SMTP server is closed, fail and be retried, which costs more.
// So after such a run the driver keeps its SMTP server up and waits for
// the queue to empty, and says how long that took: a run that needs
// seconds to send what it queued measured a rate the courier could not
// sustain.

// DrainWait is the longest the driver waits for the queue to empty.
const DrainWait = 2 * time.Minute

// drainPoll is how often the queue depth is read, and gaugeAge how old a
// reading may be: the server reads its gauges from the database at most
// once a second, so only a reading taken that long after the run can
// tell that the run's last mail went out.
const (
	drainPoll = 250 * time.Millisecond
	gaugeAge  = 1100 * time.Millisecond
)

// drain waits, after res's run, for the server's courier queue to empty
// and the mails being sent to go out, and records how long it took in res.
func drain(ctx context.Context, env *Env, res *Result) {
	if res.QueuedAtEnd == nil {
		return // a server without the courier's gauges
	}
	start := time.Now()
	for {
		c := readDBCounts(ctx, env)
		waited := time.Since(start)
		switch {
		case c.queued != nil && *c.queued == 0 && (c.pending == nil || *c.pending == 0) && waited >= gaugeAge:
			// Neither queued nor being sent.
			res.DrainedIn = &waited
			return
		case waited >= DrainWait || ctx.Err() != nil || c.queued == nil:
			res.DrainedIn = &waited
			left := *res.QueuedAtEnd
			if c.queued != nil {
				left = *c.queued
			}
			res.StillQueued = &left
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(drainPoll):
		}
	}
}

// secs is d in seconds, to a tenth.
func secs(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }
