package courier

import (
	"fmt"
	htmltemplate "html/template"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	texttemplate "text/template"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/language"

	"github.com/latchkey/latchkey/internal/i18n"
)

// TemplateType names what a message says; it is stored with the message and
// shown as template_type in the admin API.
type TemplateType string

// The template types Latchkey sends.
const (
	TemplateRecoveryCodeValid       TemplateType = "recovery_code_valid"
	TemplateRecoveryCodeInvalid     TemplateType = "recovery_code_invalid"
	TemplateRecoveryValid           TemplateType = "recovery_valid"
	TemplateRecoveryInvalid         TemplateType = "recovery_invalid"
	TemplateVerificationCodeValid   TemplateType = "verification_code_valid"
	TemplateVerificationCodeInvalid TemplateType = "verification_code_invalid"
	TemplateVerificationValid       TemplateType = "verification_valid"
	TemplateVerificationInvalid     TemplateType = "verification_invalid"

	// Security notifications (Latchkey only, internal/notify): each but
	// the lockdown confirmation carries a "this wasn't me" link.
	TemplateSecurityPasswordChanged     TemplateType = "security_password_changed"
	TemplateSecurityAccountRecovered    TemplateType = "security_account_recovered"
	TemplateSecurityAdminRecovery       TemplateType = "security_admin_recovery_issued"
	TemplateSecuritySecondFactorAdded   TemplateType = "security_second_factor_added"
	TemplateSecuritySecondFactorRemoved TemplateType = "security_second_factor_removed"
	TemplateSecurityAddressChanged      TemplateType = "security_address_changed"
	TemplateSecuritySocialLinked        TemplateType = "security_social_linked"
	TemplateSecurityLockdownConfirmed   TemplateType = "security_lockdown_confirmed"
)

// TemplateTypes lists every template type Latchkey can render.
var TemplateTypes = []TemplateType{
	TemplateRecoveryCodeValid, TemplateRecoveryCodeInvalid,
	TemplateRecoveryValid, TemplateRecoveryInvalid,
	TemplateVerificationCodeValid, TemplateVerificationCodeInvalid,
	TemplateVerificationValid, TemplateVerificationInvalid,
	TemplateSecurityPasswordChanged, TemplateSecurityAccountRecovered, TemplateSecurityAdminRecovery,
	TemplateSecuritySecondFactorAdded, TemplateSecuritySecondFactorRemoved, TemplateSecurityAddressChanged,
	TemplateSecuritySocialLinked, TemplateSecurityLockdownConfirmed,
}

// key names the type's templates: the directory "<group>/<valid|invalid>"
// of the built-in and override templates, and the config key
// courier.templates.<group>.<valid|invalid> ("recovery_code_valid" is
// recovery_code.valid). A security notification has no variants: its
// directory and key are its name alone (validity ""). It is the one place
// that maps the two names.
func (t TemplateType) key() (group, validity string) {
	s := string(t)
	if strings.HasPrefix(s, "security_") {
		return s, ""
	}
	if g, ok := strings.CutSuffix(s, "_invalid"); ok {
		return g, "invalid"
	}
	g, _ := strings.CutSuffix(s, "_valid")
	return g, "valid"
}

// configKey is the courier.templates key of a part of the type's template.
func configKey(group, validity, field string) string {
	if validity == "" {
		return "courier.templates." + group + "." + field
	}
	return "courier.templates." + group + "." + validity + "." + field
}

// carriesSecret reports whether messages of the type contain a live code
// or link (a security notification's lockdown link is one).
func (t TemplateType) carriesSecret() bool {
	switch t {
	case TemplateRecoveryCodeValid, TemplateRecoveryValid, TemplateVerificationCodeValid, TemplateVerificationValid,
		TemplateSecurityPasswordChanged, TemplateSecurityAccountRecovered, TemplateSecurityAdminRecovery,
		TemplateSecuritySecondFactorAdded, TemplateSecuritySecondFactorRemoved, TemplateSecurityAddressChanged,
		TemplateSecuritySocialLinked:
		return true
	}
	return false
}

