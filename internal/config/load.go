package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	kjson "github.com/knadh/koanf/parsers/json"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
)

// LoadOptions says where Load reads configuration from.
type LoadOptions struct {
	// Files are YAML (.yml, .yaml, or any other extension) or JSON (.json)
	// files, merged in order: later files override earlier ones.
	Files []string
	// Env holds environment variables in os.Environ() form ("KEY=value").
	// The caller passes os.Environ(); nil reads no environment.
	Env []string
	// Dev is development mode (--dev).
	Dev bool
	// DataDir is where development mode keeps its SQLite database and
	// generated secrets; empty means the working directory.
	DataDir string
}

// Load builds the configuration: built-in defaults, then each file in
// order, then environment variables named like Kratos's (the key path
// upper-cased with "." replaced by "_": SERVE_PUBLIC_BASE_URL, DSN;
// lists and objects as JSON). Empty variables and variables that name no
// key are ignored.
//
// Keys Latchkey does not support or does not know produce one warning
// each and are otherwise ignored, so an existing kratos.yml loads. Invalid
// values produce errors naming the key; all of them are returned together
// (errors.Join). In development mode a missing DSN becomes a SQLite file
// in DataDir and missing secrets are generated once and kept in
// DataDir/latchkey-secrets.json.
func Load(opts LoadOptions) (*Config, []Warning, error) {
	k := koanf.New(".")
	for _, path := range opts.Files {
		if err := k.Load(file.Provider(path), parserFor(path)); err != nil {
			return nil, nil, fmt.Errorf("config: load %s: %w", path, err)
		}
	}
	if env := envValues(opts.Env); len(env) > 0 {
		if err := k.Load(confmap.Provider(env, "."), nil); err != nil {
			return nil, nil, fmt.Errorf("config: load environment: %w", err)
		}
	}

	cfg := defaults()
	cfg.Dev = opts.Dev
	l := &loader{set: map[string]bool{}}
	l.decode(k, cfg)
	l.checkUnknown(k.All())
	l.derive(cfg, opts)
	l.validate(cfg)
	if len(l.errs) == 0 {
		l.prepareDev(cfg, opts)
	}
	if len(l.errs) > 0 {
		return nil, l.warns, errors.Join(l.errs...)
	}
	return cfg, l.warns, nil
}

// Warning is a configuration problem that does not stop start-up: a key
// ignored, a default filled in. The command line shows it as a line of
// text or logs it, as the configured log format says.
type Warning struct {
	// Key is the key path it is about ("serve.public.cors").
	Key string
	// Message says what happens to it ("CORS is not supported ...; ignored").
	Message string
}

// String is the warning as one line: "config: KEY: MESSAGE".
func (w Warning) String() string { return "config: " + w.Key + ": " + w.Message }

// loader collects what one Load call finds.
type loader struct {
	errs  []error
	warns []Warning
	// set records the leaf keys some source provided, for defaults that
	// depend on whether a key was configured.
	set map[string]bool
}

func (l *loader) fail(key, format string, args ...any) {
	l.errs = append(l.errs, fmt.Errorf("config: %s: %s", key, fmt.Sprintf(format, args...)))
}

func (l *loader) warn(key, format string, args ...any) {
	l.warns = append(l.warns, Warning{Key: key, Message: fmt.Sprintf(format, args...)})
}

func parserFor(path string) koanf.Parser {
	if strings.EqualFold(filepath.Ext(path), ".json") {
		return kjson.Parser()
	}
	return yaml.Parser()
}

// envValues maps the variables that name a known key to that key. Values
// of list and object keys are JSON; one that does not parse is kept as a
// string so that decoding reports it against the key.
func envValues(environ []string) map[string]any {
	s := keys()
	out := map[string]any{}
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || value == "" {
			continue
		}
		lf, ok := s.byEnv[name]
		if !ok {
			continue
		}
		var v any = value
		if lf.structured() {
			var parsed any
			if err := json.Unmarshal([]byte(value), &parsed); err == nil {
				v = parsed
			}
		}
		out[lf.path] = v
	}
	return out
}

