package secret_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/secret"
)

func TestRandom(t *testing.T) {
	t.Run("AlphanumericHasLengthAndAlphabet", func(t *testing.T) {
		re := regexp.MustCompile(`^[A-Za-z0-9]{32}$`)
		seen := map[string]bool{}
		for i := 0; i < 200; i++ {
			s := secret.RandomAlphanumeric(32)
			if !re.MatchString(s) {
				t.Fatalf("%q does not match %s", s, re)
			}
			if seen[s] {
				t.Fatalf("duplicate %q", s)
			}
			seen[s] = true
		}
	})
	t.Run("DigitsHasLengthAndAlphabet", func(t *testing.T) {
		re := regexp.MustCompile(`^[0-9]{6}$`)
		for i := 0; i < 200; i++ {
			if s := secret.RandomDigits(6); !re.MatchString(s) {
				t.Fatalf("%q does not match %s", s, re)
			}
		}
	})
	t.Run("DistributionIsRoughlyUniform", func(t *testing.T) {
		// 62 symbols, 620 000 draws: each symbol ~10 000 times. A modulo
		// bias (bytes 248..255 folded onto the first 8 symbols) would give
		// those about 13% more; allow 5%.
		counts := map[rune]int{}
		for i := 0; i < 10000; i++ {
			for _, c := range secret.RandomAlphanumeric(62) {
				counts[c]++
			}
		}
		if len(counts) != 62 {
			t.Fatalf("saw %d symbols, want 62", len(counts))
		}
		for c, n := range counts {
			if n < 9500 || n > 10500 {
				t.Errorf("symbol %q drawn %d times, want about 10000", c, n)
			}
		}
	})
}

func TestHasher(t *testing.T) {
	old := secret.Hasher{Secrets: [][]byte{[]byte("old-secret-old-secret-old-secret")}}
	rotated := secret.Hasher{Secrets: [][]byte{[]byte("new-secret-new-secret-new-secret"), []byte("old-secret-old-secret-old-secret")}}

	t.Run("HashIsKeyedAndStable", func(t *testing.T) {
		h := old.Hash("ory_st_abc")
		if h != old.Hash("ory_st_abc") {
			t.Fatal("hash not deterministic")
		}
		if h == rotated.Hash("ory_st_abc") {
			t.Fatal("different first secrets gave the same hash")
		}
		if strings.Contains(h, "abc") || len(h) != 64 {
			t.Fatalf("unexpected hash %q", h)
		}
	})
	t.Run("CandidatesFindHashesOfOldSecrets", func(t *testing.T) {
		stored := old.Hash("value")
		c := rotated.Candidates("value")
		if len(c) != 2 || c[0] != rotated.Hash("value") || c[1] != stored {
			t.Fatalf("candidates %v do not contain the old hash %s", c, stored)
		}
	})
	t.Run("Matches", func(t *testing.T) {
		if !rotated.Matches("value", old.Hash("value")) {
			t.Fatal("rotated hasher rejects a hash made with the old secret")
		}
		if rotated.Matches("other", old.Hash("value")) {
			t.Fatal("matched a different value")
		}
	})
	t.Run("SignVerify", func(t *testing.T) {
		mac := old.Sign([]byte("payload"))
		if !rotated.Verify([]byte("payload"), mac) {
			t.Fatal("signature of the old secret rejected after rotation")
		}
		if rotated.Verify([]byte("payloaD"), mac) {
			t.Fatal("tampered payload accepted")
		}
		if old.Verify([]byte("payload"), rotated.Sign([]byte("payload"))) {
			t.Fatal("unknown secret accepted")
		}
	})
	t.Run("VerifyTruncated", func(t *testing.T) {
		mac := old.Sign([]byte("payload"))
		for _, c := range []struct {
			name    string
			h       secret.Hasher
			message string
			mac     []byte
			want    bool
		}{
			{"128-bit prefix", old, "payload", mac[:16], true},
			{"after rotation", rotated, "payload", mac[:20], true},
			{"whole MAC", rotated, "payload", mac, true},
			{"shorter than 128 bits", old, "payload", mac[:15], false},
			{"longer than the MAC", old, "payload", append(append([]byte{}, mac...), 0), false},
			{"tampered payload", old, "payloaD", mac[:16], false},
			{"tampered MAC", old, "payload", append([]byte{mac[0] ^ 1}, mac[1:16]...), false},
			{"unknown secret", old, "payload", rotated.Sign([]byte("payload"))[:16], false},
		} {
			if got := c.h.VerifyTruncated([]byte(c.message), c.mac); got != c.want {
				t.Errorf("%s: %v, want %v", c.name, got, c.want)
			}
		}
	})
	t.Run("Equal", func(t *testing.T) {
		if !secret.Equal("abc", "abc") || secret.Equal("abc", "abd") || secret.Equal("abc", "abcd") {
			t.Fatal("Equal is wrong")
		}
	})
}

func TestDerive(t *testing.T) {
	old := secret.Hasher{Secrets: [][]byte{[]byte("old-secret-old-secret-old-secret")}}
	rotated := secret.Hasher{Secrets: [][]byte{[]byte("new-secret-new-secret-new-secret"), []byte("old-secret-old-secret-old-secret")}}
	d := old.Derive("session-id")
	if !regexp.MustCompile(`^[A-Za-z0-9]{32}$`).MatchString(d) {
		t.Fatalf("derived %q is not 32 alphanumerics", d)
	}
	if d != old.Derive("session-id") || d == old.Derive("other-id") {
		t.Fatal("Derive is not a function of value")
	}
	if !rotated.DerivedMatches("session-id", d) {
		t.Fatal("value derived with the old secret rejected after rotation")
	}
	if rotated.DerivedMatches("other-id", d) || old.DerivedMatches("session-id", rotated.Derive("session-id")) {
		t.Fatal("DerivedMatches accepted a wrong value")
	}
}
