package config

import (
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/latchkey/latchkey/internal/docurl"
	"github.com/latchkey/latchkey/internal/i18n"
)

// validate checks every value; it reports all problems, not the first.
func (l *loader) validate(c *Config) {
	l.validateDSN(c)
	l.port("serve.public.port", c.Serve.Public.Port)
	l.port("serve.admin.port", c.Serve.Admin.Port)
	if _, err := c.Serve.Public.TrustedProxyRanges(); err != nil {
		l.fail("serve.public.trusted_proxies", "%v", err)
	}
	if _, err := c.Serve.Admin.TrustedProxyRanges(); err != nil {
		l.fail("serve.admin.trusted_proxies", "%v", err)
	}

	if level, ok := logLevels[strings.ToLower(c.Log.Level)]; ok {
		c.Log.Level = level
	} else {
		l.fail("log.level", "must be one of debug, info, warn, error, got %q", c.Log.Level)
	}
	l.oneOf("log.format", c.Log.Format, "text", "json")

	l.validateSecrets(c)
	l.validateSocial(c)
	l.validateIdentity(c)
	l.validateHashers(c)
	l.validateSession(c)
	l.validateSelfService(c)
	l.validateBrand(c.UI.Brand)
	l.validateHookLists(c)
	l.validateHTTPClient(c.Clients.HTTP)
	l.validateNotifications(c)
	l.validateCourier(c)
	l.validateDatabase(c)
}

// logLevels maps accepted log levels, Kratos's included, onto slog's.
var logLevels = map[string]string{
	"trace": "debug", "debug": "debug", "info": "info", "warning": "warn", "warn": "warn",
	"error": "error", "fatal": "error", "panic": "error",
}

// dsnSchemes are the DSN forms the storage layer opens.
var dsnSchemes = []string{"sqlite://", "sqlite3://", "file:", "postgres://", "postgresql://",
	"cockroach://", "cockroachdb://", "mysql://"}

func (l *loader) validateDSN(c *Config) {
	dsn := c.DSN
	if dsn == "" {
		l.fail("dsn", "required (set dsn or the DSN environment variable; --dev uses a local SQLite file)")
		return
	}
	if dsn == "memory" || strings.HasPrefix(dsn, "memory?") {
		return
	}
	for _, s := range dsnSchemes {
		if strings.HasPrefix(dsn, s) {
			return
		}
	}
	// Never echo the DSN: it usually carries a password.
	scheme, _, ok := strings.Cut(dsn, ":")
	if !ok || strings.ContainsAny(scheme, "/@?") {
		scheme = "(none)"
	}
	l.fail("dsn", "unsupported scheme %q (supported: sqlite://, sqlite3://, file:, memory, postgres://, postgresql://, cockroach://, mysql://)", scheme)
}

func (l *loader) port(key string, p int) {
	if p < 1 || p > 65535 {
		l.fail(key, "must be between 1 and 65535, got %d", p)
	}
}

func (l *loader) oneOf(key, value string, allowed ...string) bool {
	for _, a := range allowed {
		if value == a {
			return true
		}
	}
	l.fail(key, "must be one of %s, got %q", strings.Join(allowed, ", "), value)
	return false
}

func (l *loader) between(key string, v, lo, hi int) {
	if v < lo || v > hi {
		l.fail(key, "must be between %d and %d, got %d", lo, hi, v)
	}
}

func (l *loader) atLeast(key string, v, lo int) {
	if v < lo {
		l.fail(key, "must be at least %d, got %d", lo, v)
	}
}

func (l *loader) positive(key string, d time.Duration) {
	if d <= 0 {
		l.fail(key, "must be a positive duration, got %s", d)
	}
}

// minSecretLength is Kratos's minimum secret length.
const minSecretLength = 16

