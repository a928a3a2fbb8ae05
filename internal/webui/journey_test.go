package webui_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ory "github.com/ory/client-go"

	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/server"
)

// latchkey is a real Latchkey (server.New, development mode, SQLite in a
// temporary directory) on two loopback httptest servers.
type latchkey struct {
	Public string // public base URL, ending in "/"
	Admin  *ory.APIClient
	// offset moves the server's clock (travel), so tests expire flows
	// without sleeping.
	offset atomic.Int64
}

// travel moves the server's clock forward by d.
func (l *latchkey) travel(d time.Duration) { l.offset.Add(int64(d)) }

// MustLatchkey starts Latchkey in development mode with extra environment
// settings (KEY=value), its courier dispatcher running.
func MustLatchkey(t *testing.T, env ...string) *latchkey {
	t.Helper()
	pub := httptest.NewUnstartedServer(nil)
	adm := httptest.NewUnstartedServer(nil)
	publicURL := "http://" + pub.Listener.Addr().String() + "/"
	adminURL := "http://" + adm.Listener.Addr().String() + "/"
	cfg, _, err := config.Load(config.LoadOptions{
		Dev:     true,
		DataDir: t.TempDir(),
		Env:     append([]string{"SERVE_PUBLIC_BASE_URL=" + publicURL, "SERVE_ADMIN_BASE_URL=" + adminURL}, env...),
	})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	lk := &latchkey{Public: publicURL}
	now := func() time.Time { return time.Now().Add(time.Duration(lk.offset.Load())) }
	ctx, stop := context.WithCancel(context.Background())
	srv, err := server.New(ctx, cfg, server.Options{Migrate: true, Now: now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		stop()
		t.Fatalf("server.New: %v", err)
	}
	pub.Config.Handler = srv.Public()
	adm.Config.Handler = srv.Admin()
	pub.Start()
	adm.Start()
	wait := srv.StartWorkers(ctx)
	t.Cleanup(func() {
		pub.Close()
		adm.Close()
		stop()
		wait()
		srv.Close()
	})
	res, err := http.Get(publicURL + "ui/static/style.css")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Security-Policy") == "" {
		t.Fatalf("the web UI is not mounted on the public listener under /ui/ (internal/server): GET /ui/static/style.css → %d", res.StatusCode)
	}
	acfg := ory.NewConfiguration()
	acfg.Servers = ory.ServerConfigurations{{URL: strings.TrimSuffix(adminURL, "/")}}
	lk.Admin = ory.NewAPIClient(acfg)
	return lk
}

// MustIdentity creates an identity with a password through the admin API.
func (l *latchkey) MustIdentity(t *testing.T, email, password string) string {
	t.Helper()
	body := ory.CreateIdentityBody{
		SchemaId: "default",
		Traits:   map[string]any{"email": email},
		Credentials: &ory.IdentityWithCredentials{Password: &ory.IdentityWithCredentialsPassword{
			Config: &ory.IdentityWithCredentialsPasswordConfig{Password: &password},
		}},
	}
	id, _, err := l.Admin.IdentityAPI.CreateIdentity(context.Background()).CreateIdentityBody(body).Execute()
	if err != nil {
		t.Fatalf("create identity %s: %v", email, err)
	}
	return id.Id
}

var emailSeq atomic.Int64

// newEmail is a fresh address per call.
func newEmail(name string) string {
	return fmt.Sprintf("%s-%d-%d@example.test", name, time.Now().UnixNano()%1e6, emailSeq.Add(1))
}

