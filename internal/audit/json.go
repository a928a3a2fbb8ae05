package audit

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/httpx"
)

// eventJSON is an event's wire shape (GET /admin/audit/events, `latchkey
// audit list --format json`): every key always present, the optional ids
// null when unknown, details {} when there are none.
// It has Event's fields in Event's order, so the two convert into each
// other: a field added to Event must be added here.
type eventJSON struct {
	ID         uuid.UUID      `json:"id"`
	Time       time.Time      `json:"time"`
	Type       Type           `json:"type"`
	IdentityID *uuid.UUID     `json:"identity_id"`
	Actor      Actor          `json:"actor"`
	FlowID     *uuid.UUID     `json:"flow_id"`
	Method     string         `json:"method"`
	ClientIP   string         `json:"client_ip"`
	UserAgent  string         `json:"user_agent"`
	Result     string         `json:"result"`
	Reason     string         `json:"reason"`
	Details    map[string]any `json:"details"`
}

// MarshalJSON writes the event's wire shape.
func (e Event) MarshalJSON() ([]byte, error) {
	j := eventJSON(e)
	j.Time = j.Time.UTC()
	if j.Details == nil {
		j.Details = map[string]any{}
	}
	return httpx.MarshalNoEscape(j)
}

// UnmarshalJSON reads the wire shape back (the CLI reads the API's list).
func (e *Event) UnmarshalJSON(b []byte) error {
	var j eventJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*e = Event(j)
	return nil
}