func (l *loader) validateSecrets(c *Config) {
	for _, kind := range []struct {
		key  string
		list []string
	}{{"secrets.default", c.Secrets.Default}, {"secrets.cookie", c.Secrets.Cookie}, {"secrets.cipher", c.Secrets.Cipher}} {
		for i, s := range kind.list {
			// The secret itself never goes into the message.
			if n := utf8.RuneCountInString(s); n < minSecretLength {
				l.fail(fmt.Sprintf("%s[%d]", kind.key, i), "must be at least %d characters long, got %d", minSecretLength, n)
			}
		}
	}
	switch {
	case len(c.Secrets.Default) > 0:
	case len(c.Secrets.Cookie) > 0:
		// Kratos's quickstart configs set only cookie and cipher secrets.
		c.Secrets.Default = slices.Clone(c.Secrets.Cookie)
		l.warn("secrets.default", "not set; using secrets.cookie")
	case !c.Dev:
		l.fail("secrets.default", "at least one secret of %d+ characters is required", minSecretLength)
	}
}

func (l *loader) validateIdentity(c *Config) {
	id := c.Identity
	if id.DefaultSchemaID == "" {
		l.fail("identity.default_schema_id", "must not be empty")
	}
	seen := map[string]bool{}
	for i, s := range id.Schemas {
		key := fmt.Sprintf("identity.schemas[%d]", i)
		switch {
		case s.ID == "":
			l.fail(key+".id", "must not be empty")
		case seen[s.ID]:
			l.fail(key+".id", "duplicate schema id %q", s.ID)
		}
		seen[s.ID] = true
		if _, err := s.Read(); err != nil {
			l.fail(key+".url", "%v", err)
		}
	}
	if len(id.Schemas) > 0 && id.DefaultSchemaID != "" && !seen[id.DefaultSchemaID] {
		l.fail("identity.default_schema_id", "no schema with id %q in identity.schemas", id.DefaultSchemaID)
	}
}

// Read returns the schema document of a file:// or base64:// URL
// (file://./x.json is relative to the working directory, as in Kratos).
// http(s) URLs are refused, as the server refuses them at start-up.
func (s IdentitySchema) Read() ([]byte, error) { return docurl.Read(s.URL, "schema") }

func (l *loader) validateHashers(c *Config) {
	h := c.Hashers
	l.oneOf("hashers.algorithm", h.Algorithm, "bcrypt", "argon2")
	l.between("hashers.bcrypt.cost", h.Bcrypt.Cost, 4, 31)
	a := h.Argon2
	l.atLeast("hashers.argon2.iterations", a.Iterations, 1)
	l.between("hashers.argon2.parallelism", a.Parallelism, 1, 255)
	l.atLeast("hashers.argon2.salt_length", a.SaltLength, 16)
	l.atLeast("hashers.argon2.key_length", a.KeyLength, 16)
	// argon2 needs 8 KiB per lane and counts memory in uint32 KiB.
	if kib := uint64(a.Memory) / 1024; kib < 8*uint64(max(a.Parallelism, 1)) || kib > 1<<32-1 {
		l.fail("hashers.argon2.memory", "must be between 8 KiB per unit of parallelism and 4 TiB, got %d bytes", uint64(a.Memory))
	}
}

func (l *loader) validateSession(c *Config) {
	s := c.Session
	l.positive("session.lifespan", s.Lifespan)
	if s.Cookie.Name == "" {
		l.fail("session.cookie.name", "must not be empty")
	}
	l.sameSite("session.cookie.same_site", &c.Session.Cookie.SameSite, true)
	l.sameSite("cookies.same_site", &c.Cookies.SameSite, false)
	l.oneOf("session.whoami.required_aal", s.Whoami.RequiredAAL, "aal1", "highest_available")
	if sc := c.SessionCookie(); sc.SameSite == http.SameSiteNoneMode && !sc.Secure {
		l.warn("session.cookie.same_site", "None without secure cookies is rejected by browsers")
	}
}

// sameSite checks and normalises a SameSite value (Lax, Strict, None;
// any case). An empty optional value falls back elsewhere.
func (l *loader) sameSite(key string, v *string, optional bool) {
	if *v == "" && optional {
		return
	}
	for _, s := range []string{"Lax", "Strict", "None"} {
		if strings.EqualFold(*v, s) {
			*v = s
			return
		}
	}
	l.fail(key, "must be one of Lax, Strict, None, got %q", *v)
}

