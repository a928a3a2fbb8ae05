package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fuzzable skips inputs that name files: a config may point at any file
// (identity schemas, template directories) and reading /dev/zero or a
// FIFO is the operator's own doing, not a decoding bug.
func fuzzable(s string) bool {
	return !strings.Contains(s, "file:") && !strings.Contains(s, "/dev/") && !strings.Contains(s, "/proc/")
}

// FuzzLoadFile: any config file, YAML or JSON, yields a configuration or
// an error naming what is wrong; never a panic.
func FuzzLoadFile(f *testing.F) {
	kratos, err := os.ReadFile("testdata/kratos.yml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(kratos, false)
	for _, s := range []string{
		"dsn: memory\nsecrets:\n  default: [\"" + testSecret + "\"]\n",
		"serve:\n  public:\n    base_url: http://127.0.0.1:4433/\n    port: 99999\n",
		"session:\n  lifespan: 1.5h\n  cookie:\n    same_site: Strict\n    persistent: \"yes\"\n",
		"selfservice:\n  allowed_return_urls: [\"https://*.example.com/\", 3, null]\n  flows:\n    recovery:\n      use: link\n      lifespan: 99999999999999h\n",
		"hashers:\n  algorithm: argon2\n  argon2:\n    memory: 128MB\n    iterations: -1\n",
		"courier:\n  smtp:\n    connection_uri: smtps://u:p@h:465/?skip_ssl_verify=true\n  templates:\n    recovery_code:\n      valid:\n        email:\n          body:\n            html: base64://e3sgLlRvIH19\n",
		"identity:\n  default_schema_id: x\n  schemas:\n    - id: x\n      url: base64://e30=\n",
		"serve: 3\nselfservice: [1]\n",
		"a: &a [*a]\n",
		"{{{",
	} {
		f.Add([]byte(s), false)
	}
	f.Add([]byte(`{"dsn":"memory","secrets":{"default":["`+testSecret+`"]},"log":{"level":"trace","format":"json"}}`), true)
	f.Add([]byte(`{"serve":{"public":{"port":1e400}},"session":{"lifespan":"-1h"}}`), true)
	f.Fuzz(func(t *testing.T, content []byte, isJSON bool) {
		if !fuzzable(string(content)) {
			return
		}
		name := "config.yml"
		if isJSON {
			name = "config.json"
		}
		path := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, _, err := Load(LoadOptions{Files: []string{path}, Env: prodEnv})
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if cfg == nil {
			t.Fatal("no config and no error")
		}
	})
}

// FuzzLoadEnv: any value of any configuration variable yields a
// configuration or an error naming the key; never a panic.
func FuzzLoadEnv(f *testing.F) {
	var names []string
	for name := range keys().byEnv {
		names = append(names, name)
	}
	slices.Sort(names)
	index := func(name string) uint16 { return uint16(slices.Index(names, name)) }
	for _, s := range []struct {
		name, value string
	}{
		{"SERVE_PUBLIC_BASE_URL", "http://127.0.0.1:4433/"},
		{"SERVE_PUBLIC_PORT", "70000"},
		{"SELFSERVICE_ALLOWED_RETURN_URLS", `["https://app.example.com/",7]`},
		{"SELFSERVICE_ALLOWED_RETURN_URLS", `not json`},
		{"SESSION_LIFESPAN", "24h"},
		{"SESSION_LIFESPAN", "9999999999999999h"},
		{"SESSION_COOKIE_SAME_SITE", "None"},
		{"HASHERS_BCRYPT_COST", "40"},
		{"HASHERS_ARGON2_MEMORY", "1TB"},
		{"COURIER_SMTP_CONNECTION_URI", "smtp://u:p@[::1:25/"},
		{"IDENTITY_SCHEMAS", `[{"id":"x","url":"base64://e30="}]`},
		{"SECRETS_DEFAULT", `["short"]`},
		{"LOG_LEVEL", "verbose"},
	} {
		f.Add(index(s.name), s.value)
	}
	f.Fuzz(func(t *testing.T, i uint16, value string) {
		if !fuzzable(value) {
			return
		}
		name := names[int(i)%len(names)]
		env := append(slices.Clone(prodEnv), name+"="+value)
		cfg, _, err := Load(LoadOptions{Env: env})
		if err != nil {
			if !strings.Contains(err.Error(), "config: ") {
				t.Fatalf("%s=%q: error %q names no key", name, value, err)
			}
			return
		}
		if cfg == nil {
			t.Fatalf("%s=%q: no config and no error", name, value)
		}
	})
}
