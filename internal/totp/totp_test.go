package totp

import (
	"encoding/base32"
	"encoding/base64"
	"image/png"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// rfcSecret is the SHA1 seed of RFC 6238 appendix B ("12345678901234567890").
var rfcSecret = base32.StdEncoding.EncodeToString([]byte("12345678901234567890"))

func rfcKey(t *testing.T) Key {
	t.Helper()
	k, err := Parse("otpauth://totp/Example:alice?algorithm=SHA1&digits=6&issuer=Example&period=30&secret=" + rfcSecret)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestMatchRFC6238Vectors: the SHA1 vectors of RFC 6238 appendix B,
// truncated to six digits (the last six of the eight-digit values).
func TestMatchRFC6238Vectors(t *testing.T) {
	k := rfcKey(t)
	for _, tc := range []struct {
		unix int64
		code string
	}{
		{59, "287082"},
		{1111111109, "081804"},
		{1111111111, "050471"},
		{1234567890, "005924"},
		{2000000000, "279037"},
		{20000000000, "353130"},
	} {
		now := time.Unix(tc.unix, 0)
		step, ok := k.Match(tc.code, now, 0)
		if !ok || step != Step(now) {
			t.Errorf("at %d: Match(%s) = %d, %v; want %d, true", tc.unix, tc.code, step, ok, Step(now))
		}
	}
}

// TestMatchSkew: one step either side is accepted, two are not.
func TestMatchSkew(t *testing.T) {
	k := rfcKey(t)
	const code = "081804" // step of unix 1111111109
	at := time.Unix(1111111109, 0)
	for _, tc := range []struct {
		name  string
		shift time.Duration
		ok    bool
	}{
		{"same step", 0, true},
		{"one step later", 30 * time.Second, true},
		{"one step earlier", -30 * time.Second, true},
		{"two steps later", 60 * time.Second, false},
		{"two steps earlier", -60 * time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			step, ok := k.Match(code, at.Add(tc.shift), 0)
			if ok != tc.ok {
				t.Fatalf("Match = %v, want %v", ok, tc.ok)
			}
			if ok && step != Step(at) {
				t.Fatalf("step = %d, want the code's own step %d", step, Step(at))
			}
		})
	}
}

// TestMatchReplay: a step once accepted (or any earlier one) is refused.
func TestMatchReplay(t *testing.T) {
	k := rfcKey(t)
	at := time.Unix(1111111109, 0)
	step, ok := k.Match("081804", at, 0)
	if !ok {
		t.Fatal("first use refused")
	}
	for name, after := range map[string]int64{"same step": step, "later step": step + 1} {
		if _, ok := k.Match("081804", at, after); ok {
			t.Errorf("%s used: code accepted again", name)
		}
	}
	if _, ok := k.Match("081804", at, step-1); !ok {
		t.Error("an earlier used step blocks a later code")
	}
}

// TestMatchMalformed: codes of the wrong length or characters never match.
func TestMatchMalformed(t *testing.T) {
	k := rfcKey(t)
	at := time.Unix(1111111109, 0)
	for _, code := range []string{"", "08180", "0818040", "81804 ", "abcdef", "08180\x00"} {
		if _, ok := k.Match(code, at, 0); ok {
			t.Errorf("Match(%q) accepted", code)
		}
	}
}

func TestGenerate(t *testing.T) {
	k, err := Generate("Latchkey Test", "4f9bd6a1-0e1c-4d7c-9a43-6f9a5d6a1b2c")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[A-Z2-7]{32}$`).MatchString(k.Secret()) {
		t.Errorf("secret %q is not 32 base32 characters", k.Secret())
	}
	u, err := url.Parse(k.URL())
	if err != nil {
		t.Fatal(err)
	}
	wantPrefix := "otpauth://totp/Latchkey%20Test:4f9bd6a1-0e1c-4d7c-9a43-6f9a5d6a1b2c?algorithm=SHA1&digits=6&issuer=Latchkey%20Test&period=30&secret="
	if !strings.HasPrefix(k.URL(), wantPrefix) || u.Query().Get("secret") != k.Secret() {
		t.Errorf("URL = %s, want prefix %s", k.URL(), wantPrefix)
	}
	other, err := Generate("Latchkey Test", "x")
	if err != nil {
		t.Fatal(err)
	}
	if other.Secret() == k.Secret() {
		t.Error("two keys share a secret")
	}
	parsed, err := Parse(k.URL())
	if err != nil || parsed.Secret() != k.Secret() {
		t.Fatalf("Parse(URL) = %v, %v", parsed.Secret(), err)
	}
}

func TestParseRejects(t *testing.T) {
	for _, raw := range []string{"", "not a url", "otpauth://hotp/x:y?secret=" + rfcSecret, "otpauth://totp/x:y?issuer=x"} {
		if _, err := Parse(raw); err == nil {
			t.Errorf("Parse(%q) accepted", raw)
		}
	}
}

func TestQRCode(t *testing.T) {
	src, err := rfcKey(t).QRCode()
	if err != nil {
		t.Fatal(err)
	}
	b64, ok := strings.CutPrefix(src, "data:image/png;base64,")
	if !ok {
		t.Fatalf("src %.40s… is not a PNG data URL", src)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 256 || b.Dy() != 256 {
		t.Fatalf("QR code is %dx%d, want 256x256", b.Dx(), b.Dy())
	}
}
