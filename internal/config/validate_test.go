package config

import (
	"errors"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/docurl"
)

func TestInvalidValues(t *testing.T) {
	tests := []struct {
		name string
		yaml string   // layered on a valid production config
		env  []string // added after prodEnv
		want string   // substring of the error
		not  string   // must not appear (secrets, passwords)
	}{
		{name: "PortTooLarge", yaml: "serve: {public: {port: 70000}}",
			want: "config: serve.public.port: must be between 1 and 65535, got 70000"},
		{name: "PortZero", yaml: "serve: {admin: {port: 0}}",
			want: "config: serve.admin.port: must be between 1 and 65535, got 0"},
		{name: "PortNotANumber", env: []string{"SERVE_ADMIN_PORT=http"},
			want: `config: serve.admin.port: must be an integer, got "http"`},
		{name: "DurationWords", yaml: "session: {lifespan: 1 day}",
			want: `config: session.lifespan: must be a duration such as "1h", "15m" or "100ms", got "1 day"`},
		{name: "DurationNumber", yaml: "selfservice: {flows: {recovery: {lifespan: 3600}}}",
			want: "config: selfservice.flows.recovery.lifespan: must be a duration such as"},
		{name: "DurationFraction", env: []string{"SELFSERVICE_METHODS_CODE_CONFIG_LIFESPAN=1.5h"},
			want: "config: selfservice.methods.code.config.lifespan: must be a duration"},
		{name: "DurationNegative", yaml: "selfservice: {flows: {settings: {privileged_session_max_age: -1h}}}",
			want: `config: selfservice.flows.settings.privileged_session_max_age: must not be negative, got "-1h"`},
		{name: "AuditRetentionNegative", env: []string{"AUDIT_RETENTION=-24h"},
			want: `config: audit.retention: must not be negative, got "-24h"`},
		{name: "DurationZeroPointFive", yaml: "audit: {retention: 0.5}",
			want: "config: audit.retention: must be a duration such as"},
		{name: "DurationZero", yaml: "selfservice: {methods: {link: {config: {lifespan: 0s}}}}",
			want: "config: selfservice.methods.link.config.lifespan: must be a positive duration, got 0s"},
		{name: "UnknownHasher", yaml: "hashers: {algorithm: scrypt}",
			want: `config: hashers.algorithm: must be one of bcrypt, argon2, got "scrypt"`},
		{name: "UnknownRecoveryMethod", env: []string{"SELFSERVICE_FLOWS_RECOVERY_USE=sms"},
			want: `config: selfservice.flows.recovery.use: must be one of code, link, got "sms"`},
		{name: "UnknownRegistrationStyle", yaml: "selfservice: {flows: {registration: {style: two_step}}}",
			want: `config: selfservice.flows.registration.style: must be one of profile_first, unified, got "two_step"`},
		{name: "UnknownLoginStyle", env: []string{"SELFSERVICE_FLOWS_LOGIN_STYLE=password_first"},
			want: `config: selfservice.flows.login.style: must be one of unified, identifier_first, got "password_first"`},
		{name: "BcryptCostLow", yaml: "hashers: {bcrypt: {cost: 3}}",
			want: "config: hashers.bcrypt.cost: must be between 4 and 31, got 3"},
		{name: "BcryptCostHigh", yaml: "hashers: {bcrypt: {cost: 32}}",
			want: "config: hashers.bcrypt.cost: must be between 4 and 31, got 32"},
		{name: "MinPasswordLength", yaml: "selfservice: {methods: {password: {config: {min_password_length: 5}}}}",
			want: "config: selfservice.methods.password.config.min_password_length: must be at least 6, got 5"},
		{name: "MaxSubmissionsZero", yaml: "selfservice: {methods: {code: {config: {max_submissions: 0}}}}",
			want: "config: selfservice.methods.code.config.max_submissions: must be between 1 and 255, got 0"},
		{name: "OIDCProviderWithoutIssuer", yaml: "selfservice: {methods: {oidc: {enabled: true, config: {providers: [{id: acme, provider: generic, client_id: c, client_secret: topsecret-value, mapper_url: 'base64://e30='}]}}}}",
			want: "config: selfservice.methods.oidc.config.providers[0].issuer_url:", not: "topsecret-value"},
		{name: "OIDCUnknownProviderType", yaml: "selfservice: {methods: {oidc: {enabled: true, config: {providers: [{id: acme, provider: myspace, client_id: c, client_secret: s, mapper_url: 'base64://e30='}]}}}}",
			want: "config: selfservice.methods.oidc.config.providers[0].provider:"},
		{name: "OIDCDuplicateID", yaml: "selfservice: {methods: {oidc: {enabled: true, config: {providers: [{id: gh, provider: github, client_id: c, client_secret: s, mapper_url: 'base64://e30='}, {id: gh, provider: github, client_id: c, client_secret: s, mapper_url: 'base64://e30='}]}}}}",
			want: `config: selfservice.methods.oidc.config.providers[1].id: "gh" is used by another provider`},
		{name: "OIDCMapperMissing", yaml: "selfservice: {methods: {oidc: {enabled: true, config: {providers: [{id: gh, provider: github, client_id: c, client_secret: s, mapper_url: 'file:///nonexistent/mapper.jsonnet'}]}}}}",
			want: "config: selfservice.methods.oidc.config.providers[0].mapper_url:"},
		{name: "OIDCMapperSyntax", yaml: "selfservice: {methods: {oidc: {enabled: true, config: {providers: [{id: gh, provider: github, client_id: c, client_secret: s, mapper_url: 'base64://e2lkZW50aXR5Og=='}]}}}}",
			want: "config: selfservice.methods.oidc.config.providers[0].mapper_url:"},
		{name: "EmptyPrivateIPException", yaml: "clients: {http: {disallow_private_ip_ranges: true, private_ip_exception_urls: ['https://a.internal/*', '']}}",
			want: "config: clients.http.private_ip_exception_urls[1]: must not be empty"},
		{name: "DisallowPrivateIPRangesNotABool", env: []string{"CLIENTS_HTTP_DISALLOW_PRIVATE_IP_RANGES=sometimes"},
			want: "clients.http.disallow_private_ip_ranges"},
		{name: "MaxSubmissionsHigh", env: []string{"SELFSERVICE_METHODS_CODE_CONFIG_MAX_SUBMISSIONS=256"},
			want: "config: selfservice.methods.code.config.max_submissions: must be between 1 and 255, got 256"},
		{name: "SchemaFileMissing", yaml: "identity: {schemas: [{id: default, url: 'file:///nonexistent/schema.json'}]}",
			want: "config: identity.schemas[0].url: cannot read schema file: open /nonexistent/schema.json"},
		{name: "SchemaBase64Broken", yaml: "identity: {schemas: [{id: default, url: 'base64://!!!'}]}",
			want: "config: identity.schemas[0].url: base64:// schema does not decode"},
		{name: "SchemaSchemeUnsupported", yaml: "identity: {schemas: [{id: default, url: 'ftp://x/s.json'}]}",
			want: `config: identity.schemas[0].url: unsupported schema URL "ftp://x/s.json"`},
		{name: "SchemaOverHTTPS", yaml: "identity: {schemas: [{id: default, url: 'https://schemas.example/person.json'}]}",
			want: `config: identity.schemas[0].url: "https://schemas.example/person.json": Latchkey does not fetch a schema over http(s)`},
		{name: "MapperOverHTTPS", yaml: "selfservice: {methods: {oidc: {enabled: true, config: {providers: [{id: gh, provider: github, client_id: c, client_secret: s, mapper_url: 'https://mappers.example/gh.jsonnet'}]}}}}",
			want: "config: selfservice.methods.oidc.config.providers[0].mapper_url: \"https://mappers.example/gh.jsonnet\": Latchkey does not fetch a mapper over http(s)"},
		{name: "SchemaDefaultMissing", yaml: "identity: {default_schema_id: person, schemas: [{id: default, url: 'base64://e30='}]}",
			want: `config: identity.default_schema_id: no schema with id "person" in identity.schemas`},
		{name: "SchemaDuplicate", yaml: "identity: {schemas: [{id: default, url: 'base64://e30='}, {id: default, url: 'base64://e30='}]}",
			want: `config: identity.schemas[1].id: duplicate schema id "default"`},
		{name: "SchemasNotJSON", env: []string{"IDENTITY_SCHEMAS=file:///etc/schema.json"},
			want: `config: identity.schemas: must be a list, got "file:///etc/schema.json"`},
		{name: "DSNScheme", env: []string{"DSN=mongodb://admin:hunter2@db:27017/x"},
			want: `config: dsn: unsupported scheme "mongodb"`, not: "hunter2"},
		{name: "DSNNoScheme", env: []string{"DSN=/var/lib/latchkey.db"},
			want: `config: dsn: unsupported scheme "(none)"`},
		{name: "LogLevel", env: []string{"LOG_LEVEL=verbose"},
			want: `config: log.level: must be one of debug, info, warn, error, got "verbose"`},
		{name: "LogFormat", yaml: "log: {format: xml}",
			want: `config: log.format: must be one of text, json, got "xml"`},
		{name: "SameSiteSession", yaml: "session: {cookie: {same_site: Sometimes}}",
			want: `config: session.cookie.same_site: must be one of Lax, Strict, None, got "Sometimes"`},
		{name: "SameSiteCookies", env: []string{"COOKIES_SAME_SITE=off"},
			want: `config: cookies.same_site: must be one of Lax, Strict, None, got "off"`},
		{name: "SettingsAAL", yaml: "selfservice: {flows: {settings: {required_aal: aal3}}}",
			want: `config: selfservice.flows.settings.required_aal: must be one of aal1, highest_available, got "aal3"`},
		{name: "WhoamiAAL", yaml: "session: {whoami: {required_aal: aal2}}",
			want: `config: session.whoami.required_aal: must be one of aal1, highest_available, got "aal2"`},
		{name: "UIURLNotAURL", yaml: "selfservice: {flows: {recovery: {ui_url: 'not a url'}}}",
			want: `config: selfservice.flows.recovery.ui_url: must be an absolute http(s) URL or a path starting with /, got "not a url"`},
		{name: "UIURLUnparsable", yaml: "selfservice: {flows: {settings: {ui_url: 'http://[::1'}}}",
			want: `config: selfservice.flows.settings.ui_url: not a valid URL: "http://[::1"`},
		{name: "BaseURLRelative", env: []string{"SERVE_PUBLIC_BASE_URL=/kratos"},
			want: `config: serve.public.base_url: must be an absolute http(s) URL, got "/kratos"`},
		{name: "BaseURLScheme", yaml: "serve: {admin: {base_url: 'ftp://admin.example/'}}",
			want: `config: serve.admin.base_url: must be an absolute http(s) URL, got "ftp://admin.example/"`},
		{name: "LinkBaseURL", yaml: "selfservice: {methods: {link: {config: {base_url: 'links.example.com'}}}}",
			want: `config: selfservice.methods.link.config.base_url: must be an absolute http(s) URL`},
		{name: "AllowedReturnURL", env: []string{`SELFSERVICE_ALLOWED_RETURN_URLS=["https://ok.example","http://[bad"]`},
			want: `config: selfservice.allowed_return_urls[1]: not a valid URL`},
		{name: "DefaultReturnURLScript", yaml: "selfservice: {default_browser_return_url: 'javascript:alert(1)'}",
			want: `config: selfservice.default_browser_return_url: must be an absolute http(s) URL or a path`},
		{name: "AfterReturnURL", yaml: "selfservice: {flows: {settings: {after: {password: {default_browser_return_url: 'mailto:x@y'}}}}}",
			want: `config: selfservice.flows.settings.after.password.default_browser_return_url: must be an absolute`},
		{name: "SMTPScheme", env: []string{"COURIER_SMTP_CONNECTION_URI=http://user:hunter2@mail:25"},
			want: `config: courier.smtp.connection_uri: scheme must be smtp or smtps, got "http"`, not: "hunter2"},
		{name: "SMTPUnparsable", env: []string{"COURIER_SMTP_CONNECTION_URI=smtp://user:hunter2@mail host:25"},
			want: `config: courier.smtp.connection_uri: not a valid URL`, not: "hunter2"},
		{name: "FromAddress", yaml: "courier: {smtp: {from_address: nobody}}",
			want: `config: courier.smtp.from_address: not an email address: "nobody"`},
		{name: "ClientCertWithoutKey", yaml: "courier: {smtp: {client_cert_path: /etc/cert.pem}}",
			want: `config: courier.smtp.client_cert_path: client_cert_path and client_key_path must be set together`},
		{name: "TemplateURI", yaml: "courier: {templates: {recovery_code: {invalid: {email: {subject: Hello}}}}}",
			want: `config: courier.templates.recovery_code.invalid.email.subject: must be a file://, base64:// or http(s):// URI, got "Hello"`},
		{name: "TemplateOverridePath", yaml: "courier: {template_override_path: /nonexistent/templates}",
			want: `config: courier.template_override_path: not a readable directory`},
		{name: "PullCount", yaml: "courier: {worker: {pull_count: 0}}",
			want: `config: courier.worker.pull_count: must be at least 1, got 0`},
		{name: "Concurrency", yaml: "courier: {worker: {concurrency: 0}}",
			want: `config: courier.worker.concurrency: must be between 1 and 256, got 0`},
		{name: "DeliveryStrategy", yaml: "courier: {delivery_strategy: pigeon}",
			want: `config: courier.delivery_strategy: must be one of smtp, http, got "pigeon"`},
		{name: "Bool", yaml: "selfservice: {flows: {recovery: {enabled: maybe}}}",
			want: `config: selfservice.flows.recovery.enabled: must be true or false, got "maybe"`},
		{name: "HookWithoutName", yaml: "selfservice: {flows: {recovery: {after: {hooks: [{config: {}}]}}}}",
			want: `config: selfservice.flows.recovery.after.hooks[0].hook: must name a hook`},
		{name: "HooksNotAList", yaml: "selfservice: {flows: {recovery: {after: {hooks: revoke_active_sessions}}}}",
			want: `config: selfservice.flows.recovery.after.hooks: must be a list, got "revoke_active_sessions"`},
		{name: "Argon2Memory", yaml: "hashers: {argon2: {memory: lots}}",
			want: `config: hashers.argon2.memory: must be a size such as "128MB" or a number of bytes, got "lots"`},
		{name: "Argon2Parallelism", yaml: "hashers: {argon2: {parallelism: 0}}",
			want: `config: hashers.argon2.parallelism: must be between 1 and 255, got 0`},
		{name: "RateLimitWindow", yaml: "selfservice: {flows: {recovery: {rate_limit: {per_ip: {max: 10, window: 0s}}}}}",
			want: `config: selfservice.flows.recovery.rate_limit.per_ip.window: must be a positive duration, got 0s`},
		{name: "RateLimitMax", yaml: "selfservice: {flows: {recovery: {rate_limit: {per_address: {max: -1}}}}}",
			want: `config: selfservice.flows.recovery.rate_limit.per_address.max: must be at least 0, got -1`},
		{name: "LoginRateLimitWindow", yaml: "selfservice: {flows: {login: {rate_limit: {per_identifier: {max: 10, window: 0s}}}}}",
			want: `config: selfservice.flows.login.rate_limit.per_identifier.window: must be a positive duration, got 0s`},
		{name: "LoginRateLimitMax", yaml: "selfservice: {flows: {login: {rate_limit: {per_ip: {max: -1}}}}}",
			want: `config: selfservice.flows.login.rate_limit.per_ip.max: must be at least 0, got -1`},
		{name: "TrustedProxyNotAnAddress", yaml: "serve: {public: {trusted_proxies: [10.0.0.0/8, proxy.internal]}}",
			want: `config: serve.public.trusted_proxies: "proxy.internal" is neither an IP address nor a CIDR range`},
		{name: "TrustedProxyBadMask", env: []string{`SERVE_ADMIN_TRUSTED_PROXIES=["10.0.0.0/33"]`},
			want: `config: serve.admin.trusted_proxies: "10.0.0.0/33" is neither an IP address nor a CIDR range`},
		{name: "GroupIsScalar", yaml: "selfservice: {flows: 5}",
			want: `config: selfservice.flows: must be an object, got 5`},
		{name: "StringListIsObject", yaml: "selfservice: {allowed_return_urls: {a: b}}",
			want: `config: selfservice.allowed_return_urls: must be a list, got an object`},
		{name: "WebHookWithoutURL", yaml: "selfservice: {flows: {registration: {after: {password: {hooks: [{hook: web_hook, config: {method: POST}}]}}}}}",
			want: `config: selfservice.flows.registration.after.password.hooks[0].config.url: required`},
		{name: "WebHookWithoutConfig", yaml: "selfservice: {flows: {login: {before: {hooks: [{hook: web_hook}]}}}}",
			want: `config: selfservice.flows.login.before.hooks[0].config.url: required`},
		{name: "WebHookRelativeURL", yaml: "selfservice: {flows: {registration: {after: {password: {hooks: [{hook: web_hook, config: {url: /hook, method: POST}}]}}}}}",
			want: `config: selfservice.flows.registration.after.password.hooks[0].config.url: must be an absolute http(s) URL, got "/hook"`},
		{name: "WebHookBadMethod", yaml: "selfservice: {flows: {registration: {after: {password: {hooks: [{hook: web_hook, config: {url: https://h.example/, method: FETCH}}]}}}}}",
			want: `config: selfservice.flows.registration.after.password.hooks[0].config.method: must be one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS, TRACE, got "FETCH"`},
		{name: "WebHookUnreadableBody", yaml: "selfservice: {flows: {registration: {after: {password: {hooks: [{hook: web_hook, config: {url: https://h.example/, method: POST, body: file:///nonexistent/body.jsonnet}}]}}}}}",
			want: `config: selfservice.flows.registration.after.password.hooks[0].config.body: cannot read body file`},
		{name: "WebHookJsonnetSyntax", yaml: "selfservice: {flows: {registration: {after: {password: {hooks: [{hook: web_hook, config: {url: https://h.example/, method: POST, body: base64://ZnVuY3Rpb24oY3R4KSB7CiAgZW1haWw6IGN0eC5pZGVudGl0eS50cmFpdHMuZW1haWwK}}]}}}}}",
			want: `config: selfservice.flows.registration.after.password.hooks[0].config.body: not valid Jsonnet: base64://…:3:1`, not: "ZnVuY3Rp"},
		{name: "WebHookBodyScheme", yaml: "selfservice: {flows: {registration: {after: {password: {hooks: [{hook: web_hook, config: {url: https://h.example/, method: POST, body: ftp://h.example/b.jsonnet}}]}}}}}",
			want: `config: selfservice.flows.registration.after.password.hooks[0].config.body: must be a file://, base64:// or http(s):// URI, got "ftp://h.example/b.jsonnet"`},
		{name: "WebHookContentType", yaml: "selfservice: {flows: {registration: {after: {password: {hooks: [{hook: web_hook, config: {url: https://h.example/, method: POST, body: file://testdata/webhook.jsonnet, headers: {Content-Type: text/plain}}}]}}}}}",
			want: `config: selfservice.flows.registration.after.password.hooks[0].config.headers: Content-Type must be application/json or application/x-www-form-urlencoded`},
		{name: "WebHookAuthType", yaml: "selfservice: {flows: {registration: {after: {password: {hooks: [{hook: web_hook, config: {url: https://h.example/, method: POST, auth: {type: bearer, config: {value: hunter2-secret}}}}]}}}}}",
			want: `config: selfservice.flows.registration.after.password.hooks[0].config.auth.type: must be api_key or basic_auth, got "bearer"`, not: "hunter2"},
		{name: "WebHookAPIKeyWithoutValue", yaml: "selfservice: {flows: {registration: {after: {password: {hooks: [{hook: web_hook, config: {url: https://h.example/, method: POST, auth: {type: api_key, config: {name: X-Key, in: header}}}}]}}}}}",
			want: `config: selfservice.flows.registration.after.password.hooks[0].config.auth.config.value: required for api_key auth`},
		{name: "WebHookAPIKeyIn", yaml: "selfservice: {flows: {registration: {after: {password: {hooks: [{hook: web_hook, config: {url: https://h.example/, method: POST, auth: {type: api_key, config: {name: k, value: hunter2-secret, in: query}}}}]}}}}}",
			want: `config: selfservice.flows.registration.after.password.hooks[0].config.auth.config.in: must be header or cookie, got "query"`, not: "hunter2"},
		{name: "WebHookBasicWithoutUser", yaml: "selfservice: {flows: {registration: {after: {password: {hooks: [{hook: web_hook, config: {url: https://h.example/, method: POST, auth: {type: basic_auth, config: {password: hunter2-secret}}}}]}}}}}",
			want: `config: selfservice.flows.registration.after.password.hooks[0].config.auth.config.user: required for basic_auth`, not: "hunter2"},
		{name: "WebHookIgnoreAndParse", yaml: "selfservice: {flows: {registration: {after: {password: {hooks: [{hook: web_hook, config: {url: https://h.example/, method: POST, response: {ignore: true, parse: true}}}]}}}}}",
			want: `config: selfservice.flows.registration.after.password.hooks[0].config.response: ignore and parse cannot both be true`},
		{name: "WebHookIgnoreAndInterrupt", yaml: "selfservice: {flows: {registration: {after: {password: {hooks: [{hook: web_hook, config: {url: https://h.example/, method: POST, can_interrupt: true, response: {ignore: true}}}]}}}}}",
			want: `config: selfservice.flows.registration.after.password.hooks[0].config.can_interrupt: cannot be true with response.ignore`},
		{name: "WebHookParseNotABool", yaml: "selfservice: {flows: {registration: {after: {password: {hooks: [{hook: web_hook, config: {url: https://h.example/, method: POST, response: {parse: sometimes}}}]}}}}}",
			want: `config: selfservice.flows.registration.after.password.hooks[0].config.response.parse: must be true or false, got "sometimes"`},
		{name: "HeaderIsList", yaml: "courier: {smtp: {headers: {X-A: [1, 2]}}}",
			want: `config: courier.smtp.headers.X-A: must be a string, got a list`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := LoadOptions{Env: append(append([]string(nil), prodEnv...), tt.env...)}
			if tt.yaml != "" {
				opts.Files = []string{MustWriteFile(t, "kratos.yml", tt.yaml)}
			}
			cfg, _, err := Load(opts)
			if err == nil {
				t.Fatalf("Load succeeded (%+v), want error containing %q", cfg != nil, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error:\n%v\nwant it to contain:\n%s", err, tt.want)
			}
			if tt.not != "" && strings.Contains(err.Error(), tt.not) {
				t.Errorf("error reveals %q: %v", tt.not, err)
			}
			if cfg != nil {
				t.Error("a Config was returned with the error")
			}
		})
	}
}

