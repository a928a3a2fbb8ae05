package webui_test

import (
	"net/http"
	"testing"
)

const lockdownToken = "fzYAGLVa5NccH11VV8gSKMSQDNK3NVkQ"

// TestLockdownPage renders each state of /ui/lockdown from the API's
// answers: the confirm form that posts the token, and the pages for a
// confirmed, used, expired, unknown or missing link.
func TestLockdownPage(t *testing.T) {
	api := newFakeAPI()
	api.on("/self-service/lockdown?token="+lockdownToken, 200,
		`{"state":"pending","event":{"type":"recovery.succeeded","time":"2026-11-22T11:40:00Z"},"expires_at":"2026-11-29T11:40:00Z"}`)
	api.on("/self-service/lockdown?token=used", 410,
		`{"error":{"id":"lockdown_token_used","code":410,"status":"Gone","message":"This lockdown link was already used: the account is locked down. Recover the account to sign in again."}}`)
	api.on("/self-service/lockdown?token=old", 410,
		`{"error":{"id":"lockdown_token_expired","code":410,"status":"Gone","message":"This lockdown link has expired."}}`)
	api.on("/self-service/lockdown?token=nope", 404,
		`{"error":{"id":"lockdown_token_invalid","code":404,"status":"Not Found","message":"The lockdown link is invalid."}}`)
	api.on("/self-service/lockdown?token=broken", 500,
		`{"error":{"code":500,"status":"Internal Server Error","message":"The database is unavailable."}}`)
	h := MustHandler(t, api, nil)

	t.Run("PendingShowsTheEventAndAConfirmForm", func(t *testing.T) {
		w := get(t, h, "/ui/lockdown?token="+lockdownToken)
		if w.Code != http.StatusOK {
			t.Fatalf("status %d, want 200", w.Code)
		}
		body := w.Body.String()
		mustContain(t, body, "Wasn&#39;t this you?", "<title>Lock down your account · Latchkey</title>", "Your account was recovered.",
			"22 November 2026 at 11:40 UTC", "29 November 2026 at 11:40 UTC",
			"sign out every device", "cancel every recovery code and link", "turn off your password")
		fs := forms(body)
		if len(fs) != 1 {
			t.Fatalf("%d forms, want 1", len(fs))
		}
		mustContain(t, fs[0], `<form method="post" action="http://pub.example.test/self-service/lockdown">`,
			`<input type="hidden" name="token" value="`+lockdownToken+`">`, `id="lockdown-confirm"`)
		if got := api.last(t).Header.Get("Accept"); got != "application/json" {
			t.Errorf("the page asked the API with Accept %q", got)
		}
	})

	for _, c := range []struct {
		name, target string
		status       int
		wants        []string
	}{
		{"Confirmed", "/ui/lockdown?state=confirmed", 200, []string{"Your account is locked down", "Every device was signed out", `href="/ui/recovery"`}},
		{"AlreadyUsed", "/ui/lockdown?token=used", 410, []string{"Your account is already locked down", "This lockdown link was already used", `href="/ui/recovery"`}},
		{"Expired", "/ui/lockdown?token=old", 410, []string{"This link has expired", "This lockdown link has expired.", `href="/ui/recovery"`}},
		{"Unknown", "/ui/lockdown?token=nope", 404, []string{"This link does not work", "The lockdown link is invalid."}},
		{"Missing", "/ui/lockdown", 404, []string{"This link does not work", "Open the link from the security notification"}},
		{"APIFailure", "/ui/lockdown?token=broken", 500, []string{"The database is unavailable."}},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := get(t, h, c.target)
			if w.Code != c.status {
				t.Fatalf("status %d, want %d", w.Code, c.status)
			}
			body := w.Body.String()
			mustContain(t, body, c.wants...)
			mustNotContain(t, body, "<form", `name="token"`)
		})
	}
}
