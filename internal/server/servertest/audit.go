package servertest

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/sqlstore"
)

// AuditEvents reads the audit log from the database, oldest first: every
// event, or those of one identity when identityID is not "".
func (s *Server) AuditEvents(t testing.TB, identityID string) []audit.Event {
	t.Helper()
	f := audit.Filter{PageSize: 10000}
	if identityID != "" {
		id := uuid.MustParse(identityID)
		f.IdentityID = &id
	}
	events, _, err := sqlstore.NewAuditStore(s.DB).ListEvents(context.Background(), f)
	if err != nil {
		t.Fatalf("audit events: %v", err)
	}
	return events
}

// AuditTypes lists the types of events, in order.
func AuditTypes(events []audit.Event) []audit.Type {
	out := make([]audit.Type, len(events))
	for i, e := range events {
		out[i] = e.Type
	}
	return out
}
