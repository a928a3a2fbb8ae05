package server

import (
	"net/http"
	"time"

	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/notify"
	"github.com/latchkey/latchkey/internal/sqlstore"
)

// wireNotifications makes the audit log send the security notifications
// (an observer in the transaction of each event) and serves their
// lockdown links on the public listener (docs/security-notifications.md).
func (s *Server) wireNotifications(c *components, public *http.ServeMux) {
	cfg := s.cfg
	tokens := sqlstore.NewLockdownStore(s.db)
	c.audit.Observers = append(c.audit.Observers, newNotifier(cfg, c.identities, c.queue, s.now))
	lockdown := &notify.Lockdown{
		Tx: s.db, Tokens: tokens, Recovery: sqlstore.NewRecoveryStore(s.db),
		Sessions: c.sessions, Identities: c.identities, Passwords: c.hasher,
		Hasher: c.codes, Audit: c.audit, Now: s.now,
	}
	(&notify.Handler{Lockdown: lockdown, UIURL: cfg.LockdownUIURL()}).Register(public)
}

// newNotifier is the observer that mails the notifications, for serve
// and for the offline commands alike.
func newNotifier(cfg *config.Config, identities notify.Identities, mail notify.Mailer, now func() time.Time) *notify.Notifier {
	n := cfg.SelfService.Notifications
	return &notify.Notifier{
		Config: notify.Config{
			Enabled: map[audit.Type]bool{
				audit.PasswordChanged:          n.PasswordChanged.Enabled,
				audit.RecoverySucceeded:        n.AccountRecovered.Enabled,
				audit.AdminRecoveryCodeCreated: n.AdminRecoveryIssued.Enabled,
				audit.AdminRecoveryLinkCreated: n.AdminRecoveryIssued.Enabled,
				audit.SecondFactorAdded:        n.SecondFactorAdded.Enabled,
				audit.SecondFactorRemoved:      n.SecondFactorRemoved.Enabled,
				audit.AddressChanged:           n.AddressChanged.Enabled,
				audit.SocialLinked:             n.SocialLinked.Enabled,
			},
			LockdownLifespan: n.Lockdown.Lifespan,
			LockdownUIURL:    cfg.LockdownUIURL(),
		},
		Identities: identities,
		Mail:       mail,
		Hasher:     tokenHasher(cfg),
		SchemaURL:  func(id string) string { return identity.SchemaURL(cfg.Serve.Public.BaseURL, id) },
		Now:        now,
	}
}