// decode copies every leaf key present in k into cfg.
func (l *loader) decode(k *koanf.Koanf, cfg *Config) {
	root := reflect.ValueOf(cfg).Elem()
	for _, lf := range keys().leaves {
		if !k.Exists(lf.path) {
			continue
		}
		raw := k.Get(lf.path)
		if raw == nil { // "key:" with no value in YAML: keep the default
			continue
		}
		if l.decodeValue(lf.path, raw, root.FieldByIndex(lf.index)) {
			l.set[lf.path] = true
		}
	}
}

// checkUnknown warns once per key that Latchkey does not read, at the
// shallowest unknown level: selfservice.methods.oidc, not each of its
// leaves.
func (l *loader) checkUnknown(flat map[string]any) {
	s := keys()
	reported := map[string]bool{}
	for key, val := range flat {
		if _, ok := s.byPath[key]; ok || s.underLeaf(key) {
			continue
		}
		if s.groups[key] {
			if !isEmpty(val) {
				l.fail(key, "must be an object, got %s", describe(val))
			}
			continue
		}
		reported[s.shallowestUnknown(key)] = true
	}
	unknown := make([]string, 0, len(reported))
	for key := range reported {
		unknown = append(unknown, key)
	}
	slices.Sort(unknown)
	for _, key := range unknown {
		l.warn(key, "%s", unsupportedReason(key))
	}
}

func isEmpty(v any) bool {
	if v == nil {
		return true
	}
	m, ok := v.(map[string]any)
	return ok && len(m) == 0
}

// unsupported explains keys that Kratos knows and Latchkey deliberately
// ignores. Lookup is by the key or its closest listed ancestor.
var unsupported = map[string]string{
	"version":                               "the Kratos config version marker is not used; ignored",
	"dev":                                   "development mode is set with the --dev flag; ignored",
	"tracing":                               "tracing is not supported; ignored",
	"oauth2_provider":                       "the OAuth2 provider integration is not supported; ignored",
	"ciphers":                               "ciphers are not configurable; ignored",
	"organizations":                         "organizations are not supported; ignored",
	"preview":                               "preview features are not supported; ignored",
	"database":                              "only database.cleanup is supported; ignored",
	"serve.public.cors":                     "CORS is not supported (serve the UI from the same site or put a proxy in front); ignored",
	"serve.public.tls":                      "TLS termination is not supported (use a reverse proxy); ignored",
	"serve.admin.tls":                       "TLS termination is not supported (use a reverse proxy); ignored",
	"serve.public.request_log":              "request log settings are not supported; ignored",
	"serve.admin.request_log":               "request log settings are not supported; ignored",
	"log.leak_sensitive_values":             "accepted but has no effect: Latchkey never logs secrets, codes, tokens or addresses; ignored",
	"log.redaction_text":                    "accepted but has no effect; ignored",
	"session.whoami.tokenizer":              "session tokenization (tokenize_as) is not supported; ignored",
	"courier.channels":                      "courier channels (SMS, HTTP) are not supported; ignored",
	"courier.http":                          "HTTP delivery is not supported; ignored",
	"courier.sms":                           "SMS delivery is not supported; ignored",
	"hashers.argon2.expected_duration":      "used only by Kratos's argon2 calibration; ignored",
	"hashers.argon2.expected_deviation":     "used only by Kratos's argon2 calibration; ignored",
	"hashers.argon2.dedicated_memory":       "used only by Kratos's argon2 calibration; ignored",
	"feature_flags.choose_recovery_address": "recovery V2 (choosing among addresses) is not supported; ignored",
}

// unsupportedMethods are Kratos methods Latchkey does not have; their
// config and their per-method hooks are ignored.
var unsupportedMethods = []string{"webauthn", "passkey", "saml"}

