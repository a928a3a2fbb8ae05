package config

import (
	"runtime"
	"time"
)

// defaults is the built-in configuration every source is layered on.
// Values that depend on other keys (base URLs, earliest_possible_extend,
// dev_mailbox.enabled, the dev DSN and secrets) are filled in by Load.
func defaults() *Config {
	parallelism := min(2*runtime.NumCPU(), 255)
	return &Config{
		Serve: Serve{
			Public: Listener{Host: "127.0.0.1", Port: 4433},
			Admin:  Listener{Host: "127.0.0.1", Port: 4434},
		},
		Log: Log{Level: "info", Format: "text"},
		Identity: Identity{
			DefaultSchemaID: "default",
		},
		Hashers: Hashers{
			Algorithm: "bcrypt",
			Bcrypt:    Bcrypt{Cost: 12},
			Argon2: Argon2{
				Memory:      128 << 20,
				Iterations:  1,
				Parallelism: parallelism,
				SaltLength:  16,
				KeyLength:   32,
			},
		},
		Session: Session{
			Lifespan: 24 * time.Hour,
			Cookie: SessionCookie{
				Name:       "ory_kratos_session",
				Persistent: true,
			},
			Whoami: Whoami{RequiredAAL: "highest_available"},
		},
		Cookies: Cookies{Path: "/", SameSite: "Lax"},
		SelfService: SelfService{
			Flows: Flows{
				Login: LoginFlow{Lifespan: time.Hour},
				Registration: RegistrationFlow{
					Enabled:  true,
					Lifespan: time.Hour,
					After: MethodsAfter{
						Password: After{Hooks: []Hook{{Hook: HookSession}}},
					},
				},
				Recovery: RecoveryFlow{
					Enabled:             true,
					Lifespan:            time.Hour,
					Use:                 "code",
					RevokeOtherSessions: true,
					RateLimit: RecoveryRateLimit{
						PerAddress: RateLimit{Max: 5, Window: time.Hour},
						PerIP:      RateLimit{Max: 100, Window: time.Hour},
					},
				},
				Settings: SettingsFlow{
					Lifespan:                time.Hour,
					PrivilegedSessionMaxAge: time.Hour,
					RequiredAAL:             "highest_available",
					RevokeOtherSessions:     true,
				},
			},
			Methods: Methods{
				Password: PasswordMethod{
					Enabled: true,
					Config: PasswordPolicy{
						MinPasswordLength:                8,
						IdentifierSimilarityCheckEnabled: true,
						HaveIBeenPwnedEnabled:            true,
						HaveIBeenPwnedHost:               "api.pwnedpasswords.com",
						MaxBreaches:                      0,
						IgnoreNetworkErrors:              true,
					},
				},
				Profile: ProfileMethod{Enabled: true},
				Code: CodeMethod{
					Enabled: true,
					Config:  CodeConfig{Lifespan: time.Hour, MaxSubmissions: 5},
				},
				Link: LinkMethod{
					Enabled: false,
					Config:  LinkConfig{Lifespan: time.Hour, RequireConfirmation: true},
				},
			},
		},
		Courier: Courier{
			SMTP: SMTP{
				FromAddress: "no-reply@ory.kratos.sh",
				LocalName:   "localhost",
				Headers:     map[string]string{},
			},
			MessageRetries:   5,
			Worker:           CourierWorker{PullCount: 10, PullWait: time.Second},
			DeliveryStrategy: "smtp",
		},
		FeatureFlags: FeatureFlags{UseContinueWithTransitions: true},
	}
}
