package flow

import (
	"errors"
	"net/http"
)

// Away is the answer of a method that goes on elsewhere, at a social
// sign-in provider: a browser form is sent to URL (303), JSON clients
// (SPAs, native apps) get 422 browser_location_change_required naming
// it. Methods return it as an error so that Authenticate and Register
// keep their shape; the flow services turn it into a Result.
type Away struct{ URL string }

func (a *Away) Error() string { return "continue at " + a.URL }

// AwayResult is the answer for err when it is an *Away.
func AwayResult(err error) (*Result, bool) {
	var a *Away
	if !errors.As(err, &a) {
		return nil, false
	}
	return &Result{Outcome: Done, RedirectTo: a.URL, Err: BrowserLocationChangeRequired(a.URL), Status: http.StatusUnprocessableEntity}, true
}
