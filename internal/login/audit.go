package login

import (
	"context"
	"errors"
	"net/http"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/ratelimit"
	"github.com/latchkey/latchkey/internal/session"
)

// refusal is a submission a method checked and refused: its messages are
// on the flow (or answer, when set, is the error to answer with), and
// result and identityID (uuid.Nil when no identity matched) are what its
// login.failed event says. Never the submitted password or code.
type refusal struct {
	identityID uuid.UUID
	result     string
	answer     error
}

func (r *refusal) Error() string { return "login refused: " + r.result }

func refused(identityID uuid.UUID, result string) error {
	return &refusal{identityID: identityID, result: result}
}

// failed answers a submission the method did not accept: a refusal is
// recorded as login.failed with the flow saved in one transaction; an
// attempt over a failed-login budget too (result rate_limited: the
// budget's own transaction rolled back); other errors are returned as
// they are.
func (s *Service) failed(ctx context.Context, f *Flow, method string, err error) (*flow.Result, error) {
	var (
		r       *refusal
		limited *ratelimit.ExceededError
	)
	switch {
	case errors.As(err, &r):
	case errors.As(err, &limited):
		httpx.Logger(ctx).Warn("login attempt refused: failed-login budget spent", "flow_id", f.ID, "limit", limited.Scope,
			"retry_after_seconds", int(limited.RetryAfter.Seconds()))
		f.UI.ResetMessages()
		f.UI.AddMessage(flow.MsgLoginRateLimited(limited.RetryAfter))
		// A second factor's flow names its identity; a password guess
		// is refused before any lookup.
		r = &refusal{result: audit.ResultRateLimited}
		if f.IdentityID != nil {
			r.identityID = *f.IdentityID
		}
	default:
		return nil, err
	}
	e := audit.Event{Type: audit.LoginFailed, IdentityID: audit.ID(r.identityID), FlowID: &f.ID, Method: method, Result: r.result}
	if limited != nil {
		e.Details = map[string]any{"limit": limited.Scope}
	}
	var res *flow.Result
	err = s.Tx.InTx(ctx, func(ctx context.Context) error {
		if err := s.Audit.Record(ctx, e); err != nil {
			return err
		}
		if r.answer != nil {
			return nil
		}
		status := http.StatusBadRequest
		if limited != nil {
			status = http.StatusTooManyRequests
		}
		if err := flow.Save(ctx, s.Flows, f); err != nil {
			return err
		}
		res = s.flows().Show(f, status)
		return nil
	})
	switch {
	case err != nil:
		return nil, err
	case r.answer != nil:
		return nil, r.answer
	case limited != nil:
		res.RetryAfter = limited.RetryAfter
	}
	return res, nil
}

// inactive refuses a disabled identity that proved itself: the answer is
// the error issuing its session would give.
func inactive(identityID uuid.UUID) error {
	return &refusal{identityID: identityID, result: audit.ResultIdentityInactive, answer: session.ErrIdentityDisabled(identityID)}
}
