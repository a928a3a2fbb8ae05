package config

import (
	"strings"
	"testing"
	"time"
)

// TestNotifications: the recovery and password warnings are on by
// default, the rest off; the lockdown link lives 7 days and opens the
// built-in page unless ui_url says otherwise; bad values are refused
// with the key named.
func TestNotifications(t *testing.T) {
	t.Run("Defaults", func(t *testing.T) {
		cfg, _ := MustLoad(t, LoadOptions{Env: prodEnv})
		n := cfg.SelfService.Notifications
		check(t, "on", []bool{n.PasswordChanged.Enabled, n.AccountRecovered.Enabled, n.AdminRecoveryIssued.Enabled}, []bool{true, true, true})
		check(t, "off", []bool{n.SecondFactorAdded.Enabled, n.SecondFactorRemoved.Enabled, n.AddressChanged.Enabled}, []bool{false, false, false})
		check(t, "lifespan", n.Lockdown.Lifespan, 168*time.Hour)
		check(t, "ui url", cfg.LockdownUIURL(), cfg.PublicURL("ui/lockdown"))
	})
	t.Run("FromFile", func(t *testing.T) {
		f := MustWriteFile(t, "latchkey.yml", `selfservice:
  notifications:
    password_changed: {enabled: false}
    address_changed: {enabled: true}
    lockdown: {lifespan: 24h, ui_url: /account/lockdown}
`)
		cfg, warns := MustLoad(t, LoadOptions{Files: []string{f}, Env: prodEnv})
		n := cfg.SelfService.Notifications
		check(t, "switches", []bool{n.PasswordChanged.Enabled, n.AddressChanged.Enabled, n.AccountRecovered.Enabled}, []bool{false, true, true})
		check(t, "lifespan", n.Lockdown.Lifespan, 24*time.Hour)
		check(t, "ui url", cfg.LockdownUIURL(), cfg.PublicURL("account/lockdown"))
		check(t, "warnings", warnedKeys(warns), []string(nil))
	})
	for _, c := range []struct{ name, env, want string }{
		{"ZeroLifespan", "SELFSERVICE_NOTIFICATIONS_LOCKDOWN_LIFESPAN=0s", "config: selfservice.notifications.lockdown.lifespan: must be a positive duration, got 0s"},
		{"BadUIURL", "SELFSERVICE_NOTIFICATIONS_LOCKDOWN_UI_URL=javascript:alert(1)", "config: selfservice.notifications.lockdown.ui_url: must be an absolute http(s) URL"},
		{"SwitchNotABool", "SELFSERVICE_NOTIFICATIONS_ACCOUNT_RECOVERED_ENABLED=maybe", "config: selfservice.notifications.account_recovered.enabled"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := Load(LoadOptions{Env: append(append([]string(nil), prodEnv...), c.env)})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
}
