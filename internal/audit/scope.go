package audit

import (
	"context"

	"github.com/google/uuid"
)

type flowKey struct{}

type flowScope struct {
	id     uuid.UUID
	method string
}

// InFlow returns ctx marked as the work of self-service flow id with
// method: events recorded with it that name no flow or method of their
// own get these. A change made for a flow by another package (a profile
// update saved by identity.Service, sessions revoked by session.Manager)
// is then logged with the flow it belongs to.
func InFlow(ctx context.Context, id uuid.UUID, method string) context.Context {
	return context.WithValue(ctx, flowKey{}, flowScope{id: id, method: method})
}

// fillFlow sets e's flow and method from ctx where e has none.
func fillFlow(ctx context.Context, e *Event) {
	s, ok := ctx.Value(flowKey{}).(flowScope)
	if !ok {
		return
	}
	if e.FlowID == nil {
		e.FlowID = ID(s.id)
	}
	if e.Method == "" {
		e.Method = s.method
	}
}
