// Package config owns Latchkey's configuration: the typed Config struct and
// its defaults, loading it from YAML/JSON files and Kratos-style environment
// variables, and validating it. Configuration is read once at start-up;
// the rest of the code reads typed fields and never looks keys up by string.
//
// Key names and defaults follow Ory Kratos (an existing kratos.yml loads
// unchanged); Latchkey's deliberate departures from Kratos defaults are
// marked "Latchkey default" on the fields concerned. Each field's `key` tag
// names its config key relative to the enclosing struct.
package config

import (
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"golang.org/x/text/language"

	"github.com/latchkey/latchkey/internal/docurl"
	"github.com/latchkey/latchkey/internal/i18n"
)

// Config is the whole typed configuration. Build it with Load.
type Config struct {
	// DSN names the database (sqlite://, memory, postgres://, mysql://, ...).
	// In development mode an empty DSN becomes a SQLite file in the data dir.
	DSN string `key:"dsn"`
	// Dev is development mode (the --dev flag): insecure cookies allowed,
	// generated secrets, dev mailbox. It is not read from files or env.
	Dev bool

	Serve        Serve        `key:"serve"`
	Log          Log          `key:"log"`
	Secrets      Secrets      `key:"secrets"`
	Identity     Identity     `key:"identity"`
	Hashers      Hashers      `key:"hashers"`
	Session      Session      `key:"session"`
	Cookies      Cookies      `key:"cookies"`
	SelfService  SelfService  `key:"selfservice"`
	Courier      Courier      `key:"courier"`
	FeatureFlags FeatureFlags `key:"feature_flags"`
	DevMailbox   DevMailbox   `key:"dev_mailbox"`
	Profiling    Profiling    `key:"profiling"`
	Database     Database     `key:"database"`
	Audit        Audit        `key:"audit"`
	Clients      Clients      `key:"clients"`
	UI           UI           `key:"ui"`
}

// DefaultLanguage is selfservice.default_locale as the supported
// language it names (English when unset).
func (s SelfService) DefaultLanguage() language.Tag {
	if t, ok := i18n.Match(s.DefaultLocale); ok {
		return t
	}
	return i18n.Default
}

// UI (Latchkey only) is the look of the built-in UI and the mails.
type UI struct {
	Brand Brand `key:"brand"`
}

// Brand is ui.brand: whose product the pages and mails present.
type Brand struct {
	// Name replaces "Latchkey" in the header, page titles and mails.
	Name string `key:"name"`
	// LogoURL is an image shown beside the name in the header (an
	// absolute http(s) URL, allowed by the pages' img-src); empty shows
	// the name alone.
	LogoURL string `key:"logo_url"`
	// PrimaryColor is the colour of buttons and links, as #rgb or
	// #rrggbb; the UI darkens it where needed for contrast.
	PrimaryColor string `key:"primary_color"`
}

// Clients is Kratos's clients section: how outgoing calls behave.
type Clients struct {
	HTTP    HTTPClient    `key:"http"`
	WebHook WebHookClient `key:"web_hook"`
}

// HTTPClient is clients.http: which addresses web_hooks (and the body
// templates fetched at start-up) may call.
type HTTPClient struct {
	// DisallowPrivateIPRanges (default false, as in Kratos) refuses calls
	// to loopback, private, link-local, carrier-grade NAT and other
	// non-public addresses, checked when the connection is made (after
	// DNS).
	DisallowPrivateIPRanges bool `key:"disallow_private_ip_ranges"`
	// PrivateIPExceptionURLs are URL globs ("*" stops at "." and "/",
	// "**" does not) that may reach private addresses anyway.
	PrivateIPExceptionURLs []string `key:"private_ip_exception_urls"`
}

// WebHookClient is clients.web_hook.
type WebHookClient struct {
	// HeaderAllowlist are the request headers a web_hook's Jsonnet sees in
	// ctx.request_headers (Kratos's default list: Accept, User-Agent, ...;
	// never Cookie or Authorization unless added here).
	HeaderAllowlist []string `key:"header_allowlist"`
}

