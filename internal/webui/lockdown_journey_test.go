package webui_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// mailLinks waits for a mail to `to` with the subject in the dev mailbox
// and returns the links in its body.
func (b *browser) mailLinks(public, to, subject string) []string {
	b.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		b.open(public + "ui/mail")
		links := eval[[]string](b, `(function(){
			const m = Array.from(document.querySelectorAll('article.mail')).find(a =>
				a.querySelector('.recipient').textContent === `+jsString(to)+` &&
				a.querySelector('h2').textContent === `+jsString(subject)+`);
			return m ? Array.from(m.querySelectorAll('pre a')).map(a => a.href) : null;
		})()`)
		if links != nil {
			return links
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("no mail %q to %s in the dev mailbox\npage:\n%s", subject, to, b.pageText())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// jsString quotes s as a JavaScript string literal (JSON's are).
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// activeSessions counts the identity's active sessions through the admin API.
func (l *latchkey) activeSessions(t *testing.T, identityID string) int {
	t.Helper()
	list, _, err := l.Admin.IdentityAPI.ListIdentitySessions(context.Background(), identityID).Active(true).Execute()
	if err != nil {
		t.Fatalf("list sessions: %v", err)
	}
	return len(list)
}

// TestBrowserLockdown is issue 15's "this wasn't me" in real Chromium:
// someone recovers Lin's account; the notification's link opens a confirm
// page that changes nothing; confirming signs every device out and turns
// the password off; the link then says it was used; recovery works again.
func TestBrowserLockdown(t *testing.T) {
	chromiumPath(t)
	lk := MustLatchkey(t)
	b := MustBrowser(t)
	email := newEmail("lin")
	const password, newPassword = "Quiet-Harbour-Lantern-31", "Granite-Meadow-Sparrow-77"
	id := lk.MustIdentity(t, email, password)

	// The attacker recovers the account by email code and is signed in.
	b.recoverByCode(lk.Public, email)
	b.expectText("You recovered your account.")
	if n := lk.activeSessions(t, id); n != 1 {
		t.Fatalf("%d active sessions after the recovery, want 1", n)
	}

	// Lin's mail: the account was recovered, with a lockdown link.
	links := b.mailLinks(lk.Public, email, "Your account was recovered")
	var lockdown string
	for _, l := range links {
		if strings.Contains(l, "/ui/lockdown?token=") {
			lockdown = l
		}
	}
	if lockdown == "" {
		t.Fatalf("no lockdown link in the notification: %q", links)
	}

	// Opening the link (as a mail scanner would) changes nothing.
	b.open(lockdown)
	b.expectPath("/ui/lockdown?token=")
	b.expectText("Wasn't this you?", "Your account was recovered.", "sign out every device")
	b.screenshot("lockdown")
	if n := lk.activeSessions(t, id); n != 1 {
		t.Fatalf("%d active sessions after opening the link, want 1 (a GET must change nothing)", n)
	}

	// Confirming locks the account down.
	b.click(`#lockdown-confirm`)
	b.expectPath("/ui/lockdown?state=confirmed")
	b.expectText("Your account is locked down", "Every device was signed out")
	b.screenshot("lockdown-confirmed")
	if n := lk.activeSessions(t, id); n != 0 {
		t.Errorf("%d active sessions after the lockdown, want 0", n)
	}
	b.mailLinks(lk.Public, email, "Your account is locked down")
	b.open(lk.Public + "ui/welcome")
	b.expectPath("/ui/login?flow=")
	b.signIn(lk.Public, email, password)
	b.expectPath("/ui/login?flow=")
	b.expectText("The provided credentials are invalid")

	// The link works once.
	b.open(lockdown)
	b.expectText("Your account is already locked down")

	// Lin recovers the account and chooses a new password.
	b.open(lk.Public + "ui/lockdown?state=confirmed")
	b.click(`#lockdown-recover`)
	b.expectPath("/ui/recovery?flow=")
	b.recoverByCode(lk.Public, email)
	b.setPassword(newPassword)
	b.logOut(lk.Public)
	b.signIn(lk.Public, email, newPassword)
	b.expectPath("/ui/welcome")
	b.expectText(email, "You are signed in.")
}

// jsStrings is ss as a JavaScript array literal.
func jsStrings(ss []string) string {
	if ss == nil {
		ss = []string{}
	}
	b, _ := json.Marshal(ss)
	return string(b)
}
