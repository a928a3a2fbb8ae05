package cli_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// personSchema is an identity schema with an email identifier.
const personSchema = `{
  "$id": "https://schemas.example.com/person.schema.json",
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "properties": {
    "traits": {
      "type": "object",
      "properties": {
        "email": {
          "type": "string", "format": "email",
          "ory.sh/kratos": {
            "credentials": {"password": {"identifier": true}},
            "recovery": {"via": "email"},
            "verification": {"via": "email"}
          }
        }
      },
      "required": ["email"]
    }
  }
}`

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestConfigFailures: each invalid value stops start-up with a non-zero
// exit and a message naming the key and the problem, before anything
// listens.
func TestConfigFailures(t *testing.T) {
	dir := t.TempDir()
	valid := []string{"DSN=sqlite://" + filepath.Join(dir, "db.sqlite"), testSecretsEnv}
	brokenTemplates := filepath.Join(dir, "templates")
	writeFile(t, brokenTemplates, "recovery_code/valid/email.subject.gotmpl", "Your code\n{{ .RecoveryCode \n")

	tests := []struct {
		name  string
		env   []string
		file  string   // YAML given with -c, when not empty
		args  []string // more serve flags
		want  []string // substrings of stderr
		leaks string   // must not appear in stderr
	}{
		{name: "BadPort", env: []string{"SERVE_PUBLIC_PORT=70000"},
			want: []string{"config: serve.public.port: must be between 1 and 65535, got 70000"}},
		{name: "PortNotANumber", file: "serve:\n  admin:\n    port: http\n",
			want: []string{`config: serve.admin.port: must be an integer, got "http"`}},
		{name: "MalformedDuration", file: "session:\n  lifespan: 1 day\n",
			want: []string{`config: session.lifespan: must be a duration such as "1h", "15m" or "100ms", got "1 day"`}},
		{name: "MalformedDurationFromEnv", env: []string{"SELFSERVICE_METHODS_CODE_CONFIG_LIFESPAN=15"},
			want: []string{`config: selfservice.methods.code.config.lifespan: must be a duration`}},
		{name: "UnknownHasher", env: []string{"HASHERS_ALGORITHM=scrypt"},
			want: []string{`config: hashers.algorithm: must be one of bcrypt, argon2, got "scrypt"`}},
		{name: "UnreadableSchemaFile", env: []string{`IDENTITY_SCHEMAS=[{"id":"default","url":"file://` + filepath.Join(dir, "missing.schema.json") + `"}]`},
			want: []string{"config: identity.schemas[0].url: cannot read schema file", "missing.schema.json", "no such file or directory"}},
		{name: "UnsupportedDSNScheme", env: []string{"DSN=mongodb://admin:hunter2-secret@db.example/identities"},
			want:  []string{`config: dsn: unsupported scheme "mongodb"`},
			leaks: "hunter2-secret"},
		{name: "SMTPURIWithWrongScheme", env: []string{"COURIER_SMTP_CONNECTION_URI=http://mailer:hunter2-secret@mail.example/"},
			want:  []string{`config: courier.smtp.connection_uri: scheme must be smtp or smtps, got "http"`},
			leaks: "hunter2-secret"},
		{name: "ShortSecret", env: []string{`SECRETS_DEFAULT=["too-short"]`},
			want:  []string{"config: secrets.default[0]: must be at least 16 characters long, got 9"},
			leaks: "too-short"},
		// Templates are parsed once the database is reachable and migrated.
		{name: "BrokenTemplateNamesFileAndLine", env: []string{"COURIER_TEMPLATE_OVERRIDE_PATH=" + brokenTemplates}, args: []string{"--migrate"},
			want: []string{filepath.Join(brokenTemplates, "recovery_code/valid/email.subject.gotmpl") + ":3: unclosed action"}},
		{name: "AllProblemsAtOnce", env: []string{"SERVE_PUBLIC_PORT=0", "LOG_LEVEL=loud"},
			want: []string{"config: serve.public.port:", "config: log.level:"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"serve"}, tc.args...)
			env := append([]string{}, valid...)
			if tc.file != "" {
				args = append(args, "-c", writeFile(t, t.TempDir(), "latchkey.yml", tc.file))
			} else {
				// Free ports, in case the process wrongly starts; a file
				// may set ports itself, which the environment would override.
				env = append(env, freePorts(t).env()...)
			}
			env = append(env, tc.env...)
			r := run(t, dir, env, "", args...)
			if r.code == 0 {
				t.Fatalf("exit code 0, want failure; stdout:\n%s", r.stdout)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
			if tc.leaks != "" && strings.Contains(r.stderr+r.stdout, tc.leaks) {
				t.Errorf("output reveals %q:\n%s", tc.leaks, r.stderr)
			}
			if strings.Contains(r.stdout, "is ready") {
				t.Errorf("started despite the error:\n%s", r.stdout)
			}
		})
	}

	t.Run("MissingConfigFile", func(t *testing.T) {
		r := run(t, dir, valid, "", "serve", "-c", filepath.Join(dir, "nope.yml"))
		if r.code == 0 || !strings.Contains(r.stderr, "config: load "+filepath.Join(dir, "nope.yml")) {
			t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
}

// kratosYAML is a Kratos configuration as a team moving to Latchkey would
// have it, with keys for features Latchkey does not have. %d are the
// public and admin ports.
const kratosYAML = `version: v26.2.0
dsn: sqlite://./kratos.sqlite?_fk=true&max_conns=4

serve:
  public:
    host: 127.0.0.1
    port: %d
    cors:
      enabled: true
      allowed_origins: [https://app.example.com]
  admin:
    host: 127.0.0.1
    port: %d

selfservice:
  default_browser_return_url: https://app.example.com/
  allowed_return_urls: [https://app.example.com]
  methods:
    password:
      enabled: true
      config: {min_password_length: 10, haveibeenpwned_enabled: false}
    code:
      enabled: true
      config: {lifespan: 15m}
    oidc:
      enabled: true
      config:
        providers:
          - {id: github, provider: github, client_id: abc, client_secret: def, mapper_url: "base64://bG9jYWwgY2xhaW1zID0gc3RkLmV4dFZhcignY2xhaW1zJyk7IHsgaWRlbnRpdHk6IHsgdHJhaXRzOiB7IGVtYWlsOiBjbGFpbXMuZW1haWwgfSB9IH0="}
    totp:
      enabled: true
      config: {issuer: Example}
  flows:
    recovery:
      enabled: true
      use: code
      after:
        hooks:
          - hook: revoke_active_sessions
    settings:
      privileged_session_max_age: 15m

identity:
  default_schema_id: person
  schemas:
    - id: person
      url: file://./person.schema.json

hashers:
  algorithm: bcrypt
  bcrypt: {cost: 10}

session:
  lifespan: 720h

courier:
  smtp:
    connection_uri: smtps://mailer:p%%40ss@smtp.example.com:465/
    from_address: accounts@example.com
    from_name: Example Accounts
    headers:
      X-SES-CONFIGURATION-SET: latchkey

log:
  level: info
  format: json
  leak_sensitive_values: true

secrets:
  default: [ipsum-lorem-dolor-sit-amet-secret]
  cookie: [PLEASE-CHANGE-ME-I-AM-VERY-INSECURE]

tracing:
  provider: jaeger
  service_name: kratos
`

var warningLine = regexp.MustCompile(`(?m)^warning: config: ([^:]+): .*$`)

// logEntry is a line of the JSON log.
type logEntry struct {
	Level     string `json:"level"`
	Msg       string `json:"msg"`
	ConfigKey string `json:"config_key"`
}

// TestConfigWarningsFollowTheLogFormat: with log.format json (from the
// environment or a file) a config warning is a JSON log line like the
// rest of the log; with the text format it stays a "warning:" line.
func TestConfigWarningsFollowTheLogFormat(t *testing.T) {
	const want = "config: serve.public.prot: unknown or unsupported key; ignored (did you mean serve.public.port?)"
	for _, tc := range []struct {
		name, file string
		env        []string
		json       bool
	}{
		{name: "Text", file: "serve: {public: {prot: 4455}}\n"},
		{name: "JSONFromEnv", file: "serve: {public: {prot: 4455}}\n", env: []string{"LOG_FORMAT=json"}, json: true},
		{name: "JSONFromFile", file: "serve: {public: {prot: 4455}}\nlog: {format: json}\n", json: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := writeFile(t, dir, "kratos.yml", "dsn: memory\n"+tc.file)
			r := run(t, dir, append([]string{testSecretsEnv}, tc.env...), "", "migrate", "status", "-c", cfg)
			if r.code != 0 {
				t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
			}
			if !tc.json {
				if m := warningLine.FindAllString(r.stderr, -1); len(m) != 1 || m[0] != "warning: "+want {
					t.Fatalf("warning lines %q, want %q", m, "warning: "+want)
				}
				return
			}
			var entry logEntry
			if err := json.Unmarshal([]byte(r.stderr), &entry); err != nil {
				t.Fatalf("stderr is not one JSON line: %v\n%s", err, r.stderr)
			}
			if entry != (logEntry{Level: "WARN", Msg: want, ConfigKey: "serve.public.prot"}) {
				t.Fatalf("logged %+v", entry)
			}
		})
	}
}

// TestKratosConfigStartsWithWarnings: a Kratos config with keys Latchkey
// does not support starts, with exactly one warning per unsupported key,
// logged as JSON like every other line since the config says
// log.format: json, and serves with the supported keys applied.
func TestKratosConfigStartsWithWarnings(t *testing.T) {
	dir := t.TempDir()
	p := freePorts(t)
	writeFile(t, dir, "person.schema.json", personSchema)
	cfg := writeFile(t, dir, "kratos.yml", fmt.Sprintf(kratosYAML, p.public, p.admin))

	proc := start(t, dir, nil, "serve", "-c", cfg, "--migrate", "--watch-courier", "--sqa-opt-out")
	proc.waitReady(p.publicURL())

	var warned []string
	for _, line := range strings.Split(strings.TrimSpace(proc.stderr.String()), "\n") {
		var entry logEntry
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Errorf("stderr line is not JSON: %q", line)
			continue
		}
		if entry.ConfigKey != "" {
			if entry.Level != "WARN" || !strings.HasPrefix(entry.Msg, "config: "+entry.ConfigKey+": ") {
				t.Errorf("config warning logged as %+v", entry)
			}
			warned = append(warned, entry.ConfigKey)
		}
	}
	slices.Sort(warned)
	want := []string{"log.leak_sensitive_values", "serve.public.cors", "tracing", "version"}
	if !slices.Equal(warned, want) {
		t.Errorf("warned keys %v, want one line each for %v\nstderr:\n%s", warned, want, proc.stderr)
	}
	if strings.Contains(proc.stderr.String(), "p@ss") || strings.Contains(proc.stderr.String(), "p%40ss") {
		t.Errorf("the SMTP password appears in the log:\n%s", proc.stderr)
	}

	// The supported keys took effect: the configured schema is served, and
	// the log is JSON.
	status, body := do(t, "GET", p.publicURL()+"/schemas", "", "")
	if status != http.StatusOK || !strings.Contains(body, `"id":"person"`) {
		t.Errorf("GET /schemas: %d %s", status, body)
	}
	if !strings.Contains(proc.stderr.String(), `{"time":`) {
		t.Errorf("log.format json not applied:\n%s", proc.stderr)
	}
	if code := proc.stop(); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}
}

