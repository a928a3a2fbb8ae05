package flow

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/storeerr"
)

// Errors forwards unrecoverable browser-flow errors to the error UI: the
// error is stored and the browser sent to ERROR_UI?id=, where the UI fetches
// it from GET /self-service/errors?id=. JSON clients get the error directly.
type Errors struct {
	Store Store
	UIURL string // selfservice.flows.error.ui_url
	Now   func() time.Time
}

// Forward answers err for client c: JSON clients get it as JSON, browsers
// are sent to the error UI. A nil *Errors answers every client with JSON.
func (e *Errors) Forward(w http.ResponseWriter, r *http.Request, c Client, err error) {
	// A browser that has gone follows no redirect: there is no error to
	// keep for it.
	if e == nil || c.JSON() || httpx.ClientGone(r) {
		httpx.WriteError(w, r, err)
		return
	}
	he := httpx.AsError(err)
	httpx.LogFailure(r, he)
	body, mErr := json.Marshal(he.Body())
	id := uuid.New()
	if mErr == nil {
		mErr = e.Store.CreateError(r.Context(), id, body, e.Now().UTC())
	}
	if mErr != nil {
		httpx.WriteError(w, r, httpx.ErrInternal(mErr))
		return
	}
	httpx.Redirect(w, r, WithQuery(e.UIURL, "id", id.String()), http.StatusSeeOther)
}

// errorFlow is the body of GET /self-service/errors.
type errorFlow struct {
	ID        string          `json:"id"`
	Error     json.RawMessage `json:"error"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// ServeError handles GET /self-service/errors?id=.
func (e *Errors) ServeError(w http.ResponseWriter, r *http.Request) {
	httpx.NoCache(w)
	raw := r.URL.Query().Get("id")
	if raw == "" {
		raw = r.URL.Query().Get("error")
	}
	if raw == "stub:500" {
		// A canned error UI developers use to style their error page.
		body, _ := json.Marshal(httpx.Body{Code: 500, Status: "Internal Server Error", Reason: "This is a stub error.", Message: "An internal server error occurred, please contact the system administrator"})
		now := e.Now().UTC()
		httpx.WriteJSON(w, http.StatusOK, errorFlow{ID: raw, Error: body, CreatedAt: now, UpdatedAt: now})
		return
	}
	id, err := uuid.Parse(raw)
	if err != nil {
		httpx.WriteError(w, r, httpx.ErrNotFound("The error could not be found."))
		return
	}
	body, at, err := e.Store.GetError(r.Context(), id)
	if errors.Is(err, storeerr.ErrNotFound) {
		httpx.WriteError(w, r, httpx.ErrNotFound("The error could not be found."))
		return
	}
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, errorFlow{ID: id.String(), Error: body, CreatedAt: at, UpdatedAt: at})
}