// readMailbox waits for the newest mail to `to` in the dev mailbox that
// it has not passed over (markMailbox, earlier reads) and returns its
// codes and links. A mail the courier prepares in the background (a
// recovery code) can arrive after the page said it was sent, while an
// older mail to the same address is still the newest.
func (b *browser) readMailbox(public, to string) (codes, links []string) {
	b.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		b.open(public + "ui/mail")
		m := eval[*struct {
			ID           string
			Codes, Links []string
		}](b, `(function(){
			const seen = `+jsStrings(b.seenMail)+`;
			const m = Array.from(document.querySelectorAll('article.mail')).find(a =>
				a.querySelector('.recipient').textContent === `+jsString(to)+` && !seen.includes(a.querySelector('h2').id));
			return m ? {ID: m.querySelector('h2').id,
				Codes: Array.from(m.querySelectorAll('pre mark.code')).map(c => c.textContent),
				Links: Array.from(m.querySelectorAll('pre a')).map(a => a.href)} : null;
		})()`)
		if m != nil {
			b.seenMail = append(b.seenMail, m.ID)
			return m.Codes, m.Links
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("no new mail to %s in the dev mailbox\npage:\n%s", to, b.pageText())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// markMailbox makes readMailbox pass over every mail there is now.
func (b *browser) markMailbox(public string) {
	b.t.Helper()
	b.open(public + "ui/mail")
	b.seenMail = append(b.seenMail, eval[[]string](b, `Array.from(document.querySelectorAll('article.mail h2')).map(h => h.id)`)...)
}

// logOut follows the welcome page's log-out link and lands on sign in.
func (b *browser) logOut(public string) {
	b.t.Helper()
	b.open(public + "ui/welcome")
	b.expectPath("/ui/welcome")
	b.click("#logout")
	b.expectPath("/ui/login?flow=")
}

// signIn signs in with the login page's form and lands on the welcome page.
// signUp fills the two screens of a profile_first registration opened at
// /ui/registration: the traits (method=profile), then, once the address
// is kept as a hidden input, the password. A round trip through "Back"
// shows the address is kept.
func (b *browser) signUp(email, password string) {
	b.t.Helper()
	b.fill(`input[name="traits.email"]`, email)
	b.click(`button[name="method"][value="profile"]`)
	b.expectText("Please choose a credential to authenticate yourself with.")
	b.click(`button[name="screen"][value="previous"]`)
	if got := eval[string](b, `document.querySelector('input[name="traits.email"]').value`); got != email {
		b.t.Fatalf("back: traits.email = %q, want %q", got, email)
	}
	b.click(`button[name="method"][value="profile"]`)
	b.expectText("Please choose a credential to authenticate yourself with.")
	b.fill(`input[name="password"]`, password)
	b.click(`button[name="method"][value="password"]`)
}

func (b *browser) signIn(public, email, password string) {
	b.t.Helper()
	b.open(public + "ui/login")
	b.expectPath("/ui/login?flow=")
	b.fill(`input[name="identifier"]`, email)
	b.fill(`input[name="password"]`, password)
	b.click(`button[name="method"][value="password"]`)
}

// recoverByCode asks the recovery page for a code to email, reads it in
// the dev mailbox and submits it. Where the browser lands depends on the
// account (settings, or a second factor first).
func (b *browser) recoverByCode(public, email string) {
	b.t.Helper()
	b.markMailbox(public) // the code mail is the next one
	b.open(public + "ui/recovery")
	b.expectPath("/ui/recovery?flow=")
	b.fill(`input[name="email"]`, email)
	b.click(`button[name="method"][value="code"]`)
	b.expectText("An email containing a recovery code has been sent")
	recoveryPage := b.location()
	codes, _ := b.readMailbox(public, email)
	if len(codes) != 1 {
		b.t.Fatalf("codes in the mail: %q", codes)
	}
	b.open(recoveryPage)
	b.fill(`input[name="code"]`, codes[0])
	b.click(`button[name="method"][value="code"]`)
}

// setPassword uses the settings page's Password form.
func (b *browser) setPassword(password string) {
	b.t.Helper()
	b.expectPath("/ui/settings?flow=")
	b.fill(`input[name="password"]`, password)
	b.click(`button[name="method"][value="password"]`)
	b.expectPath("/ui/settings?flow=")
	b.expectText("Your changes have been saved!")
}

// TestBrowserJourneys drives the built-in UI of a real Latchkey in real
// Chromium, as a newcomer would.
func TestBrowserJourneys(t *testing.T) {
	chromiumPath(t)

	t.Run("RecoverWithCode", func(t *testing.T) {
		lk := MustLatchkey(t)
		b := MustBrowser(t)
		email := newEmail("ada")
		const oldPassword, newPassword = "Correct-Horse-Battery-17", "Tangerine-Lantern-Orbit-42"

		// Register.
		b.open(lk.Public + "ui/registration")
		b.expectPath("/ui/registration?flow=")
		b.signUp(email, oldPassword)
		b.open(lk.Public + "ui/welcome")
		b.expectPath("/ui/welcome")
		b.expectText(email, "You are signed in.")

		// Log out, forget the password.
		b.logOut(lk.Public)
		b.click(`ul.links a[href$="/ui/recovery"]`)
		b.expectPath("/ui/recovery?flow=")
		b.expectText("Open the dev mailbox")
		b.fill(`input[name="email"]`, email)
		b.click(`button[name="method"][value="code"]`)
		b.expectPath("/ui/recovery?flow=")
		b.expectText("An email containing a recovery code has been sent")
		recoveryPage := b.location()

		// Read the code in the dev mailbox.
		codes, _ := b.readMailbox(lk.Public, email)
		if len(codes) != 1 || !regexp.MustCompile(`^[0-9]{6}$`).MatchString(codes[0]) {
			t.Fatalf("codes in the mail: %q", codes)
		}
		b.screenshot("mailbox")

		// A wrong code first: the error shows on the page, the flow goes on.
		b.open(recoveryPage)
		wrong := fmt.Sprintf("%06d", (atoi(codes[0])+1)%1000000)
		b.fill(`input[name="code"]`, wrong)
		b.click(`button[name="method"][value="code"]`)
		b.expectPath("/ui/recovery?flow=")
		b.expectText("The recovery code is invalid or has already been used. Please try again.")
		if role := eval[string](b, `document.querySelector('.msg-error').getAttribute('role')`); role != "alert" {
			t.Errorf("error message role %q, want alert", role)
		}
		b.screenshot("recovery")

		// The right code leads to settings with a fresh session.
		b.fill(`input[name="code"]`, codes[0])
		b.click(`button[name="method"][value="code"]`)
		b.expectPath("/ui/settings?flow=")
		b.expectText("You recovered your account. Set a new password within 1 hour.")
		if !eval[bool](b, `!!document.querySelector('form[data-group="profile"]') && !!document.querySelector('form[data-group="password"]')`) {
			t.Error("settings lacks the Profile or the Password form")
		}
		b.expectText("Profile", "Password")
		b.fill(`input[name="password"]`, newPassword)
		b.screenshot("settings")
		b.click(`button[name="method"][value="password"]`)
		b.expectPath("/ui/settings?flow=")
		b.expectText("Your changes have been saved!")

		// Log out; the old password no longer works, the new one does.
		b.logOut(lk.Public)
		b.signIn(lk.Public, email, oldPassword)
		b.expectPath("/ui/login?flow=")
		b.expectText("The provided credentials are invalid")
		b.signIn(lk.Public, email, newPassword)
		b.expectPath("/ui/welcome")
		b.expectText(email, "You are signed in.", "password")
		b.screenshot("welcome")
	})

	t.Run("RecoverWithLink", func(t *testing.T) {
		lk := MustLatchkey(t, "SELFSERVICE_FLOWS_RECOVERY_USE=link", "SELFSERVICE_METHODS_LINK_ENABLED=true")
		b := MustBrowser(t)
		email := newEmail("grace")
		lk.MustIdentity(t, email, "Forgotten-Password-Value-9")

		b.open(lk.Public + "ui/recovery")
		b.expectPath("/ui/recovery?flow=")
		b.fill(`input[name="email"]`, email)
		b.click(`button[name="method"][value="link"]`)
		b.expectText("An email containing a recovery link has been sent")

		_, links := b.readMailbox(lk.Public, email)
		if len(links) != 1 || !strings.Contains(links[0], "/self-service/recovery?flow=") {
			t.Fatalf("links in the mail: %q", links)
		}
		b.click(`article.mail:first-of-type pre a`)
		// Opening the link spends nothing (departure 5): confirm it.
		b.click(`button[name="method"][value="link"]`)
		b.setPassword("Fresh-Orchard-Compass-73")
		b.open(lk.Public + "ui/welcome")
		b.expectText(email, "recovery link")
	})

	t.Run("AdminRecoveryCode", func(t *testing.T) {
		lk := MustLatchkey(t)
		b := MustBrowser(t)
		email := newEmail("admin-code")
		id := lk.MustIdentity(t, email, "Forgotten-Password-Value-9")
		rc, _, err := lk.Admin.IdentityAPI.CreateRecoveryCodeForIdentity(context.Background()).
			CreateRecoveryCodeForIdentityBody(ory.CreateRecoveryCodeForIdentityBody{IdentityId: id}).Execute()
		if err != nil {
			t.Fatalf("admin recovery code: %v", err)
		}
		link := rc.RecoveryLink
		if strings.HasPrefix(link, "/") {
			link = strings.TrimSuffix(lk.Public, "/") + link
		}
		b.open(link)
		b.expectPath("/ui/recovery?flow=")
		b.fill(`input[name="code"]`, rc.RecoveryCode)
		b.click(`button[name="method"][value="code"]`)
		b.setPassword("Admin-Issued-Recovery-58")
		b.open(lk.Public + "ui/welcome")
		b.expectText(email, "recovery code")
	})

	t.Run("AdminRecoveryLink", func(t *testing.T) {
		lk := MustLatchkey(t, "SELFSERVICE_METHODS_LINK_ENABLED=true")
		b := MustBrowser(t)
		email := newEmail("admin-link")
		id := lk.MustIdentity(t, email, "Forgotten-Password-Value-9")
		rl, _, err := lk.Admin.IdentityAPI.CreateRecoveryLinkForIdentity(context.Background()).
			CreateRecoveryLinkForIdentityBody(ory.CreateRecoveryLinkForIdentityBody{IdentityId: id}).Execute()
		if err != nil {
			t.Fatalf("admin recovery link: %v", err)
		}
		b.open(rl.RecoveryLink)
		b.click(`button[name="method"][value="link"]`)
		b.setPassword("Admin-Issued-Link-Recovery-64")
		b.open(lk.Public + "ui/welcome")
		b.expectText(email, "recovery link")
	})

	t.Run("UnknownOrExpiredFlowStartsANewOne", func(t *testing.T) {
		lk := MustLatchkey(t)
		b := MustBrowser(t)
		b.open(lk.Public + "ui/recovery?flow=00000000-0000-4000-8000-000000000000")
		b.expectPath("/ui/recovery?flow=")
		first := b.location()
		if strings.Contains(first, "00000000-0000-4000-8000-000000000000") {
			t.Error("the unknown flow was not replaced")
		}
		b.expectText("Recover your account")

		lk.travel(2 * time.Hour)
		b.open(first)
		b.expectPath("/ui/recovery?flow=")
		if b.location() == first {
			t.Error("the expired flow was not replaced")
		}
		b.fill(`input[name="email"]`, newEmail("nobody"))
		b.click(`button[name="method"][value="code"]`)
		b.expectText("An email containing a recovery code has been sent")
	})

	t.Run("ErrorAndDisabledPages", func(t *testing.T) {
		lk := MustLatchkey(t)
		b := MustBrowser(t)
		b.open(lk.Public + "ui/error?id=stub:500")
		b.expectText("Something went wrong", "This is a stub error.")
		b.openDetails()
		b.expectText("500 Internal Server Error")
		b.screenshot("error")
		b.open(lk.Public + "ui/verification")
		b.expectText("Verify your email address", "This feature is not enabled on this server.")
	})
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// TestJourneyIdentifierFirst signs in with login.style identifier_first:
// the address, "Continue", then the password; an unknown address gets
// the same password screen and the password is refused.
func TestJourneyIdentifierFirst(t *testing.T) {
	chromiumPath(t)
	lk := MustLatchkey(t, "SELFSERVICE_FLOWS_LOGIN_STYLE=identifier_first")
	b := MustBrowser(t)
	email := newEmail("grace")
	const password = "Compiler-Nanosecond-Wire-59"
	lk.MustIdentity(t, email, password)

	b.open(lk.Public + "ui/login")
	b.expectPath("/ui/login?flow=")
	b.fill(`input[name="identifier"]`, newEmail("nobody"))
	b.click(`button[name="method"][value="identifier_first"]`)
	b.fill(`input[name="password"]`, password)
	b.click(`button[name="method"][value="password"]`)
	b.expectText("The provided credentials are invalid")

	b.open(lk.Public + "ui/login")
	b.expectPath("/ui/login?flow=")
	b.fill(`input[name="identifier"]`, email)
	b.click(`button[name="method"][value="identifier_first"]`)
	if got := eval[string](b, `document.querySelector('input[type="hidden"][name="identifier"]').value`); got != email {
		t.Fatalf("hidden identifier %q", got)
	}
	b.fill(`input[name="password"]`, password)
	b.click(`button[name="method"][value="password"]`)
	b.open(lk.Public + "ui/welcome")
	b.expectText(email)
}
