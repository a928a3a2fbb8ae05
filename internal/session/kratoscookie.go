package session

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/gob"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/httpx"
)

// Ory Kratos's session cookie, read so that a browser signed in to Kratos
// stays signed in after the switch (docs/migrating-from-kratos.md,
// "Browser sessions (cookies)"). Kratos v26.2.0 writes it with
// gorilla/securecookie: for each secret of secrets.cookie (secrets.default
// when that is empty, as Manager.Cookies is configured) the MAC key is the
// secret itself and the AES-256 key is SHA-256(secret). The value is
//
//	base64url(timestamp "|" base64url(IV ‖ AES-CTR(gob map)) "|" MAC)
//
// with padding, where MAC is HMAC-SHA256 of name "|" timestamp "|" the
// middle part, timestamp is when the cookie was written (Unix seconds) and
// the gob map (map[interface{}]interface{}) holds the strings
// session_token, expires_at and nonce.

const (
	// kratosMaxCookieLength is securecookie's own limit: Kratos never
	// wrote, and never read, a longer value.
	kratosMaxCookieLength = 4096
	// kratosDefaultMaxAge is securecookie's default maximum age, which
	// Kratos keeps for non-persistent cookies.
	kratosDefaultMaxAge = 30 * 24 * time.Hour
)

// kratosMaxAge is how old a Kratos cookie's timestamp may be, as Kratos
// decides it: session.lifespan when session.cookie.persistent, 30 days
// otherwise. Less than a second means no limit, as in securecookie.
func (m *Manager) kratosMaxAge() time.Duration {
	if m.Config.Cookie.Persistent {
		return m.Config.Lifespan
	}
	return kratosDefaultMaxAge
}

// decodeKratosCookie returns the session token of a cookie value written
// by Kratos with one of the cookie secrets; ok is false for anything else
// (including a cookie older than kratosMaxAge). The session behind the
// token is not looked at.
func (m *Manager) decodeKratosCookie(value string) (token string, ok bool) {
	return decodeKratosCookie(m.cookieName(), value, m.Cookies.Secrets, m.now(), m.kratosMaxAge())
}

// decodeKratosCookie is Manager.decodeKratosCookie on what it depends on.
// Bytes reach AES and gob only once the MAC has verified, so an attacker
// without a secret can only make it compute HMACs of at most
// kratosMaxCookieLength bytes.
func decodeKratosCookie(name, value string, secrets [][]byte, now time.Time, maxAge time.Duration) (string, bool) {
	if len(value) > kratosMaxCookieLength || len(secrets) == 0 {
		return "", false
	}
	raw, err := base64.URLEncoding.DecodeString(value)
	if err != nil {
		return "", false
	}
	parts := bytes.SplitN(raw, []byte("|"), 3)
	if len(parts) != 3 {
		return "", false
	}
	signed, mac := raw[:len(raw)-len(parts[2])-1], parts[2]
	key := kratosSecretFor(name, signed, mac, secrets)
	if key == nil {
		return "", false
	}
	written, err := strconv.ParseInt(string(parts[0]), 10, 64)
	if err != nil {
		return "", false
	}
	// securecookie's check: only too old is refused, a timestamp in the
	// future is not.
	if limit := int64(maxAge / time.Second); limit != 0 && written < now.Unix()-limit {
		return "", false
	}
	sealed, err := base64.URLEncoding.DecodeString(string(parts[1]))
	if err != nil || len(sealed) <= aes.BlockSize {
		return "", false
	}
	blockKey := sha256.Sum256(key)
	block, err := aes.NewCipher(blockKey[:])
	if err != nil {
		return "", false
	}
	plain := make([]byte, len(sealed)-aes.BlockSize)
	cipher.NewCTR(block, sealed[:aes.BlockSize]).XORKeyStream(plain, sealed[aes.BlockSize:])
	values, err := gobValues(plain)
	if err != nil {
		return "", false
	}
	token, _ := values["session_token"].(string)
	return token, token != ""
}

// kratosSecretFor returns the secret under which mac is the cookie's MAC,
// nil when none. MACs are compared in constant time, so the time taken
// does not say how much of a forged one was right, and every secret is
// tried, as secret.Hasher.Verify does.
func kratosSecretFor(name string, signed, mac []byte, secrets [][]byte) []byte {
	var found []byte
	for _, s := range secrets {
		h := hmac.New(sha256.New, s)
		h.Write([]byte(name))
		h.Write([]byte("|"))
		h.Write(signed)
		if hmac.Equal(h.Sum(nil), mac) {
			found = s
		}
	}
	return found
}

// kratosMaxValues bounds the entries of the session values: Kratos
// writes three (session_token, expires_at, nonce).
const kratosMaxValues = 16

// gobValues decodes the session values Kratos stores. encoding/gob is not
// hardened against hostile input: it makes a map of the size the stream
// declares before reading a single entry (a 60-byte stream declaring 2^38
// entries hangs it). Only authenticated bytes get here, yet the declared
// size is checked first, and a panic still only means "not a Kratos
// cookie".
func gobValues(b []byte) (values map[any]any, err error) {
	if n, ok := gobMapLength(b); !ok || n > kratosMaxValues {
		return nil, errUndecodablePayload
	}
	defer func() {
		if recover() != nil {
			values, err = nil, errUndecodablePayload
		}
	}()
	err = gob.NewDecoder(bytes.NewReader(b)).Decode(&values)
	return values, err
}

