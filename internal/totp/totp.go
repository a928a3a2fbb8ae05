// Package totp owns time-based one-time passwords (RFC 6238) as Latchkey
// uses them for a second factor: the key an authenticator app enrols, its
// QR code, and checking a code so that each time step counts once.
package totp

import (
	"bytes"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"image/png"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// Parameters every key has, as in Kratos: authenticator apps assume them,
// and keys imported from Kratos use them.
const (
	// secretSize is 160 bits, the shared-secret length RFC 4226 recommends
	// (32 base32 characters).
	secretSize = 20
	digits     = otp.DigitsSix
	period     = 30
	// skew is how many steps before and after the current one are
	// accepted, for clocks that drift and users who type slowly.
	skew = 1
	// qrSize is the width and height of the QR code in pixels.
	qrSize = 256
)

// Key is one authenticator's shared secret, as an otpauth:// URL.
type Key struct{ k *otp.Key }

// Generate makes a new key from crypto/rand for account (the identity
// id) at issuer. Its URL is
// otpauth://totp/<issuer>:<account>?algorithm=SHA1&digits=6&issuer=…&period=30&secret=….
func Generate(issuer, account string) (Key, error) {
	k, err := totp.Generate(totp.GenerateOpts{
		Issuer: issuer, AccountName: account, SecretSize: secretSize,
		Digits: digits, Period: period, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		return Key{}, fmt.Errorf("generate totp key: %w", err)
	}
	return Key{k}, nil
}

// Parse reads a key from its otpauth:// URL (as stored, or imported from
// Kratos); a URL without a secret is an error.
func Parse(rawURL string) (Key, error) {
	k, err := otp.NewKeyFromURL(rawURL)
	if err != nil {
		return Key{}, fmt.Errorf("parse totp key: %w", err)
	}
	if k.Type() != "totp" || k.Secret() == "" {
		return Key{}, fmt.Errorf("parse totp key: not a totp key with a secret")
	}
	return Key{k}, nil
}

// URL is the key's otpauth:// URL (Kratos's totp_url).
func (k Key) URL() string { return k.k.URL() }

// Secret is the shared secret in base32, for typing into an app that
// cannot scan the QR code.
func (k Key) Secret() string { return k.k.Secret() }

// QRCode is the key's URL as a 256×256 PNG QR code in a data: URL.
func (k Key) QRCode() (string, error) {
	img, err := k.k.Image(qrSize, qrSize)
	if err != nil {
		return "", fmt.Errorf("totp qr code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return "", fmt.Errorf("totp qr code: %w", err)
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

// Step is the RFC 6238 time step t falls in.
func Step(t time.Time) int64 { return t.Unix() / period }

// Match returns the time step, within skew of now's, whose code is code
// and that is later than after (the last step accepted before), so a code
// once accepted never is again. Every candidate is compared in constant
// time, whatever matches.
func (k Key) Match(code string, now time.Time, after int64) (step int64, ok bool) {
	current := Step(now)
	for s := current - skew; s <= current+skew; s++ {
		want, err := totp.GenerateCodeCustom(k.Secret(), time.Unix(s*period, 0), totp.ValidateOpts{
			Period: period, Digits: digits, Algorithm: otp.AlgorithmSHA1,
		})
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && s > after {
			step, ok = s, true
		}
	}
	return step, ok
}
