package settings

import (
	"context"

	"github.com/latchkey/latchkey/internal/audit"
)

// recordSecondFactor writes a second_factor.added or .removed event for
// the flow's identity, in the transaction of the change.
func (s *Service) recordSecondFactor(ctx context.Context, t audit.Type, f *Flow, method string, details map[string]any) error {
	id := f.IdentityID
	return s.Audit.Record(ctx, audit.Event{Type: t, IdentityID: &id, FlowID: &f.ID, Method: method, Details: details})
}
