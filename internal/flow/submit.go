package flow

import (
	"context"
	"time"

	"github.com/latchkey/latchkey/internal/httpx"
)

// Method is what every flow's methods have in common: a name that
// submissions pick it by, and a switch in the configuration.
type Method interface {
	// ID is the method's name: the "method" field of submissions.
	ID() string
	// Enabled reports whether the configuration turns the method on.
	Enabled() bool
}

// Claimer is a Method that also takes submissions without a method field
// when they carry one of its own fields: Kratos's provider buttons submit
// provider=<id> alone, its lookup_secret buttons lookup_secret_regenerate.
type Claimer interface {
	Claims(body *httpx.FormBody) bool
}

// Claims reports whether m takes a submission whose method field is
// method.
func Claims(m Method, method string, body *httpx.FormBody) bool {
	if m.ID() == method {
		return true
	}
	c, ok := m.(Claimer)
	return ok && method == "" && c.Claims(body)
}

// Gate runs the checks every method submission of a login or
// registration flow passes once the flow is loaded, in Kratos's order: the
// body could be decoded, it names a known method (noStrategy otherwise)
// that is enabled, and the request's origin is right (the anti-CSRF token
// of a browser flow; no browser signals on an API flow, which the flow
// shows). It returns the method, or the answer that ends the submission.
func Gate[M Method](ctx context.Context, s Store, f Persisted, uiURL string, q *Request, methods []M, body *httpx.FormBody, bodyErr error, noStrategy Message) (M, *Result, error) {
	var none M
	if bodyErr != nil {
		res, err := RejectError(ctx, s, f, uiURL, bodyErr)
		return none, res, err
	}
	id := body.Get("method")
	for _, m := range methods {
		if !Claims(m, id, body) {
			continue
		}
		if !m.Enabled() {
			return none, nil, httpx.ErrMethodDisabled()
		}
		if err := f.Common().CheckOrigin(q, true); err != nil {
			if f.Common().Type == TypeBrowser {
				return none, nil, err
			}
			res, err := RejectError(ctx, s, f, uiURL, err)
			return none, res, err
		}
		return m, nil, nil
	}
	res, err := Reject(ctx, s, f, uiURL, noStrategy)
	return none, res, err
}

// OfType names the type of the flow a request was about on its answer,
// error or not, so the client is answered as that type's.
func OfType(t Type, res *Result, err error) (*Result, error) {
	if res == nil {
		res = &Result{}
	}
	res.FlowType = t
	return res, err
}

// ExpiredReplacement answers a submission of a flow that expired at
// expiredAt with its replacement nf: browsers see nf in the UI, JSON
// clients get the 410 naming it.
func ExpiredReplacement(nf View, expiredAt, now time.Time, uiURL string) *Result {
	res := ShowFlow(nf, 0, uiURL)
	res.Outcome, res.Err = Replaced, ExpiredError(expiredAt, now, nf.Common().ID)
	return res
}

// Switch is a method's on/off switch in the configuration
// (selfservice.methods.<method>.enabled); methods embed it to implement
// Method.Enabled.
type Switch struct{ On bool }

// Enabled reports whether the method is switched on.
func (s Switch) Enabled() bool { return s.On }
