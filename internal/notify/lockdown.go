package notify

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/storeerr"
)

// Errors of a lockdown link.
var (
	ErrTokenInvalid = errors.New("notify: lockdown token unknown")
	ErrTokenUsed    = errors.New("notify: lockdown token already used")
	ErrTokenExpired = errors.New("notify: lockdown token expired")
)

// Sessions revokes every session of an identity (session.Manager).
type Sessions interface {
	RevokeAll(ctx context.Context, identityID uuid.UUID) (int, error)
}

// Passwords hashes with the configured hasher (password.Hasher).
type Passwords interface {
	Hash(ctx context.Context, plain []byte) (string, error)
}

// Tx runs fn in one transaction (sqlstore.DB).
type Tx interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
}

// Lockdown answers lockdown links.
type Lockdown struct {
	Tx         Tx
	Tokens     Store
	Recovery   RecoverySecrets
	Sessions   Sessions
	Identities Identities
	Passwords  Passwords
	Hasher     secret.Hasher
	// Audit records lockdown.confirmed; the Notifier observing it sends
	// the confirmation mail.
	Audit *audit.Recorder
	Now   func() time.Time
}

// Outcome is what a confirmed lockdown did.
type Outcome struct {
	Token                      *Token
	RevokedSessions            int
	InvalidatedRecoverySecrets int
	// PasswordDisabled: the identity had a password, which now matches
	// nothing until a recovery sets a new one.
	PasswordDisabled bool
}

// Inspect returns the token of value if it can still be confirmed. It
// changes nothing (a mail scanner opening the link does no harm).
func (l *Lockdown) Inspect(ctx context.Context, value string) (*Token, error) {
	t, err := l.token(ctx, value)
	if err != nil {
		return nil, err
	}
	switch {
	case t.UsedAt != nil:
		return t, ErrTokenUsed
	case !l.now().Before(t.ExpiresAt):
		return t, ErrTokenExpired
	}
	return t, nil
}

// token finds what value answers: a derived token is read from value
// itself, then its identity and its use looked up; a stored one (mailed
// before tokens were derived, and deleted with its identity) is looked up
// by its keyed hash. Either way, a link of a deleted identity is unknown.
func (l *Lockdown) token(ctx context.Context, value string) (*Token, error) {
	if len(value) == legacyTokenLength && alphanumeric(value) {
		t, err := l.Tokens.LegacyTokenByHash(ctx, l.Hasher.Candidates(value))
		if errors.Is(err, storeerr.ErrNotFound) {
			return nil, ErrTokenInvalid
		}
		return t, err
	}
	t, ok := decodeToken(l.Hasher, value)
	if !ok {
		return nil, ErrTokenInvalid
	}
	used, err := l.Tokens.LinkUsedAt(ctx, t.IdentityID, t.EventID, t.Recipient)
	if errors.Is(err, storeerr.ErrNotFound) {
		return nil, ErrTokenInvalid
	}
	if err != nil {
		return nil, err
	}
	t.UsedAt = used
	return t, nil
}

// use spends t; false means another request spent it first.
func (l *Lockdown) use(ctx context.Context, t *Token, at time.Time) (bool, error) {
	if t.LegacyID != uuid.Nil {
		return l.Tokens.UseLegacyToken(ctx, t.LegacyID, at)
	}
	return l.Tokens.UseLink(ctx, t.EventID, t.Recipient, at, t.ExpiresAt)
}

// Confirm locks the account of the token down, in one transaction: the
// token is spent (one of several concurrent confirmations wins), every
// session revoked, every outstanding recovery code and link spent, the
// password replaced by the hash of a random value nobody knows (so a
// password login answers as for a wrong password until a recovery sets a
// new one), and lockdown.confirmed recorded.
func (l *Lockdown) Confirm(ctx context.Context, value string) (*Outcome, error) {
	t, err := l.Inspect(ctx, value)
	if err != nil {
		return nil, err
	}
	// Hashed before the transaction: a slow hash holds no locks.
	unknowable := make([]byte, 32)
	if _, err := rand.Read(unknowable); err != nil {
		return nil, err
	}
	disabled, err := l.Passwords.Hash(ctx, []byte(fmt.Sprintf("%x", unknowable)))
	if err != nil {
		return nil, fmt.Errorf("notify: hash: %w", err)
	}
	out := &Outcome{Token: t}
	err = l.Tx.InTx(ctx, func(ctx context.Context) error {
		*out = Outcome{Token: t}
		now := l.now()
		// The identity first: it may have been deleted since Inspect.
		ident, err := l.Identities.Get(ctx, t.IdentityID)
		if errors.Is(err, storeerr.ErrNotFound) {
			return ErrTokenInvalid
		}
		if err != nil {
			return err
		}
		ok, err := l.use(ctx, t, now)
		if err != nil {
			return err
		}
		if !ok {
			return ErrTokenUsed
		}
		if out.RevokedSessions, err = l.Sessions.RevokeAll(ctx, ident.ID); err != nil {
			return err
		}
		if out.InvalidatedRecoverySecrets, err = l.Recovery.InvalidateIdentitySecrets(ctx, ident.ID, now); err != nil {
			return err
		}
		if _, ok := ident.Credentials[identity.CredentialPassword]; ok {
			if err := l.Identities.SetPassword(ctx, ident.ID, disabled); err != nil {
				return err
			}
			out.PasswordDisabled = true
		}
		return l.Audit.Record(ctx, audit.Event{Type: audit.LockdownConfirmed, IdentityID: &ident.ID,
			Details: map[string]any{
				"trigger_event_id": t.EventID.String(), "trigger_type": string(t.EventType),
				"revoked_sessions": out.RevokedSessions, "invalidated_recovery_secrets": out.InvalidatedRecoverySecrets,
				"password_disabled": out.PasswordDisabled,
			}})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (l *Lockdown) now() time.Time {
	if l.Now != nil {
		return l.Now().UTC()
	}
	return time.Now().UTC()
}