func unsupportedReason(key string) string {
	for p := key; ; {
		if reason, ok := unsupported[p]; ok {
			return reason
		}
		i := strings.LastIndexByte(p, '.')
		if i < 0 {
			break
		}
		p = p[:i]
	}
	last := key[strings.LastIndexByte(key, '.')+1:]
	if slices.Contains(unsupportedMethods, last) {
		return fmt.Sprintf("the %s method is not supported; ignored", last)
	}
	return unknownKey(key, keys().paths)
}

// unknownKey is the warning for a key nobody knows, suggesting the
// nearest of the keys that could be meant: a misspelt key is otherwise
// silently ignored, its default in force.
func unknownKey(key string, candidates []string) string {
	if s := nearest(key, candidates); s != "" {
		return "unknown or unsupported key; ignored (did you mean " + s + "?)"
	}
	return "unknown or unsupported key; ignored"
}

// durationPattern is Kratos's duration syntax: no sign, no fractions.
var durationPattern = regexp.MustCompile(`^([0-9]+(ns|us|ms|s|m|h))+$`)

// decodeValue stores raw into dst and reports whether it succeeded.
func (l *loader) decodeValue(path string, raw any, dst reflect.Value) bool {
	switch dst.Type() {
	case durationType:
		s, ok := raw.(string)
		if isZero(raw) {
			// 0 needs no unit ("audit.retention: 0" keeps events forever).
			s, ok = "0s", true
		}
		if ok && strings.HasPrefix(s, "-") && durationPattern.MatchString(s[1:]) {
			l.fail(path, "must not be negative, got %q", s)
			return false
		}
		if !ok || !durationPattern.MatchString(s) {
			l.fail(path, `must be a duration such as "1h", "15m" or "100ms", got %s`, describe(raw))
			return false
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			l.fail(path, "duration %q is out of range", s)
			return false
		}
		dst.SetInt(int64(d))
		return true
	case byteSizeType:
		n, err := parseByteSize(raw)
		if err != nil {
			l.fail(path, "%v", err)
			return false
		}
		dst.SetUint(n)
		return true
	}

	switch dst.Kind() {
	case reflect.String:
		switch v := raw.(type) {
		case string:
			dst.SetString(v)
		case int, int64, uint64, float64, bool:
			dst.SetString(fmt.Sprint(v))
		default:
			l.fail(path, "must be a string, got %s", describe(raw))
			return false
		}
	case reflect.Bool:
		b, ok := toBool(raw)
		if !ok {
			l.fail(path, "must be true or false, got %s", describe(raw))
			return false
		}
		dst.SetBool(b)
	case reflect.Int:
		n, ok := toInt(raw)
		if !ok {
			l.fail(path, "must be an integer, got %s", describe(raw))
			return false
		}
		dst.SetInt(n)
	case reflect.Pointer:
		elem := reflect.New(dst.Type().Elem()).Elem()
		if !l.decodeValue(path, raw, elem) {
			return false
		}
		dst.Set(elem.Addr())
	case reflect.Slice:
		return l.decodeSlice(path, raw, dst)
	case reflect.Map:
		return l.decodeMap(path, raw, dst)
	case reflect.Struct:
		return l.decodeStruct(path, raw, dst)
	default:
		panic("config: no decoder for " + dst.Type().String())
	}
	return true
}

func (l *loader) decodeSlice(path string, raw any, dst reflect.Value) bool {
	items, ok := raw.([]any)
	if !ok {
		// A single string where a string list is expected (typically an
		// environment variable that is not JSON) is a one-element list.
		if s, isString := raw.(string); isString && dst.Type().Elem().Kind() == reflect.String {
			items = []any{s}
		} else {
			l.fail(path, "must be a list, got %s", describe(raw))
			return false
		}
	}
	out := reflect.MakeSlice(dst.Type(), len(items), len(items))
	good := true
	for i, item := range items {
		if !l.decodeValue(fmt.Sprintf("%s[%d]", path, i), item, out.Index(i)) {
			good = false
		}
	}
	if good {
		dst.Set(out)
	}
	return good
}

