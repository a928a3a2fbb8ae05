package courier_test

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/text/language"

	"github.com/latchkey/latchkey/internal/courier"
	"github.com/latchkey/latchkey/internal/i18n"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func b64(s string) string { return "base64://" + base64.StdEncoding.EncodeToString([]byte(s)) }

func TestTemplates(t *testing.T) {
	data := courier.TemplateData{
		To: "user@example.test", RecoveryCode: "628048", VerificationCode: "417093",
		RecoveryURL:      "http://127.0.0.1:4433/self-service/recovery?flow=f&token=abc",
		VerificationURL:  "http://127.0.0.1:4433/self-service/verification?flow=f&token=def",
		ExpiresInMinutes: 60,
		Event: &courier.EventData{Type: "password.changed", Time: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC), Method: "totp",
			ClientIP: "203.0.113.9", UserAgent: "Firefox", PreviousAddresses: []string{"old@example.test"}, CurrentAddresses: []string{"new@example.test"}},
		LockdownURL: "http://127.0.0.1:4433/ui/lockdown?token=lockdowntoken", LockdownValidFor: "7 days",
	}

	t.Run("BuiltinSubjectsMatchKratos", func(t *testing.T) {
		want := map[courier.TemplateType]string{
			courier.TemplateRecoveryCodeValid:       "Use code 628048 to recover access to your account",
			courier.TemplateRecoveryCodeInvalid:     "Account access attempted",
			courier.TemplateRecoveryValid:           "Recover access to your account",
			courier.TemplateRecoveryInvalid:         "Account access attempted",
			courier.TemplateVerificationCodeValid:   "Please verify your email address",
			courier.TemplateVerificationCodeInvalid: "Someone tried to verify this email address",
			courier.TemplateVerificationValid:       "Please verify your email address",
			courier.TemplateVerificationInvalid:     "Someone tried to verify this email address",
			// Latchkey's own notifications.
			courier.TemplateSecurityPasswordChanged:     "Your password was changed",
			courier.TemplateSecurityAccountRecovered:    "Your account was recovered",
			courier.TemplateSecurityAdminRecovery:       "An administrator created a recovery code for your account",
			courier.TemplateSecuritySecondFactorAdded:   "A second factor was added to your account",
			courier.TemplateSecuritySecondFactorRemoved: "A second factor was removed from your account",
			courier.TemplateSecurityAddressChanged:      "The email address of your account changed",
			courier.TemplateSecuritySocialLinked:        "A sign-in provider was linked to your account",
			courier.TemplateSecurityLockdownConfirmed:   "Your account is locked down",
		}
		tpl := MustTemplates(t)
		for _, tt := range courier.TemplateTypes {
			r, err := tpl.Render(tt, data)
			if err != nil {
				t.Fatalf("%s: %v", tt, err)
			}
			if r.Subject != want[tt] {
				t.Errorf("%s subject = %q, want %q", tt, r.Subject, want[tt])
			}
			if r.Text == "" || !strings.Contains(r.HTML, `<html lang="en">`) {
				t.Errorf("%s: empty text or HTML part", tt)
			}
		}
	})

	t.Run("NotificationsCarryTheEventAndTheLockdownLink", func(t *testing.T) {
		tpl := MustTemplates(t)
		for _, tt := range courier.TemplateTypes {
			if !strings.HasPrefix(string(tt), "security_") {
				continue
			}
			r, err := tpl.Render(tt, data)
			if err != nil {
				t.Fatal(err)
			}
			for _, part := range []string{r.Text, r.HTML} {
				if !strings.Contains(part, "2 December 2026 at 10:00 UTC") {
					t.Errorf("%s: no event time in %q", tt, part)
				}
				hasLink := strings.Contains(part, data.LockdownURL)
				if want := tt != courier.TemplateSecurityLockdownConfirmed; hasLink != want {
					t.Errorf("%s: lockdown link shown = %v, want %v", tt, hasLink, want)
				}
			}
		}
		r, err := tpl.Render(courier.TemplateSecurityAddressChanged, data)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(r.Text, "old@example.test") || !strings.Contains(r.Text, "new@example.test") {
			t.Errorf("address change mail names neither address: %q", r.Text)
		}
		r, err = tpl.Render(courier.TemplateSecuritySecondFactorAdded, data)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(r.Text, "An authenticator app was just added") {
			t.Errorf("second factor mail does not name the factor: %q", r.Text)
		}
	})

	t.Run("BodiesCarryTheSecretAndTheExpiry", func(t *testing.T) {
		tpl := MustTemplates(t)
		for tt, secret := range map[courier.TemplateType]string{
			courier.TemplateRecoveryCodeValid:     "628048",
			courier.TemplateRecoveryValid:         data.RecoveryURL,
			courier.TemplateVerificationCodeValid: "417093",
			courier.TemplateVerificationValid:     data.VerificationURL,
		} {
			r, err := tpl.Render(tt, data)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(r.Text, secret) || !strings.Contains(r.Text, "expires in 1 hour") {
				t.Errorf("%s text lacks secret or expiry:\n%s", tt, r.Text)
			}
			htmlSecret := strings.ReplaceAll(secret, "&", "&amp;")
			if !strings.Contains(r.HTML, htmlSecret) || !strings.Contains(r.HTML, "expires in 1 hour") {
				t.Errorf("%s HTML lacks secret or expiry:\n%s", tt, r.HTML)
			}
		}
	})

	t.Run("OverrideDirectoryWithSiblingsAndFallback", func(t *testing.T) {
		dir := t.TempDir()
		base := filepath.Join(dir, "recovery_code", "valid")
		writeFile(t, filepath.Join(base, "email.subject.gotmpl"), "  Code {{ .RecoveryCode }} for {{ .To | upper }}\n")
		writeFile(t, filepath.Join(base, "email.body.gotmpl"), `<p>{{ template "greeting" . }}</p><b>{{ .RecoveryCode }}</b>`)
		writeFile(t, filepath.Join(base, "email.body.greeting.gotmpl"), `{{ define "greeting" }}Hello {{ .Identity.traits.name | default "friend" }}{{ end }}`)
		// No plaintext override: the built-in one is used.
		tpl, err := courier.NewTemplates(courier.TemplatesConfig{OverridePath: dir})
		if err != nil {
			t.Fatal(err)
		}
		r, err := tpl.Render(courier.TemplateRecoveryCodeValid, data)
		if err != nil {
			t.Fatal(err)
		}
		if r.Subject != "Code 628048 for USER@EXAMPLE.TEST" {
			t.Errorf("subject = %q", r.Subject)
		}
		if r.HTML != "<p>Hello friend</p><b>628048</b>" {
			t.Errorf("html = %q", r.HTML)
		}
		if !strings.Contains(r.Text, "628048") || !strings.Contains(r.Text, "expires in 1 hour") {
			t.Errorf("plaintext fell back wrongly: %q", r.Text)
		}
		// Other types are untouched.
		r, _ = tpl.Render(courier.TemplateRecoveryValid, data)
		if r.Subject != "Recover access to your account" {
			t.Errorf("recovery_valid subject = %q", r.Subject)
		}
	})

	t.Run("URIOverridesWinOverDirectory", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "recovery_code", "valid", "email.subject.gotmpl"), "from directory")
		file := filepath.Join(t.TempDir(), "plain.gotmpl")
		writeFile(t, file, "plain {{ .RecoveryCode }}")
		tpl, err := courier.NewTemplates(courier.TemplatesConfig{
			OverridePath: dir,
			Overrides: map[courier.TemplateType]courier.TemplateURIs{courier.TemplateRecoveryCodeValid: {
				Subject:       b64("from base64 {{ .RecoveryCode }}"),
				BodyHTML:      b64(`<a href="{{ .RequestURL }}">x</a>`),
				BodyPlaintext: "file://" + file,
			}},
		})
		if err != nil {
			t.Fatal(err)
		}
		r, err := tpl.Render(courier.TemplateRecoveryCodeValid, courier.TemplateData{RecoveryCode: "111222", RequestURL: "https://x.test/?a=1&b=2"})
		if err != nil {
			t.Fatal(err)
		}
		if r.Subject != "from base64 111222" || r.Text != "plain 111222" || r.HTML != `<a href="https://x.test/?a=1&amp;b=2">x</a>` {
			t.Errorf("rendered %+v", r)
		}
	})

	t.Run("BrokenDirectoryTemplateNamesFileAndLine", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "recovery", "invalid", "email.body.plaintext.gotmpl")
		writeFile(t, path, "line one\nline two\n{{ .To }\nline four")
		_, err := courier.NewTemplates(courier.TemplatesConfig{OverridePath: dir})
		if err == nil {
			t.Fatal("broken template accepted")
		}
		if !strings.Contains(err.Error(), path+":3") {
			t.Errorf("error does not name %s:3: %v", path, err)
		}
	})

	t.Run("BrokenBase64TemplateNamesKeyAndLine", func(t *testing.T) {
		_, err := courier.NewTemplates(courier.TemplatesConfig{Overrides: map[courier.TemplateType]courier.TemplateURIs{
			courier.TemplateVerificationCodeValid: {BodyHTML: b64("<p>\n{{ if .To }}unterminated")},
		}})
		if err == nil {
			t.Fatal("broken template accepted")
		}
		if !strings.Contains(err.Error(), "courier.templates.verification_code.valid.email.body.html:2") {
			t.Errorf("error does not name the key and line: %v", err)
		}
	})

	t.Run("UnknownFieldFailsAtConstruction", func(t *testing.T) {
		_, err := courier.NewTemplates(courier.TemplatesConfig{Overrides: map[courier.TemplateType]courier.TemplateURIs{
			courier.TemplateRecoveryCodeValid: {Subject: b64("Code {{ .RecoveryCod }}")},
		}})
		if err == nil || !strings.Contains(err.Error(), "RecoveryCod") {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("UnknownFunctionFailsAtConstruction", func(t *testing.T) {
		_, err := courier.NewTemplates(courier.TemplatesConfig{Overrides: map[courier.TemplateType]courier.TemplateURIs{
			courier.TemplateRecoveryValid: {Subject: b64(`{{ env "HOME" }}`)},
		}})
		if err == nil || !strings.Contains(err.Error(), `function "env" not defined`) {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("BadConfigurationIsRejected", func(t *testing.T) {
		for name, cfg := range map[string]courier.TemplatesConfig{
			"unknown type": {Overrides: map[courier.TemplateType]courier.TemplateURIs{"recovery_code_maybe": {Subject: b64("x")}}},
			"https scheme": {Overrides: map[courier.TemplateType]courier.TemplateURIs{courier.TemplateRecoveryValid: {Subject: "https://example.com/t"}}},
			"not base64":   {Overrides: map[courier.TemplateType]courier.TemplateURIs{courier.TemplateRecoveryValid: {Subject: "base64://%%%"}}},
			"missing file": {Overrides: map[courier.TemplateType]courier.TemplateURIs{courier.TemplateRecoveryValid: {Subject: "file:///does/not/exist"}}},
			"missing dir":  {OverridePath: filepath.Join(t.TempDir(), "nope")},
			"not a uri":    {Overrides: map[courier.TemplateType]courier.TemplateURIs{courier.TemplateRecoveryValid: {Subject: "Hello"}}},
		} {
			if _, err := courier.NewTemplates(cfg); err == nil {
				t.Errorf("%s: accepted", name)
			}
		}
	})
}

// TestTemplatesParsedOnFirstMail: sets are parsed on their first mail;
// many mails at once, in every language, get the same text as one alone,
// and an override is rendered as it was read at start, even once its
// file has changed.
func TestTemplatesParsedOnFirstMail(t *testing.T) {
	dir := t.TempDir()
	subject := filepath.Join(dir, "de", "recovery_code", "valid", "email.subject.gotmpl")
	writeFile(t, subject, "Ihr Code: {{ .RecoveryCode }}")
	tpl, err := courier.NewTemplates(courier.TemplatesConfig{OverridePath: dir})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, subject, "{{ .Broken }")

	want := map[string]courier.Rendered{}
	for _, lang := range i18n.Supported {
		r, err := MustTemplates(t).Render(courier.TemplateRecoveryCodeValid, courier.TemplateData{RecoveryCode: "628048", Locale: lang.String(), ExpiresInMinutes: 15})
		if err != nil {
			t.Fatal(err)
		}
		if lang == language.German {
			r.Subject = "Ihr Code: 628048"
		}
		want[lang.String()] = r
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8*len(i18n.Supported))
	for range 8 {
		for _, lang := range i18n.Supported {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := tpl.Render(courier.TemplateRecoveryCodeValid, courier.TemplateData{RecoveryCode: "628048", Locale: lang.String(), ExpiresInMinutes: 15})
				if err != nil {
					errs <- err
				} else if r != want[lang.String()] {
					errs <- fmt.Errorf("%s: got %+v, want %+v", lang, r, want[lang.String()])
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
