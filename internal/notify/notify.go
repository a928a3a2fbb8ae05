// Package notify sends Latchkey's security notifications and answers
// their "this wasn't me" links (docs/security-notifications.md).
//
// A Notifier observes the audit log (audit.Observer): when an event it
// mails about is recorded — a password change, a recovery, an admin's
// recovery code or link, a second factor added or removed, an address
// change — it queues a mail to each of the identity's recovery
// addresses, in the transaction of the change, so there is no change
// without its warning and no warning without its change. Each mail
// carries its own single-use lockdown link, whose token is derived with
// secrets.default and stored nowhere (token.go).
//
// Opening the link changes nothing (GET shows what happened, for mail
// scanners); confirming it (POST) locks the account down in one
// transaction: every session revoked, every outstanding recovery code
// and link spent, the password replaced by a random one nobody knows,
// a lockdown.confirmed audit event and a confirmation mail.
package notify

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/courier"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/storeerr"
)

// Config says which events are mailed about and where the links lead.
type Config struct {
	// Enabled lists the audit event types that send a notification
	// (lockdown.confirmed always sends its confirmation).
	Enabled map[audit.Type]bool
	// LockdownLifespan is how long a lockdown link works.
	LockdownLifespan time.Duration
	// LockdownUIURL is the page a lockdown link opens; the token is added
	// as ?token=.
	LockdownUIURL string
}

// Identities is what the notifier and the lockdown need of identities.
type Identities interface {
	Get(ctx context.Context, id uuid.UUID) (*identity.Identity, error)
	// GetPublic loads the identity without its credentials: a mail shows
	// the public view only.
	GetPublic(ctx context.Context, id uuid.UUID) (*identity.Identity, error)
	SetPassword(ctx context.Context, id uuid.UUID, hashed string) error
}

// Mailer renders and seals mail ahead of the transaction that queues it
// (courier.Queue).
type Mailer interface {
	Prepare(ctx context.Context, e courier.Email) (*courier.Prepared, error)
}

// Notifier mails the security notifications. It is an audit.Observer.
type Notifier struct {
	Config     Config
	Identities Identities
	Mail       Mailer
	// Hasher signs the lockdown link tokens (secrets.default).
	Hasher secret.Hasher
	// SchemaURL gives the identity JSON its schema_url in templates.
	SchemaURL func(schemaID string) string
	Now       func() time.Time
}

var _ audit.Preparer = (*Notifier)(nil)

// templates maps each event type that can be mailed about to its mail.
var templates = map[audit.Type]courier.TemplateType{
	audit.PasswordChanged:          courier.TemplateSecurityPasswordChanged,
	audit.RecoverySucceeded:        courier.TemplateSecurityAccountRecovered,
	audit.AdminRecoveryCodeCreated: courier.TemplateSecurityAdminRecovery,
	audit.AdminRecoveryLinkCreated: courier.TemplateSecurityAdminRecovery,
	audit.SecondFactorAdded:        courier.TemplateSecuritySecondFactorAdded,
	audit.SecondFactorRemoved:      courier.TemplateSecuritySecondFactorRemoved,
	audit.AddressChanged:           courier.TemplateSecurityAddressChanged,
	audit.SocialLinked:             courier.TemplateSecuritySocialLinked,
	audit.LockdownConfirmed:        courier.TemplateSecurityLockdownConfirmed,
}

// Observe queues the notification of e, if e is one that is mailed
// about, in e's transaction: an error rolls the change back with it. The
// courier writes it in the identity's locale trait, else in the language
// of the request that made the change (never an administrator's), else
// in selfservice.default_locale.
func (n *Notifier) Observe(ctx context.Context, e *audit.Event) error {
	write, err := n.Prepare(ctx, e, nil)
	if err != nil || write == nil {
		return err
	}
	return write(ctx)
}