// TemplateData is what templates see. Templates use the Go field names
// ({{ .RecoveryCode }}); the copy stored with a message uses the JSON names.
// Identity is the identity JSON without credentials, so
// {{ .Identity.traits.email }} works.
type TemplateData struct {
	To               string         `json:"to"`
	RecoveryCode     string         `json:"recovery_code,omitempty"`
	RecoveryURL      string         `json:"recovery_url,omitempty"`
	VerificationCode string         `json:"verification_code,omitempty"`
	VerificationURL  string         `json:"verification_url,omitempty"`
	Identity         map[string]any `json:"identity,omitempty"`
	RequestURL       string         `json:"request_url,omitempty"`
	TransientPayload map[string]any `json:"transient_payload,omitempty"`
	ExpiresInMinutes int            `json:"expires_in_minutes,omitempty"`

	// Locale is the language the mail is written in ("en", "de",
	// "pt-BR"): the Queue chooses it (language.go) unless the caller
	// set it. ExpiresIn says ExpiresInMinutes in words in that language
	// ("1 hour", "1 Stunde"); the Queue fills it.
	Locale    string `json:"locale,omitempty"`
	ExpiresIn string `json:"expires_in,omitempty"`

	// Security notifications (internal/notify): what happened, and the
	// single-use "this wasn't me" link that locks the account down.
	Event       *EventData `json:"event,omitempty"`
	LockdownURL string     `json:"lockdown_url,omitempty"`
	// LockdownValidFor says how long the link works ("7 days"), in the
	// mail's language; the Queue fills it from ExpiresInMinutes, which a
	// notification sets to the link's lifespan.
	LockdownValidFor string `json:"lockdown_valid_for,omitempty"`
}

// EventData describes the security event a notification is about. No
// secret: the same facts the audit log keeps.
type EventData struct {
	// Type is the audit event type ("password.changed").
	Type string `json:"type"`
	// Time is when it happened, and TimeText the same in words in the
	// mail's language ("2 January 2026 at 15:04 UTC"; the Queue fills it).
	Time     time.Time `json:"time"`
	TimeText string    `json:"time_text"`
	// Method is how: "code", "link", "lookup_secret", "totp", "password".
	Method string `json:"method,omitempty"`
	// Actor is "self" (someone with the account's session, link or code)
	// or "admin".
	Actor string `json:"actor,omitempty"`
	// IssuedByAdmin: the recovery used a code or link an admin created.
	IssuedByAdmin bool   `json:"issued_by_admin,omitempty"`
	ClientIP      string `json:"client_ip,omitempty"`
	UserAgent     string `json:"user_agent,omitempty"`
	// PreviousAddresses and CurrentAddresses are the recovery and
	// verifiable addresses around an address change.
	PreviousAddresses []string `json:"previous_addresses,omitempty"`
	CurrentAddresses  []string `json:"current_addresses,omitempty"`
	// Provider is the social sign-in provider linked (social.linked).
	Provider string `json:"provider,omitempty"`
}