func TestAllErrorsReportedTogether(t *testing.T) {
	f := MustWriteFile(t, "kratos.yml", `
serve: {public: {port: 70000}}
hashers: {algorithm: md5}
session: {lifespan: forever}
`)
	_, _, err := Load(LoadOptions{Files: []string{f}, Env: []string{"DSN=redis://cache"}})
	if err == nil {
		t.Fatal("want an error")
	}
	for _, key := range []string{"serve.public.port", "hashers.algorithm", "session.lifespan", "dsn", "secrets.default"} {
		if !strings.Contains(err.Error(), "config: "+key+": ") {
			t.Errorf("error does not mention %s:\n%v", key, err)
		}
	}
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) || len(joined.Unwrap()) != 5 {
		t.Errorf("want 5 joined errors, got %v", err)
	}
}

func TestDevDSN(t *testing.T) {
	t.Run("EmptyDSNOutsideDevFails", func(t *testing.T) {
		_, _, err := Load(LoadOptions{Env: []string{`SECRETS_DEFAULT=["` + testSecret + `"]`}})
		if err == nil || !strings.Contains(err.Error(), "config: dsn: required") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("WorkingDirectoryByDefault", func(t *testing.T) {
		t.Chdir(t.TempDir())
		c, _ := MustLoad(t, LoadOptions{Dev: true})
		check(t, "dsn", c.DSN, "sqlite://latchkey.sqlite?_fk=true")
	})
	t.Run("ConfiguredDSNKept", func(t *testing.T) {
		c, _ := MustLoad(t, LoadOptions{Dev: true, DataDir: t.TempDir(), Env: []string{"DSN=memory"}})
		check(t, "dsn", c.DSN, "memory")
	})
	for _, dsn := range []string{"sqlite:///tmp/x.db?_fk=true", "sqlite3://x.db", "file:x.db", "memory", "postgres://u:p@h/db",
		"postgresql://h/db", "cockroach://h/db", "mysql://u:p@tcp(h:3306)/db?parseTime=true"} {
		t.Run("Accepts "+dsn, func(t *testing.T) {
			MustLoad(t, LoadOptions{Env: []string{"DSN=" + dsn, `SECRETS_DEFAULT=["` + testSecret + `"]`}})
		})
	}
}

func TestUIURLs(t *testing.T) {
	def, _ := MustLoad(t, LoadOptions{Env: prodEnv})
	f := MustWriteFile(t, "k.yml", `
serve: {public: {base_url: "https://id.example.com/auth"}}
selfservice:
  flows:
    login: {ui_url: "https://app.example.com/login"}
    settings: {ui_url: "/account/settings"}
`)
	custom, _ := MustLoad(t, LoadOptions{Files: []string{f}, Env: prodEnv})

	check(t, "default", def.UIURLs(), UIURLs{
		Error:        "http://127.0.0.1:4433/ui/error",
		Login:        "http://127.0.0.1:4433/ui/login",
		Registration: "http://127.0.0.1:4433/ui/registration",
		Recovery:     "http://127.0.0.1:4433/ui/recovery",
		Settings:     "http://127.0.0.1:4433/ui/settings",
		Verification: "http://127.0.0.1:4433/ui/verification",
		BuiltIn:      "http://127.0.0.1:4433/ui/",
	})
	got := custom.UIURLs()
	check(t, "built-in below the base path", got.Recovery, "https://id.example.com/auth/ui/recovery")
	check(t, "absolute", got.Login, "https://app.example.com/login")
	check(t, "relative resolved", got.Settings, "https://id.example.com/account/settings")
	check(t, "built-in home", got.BuiltIn, "https://id.example.com/auth/ui/")

	check(t, "public URL", custom.PublicURL("/self-service/recovery/api"), "https://id.example.com/auth/self-service/recovery/api")
	check(t, "PublicBaseURL", custom.PublicBaseURL().String(), "https://id.example.com/auth/")
	custom.PublicBaseURL().Path = "/mutated"
	check(t, "PublicBaseURL is a copy", custom.PublicBaseURL().Path, "/auth/")
}

func TestReturnURLs(t *testing.T) {
	f := MustWriteFile(t, "k.yml", `
selfservice:
  default_browser_return_url: https://app.example/
  flows:
    login: {after: {default_browser_return_url: https://app.example/home, password: {default_browser_return_url: /pw}}}
    recovery: {after: {default_browser_return_url: https://app.example/recovered}}
`)
	c, _ := MustLoad(t, LoadOptions{Files: []string{f}, Env: prodEnv})
	check(t, "return URLs", c.ReturnURLs(), ReturnURLs{
		LoginPassword:        "http://127.0.0.1:4433/pw",
		RegistrationPassword: "https://app.example/",
		Recovery:             "https://app.example/recovered",
		SettingsPassword:     "https://app.example/",
		SettingsProfile:      "https://app.example/",
		Logout:               "https://app.example/",
	})

	// A relative logout URL is passed on as configured (see ReturnURLs).
	f = MustWriteFile(t, "k.yml", `
selfservice: {flows: {logout: {after: {default_browser_return_url: /bye}}}}
`)
	c, _ = MustLoad(t, LoadOptions{Files: []string{f}, Env: prodEnv})
	check(t, "logout", c.ReturnURLs().Logout, "/bye")
	check(t, "login falls back to the built-in UI", c.ReturnURLs().LoginPassword, "http://127.0.0.1:4433/ui/")
}

func TestCookies(t *testing.T) {
	tests := []struct {
		name       string
		dev        bool
		env        []string
		wantSecure bool
		wantSite   http.SameSite
		session    CookieSettings
	}{
		{name: "ProductionDefaults", wantSecure: true, wantSite: http.SameSiteLaxMode,
			session: CookieSettings{Name: "ory_kratos_session", Path: "/", SameSite: http.SameSiteLaxMode, Secure: true, Persistent: true}},
		{name: "DevDefaults", dev: true, wantSecure: false, wantSite: http.SameSiteLaxMode,
			session: CookieSettings{Name: "ory_kratos_session", Path: "/", SameSite: http.SameSiteLaxMode, Secure: false, Persistent: true}},
		{name: "ExplicitSecureInDev", dev: true, env: []string{"COOKIES_SECURE=true", "COOKIES_SAME_SITE=strict", "COOKIES_DOMAIN=example.com"},
			wantSecure: true, wantSite: http.SameSiteStrictMode,
			session: CookieSettings{Name: "ory_kratos_session", Domain: "example.com", Path: "/", SameSite: http.SameSiteStrictMode, Secure: true, Persistent: true}},
		{name: "SessionCookieOverrides", env: []string{"SESSION_COOKIE_SECURE=false", "SESSION_COOKIE_SAME_SITE=None",
			"SESSION_COOKIE_NAME=sid", "SESSION_COOKIE_PATH=/app", "SESSION_COOKIE_PERSISTENT=false"},
			wantSecure: true, wantSite: http.SameSiteLaxMode,
			session: CookieSettings{Name: "sid", Path: "/app", SameSite: http.SameSiteNoneMode, Secure: false, Persistent: false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := MustLoad(t, LoadOptions{Dev: tt.dev, DataDir: t.TempDir(), Env: append(append([]string(nil), prodEnv...), tt.env...)})
			check(t, "CookieSecure", c.CookieSecure(), tt.wantSecure)
			check(t, "SameSite", c.SameSite(), tt.wantSite)
			check(t, "SessionCookie", c.SessionCookie(), tt.session)
		})
	}
}

func TestWarnings(t *testing.T) {
	tests := []struct {
		name string
		dev  bool
		env  []string
		want string
	}{
		{name: "RecoveryMethodDisabled", env: []string{"SELFSERVICE_METHODS_CODE_ENABLED=false"},
			want: `config: selfservice.flows.recovery.use: "code" but selfservice.methods.code.enabled is false`},
		{name: "WildcardHostWithoutBaseURL", env: []string{"SERVE_PUBLIC_HOST=0.0.0.0"},
			want: "config: serve.public.base_url: not set and serve.public.host listens on all interfaces"},
		{name: "UnsupportedHook", env: []string{`SELFSERVICE_FLOWS_REGISTRATION_AFTER_HOOKS=[{"hook":"verification"}]`},
			want: `config: selfservice.flows.registration.after.hooks[0].hook: hook "verification" is not supported; ignored`},
		{name: "HookInTheWrongPlace", env: []string{`SELFSERVICE_FLOWS_REGISTRATION_AFTER_HOOKS=[{"hook":"require_verified_address"}]`},
			want: `config: selfservice.flows.registration.after.hooks[0].hook: hook "require_verified_address" does nothing here (it runs in: login after); ignored`},
		{name: "WebHookBodyWithoutScheme", env: []string{`SELFSERVICE_FLOWS_LOGIN_AFTER_HOOKS=[{"hook":"web_hook","config":{"url":"https://h.example/","method":"POST","body":"testdata/webhook.jsonnet"}}]`},
			want: `config: selfservice.flows.login.after.hooks[0].config.body: a file path without file:// is deprecated (as in Kratos); use "file://testdata/webhook.jsonnet"`},
		{name: "ShadowedWebHook", env: []string{`SELFSERVICE_FLOWS_REGISTRATION_AFTER_HOOKS=[{"hook":"web_hook","config":{"url":"https://h.example/","method":"POST"}}]`},
			want: `config: selfservice.flows.registration.after.hooks: its web_hooks do not run after password: selfservice.flows.registration.after.password.hooks is set and replaces this list`},
		{name: "SessionRevokerAfterTOTP", env: []string{`SELFSERVICE_FLOWS_SETTINGS_AFTER_TOTP_HOOKS=[{"hook":"revoke_active_sessions"}]`},
			want: `config: selfservice.flows.settings.after.totp.hooks[0].hook: hook "revoke_active_sessions" does nothing here`},
		{name: "WebHookShadowedByLookupSecret", env: []string{
			`SELFSERVICE_FLOWS_SETTINGS_AFTER_HOOKS=[{"hook":"web_hook","config":{"url":"https://h.example/","method":"POST"}}]`,
			`SELFSERVICE_FLOWS_SETTINGS_AFTER_LOOKUP_SECRET_HOOKS=[{"hook":"web_hook","config":{"url":"https://h.example/codes","method":"POST"}}]`},
			want: `config: selfservice.flows.settings.after.hooks: its web_hooks do not run after lookup_secret: selfservice.flows.settings.after.lookup_secret.hooks is set`},
		{name: "PrivateIPExceptionsWithoutThePolicy", env: []string{`CLIENTS_HTTP_PRIVATE_IP_EXCEPTION_URLS=["http://127.0.0.1:4455/hook"]`},
			want: "config: clients.http.private_ip_exception_urls: has no effect: clients.http.disallow_private_ip_ranges is false"},
		{name: "PrivateIPExceptionWithAlternatives", env: []string{"CLIENTS_HTTP_DISALLOW_PRIVATE_IP_RANGES=true",
			`CLIENTS_HTTP_PRIVATE_IP_EXCEPTION_URLS=["http://{a,b}.internal/hook"]`},
			want: "config: clients.http.private_ip_exception_urls[0]: only *, ** and ? are wildcards"},
		{name: "HTTPDelivery", env: []string{"COURIER_DELIVERY_STRATEGY=http"},
			want: "config: courier.delivery_strategy: http delivery is not supported"},
		{name: "SameSiteNoneInsecure", dev: true, env: []string{"SESSION_COOKIE_SAME_SITE=None"},
			want: "config: session.cookie.same_site: None without secure cookies is rejected by browsers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, warns := MustLoad(t, LoadOptions{Dev: tt.dev, DataDir: t.TempDir(), Env: append(append([]string(nil), prodEnv...), tt.env...)})
			if len(warns) != 1 || !strings.Contains(warns[0], tt.want) {
				t.Errorf("warnings = %q, want one containing %q", warns, tt.want)
			}
		})
	}
}

func TestParseByteSize(t *testing.T) {
	tests := []struct {
		in   any
		want uint64
		ok   bool
	}{
		{"128MB", 128 << 20, true},
		{"64MiB", 64 << 20, true},
		{"1GB", 1 << 30, true},
		{"512 KB", 512 << 10, true},
		{"1.5KB", 1536, true},
		{"4096", 4096, true},
		{"100B", 100, true},
		{4096, 4096, true},
		{float64(8192), 8192, true},
		{"lots", 0, false},
		{"-1MB", 0, false},
		{-5, 0, false},
		{true, 0, false},
	}
	for _, tt := range tests {
		got, err := parseByteSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseByteSize(%#v) = %d, %v; want %d, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestHooks(t *testing.T) {
	hooks := []Hook{{Hook: "web_hook"}, {Hook: "revoke_active_sessions"}}
	check(t, "has", HasHook(hooks, HookRevokeActiveSessions), true)
	check(t, "has not", HasHook(hooks, HookSession), false)

	// The Kratos hook turns revocation on even when the Latchkey switch is off.
	f := MustWriteFile(t, "k.yml", `
selfservice:
  flows:
    recovery: {revoke_other_sessions: false, after: {hooks: [{hook: revoke_active_sessions}]}}
    settings: {revoke_other_sessions: false}
`)
	c, _ := MustLoad(t, LoadOptions{Files: []string{f}, Env: prodEnv})
	check(t, "recovery revokes", c.SelfService.Flows.Recovery.RevokesOtherSessions(), true)
	check(t, "settings revokes", c.SelfService.Flows.Settings.PasswordChangeRevokesOtherSessions(), false)
}

func TestHTTPClient(t *testing.T) {
	c, warns := MustLoad(t, LoadOptions{Env: prodEnv})
	check(t, "default", c.Clients.HTTP.DisallowPrivateIPRanges, false)
	f := MustWriteFile(t, "k.yml", `
clients:
  http:
    disallow_private_ip_ranges: true
    private_ip_exception_urls: ["http://10.0.0.5:8080/hooks/*"]
`)
	c, warns = MustLoad(t, LoadOptions{Files: []string{f}, Env: prodEnv})
	check(t, "warnings", len(warns), 0)
	check(t, "disallow", c.Clients.HTTP.DisallowPrivateIPRanges, true)
	check(t, "exceptions", c.Clients.HTTP.PrivateIPExceptionURLs, []string{"http://10.0.0.5:8080/hooks/*"})
}

func TestSettingsAfterByMethod(t *testing.T) {
	f := MustWriteFile(t, "k.yml", `
selfservice:
  flows:
    settings:
      after:
        totp: {default_browser_return_url: /totp-done, hooks: [{hook: web_hook, config: {url: "https://h.example/totp", method: POST}}]}
        lookup_secret: {hooks: [{hook: web_hook, config: {url: "https://h.example/codes", method: POST}}]}
`)
	c, warns := MustLoad(t, LoadOptions{Files: []string{f}, Env: prodEnv})
	check(t, "warnings", len(warns), 0)
	by := c.SelfService.Flows.Settings.After.ByMethod()
	for method, url := range map[string]string{"totp": "https://h.example/totp", "lookup_secret": "https://h.example/codes"} {
		if hooks := by[method]; len(hooks) != 1 || hooks[0].WebHook == nil || hooks[0].WebHook.URL != url {
			t.Errorf("%s hooks %+v", method, hooks)
		}
	}
	check(t, "totp return URL", c.SelfService.Flows.Settings.After.TOTP.DefaultBrowserReturnURL, "/totp-done")
}

func TestWebHookConfig(t *testing.T) {
	f := MustWriteFile(t, "k.yml", `
selfservice:
  flows:
    registration:
      after:
        password:
          hooks:
            - hook: session
            - hook: web_hook
              config:
                id: crm
                url: https://crm.example/hooks/signup
                method: post
                body: file://testdata/webhook.jsonnet
                headers: {X-Tenant: blue}
                auth: {type: api_key, config: {name: X-Api-Key, value: s3cret-value, in: header}}
                response: {parse: true}
`)
	c, _ := MustLoad(t, LoadOptions{Files: []string{f}, Env: prodEnv})
	hooks := c.SelfService.Flows.Registration.After.Password.Hooks
	check(t, "session has no web_hook config", hooks[0].WebHook == nil, true)
	w := hooks[1].WebHook
	if w == nil {
		t.Fatal("web_hook config not read")
	}
	check(t, "typed", *w, WebHook{
		ID: "crm", URL: "https://crm.example/hooks/signup", Method: "POST", Body: "file://testdata/webhook.jsonnet",
		Headers:  map[string]string{"X-Tenant": "blue"},
		Auth:     WebHookAuth{Type: "api_key", Config: WebHookAuthConfig{Name: "X-Api-Key", Value: "s3cret-value", In: "header"}},
		Response: WebHookResponse{Parse: true},
	})
	check(t, "parses", w.Parses(), true)
	body, err := w.ReadBody()
	if err != nil || !strings.Contains(string(body), "function(ctx)") {
		t.Errorf("ReadBody = %q, %v", body, err)
	}
	check(t, "header allowlist default", c.Clients.WebHook.HeaderAllowlist[0], "Accept")

	for body, want := range map[string]string{
		"base64://ZnVuY3Rpb24oY3R4KSB7fQ==": "function(ctx) {}",
		"base64://ZnVuY3Rpb24oY3R4KSB7fQ":   "function(ctx) {}", // unpadded
		"testdata/webhook.jsonnet":          "function(ctx)",    // Kratos's legacy bare path
		"":                                  "",
	} {
		got, err := WebHook{Body: body}.ReadBody()
		if err != nil || !strings.HasPrefix(string(got), want) {
			t.Errorf("ReadBody(%q) = %q, %v", body, got, err)
		}
	}
	if _, err := (WebHook{Body: "https://templates.example/b.jsonnet"}).ReadBody(); !errors.Is(err, docurl.ErrRemote) {
		t.Errorf("remote body: %v", err)
	}
}

func TestLogLevels(t *testing.T) {
	tests := []struct {
		in   string
		want slog.Level
	}{
		{"trace", slog.LevelDebug}, {"DEBUG", slog.LevelDebug}, {"info", slog.LevelInfo},
		{"warning", slog.LevelWarn}, {"warn", slog.LevelWarn}, {"error", slog.LevelError},
		{"fatal", slog.LevelError}, {"panic", slog.LevelError},
	}
	for _, tt := range tests {
		c, _ := MustLoad(t, LoadOptions{Env: append(append([]string(nil), prodEnv...), "LOG_LEVEL="+tt.in)})
		check(t, "level "+tt.in, c.Log.SlogLevel(), tt.want)
	}
}

func TestIdentitySchemaRead(t *testing.T) {
	abs, err := filepath.Abs("testdata/identity.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		url     string
		wantErr error
		want    string
	}{
		{"file://" + abs, nil, `"$schema"`},
		{"file://./testdata/identity.schema.json", nil, `"$schema"`},
		{"base64://eyJ0eXBlIjoib2JqZWN0In0=", nil, `{"type":"object"}`},
		{"base64://eyJ0eXBlIjoib2JqZWN0In0", nil, `{"type":"object"}`}, // unpadded
		{"https://schemas.example.com/person.json", docurl.ErrRemote, ""},
	}
	for _, tt := range tests {
		b, err := IdentitySchema{ID: "x", URL: tt.url}.Read()
		if !errors.Is(err, tt.wantErr) || !strings.Contains(string(b), tt.want) {
			t.Errorf("Read(%q) = %.30q, %v", tt.url, b, err)
		}
	}
}

func TestHookPlace(t *testing.T) {
	for key, want := range map[string][]string{
		"selfservice.flows.login.before.hooks":                 beforeHooks,
		"selfservice.flows.login.after.hooks":                  loginAfterHooks,
		"selfservice.flows.login.after.password.hooks":         loginAfterHooks,
		"selfservice.flows.registration.after.password.hooks":  registrationAfterHooks,
		"selfservice.flows.settings.after.hooks":               settingsAfterHooks,
		"selfservice.flows.settings.after.password.hooks":      settingsAfterHooks,
		"selfservice.flows.settings.after.profile.hooks":       settingsProfileAfterHooks,
		"selfservice.flows.settings.after.totp.hooks":          settingsFactorAfterHooks,
		"selfservice.flows.settings.after.lookup_secret.hooks": settingsFactorAfterHooks,
		"selfservice.flows.recovery.after.hooks":               recoveryAfterHooks,
		"selfservice.flows.verification.after.hooks":           verificationAfterHooks,
		"selfservice.flows.verification.before.hooks":          beforeHooks,
	} {
		check(t, key, hookPlace(key), want)
	}
}
