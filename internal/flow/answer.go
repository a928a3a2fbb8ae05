package flow

import (
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/latchkey/latchkey/internal/httpx"
)

// Outcome is what a flow request led to, whoever asked.
type Outcome int

// Outcomes.
const (
	// Show: the flow is the answer. JSON clients get Result.Flow with
	// Result.Status; browsers are sent to its UI page (Result.UIURL).
	Show Outcome = iota
	// Replaced: a new flow (Result.Flow) took over. Browsers are sent to
	// its UI page; JSON clients get Result.Err, or without one a 303 to
	// Result.FetchURL.
	Replaced
	// Done: the flow completed. Browsers are sent to Result.RedirectTo;
	// JSON clients get Result.Err when set, else Result.Body, else
	// Result.Flow.
	Done
)

// Result is a flow service's answer to one request, in terms that every
// kind of client can be answered from; Responder writes it.
type Result struct {
	Outcome Outcome
	// FlowType is the type of the flow the request was about; it decides
	// how the client is answered, errors included.
	FlowType Type
	// Flow is the flow to show.
	Flow View
	// Status is the HTTP status of a JSON answer (200 when 0).
	Status int
	// RetryAfter is sent as the Retry-After header when set.
	RetryAfter time.Duration
	// UIURL is the UI page showing Flow (browsers, Show and Replaced).
	UIURL string
	// FetchURL is where a JSON client fetches a replacement flow.
	FetchURL string
	// Err is the JSON answer of Replaced and Done, when set.
	Err error
	// Body is the JSON answer of Done, when set.
	Body any
	// RedirectTo is where a browser goes when the flow is Done.
	RedirectTo string
	// Session is a new session for a browser to keep as a cookie.
	Session *SessionGrant
}

// SessionGrant is a session a browser receives as its cookie.
type SessionGrant struct {
	Token     string
	ExpiresAt time.Time
}

// View is a flow as a client sees it: marshalled as JSON, with a UI whose
// csrf_token a browser flow gets on every answer.
type View interface {
	Common() *Base
}

// RedirectError is an error that sends a browser (HTML form client) to
// To with Code instead of the error UI; JSON clients get Err.
type RedirectError struct {
	Err  error
	To   string
	Code int
}

func (e *RedirectError) Error() string { return e.Err.Error() }
func (e *RedirectError) Unwrap() error { return e.Err }

// BrowserRedirect wraps err so that browsers are sent to to (303).
func BrowserRedirect(err error, to string) error {
	return &RedirectError{Err: err, To: to, Code: http.StatusSeeOther}
}

// Responder writes answers: the one place that turns a Result or an
// error into JSON, a redirect or the error UI for each kind of client,
// and sets the cookies the request earned (anti-CSRF token, session).
type Responder struct {
	CSRF *CSRF
	// Errors sends browser errors to the error UI.
	Errors *Errors
	// SetSessionCookie gives a browser its session cookie.
	SetSessionCookie func(w http.ResponseWriter, g *SessionGrant)
	// Confirm draws the confirm page of an emailed link; nil: the page
	// draws itself (ConfirmPage.Write).
	Confirm ConfirmRenderer
}

// Answer writes res, or err when set, for client c.
func (p *Responder) Answer(w http.ResponseWriter, r *http.Request, q *Request, c Client, res *Result, err error) {
	if err != nil {
		p.Fail(w, r, q, c, err)
		return
	}
	p.CSRF.Write(w, q.CSRF)
	if res.Session != nil && p.SetSessionCookie != nil {
		p.SetSessionCookie(w, res.Session)
	}
	if res.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(res.RetryAfter.Seconds())))
	}
	switch {
	case c == BrowserForm && res.Outcome == Done:
		httpx.Redirect(w, r, res.RedirectTo, http.StatusSeeOther)
	case c == BrowserForm:
		httpx.Redirect(w, r, res.UIURL, http.StatusSeeOther)
	case res.Outcome == Show:
		p.WriteFlow(w, q, res.Status, res.Flow)
	case res.Err != nil:
		httpx.WriteError(w, r, res.Err)
	case res.Outcome == Replaced:
		httpx.Redirect(w, r, res.FetchURL, http.StatusSeeOther)
	case res.Body != nil:
		httpx.WriteJSON(w, statusOr200(res.Status), res.Body)
	default:
		p.WriteFlow(w, q, res.Status, res.Flow)
	}
}

// WriteFlow writes a flow as JSON; a browser flow's csrf_token input gets
// a freshly masked copy of the browser's token (API flows keep theirs
// empty).
func (p *Responder) WriteFlow(w http.ResponseWriter, q *Request, status int, v View) {
	if b := v.Common(); b.Type == TypeBrowser {
		b.UI.SetCSRF(p.CSRF.Mask(q.CSRF.Token()))
	}
	p.CSRF.Write(w, q.CSRF)
	writeJSON(w, statusOr200(status), v)
}

// Appender is a View that writes its JSON itself (see jsonwrite.go):
// AppendJSON appends what MarshalJSON returns.
type Appender interface {
	AppendJSON(b []byte) ([]byte, error)
}

// answerBufs are the buffers answers are written in.
var answerBufs = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// writeJSON writes v as httpx.WriteJSON does (a trailing newline, as
// json.Encoder writes), straight from an Appender's bytes.
func writeJSON(w http.ResponseWriter, status int, v View) {
	a, ok := v.(Appender)
	if !ok {
		httpx.WriteJSON(w, status, v)
		return
	}
	bp := answerBufs.Get().(*[]byte)
	defer answerBufs.Put(bp)
	b, err := a.AppendJSON((*bp)[:0])
	if err != nil {
		httpx.WriteJSON(w, status, v) // answers the error as it does
		return
	}
	b = append(b, '\n')
	*bp = b
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// Fail answers err for client c: browsers follow a RedirectError or go to
// the error UI, JSON clients get the error itself.
func (p *Responder) Fail(w http.ResponseWriter, r *http.Request, q *Request, c Client, err error) {
	p.CSRF.Write(w, q.CSRF)
	var rd *RedirectError
	if c == BrowserForm && errors.As(err, &rd) {
		httpx.Redirect(w, r, rd.To, rd.Code)
		return
	}
	p.Errors.Forward(w, r, c, err)
}

func statusOr200(s int) int {
	if s == 0 {
		return http.StatusOK
	}
	return s
}
