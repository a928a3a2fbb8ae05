package config

import (
	"maps"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// testSecret is long enough for every secret list.
const testSecret = "0123456789abcdef-test-secret"

// prodEnv is the smallest environment that loads outside development mode.
var prodEnv = []string{"DSN=memory", `SECRETS_DEFAULT=["` + testSecret + `"]`}

// MustLoad loads with opts and fails the test on error. The warnings come
// back as their lines ("config: KEY: MESSAGE").
func MustLoad(t *testing.T, opts LoadOptions) (*Config, []string) {
	t.Helper()
	cfg, warns, err := Load(opts)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	var lines []string
	for _, w := range warns {
		lines = append(lines, w.String())
	}
	return cfg, lines
}

// MustWriteFile writes a file in a fresh temporary directory and returns its path.
func MustWriteFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// warnedKeys extracts the key each warning names ("config: KEY: ...").
func warnedKeys(warns []string) []string {
	var keys []string
	for _, w := range warns {
		key, _, _ := strings.Cut(strings.TrimPrefix(w, "config: "), ": ")
		keys = append(keys, key)
	}
	slices.Sort(keys)
	return keys
}

func check(t *testing.T, name string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %#v, want %#v", name, got, want)
	}
}

func TestLoadDefaults(t *testing.T) {
	dir := t.TempDir()
	c, _ := MustLoad(t, LoadOptions{Dev: true, DataDir: dir})

	tests := []struct {
		name      string
		got, want any
	}{
		{"Dev", c.Dev, true},
		{"DSN", c.DSN, "sqlite://" + filepath.Join(dir, "latchkey.sqlite") + "?_fk=true"},
		{"public addr", c.Serve.Public.Addr(), "127.0.0.1:4433"},
		{"public base_url", c.Serve.Public.BaseURL, "http://127.0.0.1:4433/"},
		{"admin addr", c.Serve.Admin.Addr(), "127.0.0.1:4434"},
		{"admin base_url", c.Serve.Admin.BaseURL, "http://127.0.0.1:4434/"},
		{"log.level", c.Log.Level, "info"},
		{"log.format", c.Log.Format, "text"},
		{"identity.default_schema_id", c.Identity.DefaultSchemaID, "default"},
		{"hashers.algorithm", c.Hashers.Algorithm, "bcrypt"},
		{"hashers.bcrypt.cost", c.Hashers.Bcrypt.Cost, 12},
		{"hashers.argon2.memory", c.Hashers.Argon2.Memory, ByteSize(128 << 20)},
		{"argon2 memory KiB", c.Hashers.Argon2.MemoryKiB(), uint32(128 << 10)},
		{"session.lifespan", c.Session.Lifespan, 24 * time.Hour},
		{"session.earliest_possible_extend", c.Session.EarliestPossibleExtend, 24 * time.Hour},
		{"session.cookie.name", c.Session.Cookie.Name, "ory_kratos_session"},
		{"session.cookie.persistent", c.Session.Cookie.Persistent, true},
		{"session.whoami.required_aal", c.Session.Whoami.RequiredAAL, "highest_available"},
		{"cookie secure in dev", c.CookieSecure(), false},
		{"same site", c.SameSite(), http.SameSiteLaxMode},
		{"recovery.enabled", c.SelfService.Flows.Recovery.Enabled, true},
		{"recovery.use", c.SelfService.Flows.Recovery.Use, "code"},
		{"recovery.lifespan", c.SelfService.Flows.Recovery.Lifespan, time.Hour},
		{"recovery.notify_unknown_recipients", c.SelfService.Flows.Recovery.NotifyUnknownRecipients, false},
		{"recovery.revoke_other_sessions", c.SelfService.Flows.Recovery.RevokesOtherSessions(), true},
		{"recovery.rate_limit.per_address", c.SelfService.Flows.Recovery.RateLimit.PerAddress, RateLimit{Max: 5, Window: time.Hour}},
		{"recovery.rate_limit.per_ip", c.SelfService.Flows.Recovery.RateLimit.PerIP, RateLimit{Max: 100, Window: time.Hour}},
		{"settings.privileged_session_max_age", c.SelfService.Flows.Settings.PrivilegedSessionMaxAge, time.Hour},
		{"settings.required_aal", c.SelfService.Flows.Settings.RequiredAAL, "highest_available"},
		{"settings revokes", c.SelfService.Flows.Settings.PasswordChangeRevokesOtherSessions(), true},
		{"registration.enabled", c.SelfService.Flows.Registration.Enabled, true},
		{"registration.after.password.hooks", c.SelfService.Flows.Registration.After.Password.Hooks, []Hook{{Hook: "session"}}},
		{"login.lifespan", c.SelfService.Flows.Login.Lifespan, time.Hour},
		{"login.rate_limit.per_identifier", c.SelfService.Flows.Login.RateLimit.PerIdentifier, RateLimit{Max: 10, Window: 15 * time.Minute}},
		{"login.rate_limit.per_ip", c.SelfService.Flows.Login.RateLimit.PerIP, RateLimit{Max: 100, Window: 15 * time.Minute}},
		{"public trusted_proxies", c.Serve.Public.TrustedProxies, []string(nil)},
		{"verification.enabled", c.SelfService.Flows.Verification.Enabled, false},
		{"password.enabled", c.SelfService.Methods.Password.Enabled, true},
		{"password policy", c.SelfService.Methods.Password.Config, PasswordPolicy{
			MinPasswordLength: 8, IdentifierSimilarityCheckEnabled: true, HaveIBeenPwnedEnabled: true,
			HaveIBeenPwnedHost: "api.pwnedpasswords.com", IgnoreNetworkErrors: true,
		}},
		{"profile.enabled", c.SelfService.Methods.Profile.Enabled, true},
		{"code", c.SelfService.Methods.Code, CodeMethod{Enabled: true, Config: CodeConfig{Lifespan: time.Hour, MaxSubmissions: 5}}},
		{"link", c.SelfService.Methods.Link, LinkMethod{Enabled: false, Config: LinkConfig{Lifespan: time.Hour, RequireConfirmation: true}}},
		{"link base", c.LinkBaseURL(), "http://127.0.0.1:4433/"},
		{"smtp.from_address", c.Courier.SMTP.FromAddress, "no-reply@ory.kratos.sh"},
		{"smtp.local_name", c.Courier.SMTP.LocalName, "localhost"},
		{"courier.message_retries", c.Courier.MessageRetries, (*int)(nil)},
		{"courier.worker", c.Courier.Worker, CourierWorker{PullCount: 10, PullWait: time.Second, Concurrency: 16}},
		{"courier.delivery_strategy", c.Courier.DeliveryStrategy, "smtp"},
		{"use_continue_with_transitions", c.FeatureFlags.UseContinueWithTransitions, true},
		{"faster_session_extend", c.FeatureFlags.FasterSessionExtend, false},
		{"dev_mailbox.enabled", c.DevMailbox.Enabled, true},
		{"totp.enabled in dev", c.SelfService.Methods.TOTP.Enabled, true},
		{"lookup_secret.enabled in dev", c.SelfService.Methods.Lookup.Enabled, true},
		{"profiling.enabled", c.Profiling.Enabled, false},
		{"default return", c.DefaultReturnURL(), "http://127.0.0.1:4433/ui/"},
	}
	for _, tt := range tests {
		check(t, tt.name, tt.got, tt.want)
	}

	t.Run("TrustedProxyRanges", func(t *testing.T) {
		c, _ := MustLoad(t, LoadOptions{Dev: true, DataDir: t.TempDir(), Env: []string{`SERVE_PUBLIC_TRUSTED_PROXIES=["10.1.2.3/8", " 192.0.2.7 ", "2001:db8::/32", "::ffff:198.51.100.1"]`}})
		got, err := c.Serve.Public.TrustedProxyRanges()
		want := []netip.Prefix{
			netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32"),
			netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("198.51.100.1/32"),
		}
		check(t, "error", err, nil)
		check(t, "ranges", got, want)
	})

	t.Run("DevSecondFactorsCanBeSwitchedOff", func(t *testing.T) {
		c, _ := MustLoad(t, LoadOptions{Dev: true, DataDir: t.TempDir(), Env: []string{
			"SELFSERVICE_METHODS_TOTP_ENABLED=false",
			"SELFSERVICE_METHODS_LOOKUP_SECRET_ENABLED=false",
		}})
		check(t, "totp", c.SelfService.Methods.TOTP.Enabled, false)
		check(t, "lookup_secret", c.SelfService.Methods.Lookup.Enabled, false)

		file := filepath.Join(t.TempDir(), "kratos.yml")
		if err := os.WriteFile(file, []byte("selfservice:\n  methods:\n    totp:\n      enabled: false\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		c, _ = MustLoad(t, LoadOptions{Dev: true, DataDir: t.TempDir(), Files: []string{file}})
		check(t, "totp off in the file", c.SelfService.Methods.TOTP.Enabled, false)
		check(t, "lookup_secret not in the file", c.SelfService.Methods.Lookup.Enabled, true)
	})

	t.Run("OutsideDev", func(t *testing.T) {
		c, warns := MustLoad(t, LoadOptions{Env: prodEnv})
		check(t, "warnings", warns, []string(nil))
		check(t, "cookie secure", c.CookieSecure(), true)
		check(t, "dev mailbox", c.DevMailbox.Enabled, false)
		check(t, "totp", c.SelfService.Methods.TOTP.Enabled, false)
		check(t, "lookup_secret", c.SelfService.Methods.Lookup.Enabled, false)
		check(t, "DSN", c.DSN, "memory")
		check(t, "secret", c.Secrets.DefaultKeys().SigningSecret(), []byte(testSecret))
	})
}

func TestLoadKratosConfig(t *testing.T) {
	c, warns := MustLoad(t, LoadOptions{Files: []string{"testdata/kratos.yml"}})

	t.Run("OneWarningPerUnsupportedKey", func(t *testing.T) {
		check(t, "warned keys", warnedKeys(warns), []string{
			"ciphers",
			"courier.channels",
			"log.leak_sensitive_values",
			"serve.public.cors",
			"session.whoami.tokenizer",
			"tracing",
			"version",
		})
		// Social sign-in is read as Kratos writes it.
		if p := c.SelfService.Methods.OIDC.Config.Providers; len(p) != 1 || p[0].ID != "github" || p[0].Provider != "github" || p[0].Scope[0] != "user:email" {
			t.Errorf("oidc providers: %+v", p)
		}
	})

	t.Run("Values", func(t *testing.T) {
		ss := c.SelfService
		tests := []struct {
			name      string
			got, want any
		}{
			{"dsn", c.DSN, "postgres://kratos:secret@postgres:5432/kratos?sslmode=disable&max_conns=20"},
			{"public base_url gets a slash", c.Serve.Public.BaseURL, "https://auth.example.com/.ory/kratos/public/"},
			{"public addr", c.Serve.Public.Addr(), "0.0.0.0:4433"},
			{"admin base_url", c.AdminBaseURL().String(), "http://kratos-admin.internal:4434/"},
			{"log.level warning", c.Log.Level, "warn"},
			{"log.format", c.Log.Format, "json"},
			{"allowed_return_urls", ss.AllowedReturnURLs, []string{"https://app.example.com", "https://*.example.com/welcome"}},
			{"parsed return URL host", c.AllowedReturnURLs()[1].Host, "*.example.com"},
			{"min_password_length", ss.Methods.Password.Config.MinPasswordLength, 10},
			{"haveibeenpwned_enabled", ss.Methods.Password.Config.HaveIBeenPwnedEnabled, false},
			{"code", ss.Methods.Code.Config, CodeConfig{Lifespan: 15 * time.Minute, MaxSubmissions: 3}},
			{"link enabled", ss.Methods.Link.Enabled, true},
			{"link base", c.LinkBaseURL(), "https://links.example.com/"},
			{"link require_confirmation keeps default", ss.Methods.Link.Config.RequireConfirmation, true},
			{"recovery ui", c.UIURLs().Recovery, "https://app.example.com/recovery"},
			{"notify_unknown_recipients", ss.Flows.Recovery.NotifyUnknownRecipients, true},
			{"recovery hooks", ss.Flows.Recovery.After.Hooks, []Hook{{Hook: "revoke_active_sessions"}}},
			{"settings privileged", ss.Flows.Settings.PrivilegedSessionMaxAge, 15 * time.Minute},
			{"settings profile return", c.ReturnURLs().SettingsProfile, "https://app.example.com/profile-saved"},
			{"settings password return", c.ReturnURLs().SettingsPassword, "https://app.example.com/"},
			{"logout return", c.ReturnURLs().Logout, "https://app.example.com/login"},
			{"registration hooks", ss.Flows.Registration.After.Password.Hooks, []Hook{{Hook: "session"}, {Hook: "show_verification_ui"}}},
			{"verification", ss.Flows.Verification, VerificationFlow{Enabled: true, UIURL: "https://app.example.com/verification", Lifespan: time.Hour, Use: "code", After: After{DefaultBrowserReturnURL: "https://app.example.com/"}}},
			{"login lifespan", ss.Flows.Login.Lifespan, 10 * time.Minute},
			{"secrets cookie", c.Secrets.CookieKeys(), Keyring{"PLEASE-CHANGE-ME-I-AM-VERY-INSECURE"}},
			{"hashers", c.Hashers.Algorithm, "argon2"},
			{"argon2", c.Hashers.Argon2, Argon2{Memory: 64 << 20, Iterations: 2, Parallelism: 4, SaltLength: 16, KeyLength: 32}},
			{"schemas", c.Identity.Schemas, []IdentitySchema{{ID: "person", URL: "file://./testdata/identity.schema.json"}}},
			{"session lifespan", c.Session.Lifespan, 720 * time.Hour},
			{"earliest_possible_extend", c.Session.EarliestPossibleExtend, 24 * time.Hour},
			{"session cookie", c.SessionCookie(), CookieSettings{
				Name: "ory_kratos_session", Domain: "example.com", Path: "/",
				SameSite: http.SameSiteStrictMode, Secure: true, Persistent: false,
			}},
			{"whoami aal", c.Session.Whoami.RequiredAAL, "aal1"},
			{"smtp uri", c.Courier.SMTP.ConnectionURI, "smtps://mailer:p%40ss@smtp.example.com:465/"},
			{"smtp from", c.Courier.SMTP.FromName, "Example Accounts"},
			{"smtp headers", c.Courier.SMTP.Headers, map[string]string{"X-SES-CONFIGURATION-SET": "latchkey"}},
			{"retries", *c.Courier.MessageRetries, 3},
			{"template", c.Courier.Templates.RecoveryCode.Valid, EmailTemplate{
				Subject:       "base64://WW91ciByZWNvdmVyeSBjb2Rl",
				BodyHTML:      "file://./testdata/recovery_code_valid.body.html.gotmpl",
				BodyPlaintext: "base64://WW91ciBjb2RlIGlzIHt7IC5SZWNvdmVyeUNvZGUgfX0=",
			}},
			{"continue_with off", c.FeatureFlags.UseContinueWithTransitions, false},
		}
		for _, tt := range tests {
			check(t, tt.name, tt.got, tt.want)
		}
		schema, err := c.Identity.Schemas[0].Read()
		if err != nil || !strings.Contains(string(schema), "ory.sh/kratos") {
			t.Errorf("schema Read = %.40q, %v", schema, err)
		}
	})
}

func TestEnvOverrides(t *testing.T) {
	file := MustWriteFile(t, "kratos.yml", `
dsn: memory
secrets: {default: ["`+testSecret+`"]}
serve: {public: {port: 4433}}
selfservice: {flows: {recovery: {use: code}}, methods: {link: {enabled: true}}}
`)
	tests := []struct {
		name  string
		env   string
		check func(t *testing.T, c *Config)
	}{
		{"SERVE_PUBLIC_BASE_URL", "SERVE_PUBLIC_BASE_URL=https://id.example.com/base", func(t *testing.T, c *Config) {
			check(t, "base", c.Serve.Public.BaseURL, "https://id.example.com/base/")
			check(t, "ui", c.UIURLs().Recovery, "https://id.example.com/base/ui/recovery")
		}},
		{"SERVE_PUBLIC_PORT", "SERVE_PUBLIC_PORT=4455", func(t *testing.T, c *Config) {
			check(t, "port", c.Serve.Public.Port, 4455)
			check(t, "derived base", c.Serve.Public.BaseURL, "http://127.0.0.1:4455/")
		}},
		{"SELFSERVICE_FLOWS_RECOVERY_USE", "SELFSERVICE_FLOWS_RECOVERY_USE=link", func(t *testing.T, c *Config) {
			check(t, "use", c.SelfService.Flows.Recovery.Use, "link")
		}},
		{"COURIER_SMTP_CONNECTION_URI", "COURIER_SMTP_CONNECTION_URI=smtp://u:p@mail:25/?disable_starttls=true", func(t *testing.T, c *Config) {
			check(t, "uri", c.Courier.SMTP.ConnectionURI, "smtp://u:p@mail:25/?disable_starttls=true")
		}},
		{"IDENTITY_SCHEMAS as JSON", `IDENTITY_SCHEMAS=[{"id":"default","url":"file://./testdata/identity.schema.json"},{"id":"b64","url":"base64://e30="}]`, func(t *testing.T, c *Config) {
			check(t, "schemas", c.Identity.Schemas, []IdentitySchema{
				{ID: "default", URL: "file://./testdata/identity.schema.json"},
				{ID: "b64", URL: "base64://e30="},
			})
		}},
		{"SECRETS_DEFAULT as JSON", `SECRETS_DEFAULT=["new-secret-0123456789","` + testSecret + `"]`, func(t *testing.T, c *Config) {
			k := c.Secrets.DefaultKeys()
			check(t, "signing", k.SigningSecret(), []byte("new-secret-0123456789"))
			check(t, "verify", k.VerificationSecrets(), [][]byte{[]byte("new-secret-0123456789"), []byte(testSecret)})
		}},
		{"SECRETS_DEFAULT plain string", "SECRETS_DEFAULT=plain-secret-0123456789", func(t *testing.T, c *Config) {
			check(t, "default", c.Secrets.Default, []string{"plain-secret-0123456789"})
		}},
		{"SELFSERVICE_ALLOWED_RETURN_URLS", `SELFSERVICE_ALLOWED_RETURN_URLS=["https://app.example"]`, func(t *testing.T, c *Config) {
			check(t, "urls", c.SelfService.AllowedReturnURLs, []string{"https://app.example"})
		}},
		{"LOG_LEVEL", "LOG_LEVEL=debug", func(t *testing.T, c *Config) {
			check(t, "level", c.Log.Level, "debug")
		}},
		{"DSN", "DSN=postgres://u:p@db/latchkey", func(t *testing.T, c *Config) {
			check(t, "dsn", c.DSN, "postgres://u:p@db/latchkey")
		}},
		{"FEATURE_FLAGS_USE_CONTINUE_WITH_TRANSITIONS", "FEATURE_FLAGS_USE_CONTINUE_WITH_TRANSITIONS=false", func(t *testing.T, c *Config) {
			check(t, "flag", c.FeatureFlags.UseContinueWithTransitions, false)
		}},
		{"SELFSERVICE_METHODS_CODE_CONFIG_MAX_SUBMISSIONS", "SELFSERVICE_METHODS_CODE_CONFIG_MAX_SUBMISSIONS=7", func(t *testing.T, c *Config) {
			check(t, "max", c.SelfService.Methods.Code.Config.MaxSubmissions, 7)
		}},
		{"SESSION_LIFESPAN", "SESSION_LIFESPAN=2h30m", func(t *testing.T, c *Config) {
			check(t, "lifespan", c.Session.Lifespan, 150*time.Minute)
			check(t, "extend follows", c.Session.EarliestPossibleExtend, 150*time.Minute)
		}},
		{"COOKIES_SECURE", "COOKIES_SECURE=false", func(t *testing.T, c *Config) {
			check(t, "secure", c.CookieSecure(), false)
		}},
		{"COURIER_SMTP_HEADERS as JSON", `COURIER_SMTP_HEADERS={"X-Env":"yes","X.Dotted":"1"}`, func(t *testing.T, c *Config) {
			check(t, "headers", c.Courier.SMTP.Headers, map[string]string{"X-Env": "yes", "X.Dotted": "1"})
		}},
		{"SELFSERVICE_FLOWS_RECOVERY_AFTER_HOOKS as JSON", `SELFSERVICE_FLOWS_RECOVERY_AFTER_HOOKS=[{"hook":"web_hook","config":{"url":"https://hooks.example/x","method":"POST"}}]`, func(t *testing.T, c *Config) {
			hooks := c.SelfService.Flows.Recovery.After.Hooks
			check(t, "hooks", len(hooks), 1)
			check(t, "config", hooks[0].Config, map[string]any{"url": "https://hooks.example/x", "method": "POST"})
			check(t, "typed", *hooks[0].WebHook, WebHook{URL: "https://hooks.example/x", Method: "POST"})
		}},
		{"COURIER_TEMPLATES_RECOVERY_CODE_VALID_EMAIL_BODY_HTML", "COURIER_TEMPLATES_RECOVERY_CODE_VALID_EMAIL_BODY_HTML=base64://PGI+aGk8L2I+", func(t *testing.T, c *Config) {
			check(t, "html", c.Courier.Templates.RecoveryCode.Valid.BodyHTML, "base64://PGI+aGk8L2I+")
		}},
		{"unrelated and empty variables ignored", "PATH=/usr/bin\x00HOME=/root\x00SERVE=1\x00SERVE_PUBLIC=x\x00DSN=\x00LOG_LEVEL_X=bad", func(t *testing.T, c *Config) {
			check(t, "dsn from file", c.DSN, "memory")
			check(t, "level", c.Log.Level, "info")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, warns := MustLoad(t, LoadOptions{Files: []string{file}, Env: strings.Split(tt.env, "\x00")})
			check(t, "warnings", warns, []string(nil))
			tt.check(t, c)
		})
	}
}

func TestEnvNamesAreUnique(t *testing.T) {
	// keys() panics on two keys sharing one variable; every leaf has one.
	s := keys()
	check(t, "one variable per key", len(s.byEnv), len(s.leaves))
	for _, name := range []string{"SERVE_PUBLIC_BASE_URL", "COURIER_SMTP_CONNECTION_URI", "SELFSERVICE_FLOWS_RECOVERY_USE",
		"FEATURE_FLAGS_USE_CONTINUE_WITH_TRANSITIONS", "SELFSERVICE_METHODS_CODE_CONFIG_MAX_SUBMISSIONS", "DSN", "LOG_LEVEL"} {
		if _, ok := s.byEnv[name]; !ok {
			t.Errorf("no key for %s", name)
		}
	}
}

func TestFilesMergeInOrder(t *testing.T) {
	first := MustWriteFile(t, "base.yaml", `
dsn: memory
secrets: {default: ["`+testSecret+`"]}
serve:
  public: {port: 5000, host: 10.0.0.1}
selfservice:
  allowed_return_urls: [https://a.example, https://b.example]
  methods: {link: {enabled: true}}
  flows:
    recovery: {use: link, lifespan: 2h}
`)
	second := MustWriteFile(t, "override.json", `{
  "serve": {"public": {"port": 5001}},
  "selfservice": {"allowed_return_urls": ["https://c.example"], "flows": {"recovery": {"lifespan": "3h"}}}
}`)
	third := MustWriteFile(t, "last.conf", "log:\n  level: error\n") // unknown extension: YAML

	c, warns := MustLoad(t, LoadOptions{Files: []string{first, second, third}, Env: []string{"SERVE_PUBLIC_PORT=5002"}})
	check(t, "warnings", warns, []string(nil))
	check(t, "env beats files", c.Serve.Public.Port, 5002)
	check(t, "first file kept", c.Serve.Public.Host, "10.0.0.1")
	check(t, "list replaced, not merged", c.SelfService.AllowedReturnURLs, []string{"https://c.example"})
	check(t, "later file overrides", c.SelfService.Flows.Recovery.Lifespan, 3*time.Hour)
	check(t, "sibling kept", c.SelfService.Flows.Recovery.Use, "link")
	check(t, "yaml by default", c.Log.Level, "error")

	t.Run("ExplicitEmptyListReplacesDefault", func(t *testing.T) {
		f := MustWriteFile(t, "k.yml", `
dsn: memory
secrets: {default: ["`+testSecret+`"]}
selfservice: {flows: {registration: {after: {password: {hooks: []}}}}}
`)
		c, _ := MustLoad(t, LoadOptions{Files: []string{f}})
		check(t, "hooks", len(c.SelfService.Flows.Registration.After.Password.Hooks), 0)
	})

	t.Run("NullKeepsDefault", func(t *testing.T) {
		f := MustWriteFile(t, "k.yml", "dsn: memory\nsecrets: {default: [\""+testSecret+"\"]}\nsession:\n  lifespan:\n")
		c, _ := MustLoad(t, LoadOptions{Files: []string{f}})
		check(t, "lifespan", c.Session.Lifespan, 24*time.Hour)
	})

	t.Run("MissingFile", func(t *testing.T) {
		_, _, err := Load(LoadOptions{Files: []string{filepath.Join(t.TempDir(), "nope.yml")}})
		if err == nil || !strings.Contains(err.Error(), "nope.yml") {
			t.Fatalf("err = %v, want one naming the file", err)
		}
	})

	t.Run("MalformedYAML", func(t *testing.T) {
		f := MustWriteFile(t, "bad.yml", "serve: [unclosed\n")
		_, _, err := Load(LoadOptions{Files: []string{f}})
		if err == nil || !strings.Contains(err.Error(), "bad.yml") {
			t.Fatalf("err = %v, want one naming the file", err)
		}
	})
}

func TestUnknownKeys(t *testing.T) {
	f := MustWriteFile(t, "k.yml", `
dsn: memory
secrets: {default: ["`+testSecret+`"]}
totally_unknown: {a: 1, b: {c: 2}}
serve: {public: {cors: {}, tls: {cert: {path: /x}}}}
selfservice:
  methods:
    webauthn: {enabled: false}
  flows:
    settings: {after: {hooks: [{hook: web_hook, config: {url: https://x, method: POST}, extra: 1}]}}
identity:
  schemas: []
hashers:
  argon2: {expected_duration: 1s, dedicated_memory: 1GB}
`)
	_, warns := MustLoad(t, LoadOptions{Files: []string{f}})
	check(t, "warned keys", warnedKeys(warns), []string{
		"hashers.argon2.dedicated_memory",
		"hashers.argon2.expected_duration",
		"selfservice.flows.settings.after.hooks[0].extra",
		"selfservice.methods.webauthn",
		"serve.public.cors",
		"serve.public.tls",
		"totally_unknown",
	})
	for _, w := range warns {
		if strings.HasPrefix(w, "config: totally_unknown:") && !strings.Contains(w, "unknown or unsupported key") {
			t.Errorf("warning %q does not say the key is unknown", w)
		}
	}
}

// TestMisspeltKeySuggestsTheNearest: a key one or two typos away from a
// known one is named in the warning, so a misspelling does not silently
// leave the default in force; a key far from every known one gets no
// guess.
func TestMisspeltKeySuggestsTheNearest(t *testing.T) {
	f := MustWriteFile(t, "k.yml", `
dsn: memory
secrets: {default: ["`+testSecret+`"]}
serve: {public: {prot: 4455}}
sevre: {admin: {port: 4456}}
log: {formatt: json}
courier: {smtp: {from_adress: a@example.com}}
selfservice:
  flow: {recovery: {enabled: true}}
  flows: {settings: {after: {hooks: [{hook: revoke_active_sessions, confg: {}}]}}}
totally_unknown: 1
`)
	_, warns := MustLoad(t, LoadOptions{Files: []string{f}})
	want := map[string]string{
		"serve.public.prot":        "serve.public.port",
		"sevre":                    "serve",
		"log.formatt":              "log.format",
		"courier.smtp.from_adress": "courier.smtp.from_address",
		"selfservice.flow":         "selfservice.flows",
		"selfservice.flows.settings.after.hooks[0].confg": "selfservice.flows.settings.after.hooks[0].config",
		"totally_unknown": "",
	}
	check(t, "warned keys", warnedKeys(warns), slices.Sorted(maps.Keys(want)))
	for _, w := range warns {
		key, _, _ := strings.Cut(strings.TrimPrefix(w, "config: "), ": ")
		if s := want[key]; s == "" && strings.Contains(w, "did you mean") {
			t.Errorf("%q: a guess for a key far from every known one", w)
		} else if s != "" && !strings.HasSuffix(w, "unknown or unsupported key; ignored (did you mean "+s+"?)") {
			t.Errorf("%q does not suggest %s", w, s)
		}
	}
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"port", "port", 0},
		{"prot", "port", 1}, // a swap is one edit
		{"formatt", "format", 1},
		{"lvl", "level", 2},
		{"", "dsn", 3},
		{"kitten", "sitting", 3},
	} {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := editDistance(tc.b, tc.a); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.b, tc.a, got, tc.want)
		}
	}
}

