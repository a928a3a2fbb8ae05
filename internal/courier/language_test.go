package courier_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/language"

	"github.com/latchkey/latchkey/internal/courier"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/i18n"
	"github.com/latchkey/latchkey/internal/sqlstore/sqltest"
)

// everything fills every field a template may show.
var everything = courier.TemplateData{
	To: "user@example.test", RecoveryCode: "628048", VerificationCode: "417093",
	RecoveryURL:      "http://127.0.0.1:4433/self-service/recovery?flow=f&token=recoverytoken",
	VerificationURL:  "http://127.0.0.1:4433/self-service/verification?flow=f&token=verifytoken",
	ExpiresInMinutes: 60,
	Identity:         map[string]any{"id": "i-1", "traits": map[string]any{"email": "user@example.test"}},
	Event: &courier.EventData{Type: "password.changed", Time: time.Date(2026, 3, 4, 15, 4, 0, 0, time.UTC), Method: "password",
		ClientIP: "203.0.113.9", UserAgent: "Firefox", PreviousAddresses: []string{"old@example.test"}, CurrentAddresses: []string{"new@example.test"},
		Provider: "GitHub"},
	LockdownURL: "http://127.0.0.1:4433/ui/lockdown?token=lockdowntoken",
}

// secretOf is the code or link a mail of type tt must carry.
func secretOf(tt courier.TemplateType, d courier.TemplateData) string {
	switch tt {
	case courier.TemplateRecoveryCodeValid:
		return d.RecoveryCode
	case courier.TemplateRecoveryValid:
		return d.RecoveryURL
	case courier.TemplateVerificationCodeValid:
		return d.VerificationCode
	case courier.TemplateVerificationValid:
		return d.VerificationURL
	case courier.TemplateSecurityLockdownConfirmed:
		return ""
	}
	if strings.HasPrefix(string(tt), "security_") {
		return d.LockdownURL
	}
	return ""
}

var leftover = regexp.MustCompile(`mail\.[a-z_.]+|\{[a-z_]+\}`)

// TestEveryTemplateInEveryLanguage: each of the 16 template types renders
// in each supported language with its code or link, its expiry and event
// time in that language, nothing untranslated and no placeholder left;
// every language but English reads differently from English.
func TestEveryTemplateInEveryLanguage(t *testing.T) {
	tpl := MustTemplates(t)
	english := map[courier.TemplateType]courier.Rendered{}
	for _, lang := range i18n.Supported {
		p := i18n.For(lang)
		for _, tt := range courier.TemplateTypes {
			t.Run(p.Lang()+"/"+string(tt), func(t *testing.T) {
				d := everything
				d.Locale = p.Lang()
				r, err := tpl.Render(tt, d)
				if err != nil {
					t.Fatal(err)
				}
				if r.Subject == "" || r.Text == "" || !strings.Contains(r.HTML, `<html lang="`+p.Lang()+`">`) {
					t.Fatalf("a part is missing or unmarked: %+v", r)
				}
				for name, part := range map[string]string{"subject": r.Subject, "text": r.Text, "html": r.HTML} {
					if m := leftover.FindString(part); m != "" {
						t.Errorf("%s shows %q:\n%s", name, m, part)
					}
				}
				if s := secretOf(tt, d); s != "" {
					if !strings.Contains(r.Text, s) || !strings.Contains(r.HTML, strings.ReplaceAll(s, "&", "&amp;")) {
						t.Errorf("the code or link %q is missing:\n%s\n%s", s, r.Text, r.HTML)
					}
				}
				switch {
				case strings.HasSuffix(string(tt), "_valid"):
					if want := p.Duration(time.Hour); !strings.Contains(r.Text, want) {
						t.Errorf("the expiry %q is missing:\n%s", want, r.Text)
					}
				case strings.HasPrefix(string(tt), "security_"):
					if want := p.DateTime(d.Event.Time); !strings.Contains(r.Text, want) || !strings.Contains(r.HTML, want) {
						t.Errorf("the event time %q is missing:\n%s", want, r.Text)
					}
					// The lockdown link's validity (ExpiresInMinutes).
					if want := p.Duration(time.Hour); tt != courier.TemplateSecurityLockdownConfirmed && !strings.Contains(r.Text, want) {
						t.Errorf("the link's validity %q is missing:\n%s", want, r.Text)
					}
				}
				if lang == language.English {
					english[tt] = r
				} else if en := english[tt]; r.Subject == en.Subject || r.Text == en.Text {
					t.Errorf("reads as English: %q", r.Subject)
				}
			})
		}
	}
}

