package webui_test

import (
	"fmt"
	"testing"

	"golang.org/x/text/language"

	"github.com/latchkey/latchkey/internal/i18n"
)

// TestBrowserJourneyInGerman walks the recovery journey in a browser that
// asks for German: every page is in German (lang="de", German texts,
// nothing left in English), the code arrives in a German mail, and the
// screenshots of docs/ui.md's German set come from here.
func TestBrowserJourneyInGerman(t *testing.T) {
	chromiumPath(t)
	lk := MustLatchkey(t)
	b := MustBrowserIn(t, "de")
	de, en := i18n.For(language.German), i18n.For(language.English)
	// german checks the page speaks German: its lang, the texts named by
	// their catalog keys, and that none of them shows in English.
	german := func(keys ...string) {
		t.Helper()
		if lang := eval[string](b, `document.documentElement.lang`); lang != "de" {
			t.Fatalf("page %s has lang %q, want de", b.location(), lang)
		}
		for _, k := range keys {
			if de.T(k) == en.T(k) {
				t.Fatalf("%s reads the same in German and English: %q", k, de.T(k))
			}
			b.expectText(de.T(k))
		}
	}
	email := newEmail("erika")
	const oldPassword, newPassword = "Korrektes-Pferd-Batterie-17", "Mandarine-Laterne-Umlauf-42"

	// Sign up.
	b.open(lk.Public + "ui/registration")
	b.expectPath("/ui/registration?flow=")
	german("ui.flow.registration.title")
	b.screenshot("registration")
	b.fill(`input[name="traits.email"]`, email)
	b.click(`button[name="method"][value="profile"]`)
	b.fill(`input[name="password"]`, oldPassword)
	b.click(`button[name="method"][value="password"]`)
	b.open(lk.Public + "ui/welcome")
	b.expectPath("/ui/welcome")
	german("account.welcome.title", "account.welcome.signed_in", "account.header.signed_in_as")
	b.expectText(email)
	b.screenshot("welcome")

	// Signed in, the sign-up page explains instead of bouncing.
	b.open(lk.Public + "ui/registration")
	german("account.signed_in.title", "account.signed_in.registration")
	b.screenshot("signed-in")

	// Log out, forget the password, recover with an emailed code.
	b.logOut(lk.Public)
	german("ui.flow.login.title")
	b.screenshot("login")
	b.markMailbox(lk.Public)
	b.open(lk.Public + "ui/recovery")
	german("ui.flow.recovery.title")
	b.fill(`input[name="email"]`, email)
	b.click(`button[name="method"][value="code"]`)
	b.expectPath("/ui/recovery?flow=")
	german("message.1060003")
	recoveryPage := b.location()
	codes, _ := b.readMailbox(lk.Public, email)
	if len(codes) != 1 {
		t.Fatalf("codes in the mail: %q", codes)
	}
	b.expectText("zur Wiederherstellung deines Kontos") // the mail's subject, in German
	b.screenshot("mailbox")

	b.open(recoveryPage)
	b.fill(`input[name="code"]`, fmt.Sprintf("%06d", (atoi(codes[0])+1)%1000000))
	b.click(`button[name="method"][value="code"]`)
	german("message.4060006")
	b.expectText("Noch 4 Versuche.")
	b.screenshot("recovery")

	b.fill(`input[name="code"]`, codes[0])
	b.click(`button[name="method"][value="code"]`)
	b.expectPath("/ui/settings?flow=")
	german("ui.flow.settings.title")
	b.expectText("Du hast dein Konto wiederhergestellt.", "1 Stunde")
	b.fill(`input[name="password"]`, newPassword)
	b.screenshot("settings")
	b.click(`button[name="method"][value="password"]`)
	b.expectPath("/ui/settings?flow=")
	german("message.1050001")

	// The new password signs in.
	b.logOut(lk.Public)
	b.signIn(lk.Public, email, newPassword)
	b.expectPath("/ui/welcome")
	german("account.welcome.title")
}