// Serve holds the two listeners.
type Serve struct {
	Public Listener `key:"public"`
	Admin  Listener `key:"admin"`
}

// Listener is one HTTP listener (serve.public or serve.admin).
type Listener struct {
	Host string `key:"host"`
	Port int    `key:"port"`
	// BaseURL is the URL clients reach this listener at. After Load it is
	// never empty (derived from host and port) and always ends with "/".
	BaseURL string `key:"base_url"`
	// TrustedProxies (Latchkey only, default none) are the IP addresses
	// and CIDR ranges of reverse proxies whose X-Forwarded-For and
	// True-Client-IP headers name the client; see TrustedProxyRanges.
	TrustedProxies []string `key:"trusted_proxies"`
}

// TrustedProxyRanges parses TrustedProxies: a bare address is a range of
// one. Load has validated them, so only an unloaded Config errs.
func (l Listener) TrustedProxyRanges() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range l.TrustedProxies {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an IP address nor a CIDR range", s)
		}
		ip = ip.Unmap()
		out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
	}
	return out, nil
}

// Addr is the host:port to listen on.
func (l Listener) Addr() string {
	return joinHostPort(l.Host, l.Port)
}

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error (Kratos's trace, warning, fatal
	// and panic are accepted and mapped onto these).
	Level string `key:"level"`
	// Format is text or json.
	Format string `key:"format"`
}

