package config

import "time"

// Notifications is selfservice.notifications (Latchkey only): the
// security notification mails and their "this wasn't me" lockdown link
// (docs/security-notifications.md).
type Notifications struct {
	// On by default: the events an account takeover goes through.
	PasswordChanged     Switch `key:"password_changed"`
	AccountRecovered    Switch `key:"account_recovered"`
	AdminRecoveryIssued Switch `key:"admin_recovery_issued"`
	// SocialLinked: a social sign-in account was linked, which signs in
	// from then on without the password.
	SocialLinked Switch `key:"social_linked"`
	// Off by default: changes a user makes often and on purpose.
	SecondFactorAdded   Switch `key:"second_factor_added"`
	SecondFactorRemoved Switch `key:"second_factor_removed"`
	AddressChanged      Switch `key:"address_changed"`

	Lockdown Lockdown `key:"lockdown"`
}

// Switch turns one notification on or off.
type Switch struct {
	Enabled bool `key:"enabled"`
}

// Lockdown is selfservice.notifications.lockdown.
type Lockdown struct {
	// Lifespan is how long a notification's lockdown link works
	// (default 168h, 7 days).
	Lifespan time.Duration `key:"lifespan"`
	// UIURL is the page the link opens (default the built-in PUB/ui/lockdown);
	// it gets the token as ?token=.
	UIURL string `key:"ui_url"`
}

// DefaultLockdownLifespan is selfservice.notifications.lockdown.lifespan
// when nothing sets it.
const DefaultLockdownLifespan = 7 * 24 * time.Hour

func defaultNotifications() Notifications {
	on := Switch{Enabled: true}
	return Notifications{
		PasswordChanged: on, AccountRecovered: on, AdminRecoveryIssued: on, SocialLinked: on,
		Lockdown: Lockdown{Lifespan: DefaultLockdownLifespan},
	}
}

// LockdownUIURL is where a lockdown link points: the configured
// selfservice.notifications.lockdown.ui_url resolved against the public
// base URL, or the built-in UI's page.
func (c *Config) LockdownUIURL() string {
	if u := c.SelfService.Notifications.Lockdown.UIURL; u != "" {
		return c.resolvePublic(u)
	}
	return c.PublicURL(builtinUIPath + "lockdown")
}

func (l *loader) validateNotifications(c *Config) {
	n := c.SelfService.Notifications.Lockdown
	l.positive("selfservice.notifications.lockdown.lifespan", n.Lifespan)
	l.returnURL("selfservice.notifications.lockdown.ui_url", n.UIURL)
}
