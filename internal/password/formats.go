package password

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/md5"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/md4" //nolint:staticcheck // only to verify imported hmac-md4 hashes
	"golang.org/x/crypto/scrypt"
)

// Limits on the parameters of stored hashes. They only keep a broken or
// hostile imported hash from exhausting memory or CPU on every login;
// real hashes are far below them.
const (
	maxArgon2MemoryKiB = 4 << 20 // 4 GiB
	maxScryptMemory    = 1 << 30 // bytes: 128 * r * N
	maxIterations      = 100_000_000
	maxKeyLength       = 1024
)

// storedHash is a parsed hash that can check a password against itself.
type storedHash interface {
	verify(plain []byte) (bool, error)
}

// IsKnownFormat reports whether encoded is a hash that Compare can verify.
// Identity import uses it to refuse hashes nobody could ever log in with.
// Accepted, in Kratos's encodings:
//
//	bcrypt          $2a$… $2b$… $2y$…
//	argon2          $argon2id$v=19$m=…,t=…,p=…$salt$key   (and $argon2i$)
//	pbkdf2          $pbkdf2-sha1|sha224|sha256|sha384|sha512$i=…,l=…$salt$key
//	scrypt          $scrypt$ln=N,r=…,p=…$salt$key          (ln is N itself, as in Kratos)
//	firebase scrypt $firescrypt$ln=…,r=…,p=…$salt$key$separator$signer-key
//	LDAP            {SSHA}… {SSHA256}… {SSHA512}… {SHA}…
//	salted digest   $sha1|sha256|sha512$pf=template$salt$digest, $md5$digest, $md5$pf=…$salt$digest
//	hmac            $hmac-md4|md5|sha1|sha224|sha256|sha384|sha512$digest$key
//	crypt(3)        $md5-crypt$… $sha256-crypt$… $sha512-crypt$… (and $1$ $5$ $6$)
//
// Salts and digests are base64, with or without padding. The whole hash is
// parsed, so a recognised prefix with broken parameters is refused too.
func IsKnownFormat(encoded string) bool {
	_, err := parseHash(encoded)
	return err == nil
}

// parseHash recognises the format of encoded by its prefix and decodes it.
func parseHash(encoded string) (storedHash, error) {
	switch {
	case hasAnyPrefix(encoded, "$2a$", "$2b$", "$2y$"):
		return parseBcrypt(encoded)
	case strings.HasPrefix(encoded, "$argon2id$"):
		return parseArgon2(encoded, true)
	case strings.HasPrefix(encoded, "$argon2i$"):
		return parseArgon2(encoded, false)
	case strings.HasPrefix(encoded, "$pbkdf2-"):
		return parsePBKDF2(encoded)
	case strings.HasPrefix(encoded, "$scrypt$"):
		return parseScrypt(encoded)
	case strings.HasPrefix(encoded, "$firescrypt$"):
		return parseFirebaseScrypt(encoded)
	case strings.HasPrefix(encoded, "{"):
		return parseLDAP(encoded)
	case hasAnyPrefix(encoded, "$sha1$", "$sha256$", "$sha512$", "$md5$"):
		return parseSaltedDigest(encoded)
	case strings.HasPrefix(encoded, "$hmac-"):
		return parseHMAC(encoded)
	case hasAnyPrefix(encoded, "$md5-crypt$", "$sha256-crypt$", "$sha512-crypt$", "$1$", "$5$", "$6$"):
		return parseCrypt(encoded)
	}
	return nil, ErrUnknownHashFormat
}

func hasAnyPrefix(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func malformed(format, reason string) error {
	return fmt.Errorf("%w: %s: %s", ErrMalformedHash, format, reason)
}

// decodeBase64 accepts standard base64 with or without padding: Kratos
// writes PHC strings unpadded and other formats padded, and exporters vary.
func decodeBase64(s string) ([]byte, error) {
	return base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
}

// params parses PHC parameters "k1=v1,k2=v2" into unsigned numbers. Every
// key in required must be present; optional keys may be; others are errors.
func params(s string, required []string, optional ...string) (map[string]uint64, error) {
	out := map[string]uint64{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("parameter %q has no value", kv)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("parameter %q repeated", k)
		}
		if !slices.Contains(required, k) && !slices.Contains(optional, k) {
			return nil, fmt.Errorf("unknown parameter %q", k)
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("parameter %q: %v", k, err)
		}
		out[k] = n
	}
	for _, k := range required {
		if _, ok := out[k]; !ok {
			return nil, fmt.Errorf("parameter %q missing", k)
		}
	}
	return out, nil
}

// equal compares two digests in constant time (for equal lengths; the
// length of a stored digest is not a secret).
func equal(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }

// --- bcrypt ---

type bcryptHash struct {
	encoded []byte
	cost    int
}