func (l *loader) decodeMap(path string, raw any, dst reflect.Value) bool {
	m, ok := raw.(map[string]any)
	if !ok {
		l.fail(path, "must be an object, got %s", describe(raw))
		return false
	}
	if dst.Type() == mapStringAnyType {
		dst.Set(reflect.ValueOf(m))
		return true
	}
	// map[string]string (courier.smtp.headers). Loading splits map keys on
	// ".", so nested maps are joined back: "X.Y: v" stays "X.Y".
	out := map[string]string{}
	good := true
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			name := prefix + k
			switch v := v.(type) {
			case map[string]any:
				walk(name+".", v)
			case string:
				out[name] = v
			case int, int64, uint64, float64, bool:
				out[name] = fmt.Sprint(v)
			default:
				l.fail(path+"."+name, "must be a string, got %s", describe(v))
				good = false
			}
		}
	}
	walk("", m)
	if good {
		dst.Set(reflect.ValueOf(out))
	}
	return good
}

// decodeStruct decodes a list element (a hook, a schema) from an object.
func (l *loader) decodeStruct(path string, raw any, dst reflect.Value) bool {
	m, ok := raw.(map[string]any)
	if !ok {
		l.fail(path, "must be an object, got %s", describe(raw))
		return false
	}
	fields := structKeys(dst.Type())
	good := true
	for name, v := range m {
		idx, known := fields[name]
		if !known {
			var candidates []string
			for f := range fields {
				candidates = append(candidates, path+"."+f)
			}
			l.warn(path+"."+name, "%s", unknownKey(path+"."+name, candidates))
			continue
		}
		if v == nil {
			continue
		}
		if !l.decodeValue(path+"."+name, v, dst.Field(idx)) {
			good = false
		}
	}
	return good
}

func toBool(raw any) (bool, bool) {
	switch v := raw.(type) {
	case bool:
		return v, true
	case string:
		b, err := strconv.ParseBool(v)
		return b, err == nil
	}
	return false, false
}

func toInt(raw any) (int64, bool) {
	switch v := raw.(type) {
	case int:
		return int64(v), true
	case int64:
		return v, true
	case uint64:
		if v > 1<<62 {
			return 0, false
		}
		return int64(v), true
	case float64:
		if v != float64(int64(v)) {
			return 0, false
		}
		return int64(v), true
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		return n, err == nil
	}
	return 0, false
}

var byteSizePattern = regexp.MustCompile(`^(?i)\s*([0-9]+(?:\.[0-9]+)?)\s*(b|kb|kib|mb|mib|gb|gib|tb|tib)?\s*$`)

// parseByteSize reads an integer number of bytes or a string such as
// "128MB" (units are powers of 1024, as in Kratos).
func parseByteSize(raw any) (uint64, error) {
	if n, ok := toInt(raw); ok && n >= 0 {
		return uint64(n), nil
	}
	s, ok := raw.(string)
	m := byteSizePattern.FindStringSubmatch(s)
	if !ok || m == nil {
		return 0, fmt.Errorf(`must be a size such as "128MB" or a number of bytes, got %s`, describe(raw))
	}
	f, _ := strconv.ParseFloat(m[1], 64)
	unit := map[string]float64{"": 1, "b": 1, "kb": 1 << 10, "kib": 1 << 10, "mb": 1 << 20, "mib": 1 << 20,
		"gb": 1 << 30, "gib": 1 << 30, "tb": 1 << 40, "tib": 1 << 40}[strings.ToLower(m[2])]
	return uint64(f * unit), nil
}

// describe renders a config value for an error message.
// isZero reports whether a raw value is the number 0, written as a
// number or a string.
func isZero(v any) bool {
	switch v := v.(type) {
	case string:
		return v == "0"
	case int:
		return v == 0
	case int64:
		return v == 0
	case uint64:
		return v == 0
	case float64:
		return v == 0
	}
	return false
}

func describe(v any) string {
	switch v := v.(type) {
	case string:
		return strconv.Quote(v)
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	case nil:
		return "nothing"
	}
	return fmt.Sprint(v)
}
