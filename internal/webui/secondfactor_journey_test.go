package webui_test

import (
	"context"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"
)

// tap clicks what the selector names when the click loads no page (a
// <summary>, a script button).
func (b *browser) tap(sel string) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Click(chromedp.CSS(sel))); err != nil {
		b.t.Fatalf("tap %s: %v\npage:\n%s", sel, err, b.pageText())
	}
}

// grantClipboard lets pages of the site at base read and write the
// clipboard without asking (headless Chromium would refuse).
func (b *browser) grantClipboard(base string) {
	b.t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		b.t.Fatal(err)
	}
	for _, perm := range []string{"clipboard-read", "clipboard-write"} {
		if _, err := chromedp.CallBrowser(b.ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
			Permission: &cdpbrowser.PermissionDescriptor{Name: perm, AllowWithoutSanitization: true},
			Setting:    cdpbrowser.PermissionSettingGranted,
			Origin:     u.Scheme + "://" + u.Host,
		}); err != nil {
			b.t.Fatalf("grant %s: %v", perm, err)
		}
	}
}

// copyCodes presses the Copy button of the backup codes and returns what
// landed on the clipboard.
func (b *browser) copyCodes() string {
	b.t.Helper()
	b.tap(`button[data-copy-codes]`)
	if err := chromedp.Do(b.ctx, chromedp.WaitVisible(chromedp.CSS(`.copy-status:not(:empty)`))); err != nil {
		b.t.Fatalf("no copy status: %v", err)
	}
	clip, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("read the clipboard: %v", err)
	}
	return clip
}

// totpCode is the authenticator app's code for secret at the server's time.
func (l *latchkey) totpCode(t *testing.T, secret string) string {
	t.Helper()
	code, err := totp.GenerateCode(secret, time.Now().Add(time.Duration(l.offset.Load())))
	if err != nil {
		t.Fatalf("TOTP code for the key on the page: %v", err)
	}
	return code
}

// nextTOTPStep moves the server past the current 30-second step, so the
// authenticator shows a code not used yet (a code counts once).
func (l *latchkey) nextTOTPStep() { l.travel(31 * time.Second) }

