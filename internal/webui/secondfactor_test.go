package webui_test

import (
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// fixtureFlowID is the id of every flow in testdata/.
const fixtureFlowID = "8a7d3f3e-4d53-4c0b-9f3e-2b1a3c5d7e90"

// mustRenderFixture serves testdata/<file> (a flow shaped like Kratos's) as
// the API's answer for a <kind> flow and returns the UI's page for it.
func mustRenderFixture(t *testing.T, kind, file string, api *fakeAPI) string {
	t.Helper()
	body, err := os.ReadFile("testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	if api == nil {
		api = newFakeAPI()
	}
	api.on("/self-service/"+kind+"/flows?id="+fixtureFlowID, 200, string(body))
	w := get(t, MustHandler(t, api, nil), "/ui/"+kind+"?flow="+fixtureFlowID)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d, want 200\n%s", w.Code, w.Body)
	}
	return w.Body.String()
}

// formOf is the form that submits the node group.
func formOf(t *testing.T, body, group string) string {
	t.Helper()
	for _, f := range forms(body) {
		if strings.Contains(f, `data-group="`+group+`"`) {
			return f
		}
	}
	t.Fatalf("no %s form on the page:\n%s", group, body)
	return ""
}

func TestRenderSecondFactors(t *testing.T) {
	t.Run("SettingsTOTPEnrolment", func(t *testing.T) {
		body := mustRenderFixture(t, "settings", "settings-totp-enrol.json", nil)
		totp := formOf(t, body, "totp")
		mustContain(t, totp, "<legend>Authenticator app</legend>",
			`<figure class="field field-image" data-node-id="totp_qr">`,
			`src="data:image/png;base64,iVBORw0KGgo`, `alt="Authenticator app QR code" width="256" height="256">`,
			`<div class="field field-text" data-node-id="totp_secret_key">`,
			`<code>JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP</code>`,
			"This is your authenticator app secret.",
			`value="totp"`)
		// The code input asks for a one-time code and carries its error.
		in := inputRE.FindString(totp[strings.Index(totp, `name="totp_code"`)-60:])
		a := attrs(in)
		if a["name"] != "totp_code" || a["type"] != "text" || a["autocomplete"] != "one-time-code" ||
			a["inputmode"] != "numeric" || a["aria-invalid"] != "true" || a["aria-describedby"] != a["id"]+"-msg" {
			t.Errorf("totp_code input: %s", in)
		}
		code := strings.Index(totp, `name="totp_code"`)
		msg := strings.Index(totp, `data-message-id="4000008"`)
		save := strings.Index(totp, `value="totp"`)
		if !(code < msg && msg < save) {
			t.Errorf("message 4000008 is not between the code input and the Save button:\n%s", totp)
		}
		// The QR code and the key come before the input.
		if qr, key := strings.Index(totp, "totp_qr"), strings.Index(totp, "totp_secret_key"); !(qr < key && key < code) {
			t.Error("QR code, key and code input are out of order")
		}

		lookup := formOf(t, body, "lookup_secret")
		mustContain(t, lookup, "<legend>Backup codes</legend>",
			`name="lookup_secret_regenerate" value="true" formnovalidate`, "Generate new backup recovery codes")
		mustNotContain(t, body, "<script", "backup-codes.txt")
		mustNotContain(t, lookup, "totp_code")
	})

	t.Run("SettingsBackupCodesWithCopyAndDownload", func(t *testing.T) {
		body := mustRenderFixture(t, "settings", "settings-lookup-codes.json", nil)
		lookup := formOf(t, body, "lookup_secret")
		want := []string{"k3v9x2qa", "m8d4r7tw", "a9b3c7de", "q5w2e8rt", "y4u7i1op", "s6d9f3gh", "j2k5l8zx", "c7v1b4nm", "e3r6t9yu", "u8i2o5pa", "w1e4r7ty"}
		got := regexp.MustCompile(`<li><code>([a-z0-9]+)</code></li>`).FindAllStringSubmatch(lookup, -1)
		if len(got) != len(want) {
			t.Fatalf("%d codes listed, want %d:\n%s", len(got), len(want), lookup)
		}
		for i, m := range got {
			if m[1] != want[i] {
				t.Errorf("code %d = %q, want %q", i, m[1], want[i])
			}
		}
		mustContain(t, lookup, `data-node-id="lookup_secret_codes"`,
			"These are your backup recovery codes. Please keep them in a safe place!",
			`<li class="used">Used on 1 December 2026 at 10:00 UTC</li>`,
			`name="lookup_secret_confirm" value="true"`, "Confirm backup recovery codes")
		// The used code itself is never shown (Kratos's list replaces it).
		mustNotContain(t, body, "p2f6h1zc")

		// Download is a plain link: a text file of the unused codes.
		dl := regexp.MustCompile(`<a class="button secondary" href="([^"]+)" download="backup-codes.txt">Download</a>`).FindStringSubmatch(lookup)
		if dl == nil {
			t.Fatalf("no Download link:\n%s", lookup)
		}
		const prefix = "data:text/plain;charset=utf-8,"
		if !strings.HasPrefix(dl[1], prefix) {
			t.Fatalf("download href %q", dl[1])
		}
		file, err := url.PathUnescape(strings.TrimPrefix(dl[1], prefix))
		if err != nil || file != strings.Join(want, "\n")+"\n" {
			t.Errorf("downloaded file = %q (%v)", file, err)
		}
		// Copy needs the script, so it starts hidden and the script is loaded.
		listID := regexp.MustCompile(`<ol class="backup-codes" id="([^"]+)"`).FindStringSubmatch(lookup)
		if listID == nil {
			t.Fatal("no code list")
		}
		mustContain(t, lookup, `<button type="button" class="secondary" data-copy-codes="`+listID[1]+`" data-copied="Copied `+strconv.Itoa(len(want))+` codes." data-copy-failed="Your browser did not allow copying. Select the codes or download them." hidden>Copy</button>`,
			`<p class="copy-status" role="status" id="`+listID[1]+`-status"></p>`)
		mustContain(t, body, `<script src="/ui/static/backup-codes.js" defer></script>`)

		mustContain(t, formOf(t, body, "totp"), `name="totp_unlink" value="true" formnovalidate`, "Unlink TOTP Authenticator App")
	})

	t.Run("SettingsBackupCodesEnrolled", func(t *testing.T) {
		body := mustRenderFixture(t, "settings", "settings-lookup-enrolled.json", nil)
		mustContain(t, body, `data-message-id="1050001">Your changes have been saved!</p>`)
		lookup := forms(body)[0]
		for _, name := range []string{"lookup_secret_reveal", "lookup_secret_regenerate", "lookup_secret_disable"} {
			mustContain(t, lookup, `name="`+name+`" value="true" formnovalidate`)
		}
		mustContain(t, lookup, "Reveal backup recovery codes", "Disable this method")
	})

	t.Run("SecondLoginStep", func(t *testing.T) {
		api := newFakeAPI()
		api.on("/self-service/logout/browser", 200, `{"logout_url":"http://pub.example.test/self-service/logout?token=lo-token","logout_token":"lo-token"}`)
		body := mustRenderFixture(t, "login", "login-aal2.json", api)
		mustContain(t, body, `<h1 id="page-title">Confirm it&#39;s you</h1>`,
			"Enter the code your authenticator app shows, or one of your backup codes.",
			`data-message-id="1010004">Please complete the second authentication challenge.</p>`,
			`<a id="logout" href="http://pub.example.test/self-service/logout?token=lo-token">`)
		mustNotContain(t, body, "Create an account", "Forgot your password?", "<script")
		// The app comes first; backup codes are folded under a summary.
		totp := formOf(t, body, "totp")
		mustContain(t, totp, `name="totp_code"`, `autocomplete="one-time-code"`, `value="totp"`, "Use Authenticator")
		details := regexp.MustCompile(`(?s)<details class="alternative">\s*<summary>Use a backup code instead</summary>\s*<form [^>]*data-group="lookup_secret">.*?</form>\s*</details>`).FindString(body)
		if details == "" {
			t.Fatalf("the backup-code form is not folded under \"Use a backup code instead\":\n%s", body)
		}
		mustContain(t, details, `name="lookup_secret"`, "Backup recovery code", `value="lookup_secret"`, `name="csrf_token"`)
		if strings.Index(body, `data-group="totp"`) > strings.Index(body, "<details") {
			t.Error("the backup codes come before the authenticator app")
		}
	})

	t.Run("SecondLoginStepWrongBackupCodeUnfolds", func(t *testing.T) {
		body := mustRenderFixture(t, "login", "login-aal2-backup-code-wrong.json", nil)
		mustContain(t, body, `<details class="alternative" open>`,
			`data-message-id="4000016">The backup recovery code is not valid.</p>`)
		// No session, no log-out link.
		mustNotContain(t, body, `id="logout"`)
	})

	t.Run("SettingsKeepsBothGroupsUnfolded", func(t *testing.T) {
		body := mustRenderFixture(t, "settings", "settings-lookup-codes.json", nil)
		mustNotContain(t, body, "<details", "Confirm it&#39;s you")
	})

	t.Run("CopyScriptIsServed", func(t *testing.T) {
		w := get(t, MustHandler(t, newFakeAPI(), nil), "/ui/static/backup-codes.js")
		if w.Code != http.StatusOK || !strings.Contains(w.Header().Get("Content-Type"), "javascript") {
			t.Fatalf("status %d, content type %q", w.Code, w.Header().Get("Content-Type"))
		}
		mustContain(t, w.Body.String(), "data-copy-codes", "navigator.clipboard")
		if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self';") {
			t.Errorf("CSP %q does not allow the UI's own script", csp)
		}
	})
}