// TestConfigSources: several -c files (YAML and JSON) merge in order, then
// environment variables in the Kratos convention override them, including
// keys with underscores (SERVE_PUBLIC_BASE_URL) and list values as JSON
// (IDENTITY_SCHEMAS, SECRETS_DEFAULT).
func TestConfigSources(t *testing.T) {
	dir := t.TempDir()
	p := freePorts(t)
	writeFile(t, dir, "person.schema.json", personSchema)
	base := writeFile(t, dir, "base.yaml", `
dsn: sqlite://./merged.sqlite
serve:
  public: {port: 1}
  admin: {port: 2}
log: {format: json}
`)
	override := writeFile(t, dir, "override.json", fmt.Sprintf(`{"serve": {"public": {"port": %d}}}`, p.public))
	env := []string{
		fmt.Sprintf("SERVE_ADMIN_PORT=%d", p.admin),
		fmt.Sprintf("SERVE_PUBLIC_BASE_URL=http://localhost:%d/auth", p.public),
		`IDENTITY_SCHEMAS=[{"id":"person","url":"file://./person.schema.json"}]`,
		"IDENTITY_DEFAULT_SCHEMA_ID=person",
		`SECRETS_DEFAULT=["new-signing-secret-0123456789","old-secret-still-verifies-0123"]`,
	}
	proc := start(t, dir, env, "serve", "-c", base, "-c", override, "--migrate")
	proc.waitReady(p.publicURL())

	if out := proc.waitOutput("admin API"); !strings.Contains(out, fmt.Sprintf("public API: http://localhost:%d/auth/", p.public)) {
		t.Errorf("SERVE_PUBLIC_BASE_URL not applied:\n%s", out)
	}
	status, body := do(t, "GET", p.adminURL()+"/schemas", "", "")
	if status != http.StatusOK || !strings.Contains(body, `"id":"person"`) || strings.Contains(body, `"id":"default"`) {
		t.Errorf("IDENTITY_SCHEMAS not applied: %d %s", status, body)
	}
	status, body = do(t, "POST", p.adminURL()+"/admin/identities", "application/json", `{"traits":{"email":"merge@example.com"}}`)
	if status != http.StatusCreated || !strings.Contains(body, `"schema_id":"person"`) {
		t.Errorf("IDENTITY_DEFAULT_SCHEMA_ID not applied: %d %s", status, body)
	}
	if !strings.Contains(proc.stderr.String(), `{"time":`) {
		t.Errorf("log.format from the first file lost in the merge:\n%s", proc.stderr)
	}
	if code := proc.stop(); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}
}