func TestDevSecrets(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data") // created by Load
	first, warns := MustLoad(t, LoadOptions{Dev: true, DataDir: dir})
	secret := first.Secrets.Default
	if len(secret) != 1 || len(secret[0]) != 64 {
		t.Fatalf("generated secrets = %q, want one 64-char hex secret", secret)
	}
	check(t, "warned keys", warnedKeys(warns), []string{"secrets.default"})

	path := filepath.Join(dir, "latchkey-secrets.json")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	check(t, "file mode", fi.Mode().Perm(), os.FileMode(0o600))

	t.Run("ReusedOnNextStart", func(t *testing.T) {
		second, _ := MustLoad(t, LoadOptions{Dev: true, DataDir: dir})
		check(t, "secret", second.Secrets.Default, secret)
		check(t, "cookie keys fall back", second.Secrets.CookieKeys().SigningSecret(), []byte(secret[0]))
	})

	t.Run("ConcurrentStartsAgree", func(t *testing.T) {
		dir := t.TempDir()
		const n = 8
		got := make(chan string, n)
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				c, _, err := Load(LoadOptions{Dev: true, DataDir: dir})
				if err != nil {
					t.Error(err)
					got <- ""
					return
				}
				got <- c.Secrets.Default[0]
			})
		}
		wg.Wait()
		close(got)
		want := <-got
		for s := range got {
			check(t, "secret", s, want)
		}
		entries, _ := os.ReadDir(dir)
		check(t, "files left", len(entries), 1)
	})

	t.Run("ConfiguredSecretsWriteNoFile", func(t *testing.T) {
		dir := t.TempDir()
		c, _ := MustLoad(t, LoadOptions{Dev: true, DataDir: dir, Env: []string{`SECRETS_DEFAULT=["` + testSecret + `"]`}})
		check(t, "secret", c.Secrets.Default, []string{testSecret})
		if _, err := os.Stat(filepath.Join(dir, "latchkey-secrets.json")); !os.IsNotExist(err) {
			t.Errorf("secrets file written although secrets are configured: %v", err)
		}
	})

	t.Run("CorruptFileFails", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "latchkey-secrets.json"), []byte("{"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, _, err := Load(LoadOptions{Dev: true, DataDir: dir})
		if err == nil || !strings.Contains(err.Error(), "secrets.default") {
			t.Fatalf("err = %v, want one naming secrets.default", err)
		}
	})

	t.Run("NoFileWhenConfigInvalid", func(t *testing.T) {
		dir := t.TempDir()
		_, _, err := Load(LoadOptions{Dev: true, DataDir: dir, Env: []string{"SERVE_PUBLIC_PORT=0"}})
		if err == nil {
			t.Fatal("want an error")
		}
		if _, err := os.Stat(filepath.Join(dir, "latchkey-secrets.json")); !os.IsNotExist(err) {
			t.Errorf("secrets file written for an invalid config: %v", err)
		}
	})
}

