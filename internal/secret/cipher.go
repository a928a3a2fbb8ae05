package secret

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"
)

// SealedPrefix starts every value Cipher.Seal returns ("lk1:" + base64url
// of nonce and ciphertext), so a sealed column is recognisable at a glance
// and a value written before encryption was introduced can be told apart.
const SealedPrefix = "lk1:"

// Errors of Cipher.Open.
var (
	// ErrNotSealed: the value does not start with SealedPrefix.
	ErrNotSealed = errors.New("secret: value is not sealed")
	// ErrUnsealable: no key of the rotation list opens the value (a key
	// was removed, the value or its additional data was altered).
	ErrUnsealable = errors.New("secret: sealed value cannot be opened with any configured key")
)

// Cipher encrypts values kept at rest (the mail queue's subjects, bodies
// and template data) with XChaCha20-Poly1305. Keys come from a rotation
// list of secrets (secrets.cipher): the first key seals, every key opens,
// so prepending a new secret rotates keys without losing what the old ones
// sealed. Safe for concurrent use.
type Cipher struct {
	aeads []cipher.AEAD
}

// cipherKeyInfo separates the cipher's keys from any other use of the same
// secret (secrets.cipher falls back to secrets.default, which also keys
// HMACs).
const cipherKeyInfo = "latchkey cipher v1 xchacha20-poly1305"

// NewCipher derives one 256-bit key from each secret with HKDF-SHA256, so a
// secret of any length gives a full-strength key. It needs at least one
// non-empty secret.
func NewCipher(secrets [][]byte) (*Cipher, error) {
	if len(secrets) == 0 {
		return nil, errors.New("secret: cipher needs at least one secret")
	}
	c := &Cipher{}
	for _, s := range secrets {
		if len(s) == 0 {
			return nil, errors.New("secret: cipher secret is empty")
		}
		key, err := hkdf.Key(sha256.New, s, nil, cipherKeyInfo, chacha20poly1305.KeySize)
		if err != nil {
			return nil, err
		}
		aead, err := chacha20poly1305.NewX(key)
		if err != nil {
			return nil, err
		}
		c.aeads = append(c.aeads, aead)
	}
	return c, nil
}

// Seal encrypts plaintext with the first key and a random 24-byte nonce.
// additionalData is authenticated but not stored: Open must be given the
// same bytes, which binds a sealed value to its place (say, the row id and
// column), so it cannot be moved to another row and still open.
func (c *Cipher) Seal(plaintext, additionalData []byte) string {
	aead := c.aeads[0]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic("secret: crypto/rand failed: " + err.Error())
	}
	sealed := aead.Seal(nonce, nonce, plaintext, additionalData)
	return SealedPrefix + base64.RawURLEncoding.EncodeToString(sealed)
}

// Open decrypts a value made by Seal with any key of the rotation list.
func (c *Cipher) Open(sealed string, additionalData []byte) ([]byte, error) {
	enc, ok := strings.CutPrefix(sealed, SealedPrefix)
	if !ok {
		return nil, ErrNotSealed
	}
	raw, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil || len(raw) < chacha20poly1305.NonceSizeX+chacha20poly1305.Overhead {
		return nil, ErrUnsealable
	}
	nonce, ct := raw[:chacha20poly1305.NonceSizeX], raw[chacha20poly1305.NonceSizeX:]
	for _, aead := range c.aeads {
		if plain, err := aead.Open(nil, nonce, ct, additionalData); err == nil {
			return plain, nil
		}
	}
	return nil, ErrUnsealable
}

// IsSealed reports whether s has the form Seal produces.
func IsSealed(s string) bool { return strings.HasPrefix(s, SealedPrefix) }
