package session

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/secret"
)

// FuzzTokenOf: whatever X-Session-Token, Cookie and Authorization headers
// a client sends, the session token is taken from them in Kratos's order,
// a cookie counts only when it carries this server's MAC (a forged or
// altered cookie is no cookie), a bearer token is one word, and a logout
// token is accepted only when derived from the session; never a panic.
func FuzzTokenOf(f *testing.F) {
	m := &Manager{
		Tokens:  secret.Hasher{Secrets: [][]byte{[]byte("a-test-secret-of-32-characters!!")}},
		Cookies: secret.Hasher{Secrets: [][]byte{[]byte("a-cookie-secret-of-32-characters"), []byte("an-older-cookie-secret-0123456789")}},
	}
	const signedToken = "ory_st_abcdefghijklmnopqrstuvwxyz012345"
	signedExp := time.Unix(1_900_000_000, 0)
	signed := m.encodeCookie(signedToken, signedExp)
	sess := &Session{ID: uuid.MustParse("0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9")}
	logout := m.LogoutToken(sess)

	f.Add("", DefaultCookieName+"="+signed, "", logout)
	f.Add(signedToken, "", "Bearer other", "")
	f.Add("", "", "Bearer "+signedToken, "ory_lo_")
	f.Add("", "", "bearer  two words", logout+"x")
	f.Add("", DefaultCookieName+"="+signed+"x", "Basic dXNlcjpwdw==", "")
	f.Add("", DefaultCookieName+"="+strings.Replace(signed, ".", "..", 1), "", "")
	f.Add("", DefaultCookieName+"=\"a|b.c\"; other=1", "Bearer", "")
	f.Add("", DefaultCookieName+"=bm90LXNpZ25lZHwx.AAAA", "", strings.ToUpper(logout))
	f.Fuzz(func(t *testing.T, header, cookie, authorization, logoutToken string) {
		r := httptest.NewRequest(http.MethodGet, "/sessions/whoami", nil)
		r.Header.Set("X-Session-Token", header)
		r.Header.Set("Cookie", cookie)
		r.Header.Set("Authorization", authorization)
		token, carrier, exp := m.tokenOf(r)
		switch carrier {
		case CarrierNone:
			if token != "" {
				t.Fatalf("no carrier but token %q", token)
			}
		case CarrierHeader:
			if token != r.Header.Get("X-Session-Token") || token == "" {
				t.Fatalf("header token %q, header %q", token, header)
			}
		case CarrierCookie:
			// Only the cookie this server signed verifies.
			if token != signedToken || exp != signedExp.Unix() {
				t.Fatalf("cookie %q yielded token %q, expiry %d: forged", cookie, token, exp)
			}
		case CarrierBearer:
			if token == "" || strings.Contains(token, " ") || !strings.HasSuffix(r.Header.Get("Authorization"), token) {
				t.Fatalf("bearer token %q from %q", token, authorization)
			}
		default:
			t.Fatalf("unknown carrier %d", carrier)
		}
		if m.ValidLogoutToken(sess, logoutToken) != (logoutToken == logout) {
			t.Fatalf("ValidLogoutToken(%q) disagrees with the derived token %q", logoutToken, logout)
		}
	})
}
