package password_test

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/scrypt"

	"github.com/latchkey/latchkey/internal/password"
)

// Cheap parameters keep the suite fast; cost 12 appears only in benchmarks.
var (
	fastBcrypt = password.HashConfig{Algorithm: password.AlgorithmBcrypt, BcryptCost: 4}
	fastArgon2 = password.HashConfig{Algorithm: password.AlgorithmArgon2, Argon2: password.Argon2Params{
		Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32,
	}}
)

const (
	right = "Correct Horse 1"
	wrong = "Correct Horse 2"
)

func MustHasher(t testing.TB, cfg password.HashConfig) *password.Hasher {
	t.Helper()
	h, err := password.NewHasher(cfg, 0)
	if err != nil {
		t.Fatalf("NewHasher(%+v): %v", cfg, err)
	}
	return h
}

func MustHash(t testing.TB, h *password.Hasher, plain string) string {
	t.Helper()
	encoded, err := h.Hash(context.Background(), []byte(plain))
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	return encoded
}

func b64(b []byte) string    { return base64.RawStdEncoding.EncodeToString(b) }
func b64pad(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func sum(newHash func() hash.Hash, parts ...string) []byte {
	d := newHash()
	for _, p := range parts {
		d.Write([]byte(p))
	}
	return d.Sum(nil)
}

func TestHash(t *testing.T) {
	ctx := context.Background()

	t.Run("BcryptIsStandard2aWithConfiguredCost", func(t *testing.T) {
		encoded := MustHash(t, MustHasher(t, fastBcrypt), right)
		if !strings.HasPrefix(encoded, "$2a$04$") {
			t.Fatalf("hash %q, want prefix $2a$04$", encoded)
		}
		if err := bcrypt.CompareHashAndPassword([]byte(encoded), []byte(right)); err != nil {
			t.Fatalf("x/crypto/bcrypt does not accept our hash: %v", err)
		}
	})

	t.Run("Argon2idIsPHCWithConfiguredParameters", func(t *testing.T) {
		encoded := MustHash(t, MustHasher(t, fastArgon2), right)
		m := regexp.MustCompile(`^\$argon2id\$v=19\$m=64,t=1,p=1\$([A-Za-z0-9+/]{22})\$([A-Za-z0-9+/]{43})$`).FindStringSubmatch(encoded)
		if m == nil {
			t.Fatalf("hash %q is not the expected PHC string", encoded)
		}
		salt, _ := base64.RawStdEncoding.DecodeString(m[1])
		key, _ := base64.RawStdEncoding.DecodeString(m[2])
		if want := argon2.IDKey([]byte(right), salt, 1, 64, 1, 32); string(key) != string(want) {
			t.Fatal("key is not argon2id of the password with the encoded salt and parameters")
		}
	})

	t.Run("SaltIsFreshEachTime", func(t *testing.T) {
		for _, cfg := range []password.HashConfig{fastBcrypt, fastArgon2} {
			h := MustHasher(t, cfg)
			if a, b := MustHash(t, h, right), MustHash(t, h, right); a == b {
				t.Errorf("%s: two hashes of one password are equal: %q", cfg.Algorithm, a)
			}
		}
	})

	t.Run("BcryptRefusesMoreThan72Bytes", func(t *testing.T) {
		h := MustHasher(t, fastBcrypt)
		if _, err := h.Hash(ctx, []byte(strings.Repeat("a", 72))); err != nil {
			t.Fatalf("72 bytes: %v", err)
		}
		_, err := h.Hash(ctx, []byte(strings.Repeat("a", 73)))
		if !errors.Is(err, password.ErrPasswordTooLong) {
			t.Fatalf("73 bytes: err = %v, want ErrPasswordTooLong", err)
		}
	})

	t.Run("Argon2AcceptsLongPasswords", func(t *testing.T) {
		long := strings.Repeat("a", 200)
		h := MustHasher(t, fastArgon2)
		if ok, err := h.Compare(ctx, []byte(long), MustHash(t, h, long)); !ok || err != nil {
			t.Fatalf("Compare = %v, %v", ok, err)
		}
	})
}

func TestNewHasher(t *testing.T) {
	t.Run("ZeroConfigIsKratosDefaults", func(t *testing.T) {
		cfg := MustHasher(t, password.HashConfig{}).Config()
		if cfg.Algorithm != "bcrypt" || cfg.BcryptCost != 12 {
			t.Errorf("algorithm %q cost %d, want bcrypt 12", cfg.Algorithm, cfg.BcryptCost)
		}
		a := cfg.Argon2
		if a.Memory != 128*1024 || a.Iterations != 1 || a.Parallelism == 0 || a.SaltLength != 16 || a.KeyLength != 32 {
			t.Errorf("argon2 defaults %+v", a)
		}
	})
	t.Run("RejectsBadConfig", func(t *testing.T) {
		for name, cfg := range map[string]password.HashConfig{
			"UnknownAlgorithm": {Algorithm: "md5"},
			"BcryptCostLow":    {BcryptCost: 3},
			"BcryptCostHigh":   {BcryptCost: 32},
			"Argon2ShortSalt":  {Algorithm: "argon2", Argon2: password.Argon2Params{SaltLength: 4}},
			"Argon2ShortKey":   {Algorithm: "argon2", Argon2: password.Argon2Params{KeyLength: 8}},
			"Argon2TinyMemory": {Algorithm: "argon2", Argon2: password.Argon2Params{Memory: 8, Parallelism: 4}},
		} {
			if _, err := password.NewHasher(cfg, 1); err == nil {
				t.Errorf("%s: NewHasher(%+v) succeeded", name, cfg)
			}
		}
	})
	t.Run("MaxPasswordLengthIs72OnlyForBcrypt", func(t *testing.T) {
		if n := (password.HashConfig{}).MaxPasswordLength(); n != 72 {
			t.Errorf("default: %d, want 72", n)
		}
		if n := fastArgon2.MaxPasswordLength(); n != 0 {
			t.Errorf("argon2: %d, want 0", n)
		}
	})
}

// storedHashes returns, for each supported format, a hash of right made
// with a real implementation (x/crypto, the standard library, or glibc's
// crypt and OpenSSL for the crypt(3) schemes).
func storedHashes(t *testing.T) map[string]string {
	t.Helper()
	salt := []byte("0123456789abcdef")
	bc, err := bcrypt.GenerateFromPassword([]byte(right), 4)
	if err != nil {
		t.Fatal(err)
	}
	pbkdf := func(name string, h func() hash.Hash, iter, n int) string {
		key, err := pbkdf2.Key(h, right, salt, iter, n)
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("$pbkdf2-%s$i=%d,l=%d$%s$%s", name, iter, n, b64(salt), b64(key))
	}
	scryptKey, err := scrypt.Key([]byte(right), salt, 1024, 8, 1, 32)
	if err != nil {
		t.Fatal(err)
	}
	pf := func(name string, h func() hash.Hash) string {
		return fmt.Sprintf("$%s$pf=%s$%s$%s", name, b64pad([]byte("{SALT}{PASSWORD}")), b64pad(salt),
			b64pad(sum(h, string(salt), right)))
	}
	mac := func(name string, h func() hash.Hash) string {
		m := hmac.New(h, []byte("hmac-key"))
		m.Write([]byte(right))
		return fmt.Sprintf("$hmac-%s$%s$%s", name, b64pad([]byte(hex.EncodeToString(m.Sum(nil)))), b64pad([]byte("hmac-key")))
	}
	return map[string]string{
		"bcrypt2a":   string(bc),
		"bcrypt2b":   "$2b$" + string(bc[4:]),
		"bcrypt2y":   "$2y$" + string(bc[4:]),
		"argon2id":   fmt.Sprintf("$argon2id$v=19$m=64,t=2,p=2$%s$%s", b64(salt), b64(argon2.IDKey([]byte(right), salt, 2, 64, 2, 32))),
		"argon2i":    fmt.Sprintf("$argon2i$v=19$m=64,t=2,p=1$%s$%s", b64(salt), b64(argon2.Key([]byte(right), salt, 2, 64, 1, 24))),
		"pbkdf2sha1": pbkdf("sha1", sha1.New, 1000, 20),
		"pbkdf2256":  pbkdf("sha256", sha256.New, 1000, 32),
		"pbkdf2512":  pbkdf("sha512", sha512.New, 500, 64),
		"scrypt":     fmt.Sprintf("$scrypt$ln=1024,r=8,p=1$%s$%s", b64pad(salt), b64pad(scryptKey)),
		"ssha":       "{SSHA}" + b64pad(append(sum(sha1.New, right, string(salt)), salt...)),
		"ssha256":    "{SSHA256}" + b64pad(append(sum(sha256.New, right, "pepper"), "pepper"...)),
		"ssha512":    "{SSHA512}" + b64pad(append(sum(sha512.New, right, "x"), 'x')),
		"sha":        "{SHA}" + b64pad(sum(sha1.New, right)),
		"sha1pf":     pf("sha1", sha1.New),
		"sha256pf":   pf("sha256", sha256.New),
		"sha512pf":   pf("sha512", sha512.New),
		"md5":        "$md5$" + b64pad(sum(md5.New, right)),
		"md5pf":      pf("md5", md5.New),
		"hmacsha256": mac("sha256", sha256.New),
		"hmacmd5":    mac("md5", md5.New),
		// From `openssl passwd -1|-5|-6 -salt … 'Correct Horse 1'` and
		// Python's crypt module (glibc) for the rounds= variants.
		"md5crypt":       "$1$saltsalt$nNY1pKrvzcyg1BwhuMUqQ0",
		"md5cryptKratos": "$md5-crypt$saltsalt$nNY1pKrvzcyg1BwhuMUqQ0",
		"sha256crypt":    "$5$ab/cd.EF12345678$NcmyK77TK4y3SKKNFHpZn1q.HOf68936kfty/CJS041",
		"sha256rounds":   "$sha256-crypt$rounds=1000$roundsalt$ctiq5RHzLRgNsXpOp3vkrs8CAwhMYmN7Z2F1Knsu2a2",
		"sha512crypt":    "$sha512-crypt$shortsalt$4pkOKAPO0iyp18Cf4ZeZk9bMS0AKtvs/Y7SC2Bf5zDgrw78GYK5NSW34apY2GgBZjgXLAXq/ux9qNMT4uBap60",
		"sha512rounds":   "$6$rounds=2000$roundsalt$UcUBvjOV.0d1WB5w/2ExZVsuaetVs8pxLWj8nzIRqPWVxn69J5GHx0yi2Q6sHruEIBDkKHCEX9T9Jwzs6IcgB0",
	}
}

func TestCompare(t *testing.T) {
	ctx := context.Background()
	h := MustHasher(t, fastBcrypt)

	for name, encoded := range storedHashes(t) {
		t.Run(name+"/AcceptsRightPassword", func(t *testing.T) {
			if !password.IsKnownFormat(encoded) {
				t.Errorf("IsKnownFormat(%q) = false", encoded)
			}
			ok, err := h.Compare(ctx, []byte(right), encoded)
			if !ok || err != nil {
				t.Fatalf("Compare(right, %q) = %v, %v", encoded, ok, err)
			}
		})
		t.Run(name+"/RejectsWrongPassword", func(t *testing.T) {
			for _, pw := range []string{wrong, "", strings.ToLower(right), right + " "} {
				ok, err := h.Compare(ctx, []byte(pw), encoded)
				if ok || err != nil {
					t.Fatalf("Compare(%q, %q) = %v, %v; want false, nil", pw, encoded, ok, err)
				}
			}
		})
	}

	t.Run("CryptSchemesMatchGlibcOnEdgeCases", func(t *testing.T) {
		// Python's crypt module (glibc): an empty password, a password
		// longer than the digest, and UTF-8 input.
		for encoded, plain := range map[string]string{
			"$6$emptypw$TWmzQ8/uLn1BFSZ5Lkfum8lAba5vixF9Nl3Aiof.Praatq9nh0kkPuTdoVrIL6du0L6LAoadbPq.q.D7keveg/": "",
			"$1$longpw$s2NdC8d3wSGzO0IxazlOk.":                    strings.Repeat("a", 100),
			"$5$utf8$MdrX4Pw4iaWg2e2dcr5dHBxhbfdoNYnJtcGrE5JwNb7": "pässwörd",
		} {
			if ok, err := h.Compare(ctx, []byte(plain), encoded); !ok || err != nil {
				t.Errorf("Compare(%q, %q) = %v, %v", plain, encoded, ok, err)
			}
		}
	})

	t.Run("FirebaseScryptMatchesFirebaseSample", func(t *testing.T) {
		// The sample project parameters and user published with Firebase's
		// scrypt tool (github.com/firebase/scrypt README).
		encoded := "$firescrypt$ln=14,r=8,p=1$42xEC+ixf3L2lw==" +
			"$lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ==" +
			"$Bw==$jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA=="
		if ok, err := h.Compare(ctx, []byte("user1password"), encoded); !ok || err != nil {
			t.Fatalf("right password: %v, %v", ok, err)
		}
		if ok, err := h.Compare(ctx, []byte("user2password"), encoded); ok || err != nil {
			t.Fatalf("wrong password: %v, %v", ok, err)
		}
	})

	t.Run("BcryptIgnoresNothingPast72Bytes", func(t *testing.T) {
		// bcrypt itself would accept any suffix after 72 matching bytes.
		base := strings.Repeat("x", 72)
		encoded := MustHash(t, h, base)
		if ok, _ := h.Compare(ctx, []byte(base), encoded); !ok {
			t.Fatal("72-byte password not accepted")
		}
		if ok, err := h.Compare(ctx, []byte(base+"suffix"), encoded); ok || err != nil {
			t.Fatalf("longer password: %v, %v; want false, nil", ok, err)
		}
	})

	t.Run("UnknownFormatIsAnError", func(t *testing.T) {
		for _, encoded := range []string{"", "plaintext", "$unknown$abc", "{CRYPT}abc", "$pbkdf2-md5$i=1,l=16$c2FsdA$AAAAAAAAAAAAAAAAAAAAAA"} {
			if _, err := h.Compare(ctx, []byte(right), encoded); !errors.Is(err, password.ErrUnknownHashFormat) {
				t.Errorf("Compare(%q): err = %v, want ErrUnknownHashFormat", encoded, err)
			}
		}
	})

	t.Run("MalformedHashIsAnError", func(t *testing.T) {
		for _, encoded := range malformedHashes {
			if _, err := h.Compare(ctx, []byte(right), encoded); !errors.Is(err, password.ErrMalformedHash) {
				t.Errorf("Compare(%q): err = %v, want ErrMalformedHash", encoded, err)
			}
		}
	})
}

// malformedHashes have a known prefix but cannot be verified.
var malformedHashes = []string{
	"$2a$04$short",
	"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ",                          // no key
	"$argon2id$v=16$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5",         // version 16
	"$argon2id$v=19$m=64,t=0,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5",         // no iterations
	"$argon2id$v=19$m=64,t=1,p=0$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5",         // no lanes
	"$argon2id$v=19$m=9999999999,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5", // memory overflows
	"$argon2id$v=19$m=64,t=1,p=1,x=2$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5",     // unknown parameter
	"$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$!!!",                       // bad base64
	"$pbkdf2-sha256$i=0,l=32$c2FsdA$a2V5a2V5a2V5a2V5",                  // no iterations
	"$pbkdf2-sha256$l=32$c2FsdA$a2V5a2V5a2V5a2V5",                      // i missing
	"$scrypt$ln=1000,r=8,p=1$c2FsdA==$a2V5a2V5a2V5a2V5",                // N not a power of two
	"$scrypt$ln=1073741824,r=8,p=1$c2FsdA==$a2V5a2V5a2V5a2V5",          // 128 GiB
	"{SSHA}" + b64pad(make([]byte, 20)),                                // no salt
	"{SHA}" + b64pad(make([]byte, 19)),                                 // short digest
	"$sha1$pf=e1NBTFR9e1BBU1NXT1JEfQ==$c2FsdA==$YWJj",                  // short digest
	"$md5$YWJj",              // short digest
	"$hmac-sha256$YWJj$a2V5", // short digest
	"$1$saltsalt$tooShort",   // short digest
	"$5$salttoolongtobevalid$NcmyK77TK4y3SKKNFHpZn1q.HOf68936kfty/CJS041", // salt > 16
	"$6$rounds=99999999999$s$" + strings.Repeat("a", 86),                  // rounds beyond the cap
	"$firescrypt$ln=14,r=8,p=1$c2FsdA==$YWJj$Bw==",                        // parts missing
}

func TestIsKnownFormat(t *testing.T) {
	for _, encoded := range []string{"", "secret", "$2x$04$abc", "$argon2d$v=19$m=64,t=1,p=1$c2FsdA$a2V5", "$pbkdf2$1000$abc$def", "{MD5}abc"} {
		if password.IsKnownFormat(encoded) {
			t.Errorf("IsKnownFormat(%q) = true", encoded)
		}
	}
	for _, encoded := range malformedHashes {
		if password.IsKnownFormat(encoded) {
			t.Errorf("IsKnownFormat(%q) = true for a malformed hash", encoded)
		}
	}
	t.Run("AcceptsOwnHashes", func(t *testing.T) {
		for _, cfg := range []password.HashConfig{fastBcrypt, fastArgon2} {
			h := MustHasher(t, cfg)
			if encoded := MustHash(t, h, right); !password.IsKnownFormat(encoded) || !h.IsKnownFormat(encoded) {
				t.Errorf("IsKnownFormat(%q) = false", encoded)
			}
		}
	})
}

func TestNeedsRehash(t *testing.T) {
	bcrypt4 := MustHasher(t, fastBcrypt)
	argon := MustHasher(t, fastArgon2)
	salt := b64([]byte("0123456789abcdef"))
	key := b64(make([]byte, 32))
	argonHash := func(variant string, m, iter, p int, salt, key string) string {
		return fmt.Sprintf("$%s$v=19$m=%d,t=%d,p=%d$%s$%s", variant, m, iter, p, salt, key)
	}
	bc5, _ := bcrypt.GenerateFromPassword([]byte(right), 5)
	own4 := MustHash(t, bcrypt4, right)
	stored := storedHashes(t)

	for _, tc := range []struct {
		name    string
		hasher  *password.Hasher
		encoded string
		want    bool
	}{
		{"BcryptSameCost", bcrypt4, own4, false},
		{"Bcrypt2bSameCost", bcrypt4, "$2b$" + own4[4:], false},
		{"BcryptOtherCost", bcrypt4, string(bc5), true},
		{"BcryptConfiguredArgon2Stored", bcrypt4, MustHash(t, argon, right), true},
		{"BcryptConfiguredPBKDF2Stored", bcrypt4, stored["pbkdf2256"], true},
		{"BcryptConfiguredGarbageStored", bcrypt4, "garbage", true},
		{"Argon2SameParameters", argon, MustHash(t, argon, right), false},
		{"Argon2SameParametersBuiltByHand", argon, argonHash("argon2id", 64, 1, 1, salt, key), false},
		{"Argon2OtherMemory", argon, argonHash("argon2id", 128, 1, 1, salt, key), true},
		{"Argon2OtherIterations", argon, argonHash("argon2id", 64, 2, 1, salt, key), true},
		{"Argon2OtherParallelism", argon, argonHash("argon2id", 64, 1, 2, salt, key), true},
		{"Argon2OtherSaltLength", argon, argonHash("argon2id", 64, 1, 1, b64([]byte("short salt")), key), true},
		{"Argon2OtherKeyLength", argon, argonHash("argon2id", 64, 1, 1, salt, b64(make([]byte, 16))), true},
		{"Argon2iSameParameters", argon, argonHash("argon2i", 64, 1, 1, salt, key), true},
		{"Argon2ConfiguredBcryptStored", argon, own4, true},
		{"Argon2ConfiguredSSHAStored", argon, stored["ssha"], true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.hasher.NeedsRehash(tc.encoded); got != tc.want {
				t.Errorf("NeedsRehash(%q) = %v, want %v", tc.encoded, got, tc.want)
			}
		})
	}
}

