package httpx

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"sync"
)

// afterResponseKey carries the work to run once a request's response has
// been sent.
type afterResponseKey struct{}

type afterResponse struct {
	mu  sync.Mutex
	fns []func()
}

func (a *afterResponse) pending() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.fns) > 0
}

// AfterResponse runs fn once the response to the request ctx belongs to
// has been sent whole, and reports true; outside a request served through
// WithAfterResponse it does nothing and reports false. The courier uses it
// to start work whose duration depends on a secret (whether an address is
// known) only once the answer is out and can no longer be delayed by it.
func AfterResponse(ctx context.Context, fn func()) bool {
	a, ok := ctx.Value(afterResponseKey{}).(*afterResponse)
	if !ok {
		return false
	}
	a.mu.Lock()
	a.fns = append(a.fns, fn)
	a.mu.Unlock()
	return true
}

// WithAfterResponse serves the request, then runs the work registered
// with AfterResponse. A response begun after work was registered is held
// back and sent whole, with its Content-Length, before the work runs: a
// chunked response would end only once the handler had returned.
func WithAfterResponse(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w, ctx, finish := StartAfterResponse(w, r.Context())
		next.ServeHTTP(w, r.WithContext(ctx))
		finish()
	})
}

// StartAfterResponse is WithAfterResponse for a middleware that makes the
// request's context itself (one copy of the request instead of two on
// every request): serve the request with the returned writer and
// context, then call finish.
func StartAfterResponse(w http.ResponseWriter, ctx context.Context) (http.ResponseWriter, context.Context, func()) {
	hw := &holdingWriter{ResponseWriter: w}
	return hw, context.WithValue(ctx, afterResponseKey{}, &hw.after), hw.finish
}

// finish sends a held response, then runs the registered work.
func (w *holdingWriter) finish() {
	w.release()
	w.after.mu.Lock()
	fns := w.after.fns
	w.after.fns = nil
	w.after.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// holdingWriter holds a response back when work waits for it (decided at
// the first write).
type holdingWriter struct {
	http.ResponseWriter
	after            afterResponse
	decided, holding bool
	status           int
	body             bytes.Buffer
}

func (w *holdingWriter) decide() {
	if !w.decided {
		w.decided, w.holding = true, w.after.pending()
	}
}

func (w *holdingWriter) WriteHeader(status int) {
	w.decide()
	if !w.holding {
		w.ResponseWriter.WriteHeader(status)
		return
	}
	if w.status == 0 {
		w.status = status
	}
}

func (w *holdingWriter) Write(p []byte) (int, error) {
	w.decide()
	if !w.holding {
		return w.ResponseWriter.Write(p)
	}
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(p)
}

// Flush passes through unless the response is held.
func (w *holdingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok && !w.holding {
		f.Flush()
	}
}

// Unwrap gives http.ResponseController the real writer.
func (w *holdingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// release sends a held response whole and flushes it. A response that
// was not held is left to net/http to finish: flushing it here would
// send its headers before its length is known and turn it chunked (the
// whoami path measured 25% slower that way).
func (w *holdingWriter) release() {
	if !w.holding || w.status == 0 {
		return
	}
	if w.ResponseWriter.Header().Get("Content-Length") == "" && w.body.Len() > 0 {
		w.ResponseWriter.Header().Set("Content-Length", strconv.Itoa(w.body.Len()))
	}
	w.ResponseWriter.WriteHeader(w.status)
	_, _ = w.ResponseWriter.Write(w.body.Bytes())
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
