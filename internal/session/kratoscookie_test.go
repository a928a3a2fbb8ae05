package session

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/gob"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// kratosFixture is testdata/kratos-v26.2.0-cookie.json: a session cookie
// that Kratos v26.2.0 wrote, with the secret it was written with.
type kratosFixture struct {
	SecretsCookie []string `json:"secrets_cookie"`
	CookieName    string   `json:"cookie_name"`
	CookieValue   string   `json:"cookie_value"`
	WrittenAtUnix int64    `json:"written_at_unix"`
	SessionToken  string   `json:"session_token"`
}

func mustKratosFixture(t testing.TB) kratosFixture {
	t.Helper()
	b, err := os.ReadFile("testdata/kratos-v26.2.0-cookie.json")
	if err != nil {
		t.Fatal(err)
	}
	var f kratosFixture
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

// sealKratos writes a cookie value as Kratos's cookie store does (see
// kratoscookie.go): plain, encrypted under SHA-256(secret), signed with
// secret for the cookie name at Unix time written.
func sealKratos(t testing.TB, name string, secret []byte, written int64, plain []byte) string {
	t.Helper()
	key := sha256.Sum256(secret)
	block, err := aes.NewCipher(key[:])
	if err != nil {
		t.Fatal(err)
	}
	sealed := make([]byte, aes.BlockSize+len(plain))
	_, _ = rand.Read(sealed[:aes.BlockSize])
	cipher.NewCTR(block, sealed[:aes.BlockSize]).XORKeyStream(sealed[aes.BlockSize:], plain)
	signed := strconv.FormatInt(written, 10) + "|" + base64.URLEncoding.EncodeToString(sealed)
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(name + "|" + signed))
	return base64.URLEncoding.EncodeToString(append([]byte(signed+"|"), h.Sum(nil)...))
}

// gobOf is values as Kratos's cookie store serialises them.
func gobOf(t testing.TB, values map[any]any) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := gob.NewEncoder(&b).Encode(values); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// reencode applies change to the decoded bytes of a cookie value.
func reencode(t testing.TB, value string, change func([]byte) []byte) string {
	t.Helper()
	raw, err := base64.URLEncoding.DecodeString(value)
	if err != nil {
		t.Fatal(err)
	}
	return base64.URLEncoding.EncodeToString(change(raw))
}