func TestCompareDummy(t *testing.T) {
	ctx := context.Background()
	for _, cfg := range []password.HashConfig{fastBcrypt, fastArgon2} {
		t.Run(cfg.Algorithm+"/AlwaysFalse", func(t *testing.T) {
			h := MustHasher(t, cfg)
			for _, pw := range []string{right, "", strings.Repeat("x", 100)} {
				ok, err := h.CompareDummy(ctx, []byte(pw))
				if ok || err != nil {
					t.Fatalf("CompareDummy(%q) = %v, %v; want false, nil", pw, ok, err)
				}
			}
		})
	}
	t.Run("HonoursCancelledContext", func(t *testing.T) {
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := MustHasher(t, fastBcrypt).CompareDummy(cancelled, []byte(right)); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
}

func BenchmarkHashBcrypt12(b *testing.B) {
	h := MustHasher(b, password.HashConfig{Algorithm: password.AlgorithmBcrypt, BcryptCost: 12})
	ctx := context.Background()
	for b.Loop() {
		if _, err := h.Hash(ctx, []byte(right)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCompareBcrypt12(b *testing.B) {
	h := MustHasher(b, password.HashConfig{Algorithm: password.AlgorithmBcrypt, BcryptCost: 12})
	ctx := context.Background()
	encoded := MustHash(b, h, right)
	for b.Loop() {
		if ok, err := h.Compare(ctx, []byte(right), encoded); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