func (l *loader) validateSelfService(c *Config) {
	ss := c.SelfService
	l.returnURL("selfservice.default_browser_return_url", ss.DefaultBrowserReturnURL)
	for i, u := range ss.AllowedReturnURLs {
		l.returnURL(fmt.Sprintf("selfservice.allowed_return_urls[%d]", i), u)
	}

	if ss.DefaultLocale != "" {
		if _, ok := i18n.Match(ss.DefaultLocale); !ok {
			l.fail("selfservice.default_locale", "must be a supported language (en, de, fr, es, pt-BR), got %q", ss.DefaultLocale)
		}
	}

	const fl = "selfservice.flows."
	f := ss.Flows
	l.returnURL(fl+"error.ui_url", f.Error.UIURL)

	l.returnURL(fl+"login.ui_url", f.Login.UIURL)
	l.positive(fl+"login.lifespan", f.Login.Lifespan)
	l.hooks(fl+"login.before.hooks", f.Login.Before.Hooks)
	l.methodsAfter(fl+"login.after", f.Login.After)
	l.oneOf(fl+"login.style", f.Login.Style, "unified", "identifier_first")

	l.returnURL(fl+"registration.ui_url", f.Registration.UIURL)
	l.positive(fl+"registration.lifespan", f.Registration.Lifespan)
	l.hooks(fl+"registration.before.hooks", f.Registration.Before.Hooks)
	l.methodsAfter(fl+"registration.after", f.Registration.After)
	l.oneOf(fl+"registration.style", f.Registration.Style, "profile_first", "unified")

	r := f.Recovery
	l.returnURL(fl+"recovery.ui_url", r.UIURL)
	l.positive(fl+"recovery.lifespan", r.Lifespan)
	if l.oneOf(fl+"recovery.use", r.Use, "code", "link") && r.Enabled {
		m := ss.Methods
		if (r.Use == "code" && !m.Code.Enabled) || (r.Use == "link" && !m.Link.Enabled) {
			l.warn(fl+"recovery.use", "%q but selfservice.methods.%s.enabled is false: recovery flows cannot start", r.Use, r.Use)
		}
	}
	l.rateLimit(fl+"login.rate_limit.per_identifier", f.Login.RateLimit.PerIdentifier)
	l.rateLimit(fl+"login.rate_limit.per_ip", f.Login.RateLimit.PerIP)
	l.rateLimit(fl+"recovery.rate_limit.per_address", r.RateLimit.PerAddress)
	l.rateLimit(fl+"recovery.rate_limit.per_ip", r.RateLimit.PerIP)
	l.hooks(fl+"recovery.before.hooks", r.Before.Hooks)
	l.after(fl+"recovery.after", r.After)

	s := f.Settings
	l.returnURL(fl+"settings.ui_url", s.UIURL)
	l.positive(fl+"settings.lifespan", s.Lifespan)
	l.positive(fl+"settings.privileged_session_max_age", s.PrivilegedSessionMaxAge)
	l.oneOf(fl+"settings.required_aal", s.RequiredAAL, "aal1", "highest_available")
	l.hooks(fl+"settings.before.hooks", s.Before.Hooks)
	l.returnURL(fl+"settings.after.default_browser_return_url", s.After.DefaultBrowserReturnURL)
	l.hooks(fl+"settings.after.hooks", s.After.Hooks)
	l.after(fl+"settings.after.password", s.After.Password)
	l.after(fl+"settings.after.profile", s.After.Profile)
	l.after(fl+"settings.after.totp", s.After.TOTP)
	l.after(fl+"settings.after.lookup_secret", s.After.LookupSecret)
	l.after(fl+"settings.after.oidc", s.After.OIDC)

	v := f.Verification
	l.returnURL(fl+"verification.ui_url", v.UIURL)
	l.positive(fl+"verification.lifespan", v.Lifespan)
	l.oneOf(fl+"verification.use", v.Use, "code", "link")
	l.hooks(fl+"verification.before.hooks", v.Before.Hooks)
	l.after(fl+"verification.after", v.After)
	l.returnURL(fl+"logout.after.default_browser_return_url", f.Logout.After.DefaultBrowserReturnURL)

	const me = "selfservice.methods."
	p := ss.Methods.Password.Config
	l.atLeast(me+"password.config.min_password_length", p.MinPasswordLength, 6)
	l.atLeast(me+"password.config.max_breaches", p.MaxBreaches, 0)
	code := ss.Methods.Code.Config
	l.positive(me+"code.config.lifespan", code.Lifespan)
	l.between(me+"code.config.max_submissions", code.MaxSubmissions, 1, 255)
	l.positive(me+"link.config.lifespan", ss.Methods.Link.Config.Lifespan)
}