func TestDecodeKratosCookie(t *testing.T) {
	fx := mustKratosFixture(t)
	secret := []byte(fx.SecretsCookie[0])
	other := []byte("another-cookie-secret-0123456789")
	lifespan := 8760 * time.Hour // the fixture's session.lifespan
	written := time.Unix(fx.WrittenAtUnix, 0)
	anHourLater := written.Add(time.Hour)
	name := fx.CookieName
	values := map[any]any{"session_token": "ory_st_abcdefghijklmnopqrstuvwxyz012345", "expires_at": "2030-01-01T00:00:00Z", "nonce": "qZqMWHbr"}
	fresh := sealKratos(t, name, secret, fx.WrittenAtUnix, gobOf(t, values))

	// Values of the maximum length and just over it: the nonce pads them.
	var atLimit, overLimit string
	for pad := 0; overLimit == ""; pad++ {
		v := map[any]any{"session_token": "ory_st_abcdefghijklmnopqrstuvwxyz012345", "nonce": strings.Repeat("x", pad)}
		switch s := sealKratos(t, name, secret, fx.WrittenAtUnix, gobOf(t, v)); {
		case len(s) <= kratosMaxCookieLength:
			atLimit = s
		default:
			overLimit = s
		}
	}
	if len(atLimit) != kratosMaxCookieLength {
		t.Fatalf("the longest padded value has %d characters, not %d", len(atLimit), kratosMaxCookieLength)
	}

	cases := []struct {
		name    string
		value   string
		secrets [][]byte
		now     time.Time
		maxAge  time.Duration
		cookie  string // the cookie's name; the fixture's when empty
		want    string // "" when the value must be refused
	}{
		{name: "RecordedKratosCookie", value: fx.CookieValue, secrets: [][]byte{secret}, now: anHourLater, maxAge: lifespan, want: fx.SessionToken},
		{name: "SecretLaterInTheRotationList", value: fx.CookieValue, secrets: [][]byte{other, secret}, now: anHourLater, maxAge: lifespan, want: fx.SessionToken},
		{name: "WrongSecret", value: fx.CookieValue, secrets: [][]byte{other}, now: anHourLater, maxAge: lifespan},
		{name: "NoSecrets", value: fx.CookieValue, now: anHourLater, maxAge: lifespan},
		{name: "OtherCookieName", value: fx.CookieValue, secrets: [][]byte{secret}, now: anHourLater, maxAge: lifespan, cookie: "sess"},
		{name: "TamperedMAC", value: reencode(t, fx.CookieValue, func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), secrets: [][]byte{secret}, now: anHourLater, maxAge: lifespan},
		{name: "ShortenedMAC", value: reencode(t, fx.CookieValue, func(b []byte) []byte { return b[:len(b)-1] }), secrets: [][]byte{secret}, now: anHourLater, maxAge: lifespan},
		{name: "TamperedCiphertext", value: reencode(t, fx.CookieValue, func(b []byte) []byte { b[20] ^= 1; return b }), secrets: [][]byte{secret}, now: anHourLater, maxAge: lifespan},
		{name: "TamperedTimestamp", value: reencode(t, fx.CookieValue, func(b []byte) []byte { b[9]++; return b }), secrets: [][]byte{secret}, now: anHourLater, maxAge: lifespan},
		{name: "Truncated", value: fx.CookieValue[:len(fx.CookieValue)-8], secrets: [][]byte{secret}, now: anHourLater, maxAge: lifespan},
		{name: "TruncatedToTheTimestamp", value: fx.CookieValue[:12], secrets: [][]byte{secret}, now: anHourLater, maxAge: lifespan},
		{name: "Empty", value: "", secrets: [][]byte{secret}, now: anHourLater, maxAge: lifespan},
		{name: "Garbage", value: "not a cookie!", secrets: [][]byte{secret}, now: anHourLater, maxAge: lifespan},
		{name: "ThreePartsNoMAC", value: base64.URLEncoding.EncodeToString([]byte("1|2|3")), secrets: [][]byte{secret}, now: anHourLater, maxAge: lifespan},
		{name: "LatchkeyFormat", value: "b3J5X3N0X3h8MQ.AAAA", secrets: [][]byte{secret}, now: anHourLater, maxAge: lifespan},
		{name: "AtTheLengthLimit", value: atLimit, secrets: [][]byte{secret}, now: anHourLater, maxAge: lifespan, want: "ory_st_abcdefghijklmnopqrstuvwxyz012345"},
		{name: "TooLarge", value: overLimit, secrets: [][]byte{secret}, now: anHourLater, maxAge: lifespan},
		{name: "TooLargeGarbage", value: strings.Repeat("A", 1<<20), secrets: [][]byte{secret}, now: anHourLater, maxAge: lifespan},
		{name: "AsOldAsTheMaxAge", value: fx.CookieValue, secrets: [][]byte{secret}, now: written.Add(lifespan), maxAge: lifespan, want: fx.SessionToken},
		{name: "OlderThanTheMaxAge", value: fx.CookieValue, secrets: [][]byte{secret}, now: written.Add(lifespan + time.Second), maxAge: lifespan},
		{name: "NoMaxAge", value: fx.CookieValue, secrets: [][]byte{secret}, now: written.Add(10 * lifespan), want: fx.SessionToken},
		// securecookie refuses only the too old (Kratos sets no minimum age).
		{name: "WrittenInTheFuture", value: fx.CookieValue, secrets: [][]byte{secret}, now: written.Add(-time.Hour), maxAge: lifespan, want: fx.SessionToken},
		{name: "SealedValues", value: fresh, secrets: [][]byte{secret}, now: anHourLater, maxAge: lifespan, want: "ory_st_abcdefghijklmnopqrstuvwxyz012345"},
		{name: "SignedButNotGob", value: sealKratos(t, name, secret, fx.WrittenAtUnix, []byte("not gob at all")), secrets: [][]byte{secret}, now: anHourLater, maxAge: lifespan},
		{name: "SignedButEmpty", value: sealKratos(t, name, secret, fx.WrittenAtUnix, nil), secrets: [][]byte{secret}, now: anHourLater, maxAge: lifespan},
		{name: "NoSessionToken", value: sealKratos(t, name, secret, fx.WrittenAtUnix, gobOf(t, map[any]any{"nonce": "x"})), secrets: [][]byte{secret}, now: anHourLater, maxAge: lifespan},
		{name: "SessionTokenNotAString", value: sealKratos(t, name, secret, fx.WrittenAtUnix, gobOf(t, map[any]any{"session_token": 42})), secrets: [][]byte{secret}, now: anHourLater, maxAge: lifespan},
		{name: "SessionTokenEmpty", value: sealKratos(t, name, secret, fx.WrittenAtUnix, gobOf(t, map[any]any{"session_token": ""})), secrets: [][]byte{secret}, now: anHourLater, maxAge: lifespan},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cookie := c.cookie
			if cookie == "" {
				cookie = name
			}
			token, ok := decodeKratosCookie(cookie, c.value, c.secrets, c.now, c.maxAge)
			if token != c.want || ok != (c.want != "") {
				t.Fatalf("decode = %q, %v; want %q", token, ok, c.want)
			}
		})
	}
}

