package audit_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/audit"
)

// memStore keeps appended events in memory.
type memStore struct{ events []audit.Event }

func (s *memStore) AppendEvent(_ context.Context, e *audit.Event) error {
	s.events = append(s.events, *e)
	return nil
}

func (s *memStore) ListEvents(context.Context, audit.Filter) ([]audit.Event, string, error) {
	return s.events, "", nil
}

func (s *memStore) AfterCommit(_ context.Context, fn func()) { fn() }

// observer notes what it saw: events observed, and, as a Preparer,
// events prepared and writes run.
type observer struct {
	observed, prepared []uuid.UUID
	subjects           []any
	writes             int
}

func (o *observer) Observe(_ context.Context, e *audit.Event) error {
	o.observed = append(o.observed, e.ID)
	return nil
}

type preparer struct{ observer }

func (p *preparer) Prepare(_ context.Context, e *audit.Event, subject any) (func(context.Context) error, error) {
	p.prepared = append(p.prepared, e.ID)
	p.subjects = append(p.subjects, subject)
	return func(context.Context) error { p.writes++; return nil }, nil
}

// TestPreparedEvents: Prepare completes the event and lets Preparers do
// their work ahead; Record writes the event and runs their writes, and
// other observers observe it then, as with Recorder.Record. Run again
// (a transaction run again), Record writes the same event again.
func TestPreparedEvents(t *testing.T) {
	store := &memStore{}
	plain, prep := &observer{}, &preparer{}
	r := &audit.Recorder{Store: store, Observers: []audit.Observer{plain, prep}}
	id := uuid.New()
	subject := "the identity as read"
	p, err := r.Prepare(context.Background(), audit.Event{Type: audit.AdminRecoveryCodeCreated, IdentityID: &id}, subject)
	if err != nil {
		t.Fatal(err)
	}
	if len(prep.prepared) != 1 || prep.subjects[0] != subject || len(plain.observed) != 0 || prep.writes != 0 || len(store.events) != 0 {
		t.Fatalf("after Prepare: prepared %v, observed %v, writes %d, events %d", prep.prepared, plain.observed, prep.writes, len(store.events))
	}
	for run := 1; run <= 2; run++ {
		if err := p.Record(context.Background()); err != nil {
			t.Fatal(err)
		}
		if len(store.events) != run || prep.writes != run || len(plain.observed) != run || len(prep.observed) != 0 {
			t.Fatalf("run %d: %d events, %d writes, observed %v / %v", run, len(store.events), prep.writes, plain.observed, prep.observed)
		}
	}
	e := store.events[0]
	if e.ID == uuid.Nil || e.ID != store.events[1].ID || e.ID != prep.prepared[0] || e.ID != plain.observed[0] || e.Time.IsZero() ||
		e.Actor != audit.ActorSystem || e.Result != audit.ResultSuccess {
		t.Errorf("event = %+v", e)
	}

	// Recorder.Record still observes with every observer, Preparers too.
	if err := r.Record(context.Background(), audit.Event{Type: audit.PasswordChanged, IdentityID: &id}); err != nil {
		t.Fatal(err)
	}
	if len(prep.observed) != 1 || len(plain.observed) != 3 {
		t.Errorf("Record: observed %v / %v", plain.observed, prep.observed)
	}

	// A nil Recorder records nothing, prepared or not.
	var none *audit.Recorder
	np, err := none.Prepare(context.Background(), audit.Event{Type: audit.PasswordChanged}, nil)
	if err != nil || np.Record(context.Background()) != nil {
		t.Errorf("nil recorder: %v", err)
	}
}