func (l *loader) methodsAfter(key string, a MethodsAfter) {
	l.after(key, After{DefaultBrowserReturnURL: a.DefaultBrowserReturnURL, Hooks: a.Hooks})
	l.after(key+".password", a.Password)
	l.after(key+".oidc", a.OIDC)
}

// validateHTTPClient checks clients.http: an exception is a URL glob,
// and exceptions without the policy they are exceptions to mean nothing.
func (l *loader) validateHTTPClient(h HTTPClient) {
	const key = "clients.http.private_ip_exception_urls"
	for i, u := range h.PrivateIPExceptionURLs {
		k := fmt.Sprintf("%s[%d]", key, i)
		switch {
		case strings.TrimSpace(u) == "":
			l.fail(k, "must not be empty")
		case strings.ContainsAny(u, `[]{}\`):
			// Kratos's globs have classes and alternatives; a pattern
			// using them would silently never match here.
			l.warn(k, "only *, ** and ? are wildcards; [ ] { } and \\ are matched as they are")
		}
	}
	if len(h.PrivateIPExceptionURLs) > 0 && !h.DisallowPrivateIPRanges {
		l.warn(key, "has no effect: clients.http.disallow_private_ip_ranges is false, every address may be called")
	}
}

// validateHookLists warns about after.hooks web_hooks shadowed by a
// method's own list (see shadowedHooks).
func (l *loader) validateHookLists(c *Config) {
	const fl = "selfservice.flows."
	f := c.SelfService.Flows
	// Social sign-in's lists matter only when it is on (Latchkey's default
	// registration after.oidc.hooks is [session]).
	social := func(m map[string][]Hook) map[string][]Hook {
		if !c.SelfService.Methods.OIDC.Enabled {
			delete(m, "oidc")
		}
		return m
	}
	l.shadowedHooks(fl+"login.after", f.Login.After.Hooks, social(f.Login.After.ByMethod()))
	l.shadowedHooks(fl+"registration.after", f.Registration.After.Hooks, social(f.Registration.After.ByMethod()))
	l.shadowedHooks(fl+"settings.after", f.Settings.After.Hooks, social(f.Settings.After.ByMethod()))
}

// shadowedHooks warns about after.hooks web_hooks that a method never
// runs: as in Kratos, a method's own non-empty list replaces after.hooks
// (Latchkey's default registration after.password.hooks is [session]).
func (l *loader) shadowedHooks(key string, general []Hook, byMethod map[string][]Hook) {
	if !HasHook(general, HookWebHook) {
		return
	}
	var shadowed []string
	for method, hooks := range byMethod {
		if len(hooks) > 0 {
			shadowed = append(shadowed, method)
		}
	}
	slices.Sort(shadowed)
	for _, method := range shadowed {
		l.warn(key+".hooks", "its web_hooks do not run after %s: %s.%s.hooks is set and replaces this list (lists are not merged, as in Kratos); list them there too", method, key, method)
	}
}

func (l *loader) after(key string, a After) {
	l.returnURL(key+".default_browser_return_url", a.DefaultBrowserReturnURL)
	l.hooks(key+".hooks", a.Hooks)
}

// knownHooks are Kratos's hook names that Latchkey runs somewhere; the
// lists below say where. A known hook elsewhere does nothing (as in
// Kratos, which skips a hook that does not apply) and gets a warning.
var knownHooks = []string{HookSession, HookRevokeActiveSessions, HookWebHook, HookShowVerificationUI, HookRequireVerifiedAddress}

var (
	beforeHooks               = []string{HookWebHook}
	registrationAfterHooks    = []string{HookSession, HookWebHook, HookShowVerificationUI}
	loginAfterHooks           = []string{HookRevokeActiveSessions, HookRequireVerifiedAddress, HookWebHook}
	settingsAfterHooks        = []string{HookRevokeActiveSessions, HookWebHook, HookShowVerificationUI}
	settingsProfileAfterHooks = []string{HookWebHook, HookShowVerificationUI}
	settingsFactorAfterHooks  = []string{HookWebHook} // after.totp, after.lookup_secret
	recoveryAfterHooks        = []string{HookRevokeActiveSessions, HookWebHook}
	verificationAfterHooks    = []string{HookWebHook}
)

// hooks checks the hooks list at key (hookPlace says which hooks run
// there). Each web_hook's config is read into its WebHook field (hooks
// shares its backing array with the Config being loaded).
func (l *loader) hooks(key string, hooks []Hook) {
	allowed := hookPlace(key)
	for i, h := range hooks {
		k := fmt.Sprintf("%s[%d]", key, i)
		switch {
		case h.Hook == "":
			l.fail(k+".hook", "must name a hook")
		case !slices.Contains(knownHooks, h.Hook):
			l.warn(k+".hook", "hook %q is not supported; ignored", h.Hook)
		case !slices.Contains(allowed, h.Hook):
			l.warn(k+".hook", "hook %q does nothing here (it runs in: %s); ignored", h.Hook, hookPlaces(h.Hook))
		case h.Hook == HookWebHook:
			hooks[i].WebHook = l.webHook(k+".config", h.Config)
		}
	}
}

// hookPlace are the hooks that run in the hooks list at key
// (selfservice.flows.<flow>.{before,after}[.<method>].hooks).
func hookPlace(key string) []string {
	flow, rest, _ := strings.Cut(strings.TrimPrefix(key, "selfservice.flows."), ".")
	switch {
	case strings.HasPrefix(rest, "before."):
		return beforeHooks
	case flow == "registration":
		return registrationAfterHooks
	case flow == "login":
		return loginAfterHooks
	case flow == "settings" && strings.HasPrefix(rest, "after.profile."):
		return settingsProfileAfterHooks
	case flow == "settings" && (strings.HasPrefix(rest, "after.totp.") || strings.HasPrefix(rest, "after.lookup_secret.") || strings.HasPrefix(rest, "after.oidc.")):
		return settingsFactorAfterHooks
	case flow == "settings":
		return settingsAfterHooks
	case flow == "recovery":
		return recoveryAfterHooks
	case flow == "verification":
		return verificationAfterHooks
	}
	return knownHooks
}

// hookPlaces names where a hook runs, for the warning about a hook in
// the wrong place.
func hookPlaces(name string) string {
	switch name {
	case HookSession:
		return "registration after"
	case HookRevokeActiveSessions:
		return "login after, recovery after, settings after (password changes)"
	case HookRequireVerifiedAddress:
		return "login after"
	case HookShowVerificationUI:
		return "registration after, settings after"
	}
	return "every flow, before and after"
}

// webHookMethods are the methods a web_hook may use.
var webHookMethods = []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE"}

// webHook reads and checks a web_hook's config (key is its path); nil
// when it is invalid. Errors name the offending key; secrets (auth
// values) never appear in them.
func (l *loader) webHook(key string, raw map[string]any) *WebHook {
	if raw == nil {
		l.fail(key+".url", "required: a web_hook needs config.url and config.method")
		return nil
	}
	var w WebHook
	if !l.decodeStruct(key, raw, reflect.ValueOf(&w).Elem()) {
		return nil
	}
	errs := len(l.errs)
	if w.URL == "" {
		l.fail(key+".url", "required")
	} else {
		l.absoluteURL(key+".url", w.URL)
	}
	if w.Method == "" {
		l.fail(key+".method", "required (GET, POST, PUT, PATCH, DELETE, ...)")
	} else if m := strings.ToUpper(w.Method); slices.Contains(webHookMethods, m) {
		w.Method = m
	} else {
		l.fail(key+".method", "must be one of %s, got %q", strings.Join(webHookMethods, ", "), w.Method)
	}
	for name := range w.Headers {
		if !validHeaderName(name) {
			l.fail(key+".headers", "%q is not a valid header name", name)
		}
	}
	if w.Body != "" {
		ct := ""
		for name, v := range w.Headers {
			if strings.EqualFold(name, "Content-Type") {
				ct = v
			}
		}
		if ct != "" && ct != "application/json" && ct != "application/x-www-form-urlencoded" {
			l.fail(key+".headers", "Content-Type must be application/json or application/x-www-form-urlencoded for a request with a body, got %q", ct)
		}
		l.webHookBody(key+".body", w)
	}
	switch a := w.Auth; a.Type {
	case "":
	case "api_key":
		if a.Config.Name == "" {
			l.fail(key+".auth.config.name", "required for api_key auth")
		} else if a.Config.In != "cookie" && !validHeaderName(a.Config.Name) {
			l.fail(key+".auth.config.name", "%q is not a valid header name", a.Config.Name)
		}
		if a.Config.Value == "" {
			l.fail(key+".auth.config.value", "required for api_key auth")
		}
		if a.Config.In != "" && a.Config.In != "header" && a.Config.In != "cookie" {
			l.fail(key+".auth.config.in", "must be header or cookie, got %q", a.Config.In)
		}
	case "basic_auth":
		if a.Config.User == "" {
			l.fail(key+".auth.config.user", "required for basic_auth")
		}
	default:
		l.fail(key+".auth.type", "must be api_key or basic_auth, got %q", a.Type)
	}
	if w.Response.Ignore && w.Response.Parse {
		l.fail(key+".response", "ignore and parse cannot both be true: an ignored answer cannot be parsed")
	}
	if w.Response.Ignore && w.CanInterrupt {
		l.fail(key+".can_interrupt", "cannot be true with response.ignore: an ignored answer cannot interrupt the flow")
	}
	if len(l.errs) > errs {
		return nil
	}
	return &w
}

// webHookBody checks that a web_hook's body template can be read and is
// valid Jsonnet. A body fetched over HTTP is checked when the server
// starts.
func (l *loader) webHookBody(key string, w WebHook) {
	b := w.Body
	hasScheme := false
	for _, p := range []string{"file://", "base64://", "http://", "https://"} {
		hasScheme = hasScheme || strings.HasPrefix(b, p)
	}
	if !hasScheme {
		if strings.Contains(b, "://") {
			l.fail(key, "must be a file://, base64:// or http(s):// URI, got %q", b)
			return
		}
		l.warn(key, "a file path without file:// is deprecated (as in Kratos); use %q", "file://"+b)
	}
	if strings.HasPrefix(b, "http://") || strings.HasPrefix(b, "https://") {
		if u, err := url.Parse(b); err != nil || u.Host == "" {
			l.fail(key, "not a valid URL: %q", b)
		}
		return
	}
	tpl, err := w.ReadBody()
	if err != nil {
		l.fail(key, "%v", err)
		return
	}
	if err := CheckJsonnet(w.BodyName(), string(tpl)); err != nil {
		l.fail(key, "%v", err)
	}
}

// validHeaderName reports whether s is an HTTP header name (an RFC 9110
// token).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c > 127 || !strings.ContainsRune("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", c) {
			return false
		}
	}
	return true
}

func (l *loader) rateLimit(key string, r RateLimit) {
	l.atLeast(key+".max", r.Max, 0)
	if r.Max > 0 {
		l.positive(key+".window", r.Window)
	}
}

// returnURL checks an optional URL a browser is sent to: an absolute
// http(s) URL (Kratos allows a "*." wildcard host in allowed_return_urls)
// or a path starting with "/".
func (l *loader) returnURL(key, s string) {
	if s == "" {
		return
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		l.fail(key, "not a valid URL: %q", s)
	case u.IsAbs() && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "":
	case !u.IsAbs() && u.Host == "" && strings.HasPrefix(u.Path, "/"):
	default:
		l.fail(key, "must be an absolute http(s) URL or a path starting with /, got %q", s)
	}
}

// absoluteURL parses a URL that must be absolute http(s).
func (l *loader) absoluteURL(key, s string) (*url.URL, bool) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		l.fail(key, "must be an absolute http(s) URL, got %q", s)
		return nil, false
	}
	return u, true
}

func (l *loader) validateCourier(c *Config) {
	co := c.Courier
	if uri := co.SMTP.ConnectionURI; uri != "" {
		// Never echo the URI: it usually carries a password.
		u, err := url.Parse(uri)
		switch {
		case err != nil:
			l.fail("courier.smtp.connection_uri", "not a valid URL")
		case u.Scheme != "smtp" && u.Scheme != "smtps":
			l.fail("courier.smtp.connection_uri", "scheme must be smtp or smtps, got %q", u.Scheme)
		case u.Hostname() == "":
			l.fail("courier.smtp.connection_uri", "has no host")
		}
	}
	if _, err := mail.ParseAddress(co.SMTP.FromAddress); err != nil {
		l.fail("courier.smtp.from_address", "not an email address: %q", co.SMTP.FromAddress)
	}
	if (co.SMTP.ClientCertPath == "") != (co.SMTP.ClientKeyPath == "") {
		l.fail("courier.smtp.client_cert_path", "client_cert_path and client_key_path must be set together")
	}
	if co.MessageRetries != nil {
		l.atLeast("courier.message_retries", *co.MessageRetries, 0)
	}
	l.atLeast("courier.worker.pull_count", co.Worker.PullCount, 1)
	l.positive("courier.worker.pull_wait", co.Worker.PullWait)
	l.between("courier.worker.concurrency", co.Worker.Concurrency, 1, 256)
	if l.oneOf("courier.delivery_strategy", co.DeliveryStrategy, "smtp", "http") && co.DeliveryStrategy == "http" {
		l.warn("courier.delivery_strategy", "http delivery is not supported; mail is sent over SMTP")
	}
	if p := co.TemplateOverridePath; p != "" {
		if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
			l.fail("courier.template_override_path", "not a readable directory: %q", p)
		}
	}
	// Every part of every template, by its key: the key tags of
	// CourierTemplates are the only list of templates.
	root := reflect.ValueOf(c).Elem()
	for _, lf := range keys().leaves {
		if strings.HasPrefix(lf.path, "courier.templates.") {
			l.templateURI(lf.path, root.FieldByIndex(lf.index).String())
		}
	}
}

func (l *loader) templateURI(key, s string) {
	if s == "" {
		return
	}
	for _, p := range []string{"file://", "base64://", "http://", "https://"} {
		if strings.HasPrefix(s, p) {
			return
		}
	}
	l.fail(key, "must be a file://, base64:// or http(s):// URI, got %q", s)
}

var hexColor = regexp.MustCompile(`^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

func (l *loader) validateBrand(b Brand) {
	if b.PrimaryColor != "" && !hexColor.MatchString(b.PrimaryColor) {
		l.fail("ui.brand.primary_color", "must be a colour as #rgb or #rrggbb, got %q", b.PrimaryColor)
	}
	if b.LogoURL != "" {
		l.absoluteURL("ui.brand.logo_url", b.LogoURL)
	}
}