// The maximum age is Kratos's: session.lifespan for a persistent cookie,
// securecookie's 30 days otherwise.
func TestKratosMaxAge(t *testing.T) {
	for _, c := range []struct {
		persistent bool
		lifespan   time.Duration
		want       time.Duration
	}{
		{true, 24 * time.Hour, 24 * time.Hour},
		{true, 8760 * time.Hour, 8760 * time.Hour},
		{false, 24 * time.Hour, 30 * 24 * time.Hour},
		{false, 8760 * time.Hour, 30 * 24 * time.Hour},
	} {
		m := &Manager{Config: Config{Lifespan: c.lifespan, Cookie: CookieConfig{Persistent: c.persistent}}}
		if got := m.kratosMaxAge(); got != c.want {
			t.Errorf("persistent %v, lifespan %v: max age %v, want %v", c.persistent, c.lifespan, got, c.want)
		}
	}
}

// The adopted cookie replaces the Kratos one in the request the handlers
// see; every other cookie stays as the browser sent it.
func TestWithCookieValue(t *testing.T) {
	const name, old, value = "ory_kratos_session", "S3JhdG9z==", "TGF0Y2hrZXk.bWFj"
	for _, c := range []struct {
		name string
		in   []string
		want []string
	}{
		{"Alone", []string{name + "=" + old}, []string{name + "=" + value}},
		{"AmongOthers", []string{"a=1; " + name + "=" + old + "; csrf_token_x=abc="}, []string{"a=1; " + name + "=" + value + "; csrf_token_x=abc="}},
		{"Quoted", []string{"a=1;" + name + `="` + old + `"`}, []string{"a=1; " + name + "=" + value}},
		{"SecondHeaderLine", []string{"a=1", name + "=" + old + "; b=2"}, []string{"a=1", name + "=" + value + "; b=2"}},
		{"OnlyTheFirstOfTwo", []string{name + "=" + old + "; " + name + "=" + old}, []string{name + "=" + value + "; " + name + "=" + old}},
		{"SuffixOfAnotherName", []string{"x" + name + "=" + old + "; " + name + "=" + old}, []string{"x" + name + "=" + old + "; " + name + "=" + value}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/sessions/whoami", nil)
			r.Header["Cookie"] = append([]string(nil), c.in...)
			got := withCookieValue(r, name, old, value)
			if strings.Join(got.Header["Cookie"], "\n") != strings.Join(c.want, "\n") {
				t.Fatalf("Cookie %q, want %q", got.Header["Cookie"], c.want)
			}
			if strings.Join(r.Header["Cookie"], "\n") != strings.Join(c.in, "\n") {
				t.Fatalf("the original request changed: %q", r.Header["Cookie"])
			}
			if ck, err := got.Cookie(name); err != nil || ck.Value != value {
				t.Fatalf("the handlers read %v, %v", ck, err)
			}
		})
	}
}

// Only a session cookie without a '.' (never one of Latchkey's) goes on
// to the Kratos decoder, and deciding that allocates nothing.
func TestMayHoldKratosCookie(t *testing.T) {
	const name = "ory_kratos_session"
	for _, c := range []struct {
		lines []string
		want  bool
	}{
		{nil, false},
		{[]string{"a=1; b=2"}, false},
		{[]string{name + "=TGF0Y2hrZXk.bWFj"}, false},
		{[]string{"a=1; " + name + "=TGF0Y2hrZXk.bWFj; b=no-dot"}, false},
		{[]string{name + "x=S3JhdG9z"}, false},
		{[]string{"x" + name + "=S3JhdG9z"}, false},
		{[]string{name + "=S3JhdG9z=="}, true},
		{[]string{"a=1;" + name + "=S3JhdG9z==; b=2"}, true},
		{[]string{"a=1", " " + name + `="S3JhdG9z"`}, true},
		{[]string{name + "="}, true},
	} {
		h := http.Header{"Cookie": c.lines}
		if got := mayHoldKratosCookie(h, name); got != c.want {
			t.Errorf("%q: %v, want %v", c.lines, got, c.want)
		}
	}
	h := http.Header{"Cookie": {"csrf_token_0123=abc=; " + name + "=TGF0Y2hrZXk.bWFj; _ga=GA1.2.3"}}
	if n := testing.AllocsPerRun(100, func() { mayHoldKratosCookie(h, name) }); n != 0 {
		t.Fatalf("%v allocations per request", n)
	}
}
