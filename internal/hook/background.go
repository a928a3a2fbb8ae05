package hook

import (
	"context"
	"log/slog"
	"sync"

	"github.com/latchkey/latchkey/internal/httpx"
)

// The background queue's bounds: at most defaultQueueSize calls wait, and
// defaultWorkers make them. A call that finds the queue full is dropped
// (logged and counted): a hook that cannot keep up must not grow memory
// without bound.
const (
	defaultQueueSize = 1024
	defaultWorkers   = 4
)

// job is one response.ignore call waiting its turn.
type job struct {
	kind string
	hook *WebHook
	// flowID names the flow in logs.
	flowID string
	// tc is the template ctx, rendered when the call was queued: the
	// flow's values may change once the request moves on.
	tc []byte
	// log is the request's logger, so the call's log lines name the
	// request they belong to.
	log *slog.Logger
}

// Background makes the response.ignore calls off the request path: a
// bounded queue served by a fixed number of workers, each call bounded by
// the Caller's timeout.
type Background struct {
	caller  *Caller
	jobs    chan job
	workers int
}

func newBackground(c *Caller, size, workers int) *Background {
	return &Background{caller: c, jobs: make(chan job, size), workers: workers}
}

// enqueue queues a call of h for ev without ever blocking.
func (c *Caller) enqueue(ctx context.Context, kind string, h *WebHook, ev *Event) {
	log := httpx.Logger(ctx)
	tc, err := c.templateContext(ev)
	if err != nil {
		c.metrics.count(kind, outcomeFailed)
		log.Error("web_hook not queued", "flow", kind, "flow_id", ev.FlowID, "hook", h.Name, "host", h.host(), "error", err)
		return
	}
	j := job{kind: kind, hook: h, flowID: ev.FlowID.String(), tc: tc, log: log}
	select {
	case c.queue.jobs <- j:
	default:
		c.metrics.count(kind, outcomeDropped)
		log.Error("web_hook dropped: the background queue is full", "flow", kind, "flow_id", ev.FlowID, "hook", h.Name, "host", h.host())
	}
}

// run serves the queue until ctx ends. Then the workers finish the calls
// they are making and those still queued, each within its timeout, and
// run returns: a graceful shutdown delivers what users were promised.
func (b *Background) run(ctx context.Context) {
	var wg sync.WaitGroup
	for range b.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.work(ctx)
		}()
	}
	wg.Wait()
}

func (b *Background) work(ctx context.Context) {
	for {
		select {
		case j := <-b.jobs:
			b.do(j)
		case <-ctx.Done():
			// Drain what is queued now; calls queued later wait for the
			// next start (they are lost with the process).
			for {
				select {
				case j := <-b.jobs:
					b.do(j)
				default:
					return
				}
			}
		}
	}
}

// do makes one call. Its context is not the request's (that one ended
// when the user was answered) but the Caller's timeout.
func (b *Background) do(j job) {
	ctx, cancel := context.WithTimeout(context.Background(), b.caller.limits.Timeout)
	defer cancel()
	log := j.log.With("flow", j.kind, "flow_id", j.flowID, "hook", j.hook.Name, "host", j.hook.host())
	_, outcome, err := b.caller.do(ctx, j.hook, j.tc, false, log)
	b.caller.metrics.count(j.kind, outcome)
	if err != nil {
		log.Warn("web_hook failed (response.ignore: the flow went on)", "outcome", outcome, "error", err)
		return
	}
	log.Debug("web_hook called", "outcome", outcome)
}
