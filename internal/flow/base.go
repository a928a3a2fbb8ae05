package flow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/rowid"
	"github.com/latchkey/latchkey/internal/storeerr"
)

// Base is what every self-service flow has; each flow type embeds it and
// adds its own fields.
type Base struct {
	ID         uuid.UUID
	Type       Type
	ExpiresAt  time.Time
	IssuedAt   time.Time
	RequestURL string
	// ReturnTo is the validated return_to of the request that created the
	// flow.
	ReturnTo string
	UI       Container
	// CSRF is the fingerprint of the anti-CSRF token a browser flow was
	// created with (empty for API flows and admin-created flows).
	CSRF      string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// NewBase starts a flow of type t at now, posting its form to actionURL
// (?flow=<id> is added).
func NewBase(t Type, now time.Time, lifespan time.Duration, requestURL, returnTo, actionURL string) Base {
	id := rowid.New()
	return Base{
		ID: id, Type: t, IssuedAt: now, ExpiresAt: now.Add(lifespan),
		RequestURL: requestURL, ReturnTo: returnTo,
		UI: Container{Action: WithQuery(actionURL, "flow", id.String()), Method: http.MethodPost},
	}
}

// Common returns the base; every flow type has it through embedding.
func (b *Base) Common() *Base { return b }

// Expired reports whether the flow can no longer be used at now.
func (b *Base) Expired(now time.Time) bool { return !now.Before(b.ExpiresAt) }

// Record stores the flow as kind with its state, identity and data:
// a struct that embeds Stored (filled in here) and adds the kind's own
// fields.
func (b *Base) Record(kind, state string, identityID *uuid.UUID, data any) (*Record, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("encode %s flow: %w", kind, err)
	}
	return b.RecordData(kind, state, identityID, raw), nil
}

// RecordData stores the flow as kind with data already encoded (a kind
// that writes its data with AppendStored).
func (b *Base) RecordData(kind, state string, identityID *uuid.UUID, data json.RawMessage) *Record {
	return &Record{
		ID: b.ID, Kind: kind, Type: b.Type, State: state, IdentityID: identityID, CSRF: b.CSRF,
		Data: data, ExpiresAt: b.ExpiresAt, CreatedAt: b.CreatedAt, UpdatedAt: b.UpdatedAt,
	}
}

// Stored is the part of a flow's data every kind keeps.
func (b *Base) Stored() Stored {
	return Stored{IssuedAt: b.IssuedAt, RequestURL: b.RequestURL, ReturnTo: b.ReturnTo, UI: b.UI}
}

// AppendStored writes the members of Stored, as json.Marshal writes
// them; the kind's own members follow.
func (b *Base) AppendStored(o *JSONObject) {
	o.Time("issued_at", b.IssuedAt)
	o.String("request_url", b.RequestURL)
	o.StringOmitEmpty("return_to", b.ReturnTo)
	o.UI("ui", &b.UI)
}