var errUndecodablePayload = errors.New("session: undecodable Kratos cookie payload")

// gobMapLength is the entry count of a gob stream holding one map, as
// gob.Encoder writes it: a message defining the map's type, then a
// message with the map (its type id, 0 for "not a struct", the count).
// Each message is its length and its bytes.
func gobMapLength(b []byte) (int, bool) {
	n, b, ok := gobUint(b)
	if !ok || n > uint64(len(b)) {
		return 0, false
	}
	n, b, ok = gobUint(b[n:])
	if !ok || n > uint64(len(b)) {
		return 0, false
	}
	msg := b[:n]
	if _, msg, ok = gobUint(msg); !ok || len(msg) == 0 || msg[0] != 0 {
		return 0, false
	}
	count, _, ok := gobUint(msg[1:])
	if !ok || count > uint64(len(msg)) {
		return 0, false
	}
	return int(count), true
}

// gobUint reads one gob unsigned integer: a byte below 0x80 is the
// value; otherwise the byte is minus the count of big-endian bytes that
// follow (at most 8).
func gobUint(b []byte) (uint64, []byte, bool) {
	if len(b) == 0 {
		return 0, nil, false
	}
	if b[0] < 0x80 {
		return uint64(b[0]), b[1:], true
	}
	n := 256 - int(b[0]) // 1 to 128
	if n > 8 || n > len(b)-1 {
		return 0, nil, false
	}
	var v uint64
	for _, c := range b[1 : 1+n] {
		v = v<<8 | uint64(c)
	}
	return v, b[1+n:], true
}

// AdoptKratosCookies wraps the public API so that browsers signed in to
// Kratos stay signed in: a request whose session cookie is in Kratos's
// format, verifies under a cookie secret and carries the token of an
// active session gets the cookie back in Latchkey's format (Set-Cookie,
// as a login would set it), and is handed on as if the browser had sent
// that cookie. Every handler thus reads the session as usual, and the
// Kratos format fades out with the first request of each browser. A
// Kratos cookie that does not verify, is too old, or names no active
// session is passed on untouched, and counts as no session.
func (m *Manager) AdoptKratosCookies(next http.Handler) http.Handler {
	if len(m.Cookies.Secrets) == 0 {
		// Nothing to check a Kratos MAC with. The server always sets
		// Cookies: secrets.cookie, or secrets.default when that is empty,
		// the keys Kratos chooses for its cookie store too.
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, m.adoptKratosCookie(w, r))
	})
}

func (m *Manager) adoptKratosCookie(w http.ResponseWriter, r *http.Request) *http.Request {
	if !mayHoldKratosCookie(r.Header, m.cookieName()) {
		return r
	}
	// The first cookie of that name is the one that counts, here as in
	// tokenOf and in Kratos.
	c, err := r.Cookie(m.cookieName())
	if err != nil || strings.Contains(c.Value, ".") {
		return r
	}
	token, ok := m.decodeKratosCookie(c.Value)
	if !ok || len(token) > maxTokenLength {
		return r
	}
	s, _, err := m.activeForWhoami(r.Context(), m.Tokens.Candidates(token))
	if err != nil {
		if !errors.Is(err, ErrNoActiveSession) {
			// The handler sees no session this time; the browser keeps
			// its cookie and the next request tries again.
			httpx.Logger(r.Context()).Warn("could not look up the session of a Kratos session cookie", "error", err)
		}
		return r
	}
	httpx.Logger(r.Context()).Debug("re-issued a Kratos session cookie in Latchkey's format", "session_id", s.ID)
	value := m.encodeCookie(token, s.ExpiresAt)
	m.writeCookieValue(w, value, s.ExpiresAt)
	return withCookieValue(r, c.Name, c.Value, value)
}

// mayHoldKratosCookie reports whether a Cookie header line has a cookie
// name whose value has no '.'. Latchkey's values always contain one and
// base64url (Kratos's) never does, so only requests that cannot hold a
// Latchkey session cookie go on to the Kratos decoder; the others, which
// are most requests, cost one scan and no allocation.
func mayHoldKratosCookie(h http.Header, name string) bool {
	for _, line := range h["Cookie"] {
		for line != "" {
			var pair string
			pair, line, _ = strings.Cut(line, ";")
			v, ok := strings.CutPrefix(strings.TrimSpace(pair), name)
			if ok && strings.HasPrefix(v, "=") && !strings.Contains(v, ".") {
				return true
			}
		}
	}
	return false
}

// withCookieValue returns a copy of r whose Cookie header carries value
// instead of old for the cookie name, the other cookies exactly as they
// were sent.
func withCookieValue(r *http.Request, name, old, value string) *http.Request {
	r2 := r.Clone(r.Context())
	lines := r2.Header["Cookie"]
	for i, line := range lines {
		pairs := strings.Split(line, ";")
		for j, p := range pairs {
			if p := strings.TrimSpace(p); p != name+"="+old && p != name+`="`+old+`"` {
				continue
			}
			pairs[j] = name + "=" + value
			if j > 0 {
				pairs[j] = " " + pairs[j]
			}
			lines[i] = strings.Join(pairs, ";")
			return r2
		}
	}
	return r2
}
