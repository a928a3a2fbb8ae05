package login

import (
	"context"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/ratelimit"
)

// Failed-login budgets (departure 4): per identifier, counted by the
// identifier string as typed (normalised as lookups are), so an unknown
// identifier is counted exactly like a known one and a refusal says
// nothing about accounts; and per client IP, across identifiers.
//
// An attempt is taken from both budgets before the password is checked,
// in its own committed transaction: the counter's row lock orders
// concurrent guesses, so no more than Max comparisons happen per window
// however many arrive at once, and an attempt over budget is refused
// without any hash comparison. A refused attempt is rolled back (it costs
// the attacker nothing more, and the window end does not move). A
// successful login gives its attempt back to the IP budget and resets
// the identifier's budget: the user who finally typed the right password
// is not held back later, and knowing one account's password buys no
// guesses on another account.

// Scopes of the login counters.
const (
	scopeIdentifier = "login_identifier"
	scopeIP         = "login_ip"
	// scopeSecondFactor counts wrong second-factor codes per identity
	// and method, with the per-identifier limit: a second factor is
	// guessed by someone who knows the password, so it gets no more
	// tries than the password did.
	scopeSecondFactor = "login_second_factor"
)

// Throttle holds the failed-login budgets of the password method. A nil
// Throttle throttles nothing.
type Throttle struct {
	Counter *ratelimit.Counter
	Tx      flow.Transactor
	// PerIdentifier is selfservice.flows.login.rate_limit.per_identifier
	// (default 10 per 15 minutes).
	PerIdentifier ratelimit.Limit
	// PerIP is selfservice.flows.login.rate_limit.per_ip (default 100
	// per 15 minutes).
	PerIP ratelimit.Limit
}

// take counts one attempt against both budgets, or returns a
// *ratelimit.ExceededError (counting nothing) when either is spent.
func (t *Throttle) take(ctx context.Context, identifier, ip string) error {
	return t.takeIn(ctx, scopeIdentifier, identity.NormaliseIdentifier(identifier), ip)
}

// takeSecondFactor is take for a second-factor code; key is
// secondFactorKey's.
func (t *Throttle) takeSecondFactor(ctx context.Context, key, ip string) error {
	return t.takeIn(ctx, scopeSecondFactor, key, ip)
}

func (t *Throttle) takeIn(ctx context.Context, scope, key, ip string) error {
	if t == nil {
		return nil
	}
	return t.Tx.InTx(ctx, func(ctx context.Context) error {
		if err := t.Counter.Take(ctx, scopeIP, ip, t.PerIP); err != nil {
			return err
		}
		return t.Counter.Take(ctx, scope, key, t.PerIdentifier)
	})
}

// secondFactorKey is the budget key of an identity's second factor.
func secondFactorKey(method string, identityID uuid.UUID) string {
	return method + ":" + identityID.String()
}

// succeeded undoes what a successful attempt counted, in the transaction
// that signs the identity in.
func (t *Throttle) succeeded(ctx context.Context, identifier, ip string) error {
	return t.succeededIn(ctx, scopeIdentifier, identity.NormaliseIdentifier(identifier), ip)
}

// succeededSecondFactor is succeeded for a second-factor code.
func (t *Throttle) succeededSecondFactor(ctx context.Context, key, ip string) error {
	return t.succeededIn(ctx, scopeSecondFactor, key, ip)
}

func (t *Throttle) succeededIn(ctx context.Context, scope, key, ip string) error {
	if t == nil {
		return nil
	}
	if err := t.Counter.Give(ctx, scopeIP, ip, t.PerIP); err != nil {
		return err
	}
	return t.Counter.Reset(ctx, scope, key)
}