// Prepare is Observe before the transaction: the lockdown links are made
// and the mails rendered and sealed, and the returned function only
// inserts the mails (in the transaction of e). subject
// is the identity e concerns as the caller read it (public view), or nil
// to read it here.
func (n *Notifier) Prepare(ctx context.Context, e *audit.Event, subject any) (func(ctx context.Context) error, error) {
	tmpl, ok := templates[e.Type]
	if !ok || e.IdentityID == nil || e.Result != audit.ResultSuccess {
		return nil, nil
	}
	if e.Type != audit.LockdownConfirmed && !n.Config.Enabled[e.Type] {
		return nil, nil
	}
	ident, _ := subject.(*identity.Identity)
	if ident == nil || ident.ID != *e.IdentityID {
		var err error
		ident, err = n.Identities.GetPublic(ctx, *e.IdentityID)
		if errors.Is(err, storeerr.ErrNotFound) {
			return nil, nil // nobody left to warn
		}
		if err != nil {
			return nil, fmt.Errorf("notify: load identity: %w", err)
		}
	}
	ev := eventData(e)
	recipients := recoveryEmails(ident)
	if e.Type == audit.AddressChanged {
		// The old address must hear of it: it may be the owner's.
		recipients = union(ev.PreviousAddresses, ev.CurrentAddresses)
	}
	if len(recipients) == 0 {
		return nil, nil
	}
	identityData := ident.TemplateData(n.SchemaURL)
	mails := make([]*courier.Prepared, 0, len(recipients))
	for i, to := range recipients {
		data := courier.TemplateData{To: to, Identity: identityData, Event: ev}
		if e.Type != audit.LockdownConfirmed {
			link, err := n.link(ident.ID, e, i)
			if err != nil {
				return nil, err
			}
			data.LockdownURL = link
			// The courier says it in the mail's language (LockdownValidFor).
			data.ExpiresInMinutes = int(n.Config.LockdownLifespan.Minutes())
		}
		m, err := n.Mail.Prepare(ctx, courier.Email{To: to, Template: tmpl, Data: data})
		if err != nil {
			return nil, fmt.Errorf("notify: queue %s: %w", tmpl, err)
		}
		mails = append(mails, m)
	}
	return func(ctx context.Context) error {
		for _, m := range mails {
			if err := m.Enqueue(ctx); err != nil {
				return fmt.Errorf("notify: queue %s: %w", tmpl, err)
			}
		}
		return nil
	}, nil
}

// link returns the lockdown link answering event e for its recipient-th
// recipient: its token is derived (token.go), so nothing is stored.
func (n *Notifier) link(identityID uuid.UUID, e *audit.Event, recipient int) (string, error) {
	u, err := url.Parse(n.Config.LockdownUIURL)
	if err != nil {
		return "", fmt.Errorf("notify: lockdown ui_url: %w", err)
	}
	value, ok := encodeToken(n.Hasher, &Token{
		IdentityID: identityID, EventID: e.ID, EventType: e.Type, EventTime: e.Time,
		// The token holds a byte: recipients past the 256th (an identity
		// with that many recovery addresses) share the last use.
		Recipient: min(recipient, maxRecipient), ExpiresAt: n.now().Add(n.Config.LockdownLifespan),
	})
	if !ok {
		return "", fmt.Errorf("notify: no lockdown link for %s to recipient %d", e.Type, recipient)
	}
	q := u.Query()
	q.Set("token", value)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func (n *Notifier) now() time.Time {
	if n.Now != nil {
		return n.Now().UTC()
	}
	return time.Now().UTC()
}

// eventData is what the mail says about e: the audit record's facts.
func eventData(e *audit.Event) *courier.EventData {
	d := &courier.EventData{
		Type: string(e.Type), Time: e.Time.UTC(), // the courier writes TimeText in the mail's language
		Method: e.Method, Actor: string(e.Actor), ClientIP: e.ClientIP, UserAgent: e.UserAgent,
	}
	if by, _ := e.Details["issued_by"].(string); by == "admin" {
		d.IssuedByAdmin = true
	}
	d.Provider, _ = e.Details["provider"].(string)
	d.PreviousAddresses = stringList(e.Details["previous"])
	d.CurrentAddresses = stringList(e.Details["current"])
	return d
}

// stringList reads a list of strings from event details ([]string as
// recorded, []any once decoded).
func stringList(v any) []string {
	switch l := v.(type) {
	case []string:
		return l
	case []any:
		out := make([]string, 0, len(l))
		for _, x := range l {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// recoveryEmails are the identity's recovery email addresses.
func recoveryEmails(i *identity.Identity) []string {
	var out []string
	for _, a := range i.RecoveryAddresses {
		if a.Via == identity.ViaEmail {
			out = append(out, a.Value)
		}
	}
	return union(out)
}

// union is the lists' addresses, each once, in order of appearance.
func union(lists ...[]string) []string {
	seen := map[string]bool{}
	var out []string
	for _, l := range lists {
		for _, s := range l {
			if s != "" && !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	return out
}