// TestOverrideFallbackChain: per part, the language's folder beats its
// base language's folder, which beats Kratos's layout at the root, which
// beats the built-in template in the language; templates that know
// nothing of languages keep working, and any template may use t,
// .Locale and .ExpiresIn.
func TestOverrideFallbackChain(t *testing.T) {
	dir := t.TempDir()
	subject := func(folder string) string {
		return filepath.Join(dir, folder, "recovery_code", "valid", "email.subject.gotmpl")
	}
	writeFile(t, subject(""), "Kratos-style {{ .RecoveryCode }}")
	writeFile(t, subject("de"), "{{ .Locale }}: {{ .RecoveryCode }}, {{ .ExpiresIn }}, {{ t \"mail.greeting\" }}")
	writeFile(t, subject("pt"), "pt folder {{ .Locale }}")
	// Only the subject is overridden for German: its bodies fall to the root
	// (HTML) and to the built-in German (plaintext).
	writeFile(t, filepath.Join(dir, "recovery_code", "valid", "email.body.gotmpl"), "<b>{{ .RecoveryCode }}</b>")
	tpl, err := courier.NewTemplates(courier.TemplatesConfig{OverridePath: dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ lang, subject string }{
		{"de", "de: 628048, 1 Stunde, Hallo,"},
		{"pt-BR", "pt folder pt-BR"},
		{"fr", "Kratos-style 628048"},
		{"en", "Kratos-style 628048"},
	} {
		d := everything
		d.Locale = tc.lang
		r, err := tpl.Render(courier.TemplateRecoveryCodeValid, d)
		if err != nil {
			t.Fatal(err)
		}
		if r.Subject != tc.subject || r.HTML != "<b>628048</b>" {
			t.Errorf("%s: subject %q, html %q", tc.lang, r.Subject, r.HTML)
		}
		if tc.lang == "de" && !strings.Contains(r.Text, "Gib diesen Code ein") {
			t.Errorf("de: the plaintext is not the built-in German: %q", r.Text)
		}
	}

	t.Run("ConfiguredURIsWinInEveryLanguage", func(t *testing.T) {
		tpl, err := courier.NewTemplates(courier.TemplatesConfig{OverridePath: dir, Overrides: map[courier.TemplateType]courier.TemplateURIs{
			courier.TemplateRecoveryCodeValid: {Subject: b64(`{{ if eq .Locale "de" }}Code{{ else }}Code ({{ .Locale }}){{ end }} {{ .RecoveryCode }}`)},
		}})
		if err != nil {
			t.Fatal(err)
		}
		for lang, want := range map[string]string{"de": "Code 628048", "pt-BR": "Code (pt-BR) 628048"} {
			d := everything
			d.Locale = lang
			if r, _ := tpl.Render(courier.TemplateRecoveryCodeValid, d); r.Subject != want {
				t.Errorf("%s: subject %q, want %q", lang, r.Subject, want)
			}
		}
	})

	t.Run("BrokenLocaleOverrideNamesFileAndLine", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "pt-BR", "security_password_changed", "email.body.plaintext.gotmpl")
		writeFile(t, path, "Olá\n{{ t \"mail.greeting\" }\n")
		_, err := courier.NewTemplates(courier.TemplatesConfig{OverridePath: dir})
		if err == nil || !strings.Contains(err.Error(), path+":2") {
			t.Fatalf("err = %v, want it to name %s:2", err, path)
		}
	})
}

// TestQueueChoosesTheLanguage: the identity's locale trait, else the
// Accept-Language of the public request the mail is queued in (never an
// admin request's), else the default; the choice is stored with the
// message and its subject is written in it.
func TestQueueChoosesTheLanguage(t *testing.T) {
	store := newStore(t, sqltest.OpenSQLite(t))
	tpl, err := courier.NewTemplates(courier.TemplatesConfig{DefaultLanguage: language.Spanish})
	if err != nil {
		t.Fatal(err)
	}
	q := courier.NewQueue(store, tpl, nil)
	ips := httpx.NewClientIPs(nil)
	for _, tc := range []struct {
		name, trait, accept string
		admin               bool
		ctx                 func(context.Context) context.Context
		want                string
	}{
		{name: "TraitBeatsRequest", trait: "fr", accept: "de", want: "fr"},
		{name: "RequestWithoutTrait", accept: "ja, pt;q=0.8", want: "pt-BR"},
		{name: "UnsupportedTraitFallsToRequest", trait: "ja", accept: "de-AT", want: "de"},
		{name: "AdminRequestIsIgnored", accept: "de", admin: true, want: "es"},
		{name: "NoRequestIsTheDefault", want: "es"},
		{name: "CarriedLanguageOfAPreparedRequest", want: "fr", ctx: func(ctx context.Context) context.Context { return courier.WithRequestLanguage(ctx, "fr") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			traits := map[string]any{"email": "user@example.test"}
			if tc.trait != "" {
				traits["locale"] = tc.trait
			}
			enqueue := func(ctx context.Context) {
				if tc.ctx != nil {
					ctx = tc.ctx(ctx)
				}
				id, err := q.Enqueue(ctx, courier.Email{To: "user@example.test", Template: courier.TemplateRecoveryCodeValid,
					Data: courier.TemplateData{RecoveryCode: "628048", ExpiresInMinutes: 15, Identity: map[string]any{"traits": traits}}})
				if err != nil {
					t.Fatal(err)
				}
				m, err := store.GetMessage(context.Background(), id)
				if err != nil {
					t.Fatal(err)
				}
				var d courier.TemplateData
				if err := json.Unmarshal(m.TemplateData, &d); err != nil {
					t.Fatal(err)
				}
				p := i18n.For(language.MustParse(tc.want))
				if d.Locale != tc.want || d.ExpiresIn != p.Duration(15*time.Minute) || m.Subject != p.T("mail.recovery_code.valid.subject", "code", "628048") {
					t.Errorf("stored locale %q, expiry %q, subject %q; want %s", d.Locale, d.ExpiresIn, m.Subject, tc.want)
				}
			}
			if tc.accept == "" && !tc.admin {
				enqueue(context.Background())
				return
			}
			wrap := ips.Wrap
			if tc.admin {
				wrap = ips.ForAdmin().Wrap
			}
			r := httptest.NewRequest(http.MethodPost, "/", nil)
			r.Header.Set("Accept-Language", tc.accept)
			wrap(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { enqueue(r.Context()) })).ServeHTTP(httptest.NewRecorder(), r)
		})
	}
}