// SlogLevel is Level as a slog.Level.
func (l Log) SlogLevel() slog.Level {
	switch l.Level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// Secrets holds the secret lists. In each list the first secret signs and
// all of them verify, so a new secret can be prepended to rotate keys.
// Use the Keyring accessors: they apply the fallback to Default.
type Secrets struct {
	Default []string `key:"default"`
	Cookie  []string `key:"cookie"`
	Cipher  []string `key:"cipher"`
}

// DefaultKeys is the keyring of secrets.default.
func (s Secrets) DefaultKeys() Keyring { return Keyring(s.Default) }

// CookieKeys is the keyring of secrets.cookie, falling back to secrets.default.
func (s Secrets) CookieKeys() Keyring {
	if len(s.Cookie) > 0 {
		return Keyring(s.Cookie)
	}
	return Keyring(s.Default)
}

// CipherKeys is the keyring of secrets.cipher, falling back to secrets.default.
func (s Secrets) CipherKeys() Keyring {
	if len(s.Cipher) > 0 {
		return Keyring(s.Cipher)
	}
	return Keyring(s.Default)
}

// Keyring is an ordered list of secrets: the first signs, all verify.
type Keyring []string

// SigningSecret is the secret new signatures and keyed hashes use.
func (k Keyring) SigningSecret() []byte {
	if len(k) == 0 {
		return nil
	}
	return []byte(k[0])
}

// VerificationSecrets are all secrets, signing secret first, to check
// signatures and keyed hashes made before a rotation.
func (k Keyring) VerificationSecrets() [][]byte {
	out := make([][]byte, len(k))
	for i, s := range k {
		out[i] = []byte(s)
	}
	return out
}

// Identity configures identity schemas.
type Identity struct {
	DefaultSchemaID string           `key:"default_schema_id"`
	Schemas         []IdentitySchema `key:"schemas"`
}

// IdentitySchema is one entry of identity.schemas. URL is file://,
// base64:// or http(s)://. With no schemas configured the identity
// package uses its built-in default schema.
type IdentitySchema struct {
	ID  string `key:"id"`
	URL string `key:"url"`
}

// Hashers configures password hashing for new hashes.
type Hashers struct {
	// Algorithm is bcrypt or argon2.
	Algorithm string `key:"algorithm"`
	Bcrypt    Bcrypt `key:"bcrypt"`
	Argon2    Argon2 `key:"argon2"`
}

// Bcrypt configures the bcrypt hasher.
type Bcrypt struct {
	Cost int `key:"cost"` // 4..31
}

// Argon2 configures the argon2id hasher.
type Argon2 struct {
	Memory      ByteSize `key:"memory"` // "128MB" or a number of bytes
	Iterations  int      `key:"iterations"`
	Parallelism int      `key:"parallelism"`
	SaltLength  int      `key:"salt_length"`
	KeyLength   int      `key:"key_length"`
}

// MemoryKiB is Memory in KiB, the unit golang.org/x/crypto/argon2 takes.
func (a Argon2) MemoryKiB() uint32 { return uint32(a.Memory / 1024) }

// ByteSize is a number of bytes; config accepts integers and strings
// such as "128MB" or "64MiB" (KB/MB/GB are powers of 1024, as in Kratos).
type ByteSize uint64

// Session configures sessions and the session cookie.
type Session struct {
	// Lifespan: expires_at = authenticated_at + Lifespan.
	Lifespan time.Duration `key:"lifespan"`
	// EarliestPossibleExtend: a session may be extended only when it expires
	// within this long. Equals Lifespan when not configured.
	EarliestPossibleExtend time.Duration `key:"earliest_possible_extend"`
	Cookie                 SessionCookie `key:"cookie"`
	Whoami                 Whoami        `key:"whoami"`
}

// SessionCookie is session.cookie. Empty Domain/Path/SameSite and a nil
// Secure fall back to the cookies.* settings; use Config.SessionCookie for
// the resolved values.
type SessionCookie struct {
	Name       string `key:"name"`
	Domain     string `key:"domain"`
	Path       string `key:"path"`
	SameSite   string `key:"same_site"`
	Persistent bool   `key:"persistent"`
	Secure     *bool  `key:"secure"`
}

// Whoami configures /sessions/whoami.
type Whoami struct {
	// RequiredAAL is aal1 or highest_available.
	RequiredAAL string `key:"required_aal"`
}

// Cookies holds the attributes of every cookie Latchkey sets (CSRF,
// continuity) and the fallback for the session cookie.
type Cookies struct {
	Domain   string `key:"domain"`
	Path     string `key:"path"`
	SameSite string `key:"same_site"` // Lax, Strict or None
	// Secure: after Load, set; when not configured, true unless Dev.
	Secure *bool `key:"secure"`
}

// SelfService configures the self-service flows and methods.
type SelfService struct {
	// DefaultBrowserReturnURL is where browsers go when nothing more
	// specific is configured; empty means Config.DefaultReturnURL's fallback.
	DefaultBrowserReturnURL string   `key:"default_browser_return_url"`
	AllowedReturnURLs       []string `key:"allowed_return_urls"`
	Flows                   Flows    `key:"flows"`
	Methods                 Methods  `key:"methods"`
	// Notifications (Latchkey only) are the security notification mails.
	Notifications Notifications `key:"notifications"`
	// DefaultLocale (Latchkey only, default "en") is the language of the
	// built-in UI and the mails when neither the identity's locale trait
	// nor the browser's Accept-Language names a supported one: en, de, fr,
	// es or pt-BR (a close tag such as "de-AT" is accepted).
	DefaultLocale string `key:"default_locale"`
}

// Flows holds the per-flow settings.
type Flows struct {
	Error        ErrorFlow        `key:"error"`
	Login        LoginFlow        `key:"login"`
	Registration RegistrationFlow `key:"registration"`
	Recovery     RecoveryFlow     `key:"recovery"`
	Settings     SettingsFlow     `key:"settings"`
	Verification VerificationFlow `key:"verification"`
	Logout       LogoutFlow       `key:"logout"`
}

// ErrorFlow is selfservice.flows.error.
type ErrorFlow struct {
	UIURL string `key:"ui_url"`
}

// LoginFlow is selfservice.flows.login.
type LoginFlow struct {
	UIURL    string        `key:"ui_url"`
	Lifespan time.Duration `key:"lifespan"`
	// Style is "unified" (default) or "identifier_first" (the identifier
	// first, then the credentials; experimental in Kratos).
	Style     string         `key:"style"`
	RateLimit LoginRateLimit `key:"rate_limit"`
	Before    HookSet        `key:"before"`
	After     MethodsAfter   `key:"after"`
}

// LoginRateLimit (Latchkey only) limits failed password logins.
type LoginRateLimit struct {
	PerIdentifier RateLimit `key:"per_identifier"`
	PerIP         RateLimit `key:"per_ip"`
}

// RegistrationFlow is selfservice.flows.registration.
type RegistrationFlow struct {
	Enabled  bool          `key:"enabled"`
	UIURL    string        `key:"ui_url"`
	Lifespan time.Duration `key:"lifespan"`
	// Style is "profile_first" (traits first, then the credentials; the
	// default, as in Kratos v26.2.0) or "unified" (one form).
	Style  string  `key:"style"`
	Before HookSet `key:"before"`
	// After.Password.Hooks defaults to [{hook: session}] in Latchkey, so a
	// registration logs the user in.
	After MethodsAfter `key:"after"`
}

// RecoveryFlow is selfservice.flows.recovery.
type RecoveryFlow struct {
	// Enabled: Latchkey default true (Kratos: false).
	Enabled  bool          `key:"enabled"`
	UIURL    string        `key:"ui_url"`
	Lifespan time.Duration `key:"lifespan"`
	// Use is the method new flows use: code or link.
	Use                     string `key:"use"`
	NotifyUnknownRecipients bool   `key:"notify_unknown_recipients"`
	// RevokeOtherSessions (Latchkey only, default true) revokes the
	// identity's other sessions after a successful recovery.
	RevokeOtherSessions bool              `key:"revoke_other_sessions"`
	RateLimit           RecoveryRateLimit `key:"rate_limit"`
	Before              HookSet           `key:"before"`
	After               After             `key:"after"`
}

// RevokesOtherSessions reports whether a successful recovery revokes the
// identity's other sessions: revoke_other_sessions, or Kratos's
// revoke_active_sessions after-hook.
func (f RecoveryFlow) RevokesOtherSessions() bool {
	return f.RevokeOtherSessions || HasHook(f.After.Hooks, HookRevokeActiveSessions)
}

// RecoveryRateLimit (Latchkey only) limits recovery messages sent.
type RecoveryRateLimit struct {
	PerAddress RateLimit `key:"per_address"`
	PerIP      RateLimit `key:"per_ip"`
}

// RateLimit allows Max events per Window; Max 0 disables the limit.
type RateLimit struct {
	Max    int           `key:"max"`
	Window time.Duration `key:"window"`
}

// SettingsFlow is selfservice.flows.settings.
type SettingsFlow struct {
	UIURL                   string        `key:"ui_url"`
	Lifespan                time.Duration `key:"lifespan"`
	PrivilegedSessionMaxAge time.Duration `key:"privileged_session_max_age"`
	// RequiredAAL is aal1 or highest_available.
	RequiredAAL string `key:"required_aal"`
	// RevokeOtherSessions (Latchkey only, default true) revokes the
	// identity's other sessions after a password change.
	RevokeOtherSessions bool          `key:"revoke_other_sessions"`
	Before              HookSet       `key:"before"`
	After               SettingsAfter `key:"after"`
}

// PasswordChangeRevokesOtherSessions reports whether a password change
// revokes the identity's other sessions: revoke_other_sessions, or a
// revoke_active_sessions hook in after.hooks or after.password.hooks.
func (f SettingsFlow) PasswordChangeRevokesOtherSessions() bool {
	return f.RevokeOtherSessions ||
		HasHook(f.After.Hooks, HookRevokeActiveSessions) ||
		HasHook(f.After.Password.Hooks, HookRevokeActiveSessions)
}

// VerificationFlow is selfservice.flows.verification.
type VerificationFlow struct {
	// Enabled: default false, as in Kratos. When on, every new
	// verifiable address (registration, a profile change) gets a code.
	Enabled  bool          `key:"enabled"`
	UIURL    string        `key:"ui_url"`
	Lifespan time.Duration `key:"lifespan"`
	// Use is the method: "code" (default) or "link" (not built yet).
	Use                     string  `key:"use"`
	NotifyUnknownRecipients bool    `key:"notify_unknown_recipients"`
	Before                  HookSet `key:"before"`
	After                   After   `key:"after"`
}

// LogoutFlow is selfservice.flows.logout.
type LogoutFlow struct {
	After LogoutAfter `key:"after"`
}

// LogoutAfter is selfservice.flows.logout.after.
type LogoutAfter struct {
	DefaultBrowserReturnURL string `key:"default_browser_return_url"`
}

// HookSet is a list of hooks (a flow's "before").
type HookSet struct {
	Hooks []Hook `key:"hooks"`
}

// After is a flow's "after" section without per-method overrides.
type After struct {
	DefaultBrowserReturnURL string `key:"default_browser_return_url"`
	Hooks                   []Hook `key:"hooks"`
}

// MethodsAfter is the "after" section of login and registration.
type MethodsAfter struct {
	DefaultBrowserReturnURL string `key:"default_browser_return_url"`
	Hooks                   []Hook `key:"hooks"`
	Password                After  `key:"password"`
	// OIDC is after.oidc: a social sign-in (or sign-up).
	OIDC After `key:"oidc"`
}

// ByMethod are the per-method after-hooks lists (after.<method>.hooks).
func (a MethodsAfter) ByMethod() map[string][]Hook {
	return map[string][]Hook{"password": a.Password.Hooks, "oidc": a.OIDC.Hooks}
}

// SettingsAfter is selfservice.flows.settings.after.
type SettingsAfter struct {
	DefaultBrowserReturnURL string `key:"default_browser_return_url"`
	Hooks                   []Hook `key:"hooks"`
	Password                After  `key:"password"`
	Profile                 After  `key:"profile"`
	// TOTP and LookupSecret are after.totp and after.lookup_secret: they
	// apply when an authenticator app or a set of backup codes is added
	// or removed.
	TOTP         After `key:"totp"`
	LookupSecret After `key:"lookup_secret"`
	// OIDC is after.oidc: a social sign-in account linked or unlinked.
	OIDC After `key:"oidc"`
}

// ByMethod are the per-method after-hooks lists (after.<method>.hooks).
func (a SettingsAfter) ByMethod() map[string][]Hook {
	return map[string][]Hook{"password": a.Password.Hooks, "profile": a.Profile.Hooks,
		"totp": a.TOTP.Hooks, "lookup_secret": a.LookupSecret.Hooks, "oidc": a.OIDC.Hooks}
}

// Hook names Latchkey knows.
const (
	HookSession                = "session"
	HookRevokeActiveSessions   = "revoke_active_sessions"
	HookWebHook                = "web_hook"
	HookShowVerificationUI     = "show_verification_ui"
	HookRequireVerifiedAddress = "require_verified_address"
)

// Hook is one entry of a hooks list: {hook: name, config: {...}}.
type Hook struct {
	Hook   string         `key:"hook"`
	Config map[string]any `key:"config"`
	// WebHook is Config read as a web_hook's configuration; Load sets it
	// for every valid web_hook (nil for other hooks).
	WebHook *WebHook
}

// WebHook is the config of a web_hook hook, with Kratos's keys
// (docs/hooks.md). Load has checked it: URL is absolute http(s), Method
// an HTTP method in upper case, Body readable and valid Jsonnet (unless
// it is fetched over HTTP), Auth complete, Ignore not combined with
// Parse or CanInterrupt.
type WebHook struct {
	// ID names the hook in logs (Kratos: "for debugging purposes only").
	ID     string `key:"id"`
	URL    string `key:"url"`
	Method string `key:"method"`
	// Headers are sent with every call (Content-Type defaults to
	// application/json).
	Headers map[string]string `key:"headers"`
	// Body is the URI of the Jsonnet template that renders the request
	// body: file://, base64://, http(s)://, or (deprecated, as in Kratos)
	// a file path without scheme. Empty sends no body.
	Body string      `key:"body"`
	Auth WebHookAuth `key:"auth"`
	// CanInterrupt is Kratos's deprecated spelling of Response.Parse for
	// the interrupting half: a 4xx answer with messages stops the flow.
	CanInterrupt bool `key:"can_interrupt"`
	// EmitAnalyticsEvent is accepted for Kratos configurations; Latchkey
	// has no tracing events.
	EmitAnalyticsEvent *bool           `key:"emit_analytics_event"`
	Response           WebHookResponse `key:"response"`
}

// Parses reports whether the hook's answer is read (response.parse or
// can_interrupt): such a hook runs before the flow writes anything and
// may change the identity or stop the flow.
func (w WebHook) Parses() bool { return w.Response.Parse || w.CanInterrupt }

// WebHookAuth is a web_hook's auth: type api_key (config name, value, in:
// header or cookie) or basic_auth (config user, password). Its values
// are secrets: never log them.
type WebHookAuth struct {
	Type   string            `key:"type"`
	Config WebHookAuthConfig `key:"config"`
}

// WebHookAuthConfig holds the keys of both auth types.
type WebHookAuthConfig struct {
	Name     string `key:"name"`
	Value    string `key:"value"`
	In       string `key:"in"`
	User     string `key:"user"`
	Password string `key:"password"`
}

// WebHookResponse is a web_hook's response handling.
type WebHookResponse struct {
	// Ignore: call in the background, after the flow has finished; the
	// answer does not matter.
	Ignore bool `key:"ignore"`
	// Parse: a 200 answer may change the identity before it is written;
	// a 4xx answer with messages stops the flow.
	Parse bool `key:"parse"`
}

// BodyName names the body template in errors and logs: its URI, except
// that an inline base64:// template is not repeated (a template may hold
// a secret).
func (w WebHook) BodyName() string {
	if strings.HasPrefix(w.Body, "base64://") {
		return "base64://…"
	}
	return w.Body
}

// ReadBody returns the Jsonnet template of a file://, base64:// or
// scheme-less (file path, relative to the working directory, as in
// Kratos) body; nil for no body. An http(s) body gives an error matching
// docurl.ErrRemote: the server fetches it at start-up.
func (w WebHook) ReadBody() ([]byte, error) {
	b := w.Body
	if b == "" {
		return nil, nil
	}
	if !strings.Contains(b, "://") {
		b = "file://" + b
	}
	return docurl.Read(b, "body")
}

// HasHook reports whether hooks contains a hook with the given name.
func HasHook(hooks []Hook, name string) bool {
	for _, h := range hooks {
		if h.Hook == name {
			return true
		}
	}
	return false
}

// Methods holds the self-service methods.
type Methods struct {
	Password PasswordMethod `key:"password"`
	Profile  ProfileMethod  `key:"profile"`
	Code     CodeMethod     `key:"code"`
	Link     LinkMethod     `key:"link"`
	TOTP     TOTPMethod     `key:"totp"`
	Lookup   LookupMethod   `key:"lookup_secret"`
	OIDC     OIDCMethod     `key:"oidc"`
}

// OIDCMethod is selfservice.methods.oidc: social sign-in (off by
// default, as in Kratos).
type OIDCMethod struct {
	Enabled bool       `key:"enabled"`
	Config  OIDCConfig `key:"config"`
}

// OIDCConfig is selfservice.methods.oidc.config.
type OIDCConfig struct {
	// BaseRedirectURI replaces serve.public.base_url in the callback URL
	// given to providers (PUBLIC/self-service/methods/oidc/callback/<id>).
	BaseRedirectURI string         `key:"base_redirect_uri"`
	Providers       []OIDCProvider `key:"providers"`
}

// OIDCProvider is one entry of selfservice.methods.oidc.config.providers,
// with Kratos's keys (api_url is Latchkey's: GitHub's API for GitHub
// Enterprise or a test server).
type OIDCProvider struct {
	ID              string         `key:"id"`
	Provider        string         `key:"provider"`
	Label           string         `key:"label"`
	ClientID        string         `key:"client_id"`
	ClientSecret    string         `key:"client_secret"`
	IssuerURL       string         `key:"issuer_url"`
	AuthURL         string         `key:"auth_url"`
	TokenURL        string         `key:"token_url"`
	APIURL          string         `key:"api_url"`
	Scope           []string       `key:"scope"`
	MapperURL       string         `key:"mapper_url"`
	RequestedClaims map[string]any `key:"requested_claims"`
	PKCE            string         `key:"pkce"`
}

// TOTPMethod is selfservice.methods.totp (off by default, as in Kratos).
type TOTPMethod struct {
	Enabled bool       `key:"enabled"`
	Config  TOTPConfig `key:"config"`
}

// TOTPConfig is selfservice.methods.totp.config.
type TOTPConfig struct {
	// Issuer names the account in authenticator apps; "" means the host
	// name of serve.public.base_url (see Config.TOTPIssuer).
	Issuer string `key:"issuer"`
}

// LookupMethod is selfservice.methods.lookup_secret: backup codes (off by
// default, as in Kratos).
type LookupMethod struct {
	Enabled bool         `key:"enabled"`
	Config  LookupConfig `key:"config"`
}

// LookupConfig is selfservice.methods.lookup_secret.config.
type LookupConfig struct {
	// UseForRecovery lets a recovery flow accept an identifier and an
	// unused backup code instead of a mailed code (a Latchkey departure,
	// off by default).
	UseForRecovery bool `key:"use_for_recovery"`
}

// PasswordMethod is selfservice.methods.password.
type PasswordMethod struct {
	Enabled bool           `key:"enabled"`
	Config  PasswordPolicy `key:"config"`
}

// PasswordPolicy is selfservice.methods.password.config. The
// haveibeenpwned keys are honoured by an offline check (no network).
type PasswordPolicy struct {
	MinPasswordLength                int    `key:"min_password_length"`
	IdentifierSimilarityCheckEnabled bool   `key:"identifier_similarity_check_enabled"`
	HaveIBeenPwnedEnabled            bool   `key:"haveibeenpwned_enabled"`
	HaveIBeenPwnedHost               string `key:"haveibeenpwned_host"`
	MaxBreaches                      int    `key:"max_breaches"`
	IgnoreNetworkErrors              bool   `key:"ignore_network_errors"`
}

// ProfileMethod is selfservice.methods.profile.
type ProfileMethod struct {
	Enabled bool `key:"enabled"`
}

// CodeMethod is selfservice.methods.code.
type CodeMethod struct {
	Enabled bool       `key:"enabled"`
	Config  CodeConfig `key:"config"`
}

// CodeConfig is selfservice.methods.code.config.
type CodeConfig struct {
	Lifespan       time.Duration `key:"lifespan"`
	MaxSubmissions int           `key:"max_submissions"` // 1..255
}

// LinkMethod is selfservice.methods.link.
type LinkMethod struct {
	Enabled bool       `key:"enabled"`
	Config  LinkConfig `key:"config"`
}

// LinkConfig is selfservice.methods.link.config.
type LinkConfig struct {
	Lifespan time.Duration `key:"lifespan"`
	// BaseURL overrides the public base URL in emailed links; use
	// Config.LinkBaseURL for the resolved value.
	BaseURL string `key:"base_url"`
	// RequireConfirmation (Latchkey only, default true): opening a link
	// shows a confirm page and only its POST spends the token.
	RequireConfirmation bool `key:"require_confirmation"`
}

// Courier configures outgoing email.
type Courier struct {
	SMTP SMTP `key:"smtp"`
	// MessageRetries, when set, caps delivery at 1 + MessageRetries
	// attempts (as in Kratos; 0 is a single attempt). Unset (nil, the
	// default), a failing message is retried until its code or link
	// expires.
	MessageRetries *int          `key:"message_retries"`
	Worker         CourierWorker `key:"worker"`
	// DeliveryStrategy is smtp (http is accepted with a warning and not used).
	DeliveryStrategy     string           `key:"delivery_strategy"`
	TemplateOverridePath string           `key:"template_override_path"`
	Templates            CourierTemplates `key:"templates"`
}

// SMTP is courier.smtp.
type SMTP struct {
	// ConnectionURI is smtp://user:pass@host:port/ (STARTTLS required
	// unless ?disable_starttls=true) or smtps://. Contains a password:
	// never log it.
	ConnectionURI  string            `key:"connection_uri"`
	FromAddress    string            `key:"from_address"`
	FromName       string            `key:"from_name"`
	Headers        map[string]string `key:"headers"`
	LocalName      string            `key:"local_name"`
	ClientCertPath string            `key:"client_cert_path"`
	ClientKeyPath  string            `key:"client_key_path"`
}

// CourierWorker is courier.worker.
type CourierWorker struct {
	PullCount int           `key:"pull_count"`
	PullWait  time.Duration `key:"pull_wait"`
	// Concurrency (Latchkey only) is how many mails are sent at once, over
	// as many kept SMTP connections.
	Concurrency int `key:"concurrency"`
}

// CourierTemplates is courier.templates: per-template URIs (file://,
// base64://, http(s)://) overriding the built-in email templates.
// internal/server hands each to the courier under its template type;
// login_code and registration_code are accepted for Kratos configurations
// but Latchkey sends no such mail.
type CourierTemplates struct {
	Recovery         TemplatePair `key:"recovery"`
	RecoveryCode     TemplatePair `key:"recovery_code"`
	Verification     TemplatePair `key:"verification"`
	VerificationCode TemplatePair `key:"verification_code"`
	LoginCode        ValidOnly    `key:"login_code"`
	RegistrationCode ValidOnly    `key:"registration_code"`

	// Latchkey's security notifications have no valid/invalid variants
	// (docs/security-notifications.md).
	SecurityPasswordChanged     EmailTemplate `key:"security_password_changed"`
	SecurityAccountRecovered    EmailTemplate `key:"security_account_recovered"`
	SecurityAdminRecoveryIssued EmailTemplate `key:"security_admin_recovery_issued"`
	SecuritySecondFactorAdded   EmailTemplate `key:"security_second_factor_added"`
	SecuritySecondFactorRemoved EmailTemplate `key:"security_second_factor_removed"`
	SecurityAddressChanged      EmailTemplate `key:"security_address_changed"`
	SecuritySocialLinked        EmailTemplate `key:"security_social_linked"`
	SecurityLockdownConfirmed   EmailTemplate `key:"security_lockdown_confirmed"`
}

// TemplatePair holds the valid and invalid variants of a template.
type TemplatePair struct {
	Valid   EmailTemplate `key:"valid"`
	Invalid EmailTemplate `key:"invalid"`
}

// ValidOnly holds a template that has only a valid variant.
type ValidOnly struct {
	Valid EmailTemplate `key:"valid"`
}

// EmailTemplate holds the URIs of one email template's parts
// (<template>.email.subject, .email.body.html, .email.body.plaintext).
type EmailTemplate struct {
	Subject       string `key:"email.subject"`
	BodyHTML      string `key:"email.body.html"`
	BodyPlaintext string `key:"email.body.plaintext"`
}

// FeatureFlags is feature_flags.
type FeatureFlags struct {
	// UseContinueWithTransitions: Latchkey default true (Kratos: false).
	UseContinueWithTransitions bool `key:"use_continue_with_transitions"`
	FasterSessionExtend        bool `key:"faster_session_extend"`
	// LegacyRequireVerifiedLoginError: require_verified_address answers
	// with a form error (400, 4000010) instead of sending a verification
	// code (Kratos's default false).
	LegacyRequireVerifiedLoginError bool `key:"legacy_require_verified_login_error"`
}

// DevMailbox (Latchkey only) keeps mail in the database for the built-in
// UI instead of sending it. Defaults to Dev.
type DevMailbox struct {
	Enabled bool `key:"enabled"`
}

// Profiling (Latchkey only) serves net/http/pprof on the admin listener.
type Profiling struct {
	Enabled bool `key:"enabled"`
}