// BaseOf rebuilds the base of a stored flow; data is the record's Data,
// decoded into the kind's struct (which embeds Stored) by the caller.
func BaseOf(r *Record, s Stored) Base {
	return Base{
		ID: r.ID, Type: r.Type, ExpiresAt: r.ExpiresAt, IssuedAt: s.IssuedAt,
		RequestURL: s.RequestURL, ReturnTo: s.ReturnTo, UI: s.UI, CSRF: r.CSRF,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
}

// Decode reads a record's data into v (the kind's struct embedding Stored).
func Decode(r *Record, v any) error {
	if err := json.Unmarshal(r.Data, v); err != nil {
		return fmt.Errorf("decode %s flow %s: %w", r.Kind, r.ID, err)
	}
	return nil
}

// Persisted is a flow that knows its stored form.
type Persisted interface {
	View
	Record() (*Record, error)
}

// Create stores a new flow and records its timestamps.
func Create(ctx context.Context, s Store, f Persisted) error {
	rec, err := f.Record()
	if err != nil {
		return err
	}
	if err := s.CreateFlow(ctx, rec); err != nil {
		return fmt.Errorf("create %s flow: %w", rec.Kind, err)
	}
	b := f.Common()
	b.CreatedAt, b.UpdatedAt = rec.CreatedAt, rec.UpdatedAt
	return nil
}

// Save stores a flow's changes.
func Save(ctx context.Context, s Store, f Persisted) error {
	rec, err := f.Record()
	if err != nil {
		return err
	}
	if err := s.UpdateFlow(ctx, rec); err != nil {
		return fmt.Errorf("update %s flow: %w", rec.Kind, err)
	}
	f.Common().UpdatedAt = rec.UpdatedAt
	return nil
}

// CheckFetch applies the rules of fetching a flow of kind ("login", ...):
// a browser flow is shown only to the browser it was created for (when
// checkCSRF; tokenSent picks Kratos's explanation), and an expired flow
// names where to start again: initBrowserURL for browser flows,
// initAPIURL for API flows.
func (b *Base) CheckFetch(q *Request, now time.Time, kind, initBrowserURL, initAPIURL string, checkCSRF, tokenSent bool) error {
	if checkCSRF && b.Type == TypeBrowser {
		if err := q.CSRF.CheckFingerprint(b.CSRF, tokenSent); err != nil {
			return err
		}
	}
	switch {
	case !b.Expired(now):
		return nil
	case b.Type == TypeBrowser:
		return ExpiredBrowserFetchError(kind, initBrowserURL, b.ReturnTo)
	default:
		return ExpiredAPIFetchError(b.ExpiresAt, now, initAPIURL)
	}
}

// CheckOrigin applies the flow type's protection against cross-site
// requests: a browser flow needs the anti-CSRF token (checkCSRF false for
// flows that need none), an API flow a request without browser signals.
func (b *Base) CheckOrigin(q *Request, checkCSRF bool) error {
	if b.Type == TypeAPI {
		return q.BrowserSignals
	}
	if checkCSRF {
		return q.CSRF.Check()
	}
	return nil
}

// Load reads the record of flow rawID of kind; notFound answers an
// unknown or malformed id.
func Load(ctx context.Context, s Store, kind, rawID string, notFound error) (*Record, error) {
	id, err := uuid.Parse(rawID)
	if err != nil {
		return nil, notFound
	}
	rec, err := s.GetFlow(ctx, kind, id)
	if errors.Is(err, storeerr.ErrNotFound) {
		return nil, notFound
	}
	return rec, err
}

// ShowFlow answers with f: JSON clients get it with status, browsers its
// page in the UI at uiURL.
func ShowFlow(f View, status int, uiURL string) *Result {
	b := f.Common()
	return &Result{Outcome: Show, FlowType: b.Type, Flow: f, Status: status, UIURL: WithQuery(uiURL, "flow", b.ID.String())}
}

// Reject saves f with its messages (msgs are added at flow level after
// any already attached) and shows it with 400.
func Reject(ctx context.Context, s Store, f Persisted, uiURL string, msgs ...Message) (*Result, error) {
	ui := &f.Common().UI
	for _, m := range msgs {
		ui.AddMessage(m)
	}
	if err := Save(ctx, s, f); err != nil {
		return nil, err
	}
	return ShowFlow(f, http.StatusBadRequest, uiURL), nil
}

// RejectError shows a 400-class error on f as message 4000001, as Kratos
// does; other errors are returned as they are.
func RejectError(ctx context.Context, s Store, f Persisted, uiURL string, err error) (*Result, error) {
	if m, ok := MsgFromBadRequest(err); ok {
		return Reject(ctx, s, f, uiURL, m)
	}
	return nil, err
}

// Head is how every flow's JSON starts, in Kratos's key order; a flow's
// wire struct embeds it first.
type Head struct {
	ID         uuid.UUID `json:"id"`
	Type       Type      `json:"type"`
	ExpiresAt  time.Time `json:"expires_at"`
	IssuedAt   time.Time `json:"issued_at"`
	RequestURL string    `json:"request_url"`
}

// Head returns the start of the flow's JSON.
func (b *Base) Head() Head {
	return Head{ID: b.ID, Type: b.Type, ExpiresAt: b.ExpiresAt, IssuedAt: b.IssuedAt, RequestURL: b.RequestURL}
}

// AppendHead writes the members of Head, as json.Marshal writes them.
func (b *Base) AppendHead(o *JSONObject) {
	o.UUID("id", b.ID)
	o.String("type", string(b.Type))
	o.Time("expires_at", b.ExpiresAt)
	o.Time("issued_at", b.IssuedAt)
	o.String("request_url", b.RequestURL)
}

// EntryHead is how the JSON of a login or registration flow starts: with
// organization_id (always null here) and the UI.
type EntryHead struct {
	ID             uuid.UUID  `json:"id"`
	OrganizationID *uuid.UUID `json:"organization_id"`
	Type           Type       `json:"type"`
	ExpiresAt      time.Time  `json:"expires_at"`
	IssuedAt       time.Time  `json:"issued_at"`
	RequestURL     string     `json:"request_url"`
	ReturnTo       string     `json:"return_to,omitempty"`
	UI             Container  `json:"ui"`
}

// EntryHead returns the start of a login or registration flow's JSON.
func (b *Base) EntryHead() EntryHead {
	return EntryHead{ID: b.ID, Type: b.Type, ExpiresAt: b.ExpiresAt, IssuedAt: b.IssuedAt, RequestURL: b.RequestURL, ReturnTo: b.ReturnTo, UI: b.UI.ForAPI()}
}
