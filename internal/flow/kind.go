package flow

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/httpx"
)

// Kind is one kind of flow ("login", "registration", ...) as the shared
// machinery handles it: where its flows are stored, how a record becomes
// the kind's flow type F, and the UI page that shows one.
type Kind[F Persisted] struct {
	Name   string
	Store  Store
	Decode func(*Record) (F, error)
	// UIURL is the kind's UI page (?flow=<id> is added).
	UIURL string
	// PublicBaseURL is serve.public.base_url (the init endpoints).
	PublicBaseURL string
}

// Load reads flow rawID; notFound answers an unknown or malformed id.
func (k Kind[F]) Load(ctx context.Context, rawID string, notFound error) (F, error) {
	var none F
	rec, err := Load(ctx, k.Store, k.Name, rawID, notFound)
	if err != nil {
		return none, err
	}
	return k.Decode(rec)
}

// Show answers with f: JSON clients get it with status, browsers its UI
// page.
func (k Kind[F]) Show(f F, status int) *Result { return ShowFlow(f, status, k.UIURL) }

// Reject saves f with its messages and shows it with 400 (Reject).
func (k Kind[F]) Reject(ctx context.Context, f F, msgs ...Message) (*Result, error) {
	return Reject(ctx, k.Store, f, k.UIURL, msgs...)
}

// Fetch answers GET /self-service/<kind>/flows?id=: an unknown flow is a
// 404, a browser flow is shown only to the browser it was created for,
// an expired one names the init endpoint to start again from.
func (k Kind[F]) Fetch(ctx context.Context, q *Request, rawID string, now time.Time) (*Result, error) {
	f, err := k.Load(ctx, rawID, httpx.ErrNotFound(""))
	if err != nil {
		return nil, err
	}
	init := Route(k.PublicBaseURL, "self-service/"+k.Name)
	if err := f.Common().CheckFetch(q, now, k.Name, init+"/browser", init+"/api", true, true); err != nil {
		return nil, err
	}
	return k.Show(f, 0), nil
}

// Submit loads flow id (notFound when there is none) and runs submit on
// it; the answer names the flow's type, error or not.
func (k Kind[F]) Submit(ctx context.Context, id uuid.UUID, notFound error, submit func(F) (*Result, error)) (*Result, error) {
	f, err := k.Load(ctx, id.String(), notFound)
	if err != nil {
		return nil, err
	}
	res, err := submit(f)
	return OfType(f.Common().Type, res, err)
}
