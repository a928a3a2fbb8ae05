package secret_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/secret"
)

func mustCipher(t *testing.T, secrets ...string) *secret.Cipher {
	t.Helper()
	var keys [][]byte
	for _, s := range secrets {
		keys = append(keys, []byte(s))
	}
	c, err := secret.NewCipher(keys)
	if err != nil {
		t.Fatalf("NewCipher: %v", err)
	}
	return c
}

func TestCipher(t *testing.T) {
	const oldKey, newKey = "old-cipher-secret-0123456789", "new-cipher-secret-9876543210"
	ad := []byte("courier_messages.body:8d4f")
	sealedByOld := mustCipher(t, oldKey).Seal([]byte("Use code 482913"), ad)

	t.Run("SealedValueHidesThePlaintextAndOpens", func(t *testing.T) {
		c := mustCipher(t, newKey)
		for _, plain := range []string{"", "x", "Use code 482913 to recover access", strings.Repeat("body ", 5000)} {
			s := c.Seal([]byte(plain), ad)
			if !strings.HasPrefix(s, secret.SealedPrefix) || !secret.IsSealed(s) {
				t.Errorf("%q: sealed form %q lacks the prefix", plain, s[:min(len(s), 20)])
			}
			if len(plain) > 3 && strings.Contains(s, plain) {
				t.Errorf("plaintext visible in %q", s)
			}
			got, err := c.Open(s, ad)
			if err != nil || string(got) != plain {
				t.Errorf("Open(Seal(%q)) = %q, %v", plain, got, err)
			}
		}
	})

	t.Run("EachSealUsesAFreshNonce", func(t *testing.T) {
		c := mustCipher(t, newKey)
		if a, b := c.Seal([]byte("same"), ad), c.Seal([]byte("same"), ad); a == b {
			t.Error("two seals of one value are identical")
		}
	})

	t.Run("RotationOpensWithEveryKeySealsWithTheFirst", func(t *testing.T) {
		rotated := mustCipher(t, newKey, oldKey)
		if got, err := rotated.Open(sealedByOld, ad); err != nil || string(got) != "Use code 482913" {
			t.Fatalf("old value after rotation: %q, %v", got, err)
		}
		fresh := rotated.Seal([]byte("new value"), ad)
		if _, err := mustCipher(t, oldKey).Open(fresh, ad); !errors.Is(err, secret.ErrUnsealable) {
			t.Errorf("a new value opened with the old key alone: %v", err)
		}
		if got, err := mustCipher(t, newKey).Open(fresh, ad); err != nil || string(got) != "new value" {
			t.Errorf("new value with the new key: %q, %v", got, err)
		}
	})

	t.Run("RefusesWhatItCannotOpen", func(t *testing.T) {
		c := mustCipher(t, oldKey)
		// Change one character in the middle (the last one may only
		// carry base64 padding bits).
		flipped := []byte(sealedByOld)
		mid := len(flipped) / 2
		if flipped[mid] == 'A' {
			flipped[mid] = 'B'
		} else {
			flipped[mid] = 'A'
		}
		for name, tc := range map[string]struct {
			c      *secret.Cipher
			sealed string
			ad     string
			want   error
		}{
			"WrongKey":       {mustCipher(t, newKey), sealedByOld, string(ad), secret.ErrUnsealable},
			"Tampered":       {c, string(flipped), string(ad), secret.ErrUnsealable},
			"OtherPlace":     {c, sealedByOld, "courier_messages.body:other", secret.ErrUnsealable},
			"Truncated":      {c, sealedByOld[:len(secret.SealedPrefix)+20], string(ad), secret.ErrUnsealable},
			"NotBase64":      {c, secret.SealedPrefix + "!!!!", string(ad), secret.ErrUnsealable},
			"EmptyInput":     {c, "", string(ad), secret.ErrNotSealed},
			"PlaintextInput": {c, "Use code 482913", string(ad), secret.ErrNotSealed},
			"PrefixOnly":     {c, secret.SealedPrefix, string(ad), secret.ErrUnsealable},
		} {
			t.Run(name, func(t *testing.T) {
				got, err := tc.c.Open(tc.sealed, []byte(tc.ad))
				if !errors.Is(err, tc.want) || got != nil {
					t.Errorf("Open = %q, %v; want %v", got, err, tc.want)
				}
			})
		}
	})

	t.Run("NeedsASecret", func(t *testing.T) {
		if _, err := secret.NewCipher(nil); err == nil {
			t.Error("no secrets accepted")
		}
		if _, err := secret.NewCipher([][]byte{[]byte("ok-secret"), {}}); err == nil {
			t.Error("an empty secret accepted")
		}
	})
}