func TestSecrets(t *testing.T) {
	t.Run("RequiredOutsideDev", func(t *testing.T) {
		_, _, err := Load(LoadOptions{Env: []string{"DSN=memory"}})
		if err == nil || !strings.Contains(err.Error(), "config: secrets.default: at least one secret of 16+ characters is required") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("TooShort", func(t *testing.T) {
		_, _, err := Load(LoadOptions{Env: []string{"DSN=memory", `SECRETS_DEFAULT=["` + testSecret + `","short-secret"]`}})
		if err == nil || !strings.Contains(err.Error(), "secrets.default[1]: must be at least 16 characters long, got 12") {
			t.Fatalf("err = %v", err)
		}
		if strings.Contains(err.Error(), "short-secret") {
			t.Errorf("error reveals the secret: %v", err)
		}
	})
	t.Run("CookieOnlyConfigsLoad", func(t *testing.T) {
		// Kratos's quickstart sets secrets.cookie and secrets.cipher only.
		c, warns := MustLoad(t, LoadOptions{Env: []string{"DSN=memory",
			`SECRETS_COOKIE=["PLEASE-CHANGE-ME-I-AM-VERY-INSECURE"]`, `SECRETS_CIPHER=["32-LONG-SECRET-NOT-SECURE-AT-ALL"]`}})
		check(t, "warned keys", warnedKeys(warns), []string{"secrets.default"})
		check(t, "default", c.Secrets.DefaultKeys(), Keyring{"PLEASE-CHANGE-ME-I-AM-VERY-INSECURE"})
		check(t, "cipher", c.Secrets.CipherKeys(), Keyring{"32-LONG-SECRET-NOT-SECURE-AT-ALL"})
	})
	t.Run("FallbackToDefault", func(t *testing.T) {
		c, _ := MustLoad(t, LoadOptions{Env: prodEnv})
		check(t, "cookie", c.Secrets.CookieKeys(), Keyring{testSecret})
		check(t, "cipher", c.Secrets.CipherKeys(), Keyring{testSecret})
		check(t, "empty keyring", Keyring(nil).SigningSecret(), []byte(nil))
	})
}

func TestLocaleAndBrandKeys(t *testing.T) {
	for _, tc := range []struct {
		env     map[string]string
		wantErr string
		lang    string
	}{
		{env: map[string]string{}, lang: "en"},
		{env: map[string]string{"SELFSERVICE_DEFAULT_LOCALE": "de-AT"}, lang: "de"},
		{env: map[string]string{"SELFSERVICE_DEFAULT_LOCALE": "pt"}, lang: "pt-BR"},
		{env: map[string]string{"SELFSERVICE_DEFAULT_LOCALE": "ja"}, wantErr: "selfservice.default_locale"},
		{env: map[string]string{"UI_BRAND_PRIMARY_COLOR": "#0a7"}, lang: "en"},
		{env: map[string]string{"UI_BRAND_PRIMARY_COLOR": "red"}, wantErr: "ui.brand.primary_color"},
		{env: map[string]string{"UI_BRAND_LOGO_URL": "javascript:alert(1)"}, wantErr: "ui.brand.logo_url"},
	} {
		var env []string
		for k, v := range tc.env {
			env = append(env, k+"="+v)
		}
		c, _, err := Load(LoadOptions{Dev: true, Env: env, DataDir: t.TempDir()})
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%v: err = %v, want one naming %s", tc.env, err, tc.wantErr)
			}
		} else if err != nil {
			t.Errorf("%v: %v", tc.env, err)
		} else if got := c.SelfService.DefaultLanguage().String(); got != tc.lang {
			t.Errorf("%v: language %s, want %s", tc.env, got, tc.lang)
		}
	}
}
