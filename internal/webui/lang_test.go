package webui_test

import (
	"net/http"
	"testing"
)

// TestPageLanguage: a page speaks the browser's language (Accept-Language)
// unless the signed-in identity has a locale trait, and says so in
// <html lang> and Content-Language; an unsupported one gets English.
func TestPageLanguage(t *testing.T) {
	signedOut := newFakeAPI()
	signedOut.on("/sessions/whoami", http.StatusUnauthorized, `{"error":{"code":401,"status":"Unauthorized"}}`)
	withTrait := newFakeAPI()
	withTrait.on("/sessions/whoami", http.StatusOK, `{"id":"s1","identity":{"id":"i1","traits":{"email":"a@example.com","locale":"fr-CA"}}}`)
	for _, tc := range []struct {
		name   string
		api    *fakeAPI
		accept string
		lang   string
	}{
		{"browser German", signedOut, "de-DE,de;q=0.9", "de"},
		{"unsupported", signedOut, "ja", "en"},
		{"close match", signedOut, "pt-PT", "pt-BR"},
		{"no header", signedOut, "", "en"},
		{"trait beats browser", withTrait, "de", "fr"},
	} {
		res := get(t, MustHandler(t, tc.api, nil), "/ui/no-such-page", "Accept-Language", tc.accept)
		if res.Code != http.StatusNotFound {
			t.Errorf("%s: status %d", tc.name, res.Code)
		}
		if got := res.Header().Get("Content-Language"); got != tc.lang {
			t.Errorf("%s: Content-Language %q, want %q", tc.name, got, tc.lang)
		}
		mustContain(t, res.Body.String(), `<html lang="`+tc.lang+`">`)
	}
}
