package httpx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sort"
)

type loggerKey struct{}

// WithLogger stores the request logger in ctx (set by the server middleware).
func WithLogger(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, loggerKey{}, l)
}

// Logger returns the request logger, or slog.Default when none was set.
func Logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}

// NoCache marks a response as private and never cached. Kratos does this
// on every GET route (flows, sessions, errors) and on no other method, so
// POST, DELETE and PATCH handlers do not call it.
func NoCache(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "private, no-cache, no-store, must-revalidate")
}

// WriteJSON writes v with the given status. HTML characters are not escaped,
// as in Kratos (links carry '&').
func WriteJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		http.Error(w, `{"error":{"code":500,"status":"Internal Server Error","message":"`+MsgInternal+`"}}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// StatusClientClosedRequest is nginx's 499, which Kratos's proxy answers
// too: the client closed the connection before it was answered.
const StatusClientClosedRequest = 499

// ClientGone reports whether the client closed the connection while its
// request was being handled: the server then cancels the request's
// context.
func ClientGone(r *http.Request) bool {
	return errors.Is(r.Context().Err(), context.Canceled)
}

// WriteError renders err as the Kratos envelope. 5xx causes are logged; the
// client only ever sees the fixed message. A request whose client has
// gone gets no answer (see LogFailure).
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	e := AsError(err)
	if LogFailure(r, e) == StatusClientClosedRequest {
		w.WriteHeader(StatusClientClosedRequest)
		return
	}
	body, mErr := e.MarshalJSON()
	if mErr != nil {
		body = []byte(`{"error":{"code":500,"status":"Internal Server Error","message":"` + MsgInternal + `"}}`)
		e = ErrInternal(mErr)
	}
	if e.ID != "" {
		w.Header().Set("Ory-Error-Id", e.ID)
	}
	if ra, ok := e.Details["retry_after_seconds"]; ok {
		if s, ok := ra.(int); ok {
			w.Header().Set("Retry-After", itoa(s))
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Code)
	_, _ = w.Write(append(body, '\n'))
}

// LogFailure logs a request that fails with a 5xx at level ERROR, and
// returns the status to answer: e.Code, or StatusClientClosedRequest when
// the client has gone. The failure is then almost always the work
// cancelled with the request (a database call ending in "context
// canceled"), not the server's: it is logged at INFO with status 499, as
// nginx logs it, so that alerts on ERROR lines do not fire for every
// impatient client.
func LogFailure(r *http.Request, e *Error) int {
	switch {
	case e.Code >= 500 && ClientGone(r):
		cause := e.Error()
		if e.Cause != nil {
			cause = e.Cause.Error()
		}
		Logger(r.Context()).Info("client closed request", "method", r.Method, "path", r.URL.Path, "status", StatusClientClosedRequest, "error", cause)
		return StatusClientClosedRequest
	case e.Code >= 500:
		Logger(r.Context()).Error("request failed", "method", r.Method, "path", r.URL.Path, "error", e.Error())
	}
	return e.Code
}

// Redirect answers with a redirect (303 unless code says otherwise).
func Redirect(w http.ResponseWriter, r *http.Request, to string, code int) {
	if code == 0 {
		code = http.StatusSeeOther
	}
	http.Redirect(w, r, to, code)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}