// TestBrowserSecondFactorJourney is issue 13's journey in real Chromium:
// enrol an authenticator app and backup codes in settings, sign in with
// password + app, recover by email code, give a backup code when settings
// asks for the second factor, set a new password — and the app stays.
func TestBrowserSecondFactorJourney(t *testing.T) {
	chromiumPath(t)
	lk := MustLatchkey(t) // development mode turns totp and lookup_secret on
	b := MustBrowser(t)
	email := newEmail("hedy")
	const oldPassword, newPassword = "Frequency-Hopping-Piano-88", "Torpedo-Guidance-Spread-91"

	// Register; the session is aal1.
	b.open(lk.Public + "ui/registration")
	b.expectPath("/ui/registration?flow=")
	b.signUp(email, oldPassword)
	b.open(lk.Public + "ui/settings")
	b.expectPath("/ui/settings?flow=")
	wired := eval[bool](b, `!!document.querySelector('form[data-group="totp"]') && !!document.querySelector('form[data-group="lookup_secret"]')`)
	if !wired {
		t.Skip("the totp and lookup_secret settings methods are not wired into this server (branches totp, lookup)")
	}

	// Enrol the authenticator app: a QR code that loads under the CSP, and
	// the key beside it, which the "app" (pquerna/otp) reads.
	b.expectText("Authenticator app", "Backup codes")
	if w := eval[int](b, `document.querySelector('[data-node-id="totp_qr"] img').naturalWidth`); w == 0 {
		t.Fatal("the QR code image did not load")
	}
	if alt := eval[string](b, `document.querySelector('[data-node-id="totp_qr"] img').alt`); alt == "" {
		t.Error("the QR code has no alt text")
	}
	secret := b.text(`[data-node-id="totp_secret_key"] code`)
	if !regexp.MustCompile(`^[A-Z2-7]{32}$`).MatchString(secret) {
		t.Fatalf("secret key on the page: %q", secret)
	}
	b.fill(`input[name="totp_code"]`, "000000")
	b.click(`button[name="method"][value="totp"]`)
	b.expectPath("/ui/settings?flow=")
	b.expectText("The provided authentication code is invalid, please try again.")
	if got := b.text(`[data-node-id="totp_secret_key"] code`); got != secret {
		t.Fatalf("a wrong code changed the key: %q → %q", secret, got)
	}
	b.fill(`input[name="totp_code"]`, lk.totpCode(t, secret))
	b.screenshot("settings-totp")
	b.click(`button[name="method"][value="totp"]`)
	b.expectPath("/ui/settings?flow=")
	b.expectText("Your changes have been saved!")
	if !eval[bool](b, `!!document.querySelector('button[name="totp_unlink"]') && !document.querySelector('input[name="totp_code"]')`) {
		t.Fatal("after enrolment settings does not offer to unlink the app")
	}

	// Backup codes: generate, read (12, shown as a list), copy, confirm.
	b.click(`button[name="lookup_secret_regenerate"]`)
	b.expectPath("/ui/settings?flow=")
	codes := eval[[]string](b, `Array.from(document.querySelectorAll('[data-node-id="lookup_secret_codes"] li:not(.used) code')).map(c => c.textContent)`)
	if len(codes) != 12 {
		t.Fatalf("%d backup codes on the page, want 12: %q", len(codes), codes)
	}
	for _, c := range codes {
		if !regexp.MustCompile(`^[a-z0-9]{8}$`).MatchString(c) {
			t.Fatalf("backup code %q", c)
		}
	}
	if hidden := eval[bool](b, `document.querySelector('button[data-copy-codes]').hidden`); hidden {
		t.Fatal("the Copy button stayed hidden: the script did not run under the CSP")
	}
	b.grantClipboard(lk.Public)
	if clip := b.copyCodes(); clip != strings.Join(codes, "\n")+"\n" {
		t.Errorf("clipboard = %q", clip)
	}
	b.expectText("Copied 12 codes.")
	b.screenshot("settings-backup-codes")
	b.click(`button[name="lookup_secret_confirm"]`)
	b.expectPath("/ui/settings?flow=")
	b.expectText("Your changes have been saved!", "Reveal backup recovery codes")

	// Log out; password + authenticator app.
	b.logOut(lk.Public)
	b.signIn(lk.Public, email, oldPassword)
	b.expectPath("/ui/login?flow=")
	b.expectText("Confirm it's you", "Please complete the second authentication challenge.", "Use a backup code instead")
	b.screenshot("login-second-step")
	lk.nextTOTPStep()
	b.fill(`input[name="totp_code"]`, lk.totpCode(t, secret))
	b.click(`button[name="method"][value="totp"]`)
	b.open(lk.Public + "ui/welcome")
	b.expectPath("/ui/welcome")
	b.openDetails()
	b.expectText(email, "aal2", "totp")

	// Log out, forget the password, recover by email code.
	b.logOut(lk.Public)
	b.recoverByCode(lk.Public, email)

	// Settings asks for the second factor first; the device is "lost", so
	// a backup code it is.
	b.expectPath("/ui/login?flow=")
	b.expectText("Confirm it's you", "Please complete the second authentication challenge.")
	b.tap(`details.alternative summary`)
	b.fill(`input[name="lookup_secret"]`, codes[0])
	b.click(`button[name="method"][value="lookup_secret"]`)

	// Back on the recovery's settings flow, which takes the new password.
	b.expectPath("/ui/settings?flow=")
	b.expectText("You recovered your account.")
	b.setPassword(newPassword)

	// The new password works, and the authenticator app is still enrolled.
	b.logOut(lk.Public)
	b.signIn(lk.Public, email, oldPassword)
	b.expectText("The provided credentials are invalid")
	b.signIn(lk.Public, email, newPassword)
	b.expectPath("/ui/login?flow=")
	b.expectText("Confirm it's you")
	lk.nextTOTPStep()
	b.fill(`input[name="totp_code"]`, lk.totpCode(t, secret))
	b.click(`button[name="method"][value="totp"]`)
	b.open(lk.Public + "ui/welcome")
	b.openDetails()
	b.expectText(email, "aal2")

	// The identity keeps its authenticator app, and the backup code given
	// at the step-up is spent.
	ids, _, err := lk.Admin.IdentityAPI.ListIdentities(context.Background()).CredentialsIdentifier(email).Execute()
	if err != nil || len(ids) != 1 {
		t.Fatalf("list identities: %v (%d)", err, len(ids))
	}
	ident, _, err := lk.Admin.IdentityAPI.GetIdentity(context.Background(), ids[0].Id).IncludeCredential([]string{"lookup_secret"}).Execute()
	if err != nil {
		t.Fatalf("get identity: %v", err)
	}
	creds := ident.GetCredentials()
	if _, ok := creds["totp"]; !ok {
		t.Errorf("identity credentials %v lack totp", keys(creds))
	}
	lc := creds["lookup_secret"]
	stored, _ := lc.Config["recovery_codes"].([]any)
	spent := map[string]bool{}
	for _, rc := range stored {
		m, _ := rc.(map[string]any)
		code, _ := m["code"].(string)
		spent[code] = m["used_at"] != nil
	}
	if len(stored) != 12 || !spent[codes[0]] || spent[codes[1]] {
		t.Errorf("stored backup codes %v: want 12 with only %s spent", stored, codes[0])
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestBrowserRendersSecondFactors shows the Kratos-shaped second-factor
// flows of testdata/ in real Chromium: the QR code loads under the CSP,
// Copy puts the unused backup codes on the clipboard, the backup-code form
// of the second login step unfolds, and every page fits a phone.
func TestBrowserRendersSecondFactors(t *testing.T) {
	b := MustBrowser(t)
	api := newFakeAPI()
	h := MustHandler(t, api, nil)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	h.Config.PublicBaseURL = srv.URL + "/"
	show := func(kind, file string) {
		t.Helper()
		body, err := os.ReadFile("testdata/" + file)
		if err != nil {
			t.Fatal(err)
		}
		api.on("/self-service/"+kind+"/flows?id="+fixtureFlowID, 200, string(body))
		if res := b.open(srv.URL + "/ui/" + kind + "?flow=" + fixtureFlowID); res.Status != 200 {
			t.Fatalf("%s: status %d", file, res.Status)
		}
		if err := chromedp.Do(b.ctx, chromedp.EmulateViewport(375, 740, chromedp.EmulateMobile), chromedp.Reload()); err != nil {
			t.Fatal(err)
		}
		if eval[bool](b, `document.documentElement.scrollWidth > window.innerWidth`) {
			t.Errorf("%s is wider than a phone screen", file)
		}
		if unlabelled := eval[[]string](b, `Array.from(document.querySelectorAll('input:not([type=hidden])')).filter(i => i.labels.length === 0).map(i => i.name)`); len(unlabelled) > 0 {
			t.Errorf("%s: inputs without a label: %v", file, unlabelled)
		}
	}

	// Enrolling an authenticator app.
	{
		show("settings", "settings-totp-enrol.json")
		if w := eval[int](b, `document.querySelector('[data-node-id="totp_qr"] img').naturalWidth`); w == 0 {
			t.Error("the QR code image did not load under the Content-Security-Policy")
		}
		b.expectText("Authenticator app", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "The provided authentication code is invalid")
		b.screenshot("fixture-settings-totp-enrol")
	}

	// Copying backup codes.
	{
		show("settings", "settings-lookup-codes.json")
		b.grantClipboard(srv.URL)
		want := "k3v9x2qa\nm8d4r7tw\na9b3c7de\nq5w2e8rt\ny4u7i1op\ns6d9f3gh\nj2k5l8zx\nc7v1b4nm\ne3r6t9yu\nu8i2o5pa\nw1e4r7ty\n"
		if clip := b.copyCodes(); clip != want {
			t.Errorf("clipboard = %q, want the 11 unused codes", clip)
		}
		b.expectText("Copied 11 codes.")
		if dl := eval[string](b, `document.querySelector('a[download="backup-codes.txt"]').href`); !strings.HasPrefix(dl, "data:text/plain") {
			t.Errorf("Download link %q", dl)
		}
		b.screenshot("fixture-settings-backup-codes")
	}

	// The second login step unfolds the backup-code form on request.
	{
		show("login", "login-aal2.json")
		b.expectText("Confirm it's you", "Use a backup code instead")
		visible := `document.querySelector('input[name="lookup_secret"]').checkVisibility()`
		if eval[bool](b, visible) {
			t.Error("the backup-code input shows before the person asks for it")
		}
		b.tap(`details.alternative summary`)
		if !eval[bool](b, visible) {
			t.Error("the backup-code input does not show after \"Use a backup code instead\"")
		}
		b.screenshot("fixture-login-second-step")
	}
}