func parseBcrypt(encoded string) (storedHash, error) {
	cost, err := bcrypt.Cost([]byte(encoded))
	if err != nil {
		return nil, malformed("bcrypt", err.Error())
	}
	return bcryptHash{encoded: []byte(encoded), cost: cost}, nil
}

func (h bcryptHash) verify(plain []byte) (bool, error) {
	// bcrypt would compare only the first 72 bytes, so "72 right bytes
	// plus anything" would match. No hash we make comes from a longer
	// password, so a longer one is simply wrong.
	if len(plain) > BcryptMaxLength {
		return false, nil
	}
	err := bcrypt.CompareHashAndPassword(h.encoded, plain)
	switch {
	case err == nil:
		return true, nil
	case err == bcrypt.ErrMismatchedHashAndPassword:
		return false, nil
	}
	return false, malformed("bcrypt", err.Error())
}

// --- argon2 ---

type argon2Hash struct {
	id          bool // argon2id; else argon2i
	memory      uint32
	iterations  uint32
	parallelism uint8
	salt, key   []byte
}

func parseArgon2(encoded string, id bool) (storedHash, error) {
	name := "argon2i"
	if id {
		name = "argon2id"
	}
	// "", name, "v=19", "m=…,t=…,p=…", salt, key
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 {
		return nil, malformed(name, "want $"+name+"$v=19$m=…,t=…,p=…$salt$key")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		// Version 16 (0x10) is not implemented by x/crypto/argon2.
		return nil, malformed(name, "only version 19 is supported")
	}
	p, err := params(parts[3], []string{"m", "t", "p"})
	if err != nil {
		return nil, malformed(name, err.Error())
	}
	h := argon2Hash{id: id, memory: uint32(p["m"]), iterations: uint32(p["t"])}
	if p["t"] < 1 || p["t"] > maxIterations || p["p"] < 1 || p["p"] > 255 ||
		p["m"] < 8*p["p"] || p["m"] > maxArgon2MemoryKiB {
		return nil, malformed(name, "parameters out of range")
	}
	h.parallelism = uint8(p["p"])
	if h.salt, err = decodeBase64(parts[4]); err != nil {
		return nil, malformed(name, "salt: "+err.Error())
	}
	if h.key, err = decodeBase64(parts[5]); err != nil || len(h.key) == 0 || len(h.key) > maxKeyLength {
		return nil, malformed(name, "bad key")
	}
	return h, nil
}

func (h argon2Hash) verify(plain []byte) (bool, error) {
	derive := argon2.Key
	if h.id {
		derive = argon2.IDKey
	}
	return equal(h.key, derive(plain, h.salt, h.iterations, h.memory, h.parallelism, uint32(len(h.key)))), nil
}

// --- pbkdf2 ---

type pbkdf2Hash struct {
	newHash    func() hash.Hash
	iterations int
	salt, key  []byte
}

var digests = map[string]func() hash.Hash{
	"sha1":   sha1.New,
	"sha224": sha256.New224,
	"sha256": sha256.New,
	"sha384": sha512.New384,
	"sha512": sha512.New,
}

func parsePBKDF2(encoded string) (storedHash, error) {
	// "", "pbkdf2-<digest>", "i=…,l=…", salt, key
	parts := strings.Split(encoded, "$")
	if len(parts) != 5 {
		return nil, malformed("pbkdf2", "want $pbkdf2-<digest>$i=…,l=…$salt$key")
	}
	newHash, ok := digests[strings.TrimPrefix(parts[1], "pbkdf2-")]
	if !ok {
		return nil, ErrUnknownHashFormat
	}
	// l repeats the key length; like Kratos we trust the decoded key.
	p, err := params(parts[2], []string{"i"}, "l")
	if err != nil {
		return nil, malformed("pbkdf2", err.Error())
	}
	if p["i"] < 1 || p["i"] > maxIterations {
		return nil, malformed("pbkdf2", "iterations out of range")
	}
	h := pbkdf2Hash{newHash: newHash, iterations: int(p["i"])}
	if h.salt, err = decodeBase64(parts[3]); err != nil {
		return nil, malformed("pbkdf2", "salt: "+err.Error())
	}
	if h.key, err = decodeBase64(parts[4]); err != nil || len(h.key) == 0 || len(h.key) > maxKeyLength {
		return nil, malformed("pbkdf2", "bad key")
	}
	return h, nil
}

func (h pbkdf2Hash) verify(plain []byte) (bool, error) {
	key, err := pbkdf2.Key(h.newHash, string(plain), h.salt, h.iterations, len(h.key))
	if err != nil {
		return false, malformed("pbkdf2", err.Error())
	}
	return equal(h.key, key), nil
}

// --- scrypt ---

