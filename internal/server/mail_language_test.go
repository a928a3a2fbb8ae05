package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	ory "github.com/ory/client-go"

	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/courier/smtptest"
	"github.com/latchkey/latchkey/internal/server"
	"github.com/latchkey/latchkey/internal/server/servertest"
	"github.com/latchkey/latchkey/internal/sqlstore"
	"github.com/latchkey/latchkey/internal/sqlstore/sqltest"
)

// Mails in the reader's language (docs/courier.md, "Languages"), end to
// end: the request's Accept-Language, the identity's locale trait, an
// administrator's request, an unknown address and the default.

// localeSchema is the default schema with a locale trait.
const localeSchema = `{
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
        },
        "locale": {"type": "string"}
      },
      "required": ["email"],
      "additionalProperties": false
    }
  }
}`

// languageOptions: the locale schema, Spanish as selfservice.default_locale
// (so "the default" is told apart from English), notifications on and a
// mail to unknown addresses.
func languageOptions() servertest.Options {
	schemas, _ := json.Marshal([]map[string]string{{"id": "default", "url": "base64://" + base64.StdEncoding.EncodeToString([]byte(localeSchema))}})
	return servertest.Options{Env: append(servertest.NotificationsOn(),
		"IDENTITY_SCHEMAS="+string(schemas),
		"SELFSERVICE_DEFAULT_LOCALE=es",
		"SELFSERVICE_FLOWS_RECOVERY_NOTIFY_UNKNOWN_RECIPIENTS=true",
		"SELFSERVICE_FLOWS_VERIFICATION_ENABLED=true",
	)}
}

// speaking returns an SDK whose requests say Accept-Language: lang.
func speaking(srv *servertest.Server, c *http.Client, lang string) *ory.APIClient {
	sdk := srv.SDKWith(c)
	sdk.GetConfig().AddDefaultHeader("Accept-Language", lang)
	return sdk
}

func mustLocaleIdentity(t *testing.T, srv *servertest.Server, email, locale string) *ory.Identity {
	t.Helper()
	traits := map[string]any{"email": email}
	if locale != "" {
		traits["locale"] = locale
	}
	return srv.MustCreateIdentityBody(t, ory.CreateIdentityBody{SchemaId: "default", Traits: traits})
}

// requestRecoveryCode asks for a recovery code for email on a native
// flow, as sdk.
func requestRecoveryCode(t *testing.T, sdk *ory.APIClient, email string) string {
	t.Helper()
	ctx := context.Background()
	f, res, err := sdk.FrontendAPI.CreateNativeRecoveryFlow(ctx).Execute()
	mustStatus(t, res, err, http.StatusOK)
	_, res, err = sdk.FrontendAPI.UpdateRecoveryFlow(ctx).Flow(f.Id).UpdateRecoveryFlowBody(
		ory.UpdateRecoveryFlowWithCodeMethodAsUpdateRecoveryFlowBody(&ory.UpdateRecoveryFlowWithCodeMethod{Method: "code", Email: ory.PtrString(email)})).Execute()
	mustStatus(t, res, err, http.StatusOK)
	return f.Id
}

var mailCodeRE = regexp.MustCompile(`\b\d{6}\b`)

// mustSay fails unless every part of m contains each text; it returns
// the code the mail carries, if any.
func mustSay(t *testing.T, m smtptest.Mail, lang string, texts ...string) string {
	t.Helper()
	if got := m.Header.Get("Content-Language"); got != lang {
		t.Errorf("%q: Content-Language %q, want %q", m.Subject, got, lang)
	}
	if !strings.Contains(m.HTML, `<html lang="`+lang+`">`) {
		t.Errorf("%q: the HTML part is not marked %s", m.Subject, lang)
	}
	all := m.Subject + "\n" + m.Text
	for _, s := range texts {
		if !strings.Contains(all, s) {
			t.Errorf("mail does not say %q:\nSubject: %s\n%s", s, m.Subject, m.Text)
		}
	}
	return mailCodeRE.FindString(m.Text)
}

