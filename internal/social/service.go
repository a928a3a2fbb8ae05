package social

import (
	"context"
	"log/slog"

	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/httpx"
)

// Service runs social sign-in round trips. Its fields are set once by the
// server; Completers is filled in after the flows are built.
type Service struct {
	Providers Providers
	Store     Store
	Hasher    Hasher
	Sealer    Sealer
	// CallbackURL is PUB/self-service/methods/oidc/callback/ (the
	// provider id is appended).
	CallbackURL string
	// ExchangeLifespan is how long a native app may take to come back
	// for its session token (the flow's lifespan).
	ExchangeLifespan time.Duration
	// Completers finish trips, by flow kind.
	Completers map[string]Completer
	// Sessions reads the session of a request and of an exchange.
	Sessions Sessions
	Respond  *flow.Responder
	CSRF     *flow.CSRF
	Log      *slog.Logger
	Now      func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC().Truncate(time.Microsecond)
	}
	return time.Now().UTC().Truncate(time.Microsecond)
}

// ErrUnknownProvider answers a submission naming no configured provider
// (Kratos: 404).
func errUnknownProvider(id string) *httpx.Error {
	return httpx.ErrNotFound("").WithReason("Unable to find OpenID Connect Provider %q", id)
}

// Enabled reports whether any provider is configured.
func (s *Service) Enabled() bool { return s != nil && len(s.Providers) > 0 }

// List is the configured providers, in configuration order.
func (s *Service) List() Providers { return s.Providers }

// MoveExchange hands flow from's session token exchange to flow to (a
// login that turns into a sign-up, or the reverse).
func (s *Service) MoveExchange(ctx context.Context, from, to uuid.UUID) error {
	return s.Store.MoveExchange(ctx, from, to)
}
