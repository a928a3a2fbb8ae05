// Package secret owns Latchkey's one token generator and its keyed hashes:
// unbiased random strings from crypto/rand for session tokens, recovery
// codes and link tokens, and HMAC-SHA256 hashes with a rotating list of
// secrets, so that bearer secrets are only ever stored as keyed hashes.
//
// A list of secrets follows Kratos's rule: the first secret makes new
// hashes and signatures, every secret in the list is accepted when
// checking. Prepending a new secret rotates keys without invalidating what
// the old ones produced.
package secret

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
)

const (
	alphanumeric      = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	lowerAlphanumeric = "abcdefghijklmnopqrstuvwxyz0123456789"
	digits            = "0123456789"
)

// RandomAlphanumeric returns n characters drawn uniformly from [A-Za-z0-9]
// with crypto/rand. It panics if the system's random source fails, as
// crypto/rand.Read does.
func RandomAlphanumeric(n int) string { return random(n, alphanumeric) }

// RandomLowerAlphanumeric returns n characters drawn uniformly from
// [a-z0-9] with crypto/rand (backup codes, in Kratos's format).
func RandomLowerAlphanumeric(n int) string { return random(n, lowerAlphanumeric) }

// RandomDigits returns n decimal digits drawn uniformly with crypto/rand,
// e.g. a 6-digit recovery code.
func RandomDigits(n int) string { return random(n, digits) }

// random draws n characters of alphabet without modulo bias: a random
// byte is used only when it falls below the largest multiple of the
// alphabet's size (rejection sampling).
func random(n int, alphabet string) string {
	size := len(alphabet)
	limit := 256 - 256%size // 248 for 62 characters, 252 for 36, 250 for 10
	out := make([]byte, 0, n)
	// Reading a few more bytes than needed makes a second read rare.
	buf := make([]byte, n+n/4+8)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			panic("secret: crypto/rand failed: " + err.Error())
		}
		for _, b := range buf {
			if int(b) >= limit {
				continue
			}
			out = append(out, alphabet[int(b)%size])
			if len(out) == n {
				break
			}
		}
	}
	return string(out)
}

// Hasher makes keyed hashes (HMAC-SHA256) of secret values such as session
// tokens and recovery codes, so that the database only holds hashes. The
// zero value is not usable: Secrets needs at least one secret.
type Hasher struct {
	// Secrets is the rotation list: Secrets[0] hashes, all are tried when
	// looking a value up.
	Secrets [][]byte
}

// Hash returns the hex keyed hash of value with the first secret: what a
// store keeps instead of value.
func (h Hasher) Hash(value string) string {
	return hex.EncodeToString(h.mac(h.first(), value))
}

// Candidates returns the hex keyed hash of value with every secret, first
// secret first. A store looks a presented value up with
// "WHERE hash IN (candidates)" so values hashed before a rotation are found.
func (h Hasher) Candidates(value string) []string {
	out := make([]string, len(h.Secrets))
	for i, s := range h.Secrets {
		out[i] = hex.EncodeToString(h.mac(s, value))
	}
	return out
}

// Matches reports, in constant time for a given number of secrets, whether
// storedHash is the keyed hash of value under any secret. Every secret is
// tried even after a match.
func (h Hasher) Matches(value, storedHash string) bool {
	ok := 0
	for _, s := range h.Secrets {
		ok |= subtle.ConstantTimeCompare([]byte(hex.EncodeToString(h.mac(s, value))), []byte(storedHash))
	}
	return ok == 1
}

// Sign returns the MAC of message with the first secret (for signed
// cookies and other tamper-proof values).
func (h Hasher) Sign(message []byte) []byte {
	m := hmac.New(sha256.New, h.first())
	m.Write(message)
	return m.Sum(nil)
}

// Verify reports whether mac is the MAC of message under any secret,
// comparing in constant time.
func (h Hasher) Verify(message, mac []byte) bool {
	return len(mac) == sha256.Size && h.verifyPrefix(message, mac)
}

// MinTruncatedMAC is the shortest MAC VerifyTruncated accepts: 128 bits.
const MinTruncatedMAC = 16

// VerifyTruncated is Verify for a MAC cut to its first len(mac) bytes, as
// a token short enough for a link carries it (Sign, then keep a prefix of
// at least MinTruncatedMAC bytes).
func (h Hasher) VerifyTruncated(message, mac []byte) bool {
	return len(mac) >= MinTruncatedMAC && len(mac) <= sha256.Size && h.verifyPrefix(message, mac)
}

// verifyPrefix reports whether mac is the first len(mac) bytes of the MAC
// of message under any secret, comparing in constant time and trying
// every secret even after a match.
func (h Hasher) verifyPrefix(message, mac []byte) bool {
	ok := 0
	for _, s := range h.Secrets {
		m := hmac.New(sha256.New, s)
		m.Write(message)
		ok |= subtle.ConstantTimeCompare(m.Sum(nil)[:len(mac)], mac)
	}
	return ok == 1
}

// DerivedLength is the length of the values Derive returns.
const DerivedLength = 32

// Derive returns a DerivedLength-character [A-Za-z0-9] value computed from
// value with the first secret. It lets a token be bound to a record (e.g.
// a logout token to a session id) without storing anything: only a holder
// of the secret can produce it, and DerivedMatches checks it.
func (h Hasher) Derive(value string) string { return derive(h.mac(h.first(), value)) }

// DerivedMatches reports whether candidate is Derive(value) under any
// secret of the rotation list, comparing in constant time.
func (h Hasher) DerivedMatches(value, candidate string) bool {
	ok := 0
	for _, s := range h.Secrets {
		ok |= subtle.ConstantTimeCompare([]byte(derive(h.mac(s, value))), []byte(candidate))
	}
	return ok == 1
}

// derive maps the 32 bytes of a MAC onto the alphanumeric alphabet. The
// slight modulo bias leaves more than 190 bits that cannot be computed
// without the secret, which is all a MAC-derived value needs.
func derive(mac []byte) string {
	out := make([]byte, DerivedLength)
	for i := range out {
		out[i] = alphanumeric[int(mac[i])%len(alphanumeric)]
	}
	return string(out)
}

func (h Hasher) mac(secret []byte, value string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(value))
	return m.Sum(nil)
}

func (h Hasher) first() []byte {
	if len(h.Secrets) == 0 {
		panic("secret: Hasher has no secrets")
	}
	return h.Secrets[0]
}

// Equal compares two strings in constant time (for their common length; a
// length mismatch returns false at once, which reveals only the length).
func Equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