func TestMailLanguage(t *testing.T) {
	servertest.Each(t, languageOptions(), func(t *testing.T, srv *servertest.Server) {
		ctx := context.Background()

		t.Run("RecoveryCodeInTheRequestLanguage", func(t *testing.T) {
			const email = "lang-de@example.test"
			mustLocaleIdentity(t, srv, email, "")
			sdk := speaking(srv, srv.HTTPClient(false), "de-DE,de;q=0.9,en;q=0.5")
			flowID := requestRecoveryCode(t, sdk, email)
			m := srv.SMTP.WaitFor(t, email, 10*time.Second)
			code := mustSay(t, m, "de", "Gib diesen Code ein", "1 Stunde lang gültig")
			if code == "" || m.Subject != "Dein Code "+code+" zur Wiederherstellung deines Kontos" || !strings.Contains(m.HTML, code) {
				t.Fatalf("German code mail: subject %q, text %q", m.Subject, m.Text)
			}
			// The code works, and the warning that follows speaks German too.
			_, res, err := sdk.FrontendAPI.UpdateRecoveryFlow(ctx).Flow(flowID).UpdateRecoveryFlowBody(
				ory.UpdateRecoveryFlowWithCodeMethodAsUpdateRecoveryFlowBody(&ory.UpdateRecoveryFlowWithCodeMethod{Method: "code", Code: ory.PtrString(code)})).Execute()
			mustStatus(t, res, err, http.StatusOK)
			n, link := srv.Notification(t, email, "Dein Konto wurde wiederhergestellt")
			mustSay(t, n, "de", "Wiederherstellungscode", " um ", "UTC", "Der Link funktioniert einmal, 7 Tage lang.")
			if link == "" {
				t.Error("the German notification has no lockdown link")
			}
		})

		t.Run("BrowserRecoveryInTheRequestLanguage", func(t *testing.T) {
			const email = "lang-browser@example.test"
			mustLocaleIdentity(t, srv, email, "")
			sdk := speaking(srv, srv.HTTPClient(true), "pt-BR")
			f, res, err := sdk.FrontendAPI.CreateBrowserRecoveryFlow(ctx).Execute()
			mustStatus(t, res, err, http.StatusOK)
			_, res, err = sdk.FrontendAPI.UpdateRecoveryFlow(ctx).Flow(f.Id).UpdateRecoveryFlowBody(
				ory.UpdateRecoveryFlowWithCodeMethodAsUpdateRecoveryFlowBody(&ory.UpdateRecoveryFlowWithCodeMethod{
					Method: "code", Email: ory.PtrString(email), CsrfToken: ory.PtrString(servertest.CSRFToken(f.Ui.Nodes))})).Execute()
			mustStatus(t, res, err, http.StatusOK)
			m := srv.SMTP.WaitFor(t, email, 10*time.Second)
			if code := mustSay(t, m, "pt-BR", "Digite este código", "expira em 1 hora"); code == "" || !strings.Contains(m.Subject, code) {
				t.Fatalf("Portuguese code mail: %q %q", m.Subject, m.Text)
			}
		})

		t.Run("VerificationCodeInTheRequestLanguage", func(t *testing.T) {
			const email = "lang-verify@example.test"
			mustLocaleIdentity(t, srv, email, "")
			sdk := speaking(srv, srv.HTTPClient(false), "de")
			f, res, err := sdk.FrontendAPI.CreateNativeVerificationFlow(ctx).Execute()
			mustStatus(t, res, err, http.StatusOK)
			_, res, err = verifyEmail(t, sdk, f.Id, email, "")
			mustStatus(t, res, err, http.StatusOK)
			m := srv.SMTP.WaitFor(t, email, 10*time.Second)
			if code := mustSay(t, m, "de", "Bitte bestätige deine E-Mail-Adresse", "indem du diesen Code eingibst", "1 Stunde lang gültig"); code == "" {
				t.Fatalf("no code in the German verification mail: %q", m.Text)
			}
		})

		t.Run("SettingsChangeWarnsInTheRequestLanguage", func(t *testing.T) {
			const email, pw = "lang-settings@example.test", "Lang-Passw0rd!-old"
			srv.MustCreateIdentityBody(t, ory.CreateIdentityBody{SchemaId: "default", Traits: map[string]any{"email": email},
				Credentials: &ory.IdentityWithCredentials{Password: &ory.IdentityWithCredentialsPassword{
					Config: &ory.IdentityWithCredentialsPasswordConfig{Password: ory.PtrString(pw)}}}})
			token := srv.MustNativeLogin(t, email, pw)
			sdk := speaking(srv, srv.HTTPClient(false), "fr-FR")
			f, res, err := sdk.FrontendAPI.CreateNativeSettingsFlow(ctx).XSessionToken(token).Execute()
			mustStatus(t, res, err, http.StatusOK)
			_, res, err = sdk.FrontendAPI.UpdateSettingsFlow(ctx).Flow(f.Id).XSessionToken(token).UpdateSettingsFlowBody(
				ory.UpdateSettingsFlowWithPasswordMethodAsUpdateSettingsFlowBody(ory.NewUpdateSettingsFlowWithPasswordMethod("password", "Lang-Passw0rd!-new"))).Execute()
			mustStatus(t, res, err, http.StatusOK)
			m, link := srv.Notification(t, email, "Votre mot de passe a été modifié")
			mustSay(t, m, "fr", "vient d’être modifié", " à ", "UTC", "pendant 7 jours")
			if link == "" || !strings.Contains(m.HTML, "Ce n’était pas moi") {
				t.Errorf("the French warning lacks its lockdown link or button: %q", m.HTML)
			}
		})

		t.Run("LocaleTraitBeatsTheRequest", func(t *testing.T) {
			const email = "lang-fr@example.test"
			mustLocaleIdentity(t, srv, email, "fr")
			requestRecoveryCode(t, speaking(srv, srv.HTTPClient(false), "de"), email)
			m := srv.SMTP.WaitFor(t, email, 10*time.Second)
			if code := mustSay(t, m, "fr", "Saisissez ce code", "expire dans 1 heure"); code == "" || m.Subject != "Votre code "+code+" pour récupérer l’accès à votre compte" {
				t.Fatalf("French code mail: %q %q", m.Subject, m.Text)
			}
		})

		t.Run("AdminCodeIgnoresTheAdminsBrowser", func(t *testing.T) {
			// No trait: the default (Spanish), not the admin's German.
			for _, tc := range []struct{ email, trait, lang, says, notice string }{
				{"lang-admin@example.test", "", "es", "Introduce este código", "Un administrador ha creado un código de recuperación para tu cuenta"},
				{"lang-admin-fr@example.test", "fr", "fr", "Saisissez ce code", "Un administrateur a créé un code de récupération pour votre compte"},
			} {
				id := mustLocaleIdentity(t, srv, tc.email, tc.trait).Id
				res, body := servertest.Do(t, srv.HTTPClient(false), http.MethodPost, srv.Admin.URL+"/admin/recovery/code",
					map[string]any{"identity_id": id, "send": true}, http.Header{"Accept-Language": {"de"}})
				if res.StatusCode != http.StatusCreated {
					t.Fatalf("admin code: %d %v", res.StatusCode, body)
				}
				code, _ := body["recovery_code"].(string)
				for range 2 { // the code and the warning, in either order
					m := srv.SMTP.WaitFor(t, tc.email, 10*time.Second)
					if strings.Contains(m.Text, code) {
						mustSay(t, m, tc.lang, tc.says)
					} else {
						mustSay(t, m, tc.lang, tc.notice)
					}
				}
			}
		})

		t.Run("UnknownAddressInTheRequestLanguage", func(t *testing.T) {
			const email = "lang-nobody@example.test"
			requestRecoveryCode(t, speaking(srv, srv.HTTPClient(false), "fr-CA"), email)
			m := srv.SMTP.WaitFor(t, email, 10*time.Second)
			mustSay(t, m, "fr", "Tentative d’accès à un compte", "aucun compte ne l’utilise")
		})

		t.Run("NoLanguageAskedIsTheDefault", func(t *testing.T) {
			const email = "lang-default@example.test"
			mustLocaleIdentity(t, srv, email, "")
			requestRecoveryCode(t, speaking(srv, srv.HTTPClient(false), "ja"), email)
			mustSay(t, srv.SMTP.WaitFor(t, email, 10*time.Second), "es", "Introduce este código", "caduca en 1 hora")
		})
	})
}

// TestBrokenLocaleOverrideStopsStartUp: a template in a language folder
// of courier.template_override_path is parsed at start-up like any
// other; a broken one stops the server with its file and line.
func TestBrokenLocaleOverrideStopsStartUp(t *testing.T) {
	dir := t.TempDir()
	broken := filepath.Join(dir, "de", "recovery_code", "valid", "email.body.gotmpl")
	if err := os.MkdirAll(filepath.Dir(broken), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(broken, []byte("<p>Hallo</p>\n{{ .RecoveryCode }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := config.Load(config.LoadOptions{Dev: true, DataDir: t.TempDir(), Env: []string{
		"DSN=" + sqltest.DSN(t, sqlstore.SQLite), "COURIER_TEMPLATE_OVERRIDE_PATH=" + dir,
		`SECRETS_DEFAULT=["test-secret-0123456789abcdef"]`,
	}})
	if err != nil {
		t.Fatal(err)
	}
	app, err := server.New(context.Background(), cfg, server.Options{Migrate: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil {
		app.Close()
		t.Fatal("the server started with a broken template")
	}
	if !strings.Contains(err.Error(), broken+":2") {
		t.Fatalf("the error does not name %s:2: %v", broken, err)
	}
}