type scryptHash struct {
	n, r, p   int
	salt, key []byte
}

// scryptParams checks N, r and p the way scrypt.Key would, plus a memory cap.
func scryptParams(n, r, p uint64) error {
	if n < 2 || n&(n-1) != 0 {
		return fmt.Errorf("N=%d is not a power of two above 1", n)
	}
	if r < 1 || p < 1 || r*p >= 1<<30 || 128*r*n > maxScryptMemory {
		return fmt.Errorf("N=%d, r=%d, p=%d out of range", n, r, p)
	}
	return nil
}

func parseScrypt(encoded string) (storedHash, error) {
	// "", "scrypt", "ln=…,r=…,p=…", salt, key
	parts := strings.Split(encoded, "$")
	if len(parts) != 5 {
		return nil, malformed("scrypt", "want $scrypt$ln=…,r=…,p=…$salt$key")
	}
	p, err := params(parts[2], []string{"ln", "r", "p"})
	if err != nil {
		return nil, malformed("scrypt", err.Error())
	}
	// Kratos reads "ln" as the cost N itself, not its logarithm as in the
	// PHC convention; hashes exported from Kratos rely on that.
	if err := scryptParams(p["ln"], p["r"], p["p"]); err != nil {
		return nil, malformed("scrypt", err.Error())
	}
	h := scryptHash{n: int(p["ln"]), r: int(p["r"]), p: int(p["p"])}
	if h.salt, err = decodeBase64(parts[3]); err != nil {
		return nil, malformed("scrypt", "salt: "+err.Error())
	}
	if h.key, err = decodeBase64(parts[4]); err != nil || len(h.key) == 0 || len(h.key) > maxKeyLength {
		return nil, malformed("scrypt", "bad key")
	}
	return h, nil
}

func (h scryptHash) verify(plain []byte) (bool, error) {
	key, err := scrypt.Key(plain, h.salt, h.n, h.r, h.p, len(h.key))
	if err != nil {
		return false, malformed("scrypt", err.Error())
	}
	return equal(h.key, key), nil
}

// --- firebase scrypt ---

// firebaseHash is Firebase Authentication's modified scrypt: the scrypt
// key of (salt + separator) encrypts the project's signer key with
// AES-256-CTR and a zero IV, and the ciphertext is the stored hash.
type firebaseHash struct {
	n, r, p                      int
	salt, separator, key, signer []byte
}

func parseFirebaseScrypt(encoded string) (storedHash, error) {
	// "", "firescrypt", "ln=…,r=…,p=…", salt, hash, separator, signer key
	parts := strings.Split(encoded, "$")
	if len(parts) != 7 {
		return nil, malformed("firescrypt", "want $firescrypt$ln=…,r=…,p=…$salt$hash$separator$signer-key")
	}
	p, err := params(parts[2], []string{"ln", "r", "p"})
	if err != nil {
		return nil, malformed("firescrypt", err.Error())
	}
	// Here "ln" is Firebase's mem_cost, the base-2 logarithm of N.
	if p["ln"] < 1 || p["ln"] > 30 {
		return nil, malformed("firescrypt", "ln out of range")
	}
	n := uint64(1) << p["ln"]
	if err := scryptParams(n, p["r"], p["p"]); err != nil {
		return nil, malformed("firescrypt", err.Error())
	}
	h := firebaseHash{n: int(n), r: int(p["r"]), p: int(p["p"])}
	fields := []*[]byte{&h.salt, &h.key, &h.separator, &h.signer}
	for i, f := range fields {
		if *f, err = decodeBase64(parts[3+i]); err != nil {
			return nil, malformed("firescrypt", err.Error())
		}
	}
	if len(h.key) == 0 || len(h.key) != len(h.signer) {
		return nil, malformed("firescrypt", "hash and signer key differ in length")
	}
	return h, nil
}

func (h firebaseHash) verify(plain []byte) (bool, error) {
	salt := append(append([]byte{}, h.salt...), h.separator...)
	derived, err := scrypt.Key(plain, salt, h.n, h.r, h.p, 32)
	if err != nil {
		return false, malformed("firescrypt", err.Error())
	}
	block, err := aes.NewCipher(derived)
	if err != nil {
		return false, malformed("firescrypt", err.Error())
	}
	out := make([]byte, len(h.signer))
	cipher.NewCTR(block, make([]byte, aes.BlockSize)).XORKeyStream(out, h.signer)
	return equal(h.key, out), nil
}

// --- LDAP {SSHA} and {SHA} (RFC 2307 style) ---

// ldapHash is base64(digest(password + salt) + salt); {SHA} has no salt.
type ldapHash struct {
	newHash   func() hash.Hash
	sum, salt []byte
}