// secrets returns the values that make a message usable by whoever reads
// it: the links, the token inside each link (a template may print it on
// its own) and the codes. Whole links come first so they are redacted as
// one piece.
func (d TemplateData) secrets() []string {
	var out []string
	for _, s := range []string{d.RecoveryURL, d.VerificationURL, d.LockdownURL,
		linkToken(d.RecoveryURL), linkToken(d.VerificationURL), linkToken(d.LockdownURL), d.RecoveryCode, d.VerificationCode} {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// linkToken is the token query parameter of a link, if any.
func linkToken(link string) string {
	if u, err := url.Parse(link); err == nil {
		return u.Query().Get("token")
	}
	return ""
}

// TemplatesConfig says where template overrides come from (config keys
// courier.template_override_path and courier.templates) and which
// language a mail is in when nothing else says (selfservice.default_locale).
type TemplatesConfig struct {
	// OverridePath is a directory holding <group>/<valid|invalid>/
	// email.subject.gotmpl, email.body.gotmpl (HTML) and
	// email.body.plaintext.gotmpl, and the same per language under
	// <locale>/ (templatefiles.go); any part may be missing.
	OverridePath string
	// Overrides are per-part template URIs (config key
	// courier.templates.<group>.<valid|invalid>) by template type; they win
	// over OverridePath.
	Overrides map[TemplateType]TemplateURIs
	// DefaultLanguage is the language of a mail whose recipient and
	// request name none (English when unset).
	DefaultLanguage language.Tag
}

// TemplateURIs are the per-part template sources of one template type:
// "file:///path" or "base64://<standard base64>". Empty parts fall back to
// the override directory, then to the built-in template.
type TemplateURIs struct {
	Subject       string
	BodyHTML      string
	BodyPlaintext string
}

// Rendered is one message rendered from its templates.
type Rendered struct {
	Subject string // trimmed
	Text    string
	HTML    string
}

// Templates renders messages. Safe for concurrent use.
//
// A template type has one set of templates per supported language. The
// sets that use an override are parsed and tried when the Templates are
// built, so a broken override stops start-up instead of a delivery; the
// built-in sets pass the same check in a test. Each set is then parsed
// again on its first mail, from the sources read at start: an idle server
// keeps no parse trees, and one that sends only English recovery codes
// keeps that one set.
type Templates struct {
	slots       map[TemplateType][]slot // by the index of the language in i18n.Supported
	defaultLang language.Tag
	sayers      sync.Map // language.Tag → *words (language.go)
}

// slot is the template set of one type in one language.
type slot struct {
	lang  language.Tag
	parts setSources // what NewTemplates read; dropped once parsed
	once  sync.Once
	set   *templateSet
	err   error
}

// get parses the set on its first use.
func (s *slot) get() (*templateSet, error) {
	s.once.Do(func() {
		s.set, s.err = s.parts.parse(i18n.For(s.lang))
		s.parts = setSources{}
	})
	return s.set, s.err
}

type templateSet struct {
	subject *texttemplate.Template
	text    *texttemplate.Template
	html    *htmltemplate.Template
}

// sampleData fills every field so that a trial render reaches every
// reference a template makes to TemplateData.
var sampleData = TemplateData{
	To: "someone@example.com", RecoveryCode: "123456", RecoveryURL: "https://example.com/recovery?token=x",
	VerificationCode: "123456", VerificationURL: "https://example.com/verification?token=x",
	Identity: map[string]any{
		"id": "00000000-0000-4000-8000-000000000000", "schema_id": "default", "state": "active",
		"traits": map[string]any{"email": "someone@example.com"}, "metadata_public": map[string]any{},
	},
	RequestURL: "https://example.com/self-service/recovery/browser", TransientPayload: map[string]any{},
	ExpiresInMinutes: 60,
	Event: &EventData{Type: "password.changed", Time: time.Date(2026, 1, 2, 15, 4, 0, 0, time.UTC), TimeText: "2 January 2026 at 15:04 UTC",
		Method: "password", Actor: "self", ClientIP: "192.0.2.1", UserAgent: "Mozilla/5.0",
		PreviousAddresses: []string{"old@example.com"}, CurrentAddresses: []string{"someone@example.com"}},
	LockdownURL: "https://example.com/ui/lockdown?token=x", LockdownValidFor: "7 days",
	Locale: "en", ExpiresIn: "1 hour",
}

// try renders the set once. Errors that depend on data (a trait missing in
// the sample identity) are left for delivery time; a reference to a field
// TemplateData does not have is a mistake in the template and fails now.
func (s *templateSet) try(tt TemplateType, p *i18n.Printer) error {
	d := sampleData
	d.localize(p)
	if _, err := s.render(d, true); err != nil {
		if strings.Contains(err.Error(), reflect.TypeFor[TemplateData]().String()) {
			return fmt.Errorf("courier: template %s: %w", tt, err)
		}
	}
	return nil
}

func (s *templateSet) render(d TemplateData, withHTML bool) (Rendered, error) {
	var r Rendered
	var b strings.Builder
	if err := s.subject.Execute(&b, d); err != nil {
		return r, err
	}
	r.Subject = strings.TrimSpace(b.String())
	b.Reset()
	if err := s.text.Execute(&b, d); err != nil {
		return r, err
	}
	r.Text = b.String()
	if withHTML {
		var err error
		if r.HTML, err = s.renderHTML(d); err != nil {
			return r, err
		}
	}
	return r, nil
}

func (s *templateSet) renderHTML(d TemplateData) (string, error) {
	var b strings.Builder
	if err := s.html.Execute(&b, d); err != nil {
		return "", err
	}
	return b.String(), nil
}

// Render renders subject, plaintext and HTML body of a template type, in
// d.Locale (the default language when it names none). The texts that
// depend on the language (ExpiresIn, Event.TimeText, LockdownValidFor)
// are made in that language.
func (t *Templates) Render(tt TemplateType, d TemplateData) (Rendered, error) {
	set, d, err := t.set(tt, d)
	if err != nil {
		return Rendered{}, err
	}
	return renderIn(tt, set, d, true)
}

// renderStored renders what is stored with a message: subject and
// plaintext. Queue.Prepare has localized d already (it stores it so), so
// it is not localized a second time.
func (t *Templates) renderStored(tt TemplateType, d TemplateData) (Rendered, error) {
	set, err := t.slot(tt, t.languageOf(d))
	if err != nil {
		return Rendered{}, err
	}
	return renderIn(tt, set, d, false)
}

// renderIn renders tt with set, d already localized to set's language.
func renderIn(tt TemplateType, set *templateSet, d TemplateData, withHTML bool) (Rendered, error) {
	r, err := set.render(d, withHTML)
	if err != nil {
		return Rendered{}, fmt.Errorf("courier: render %s: %w", tt, err)
	}
	return r, nil
}

// RenderHTML renders the HTML body of a template type, as Render does.
func (t *Templates) RenderHTML(tt TemplateType, d TemplateData) (string, error) {
	set, d, err := t.set(tt, d)
	if err != nil {
		return "", err
	}
	h, err := set.renderHTML(d)
	if err != nil {
		return "", fmt.Errorf("courier: render %s HTML: %w", tt, err)
	}
	return h, nil
}

// set is the template set of tt in the language d is written in, and d
// localized to it.
func (t *Templates) set(tt TemplateType, d TemplateData) (*templateSet, TemplateData, error) {
	lang := t.languageOf(d)
	set, err := t.slot(tt, lang)
	if err != nil {
		return nil, d, err
	}
	d.localize(t.words(lang))
	return set, d, nil
}

// slot is the template set of tt in lang, parsed on its first use.
func (t *Templates) slot(tt TemplateType, lang language.Tag) (*templateSet, error) {
	slots, ok := t.slots[tt]
	if !ok {
		return nil, fmt.Errorf("courier: unknown template type %q", tt)
	}
	return slots[slices.Index(i18n.Supported, lang)].get()
}

// baseFuncs is the small, hermetic function set every template gets (no
// environment, network or randomness); textFuncs adds those of its language.
var baseFuncs = texttemplate.FuncMap{
	"upper":      strings.ToUpper,
	"lower":      strings.ToLower,
	"title":      title,
	"trim":       strings.TrimSpace,
	"trimPrefix": func(prefix, s string) string { return strings.TrimPrefix(s, prefix) },
	"trimSuffix": func(suffix, s string) string { return strings.TrimSuffix(s, suffix) },
	"replace":    func(old, new, s string) string { return strings.ReplaceAll(s, old, new) },
	"contains":   func(substr, s string) bool { return strings.Contains(s, substr) },
	"hasPrefix":  func(prefix, s string) bool { return strings.HasPrefix(s, prefix) },
	"hasSuffix":  func(suffix, s string) bool { return strings.HasSuffix(s, suffix) },
	"join":       join,
	"default":    defaultValue,
}

// title upper-cases the first letter of each word.
func title(s string) string {
	var b strings.Builder
	prev := ' '
	for _, r := range s {
		if unicode.IsSpace(prev) {
			b.WriteRune(unicode.ToUpper(r))
		} else {
			b.WriteRune(r)
		}
		prev = r
	}
	return b.String()
}

// join joins a list of values with sep: {{ join ", " .Identity.traits.tags }}.
func join(sep string, list any) string {
	v := reflect.ValueOf(list)
	if v.Kind() != reflect.Slice && v.Kind() != reflect.Array {
		if list == nil {
			return ""
		}
		return fmt.Sprint(list)
	}
	parts := make([]string, v.Len())
	for i := range parts {
		parts[i] = fmt.Sprint(v.Index(i).Interface())
	}
	return strings.Join(parts, sep)
}

// defaultValue returns given unless it is empty: {{ .Identity.traits.name | default "there" }}.
func defaultValue(def any, given ...any) any {
	if len(given) == 0 || isEmpty(given[0]) {
		return def
	}
	return given[0]
}

func isEmpty(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.String, reflect.Slice, reflect.Map, reflect.Array:
		return rv.Len() == 0
	case reflect.Pointer, reflect.Interface:
		return rv.IsNil()
	}
	return rv.IsZero()
}

// redact replaces every secret in s.
func redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if utf8.RuneCountInString(sec) < 4 {
			continue // too short to be a secret; replacing it would mangle text
		}
		s = strings.ReplaceAll(s, sec, "[redacted]")
	}
	return s
}
