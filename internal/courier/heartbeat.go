package courier

import (
	"context"
	"time"
)

// startHeartbeat renews the claim token holds every HeartbeatInterval
// until the returned function is called (which waits for it to stop). It
// skips a renewal while busy reports false: nothing is held, and a
// message claimed after the skip is at most one interval old at the next
// renewal.
//
// Why a heartbeat: a claim must outlive the slowest send, or a second
// dispatcher takes it and sends the mail again; and a claim left by a
// killed process should be taken over quickly. A fixed claim lifetime
// cannot be both. Renewed every few seconds, a claim can be declared
// stale after ProcessingTimeout (30 s) however long a send takes.
func (d *Dispatcher) startHeartbeat(ctx context.Context, token string, busy func() bool) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(d.cfg.HeartbeatInterval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if !busy() {
					continue
				}
				// A renewal later than the stale threshold is of no use.
				hctx, hcancel := context.WithTimeout(ctx, d.cfg.ProcessingTimeout)
				if err := d.cfg.Store.ExtendClaim(hctx, token, d.cfg.Now().UTC()); err != nil && ctx.Err() == nil {
					d.log.Warn("courier: renew claim failed; another dispatcher may take its messages over", "error", err)
				}
				hcancel()
			}
		}
	}()
	return func() { cancel(); <-done }
}
