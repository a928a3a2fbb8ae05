package session

import (
	"bytes"
	"encoding/base64"
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

// FuzzDecodeKratosCookie: no cookie value and no payload, however
// malformed, makes the Kratos decoder panic; a value is accepted only when
// its bytes are those of a cookie sealed with the secret (the MAC cannot
// be forged), and then only with the token its payload holds.
func FuzzDecodeKratosCookie(f *testing.F) {
	fx := mustKratosFixture(f)
	secrets := [][]byte{[]byte("another-cookie-secret-0123456789"), []byte(fx.SecretsCookie[0])}
	now := time.Unix(fx.WrittenAtUnix, 0).Add(time.Hour)
	maxAge := 8760 * time.Hour
	recorded, err := base64.URLEncoding.DecodeString(fx.CookieValue)
	if err != nil {
		f.Fatal(err)
	}

	f.Add(fx.CookieValue, gobOf(f, map[any]any{"session_token": "ory_st_x", "nonce": "n"}))
	f.Add(fx.CookieValue[:40], []byte{})
	f.Add(strings.Replace(fx.CookieValue, "=", "", -1), []byte("\x0d\x7f\x04\x01\x02\xff\x80"))
	f.Add(base64.URLEncoding.EncodeToString([]byte("1796212574||")), gobOf(f, map[any]any{"session_token": 1}))
	f.Add("MTc5NjIxMjU3NHx8fA==", gobOf(f, map[any]any{}))
	f.Add("", []byte("\xff\xff\xff\xff\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, value string, payload []byte) {
		// An attacker's value: without the secret only the recorded
		// cookie's bytes verify.
		if token, ok := decodeKratosCookie(fx.CookieName, value, secrets, now, maxAge); ok {
			raw, _ := base64.URLEncoding.DecodeString(value)
			if !bytes.Equal(raw, recorded) || token != fx.SessionToken {
				t.Fatalf("forged value %q accepted with token %q", value, token)
			}
		}
		// An authenticated payload of any bytes: decoded or refused, and
		// the token comes from a gob map that holds it.
		sealed := sealKratos(t, fx.CookieName, secrets[1], fx.WrittenAtUnix, payload)
		token, ok := decodeKratosCookie(fx.CookieName, sealed, secrets, now, maxAge)
		if ok {
			values, err := gobValues(payload)
			if err != nil || values["session_token"] != token || token == "" {
				t.Fatalf("payload %q gave token %q (gob %v, %v)", payload, token, values, err)
			}
		}
	})
}