func parseLDAP(encoded string) (storedHash, error) {
	scheme, rest, ok := strings.Cut(encoded[1:], "}")
	if !ok {
		return nil, ErrUnknownHashFormat
	}
	var newHash func() hash.Hash
	salted := true
	switch scheme {
	case "SSHA":
		newHash = sha1.New
	case "SSHA256":
		newHash = sha256.New
	case "SSHA512":
		newHash = sha512.New
	case "SHA":
		newHash, salted = sha1.New, false
	default:
		return nil, ErrUnknownHashFormat
	}
	raw, err := decodeBase64(rest)
	if err != nil {
		return nil, malformed(scheme, err.Error())
	}
	size := newHash().Size()
	if salted && len(raw) <= size || !salted && len(raw) != size {
		return nil, malformed(scheme, "wrong length")
	}
	return ldapHash{newHash: newHash, sum: raw[:size], salt: raw[size:]}, nil
}

func (h ldapHash) verify(plain []byte) (bool, error) {
	d := h.newHash()
	d.Write(plain)
	d.Write(h.salt)
	return equal(h.sum, d.Sum(nil)), nil
}

// --- Kratos's salted digests: $sha1$pf=…$salt$sum, $md5$sum ---

// saltedDigest is digest(template) where the template (the "pf"
// parameter, base64) places {SALT} and {PASSWORD}; without a template the
// digest is of the password alone.
type saltedDigest struct {
	newHash        func() hash.Hash
	template, salt []byte
	sum            []byte
}

func parseSaltedDigest(encoded string) (storedHash, error) {
	parts := strings.Split(encoded, "$")
	name := parts[1]
	newHash := digests[name]
	if name == "md5" {
		newHash = md5.New
	}
	h := saltedDigest{newHash: newHash}
	var err error
	switch {
	case name == "md5" && len(parts) == 3:
		// "", "md5", sum: unsalted
		h.sum, err = decodeBase64(parts[2])
	case len(parts) == 5:
		// "", name, "pf=<template>", salt, sum
		tmpl, ok := strings.CutPrefix(parts[2], "pf=")
		if !ok {
			return nil, malformed(name, "want pf=<template>")
		}
		if h.template, err = decodeBase64(tmpl); err != nil {
			return nil, malformed(name, "template: "+err.Error())
		}
		if h.salt, err = decodeBase64(parts[3]); err != nil {
			return nil, malformed(name, "salt: "+err.Error())
		}
		h.sum, err = decodeBase64(parts[4])
	default:
		return nil, malformed(name, "want $"+name+"$pf=<template>$salt$digest")
	}
	if err != nil || len(h.sum) != newHash().Size() {
		return nil, malformed(name, "bad digest")
	}
	return h, nil
}

func (h saltedDigest) verify(plain []byte) (bool, error) {
	input := plain
	if h.template != nil {
		// One pass, so a password containing "{SALT}" stays as typed.
		input = []byte(strings.NewReplacer("{SALT}", string(h.salt), "{PASSWORD}", string(plain)).Replace(string(h.template)))
	}
	d := h.newHash()
	d.Write(input)
	return equal(h.sum, d.Sum(nil)), nil
}

// --- $hmac-<digest>$sum$key ---

type hmacHash struct {
	newHash  func() hash.Hash
	sum, key []byte
}

func parseHMAC(encoded string) (storedHash, error) {
	// "", "hmac-<digest>", sum, key
	parts := strings.Split(encoded, "$")
	name := strings.TrimPrefix(parts[1], "hmac-")
	newHash := digests[name]
	switch name {
	case "md4":
		newHash = md4.New
	case "md5":
		newHash = md5.New
	}
	if newHash == nil {
		return nil, ErrUnknownHashFormat
	}
	if len(parts) != 4 {
		return nil, malformed("hmac", "want $hmac-<digest>$digest$key")
	}
	h := hmacHash{newHash: newHash}
	var err error
	if h.sum, err = decodeBase64(parts[2]); err != nil {
		return nil, malformed("hmac", "digest: "+err.Error())
	}
	if h.key, err = decodeBase64(parts[3]); err != nil {
		return nil, malformed("hmac", "key: "+err.Error())
	}
	// Kratos stores base64 of the hex MAC; raw MAC bytes are accepted too.
	switch size := newHash().Size(); len(h.sum) {
	case size:
	case 2 * size:
		h.sum = bytes.ToLower(h.sum)
	default:
		return nil, malformed("hmac", "wrong digest length")
	}
	return h, nil
}

func (h hmacHash) verify(plain []byte) (bool, error) {
	mac := hmac.New(h.newHash, h.key)
	mac.Write(plain)
	sum := mac.Sum(nil)
	if len(h.sum) == 2*len(sum) {
		return equal(h.sum, []byte(hex.EncodeToString(sum))), nil
	}
	return equal(h.sum, sum), nil
}
