package password

import (
	"crypto/md5"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"strconv"
	"strings"
)

// The crypt(3) schemes found in /etc/shadow and many older user
// databases: MD5-crypt (Poul-Henning Kamp's "$1$") and SHA-crypt (Ulrich
// Drepper's "$5$" and "$6$" specification). Kratos spells their prefixes
// $md5-crypt$, $sha256-crypt$ and $sha512-crypt$; both spellings are read.

// cryptAlphabet is crypt's base64 alphabet: "./" first, no padding.
const cryptAlphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

const (
	shaCryptDefaultRounds = 5000
	shaCryptMinRounds     = 1000
	// The specification allows 999,999,999 rounds, minutes of CPU per
	// login; refusing such hashes keeps one import from stalling the pool.
	shaCryptMaxRounds = 10_000_000
)

// cryptScheme describes one crypt(3) algorithm: its digest, the longest
// salt it reads, and the order in which digest bytes are encoded (groups
// of three bytes give four characters; tail gives the last characters,
// with -1 standing for a zero byte).
type cryptScheme struct {
	name    string
	magic   string // "$1$", "$5$", "$6$"
	newHash func() hash.Hash
	maxSalt int
	groups  [][3]int
	tail    [3]int
	tailLen int
}

var (
	md5Crypt = &cryptScheme{
		name: "md5-crypt", magic: "$1$", newHash: md5.New, maxSalt: 8,
		groups: [][3]int{{0, 6, 12}, {1, 7, 13}, {2, 8, 14}, {3, 9, 15}, {4, 10, 5}},
		tail:   [3]int{-1, -1, 11}, tailLen: 2,
	}
	sha256Crypt = &cryptScheme{
		name: "sha256-crypt", magic: "$5$", newHash: sha256.New, maxSalt: 16,
		groups: [][3]int{
			{0, 10, 20}, {21, 1, 11}, {12, 22, 2}, {3, 13, 23}, {24, 4, 14},
			{15, 25, 5}, {6, 16, 26}, {27, 7, 17}, {18, 28, 8}, {9, 19, 29},
		},
		tail: [3]int{-1, 31, 30}, tailLen: 3,
	}
	sha512Crypt = &cryptScheme{
		name: "sha512-crypt", magic: "$6$", newHash: sha512.New, maxSalt: 16,
		groups: [][3]int{
			{0, 21, 42}, {22, 43, 1}, {44, 2, 23}, {3, 24, 45}, {25, 46, 4},
			{47, 5, 26}, {6, 27, 48}, {28, 49, 7}, {50, 8, 29}, {9, 30, 51},
			{31, 52, 10}, {53, 11, 32}, {12, 33, 54}, {34, 55, 13}, {56, 14, 35},
			{15, 36, 57}, {37, 58, 16}, {59, 17, 38}, {18, 39, 60}, {40, 61, 19},
			{62, 20, 41},
		},
		tail: [3]int{-1, -1, 63}, tailLen: 2,
	}
)

// encodedLen is the length of the encoded digest.
func (s *cryptScheme) encodedLen() int { return 4*len(s.groups) + s.tailLen }

type cryptHash struct {
	scheme *cryptScheme
	rounds int // SHA-crypt only
	salt   []byte
	sum    []byte // encoded, as stored
}

func parseCrypt(encoded string) (storedHash, error) {
	var scheme *cryptScheme
	var rest string
	for _, s := range []*cryptScheme{md5Crypt, sha256Crypt, sha512Crypt} {
		r, ok := strings.CutPrefix(encoded, "$"+s.name+"$")
		if !ok {
			r, ok = strings.CutPrefix(encoded, s.magic)
		}
		if ok {
			scheme, rest = s, r
			break
		}
	}
	if scheme == nil {
		return nil, ErrUnknownHashFormat
	}
	h := cryptHash{scheme: scheme}
	fields := strings.Split(rest, "$")
	if scheme != md5Crypt && len(fields) == 3 {
		r, ok := strings.CutPrefix(fields[0], "rounds=")
		n, err := strconv.Atoi(r)
		if !ok || err != nil || n < 0 || n > shaCryptMaxRounds {
			return nil, malformed(scheme.name, "bad rounds")
		}
		// The specification clamps rather than rejects small values.
		h.rounds = max(n, shaCryptMinRounds)
		fields = fields[1:]
	} else if scheme != md5Crypt {
		h.rounds = shaCryptDefaultRounds
	}
	if len(fields) != 2 {
		return nil, malformed(scheme.name, "want "+scheme.magic+"salt$digest")
	}
	if len(fields[0]) > scheme.maxSalt {
		return nil, malformed(scheme.name, "salt too long")
	}
	if len(fields[1]) != scheme.encodedLen() || strings.Trim(fields[1], cryptAlphabet) != "" {
		return nil, malformed(scheme.name, "bad digest")
	}
	h.salt, h.sum = []byte(fields[0]), []byte(fields[1])
	return h, nil
}

func (h cryptHash) verify(plain []byte) (bool, error) {
	var sum []byte
	if h.scheme == md5Crypt {
		sum = md5CryptSum(plain, h.salt)
	} else {
		sum = shaCryptSum(h.scheme.newHash, plain, h.salt, h.rounds)
	}
	return equal(h.sum, h.scheme.encode(sum)), nil
}

// encode writes the digest in crypt's byte order and alphabet.
func (s *cryptScheme) encode(sum []byte) []byte {
	at := func(i int) uint32 {
		if i < 0 {
			return 0
		}
		return uint32(sum[i])
	}
	out := make([]byte, 0, s.encodedLen())
	put := func(g [3]int, n int) {
		w := at(g[0])<<16 | at(g[1])<<8 | at(g[2])
		for ; n > 0; n-- {
			out = append(out, cryptAlphabet[w&0x3f])
			w >>= 6
		}
	}
	for _, g := range s.groups {
		put(g, 4)
	}
	put(s.tail, s.tailLen)
	return out
}

// md5CryptSum is the MD5-crypt digest of password with salt.
func md5CryptSum(password, salt []byte) []byte {
	alt := digest(md5.New, password, salt, password)

	d := md5.New()
	d.Write(password)
	d.Write([]byte(md5Crypt.magic))
	d.Write(salt)
	d.Write(repeatTo(alt, len(password)))
	// Walks the bits of the length; the odd choice of bytes is the
	// algorithm's, kept for compatibility.
	for n := len(password); n > 0; n >>= 1 {
		if n&1 != 0 {
			d.Write([]byte{0})
		} else {
			d.Write(password[:1])
		}
	}
	return cryptRounds(md5.New, d.Sum(nil), password, salt, 1000)
}

// shaCryptSum is the SHA-crypt digest of password with salt and rounds.
func shaCryptSum(newHash func() hash.Hash, password, salt []byte, rounds int) []byte {
	b := digest(newHash, password, salt, password)

	d := newHash()
	d.Write(password)
	d.Write(salt)
	d.Write(repeatTo(b, len(password)))
	for n := len(password); n > 0; n >>= 1 {
		if n&1 != 0 {
			d.Write(b)
		} else {
			d.Write(password)
		}
	}
	a := d.Sum(nil)

	dp := newHash()
	for range len(password) {
		dp.Write(password)
	}
	p := repeatTo(dp.Sum(nil), len(password))

	ds := newHash()
	for range 16 + int(a[0]) {
		ds.Write(salt)
	}
	s := repeatTo(ds.Sum(nil), len(salt))

	return cryptRounds(newHash, a, p, s, rounds)
}

// cryptRounds is the stretching loop MD5-crypt and SHA-crypt share: each
// round hashes the previous sum with the password (p) and salt (s) bytes
// in an order set by the round number.
func cryptRounds(newHash func() hash.Hash, sum, p, s []byte, rounds int) []byte {
	for i := range rounds {
		d := newHash()
		if i&1 != 0 {
			d.Write(p)
		} else {
			d.Write(sum)
		}
		if i%3 != 0 {
			d.Write(s)
		}
		if i%7 != 0 {
			d.Write(p)
		}
		if i&1 != 0 {
			d.Write(sum)
		} else {
			d.Write(p)
		}
		sum = d.Sum(nil)
	}
	return sum
}

// digest hashes the concatenation of parts.
func digest(newHash func() hash.Hash, parts ...[]byte) []byte {
	d := newHash()
	for _, p := range parts {
		d.Write(p)
	}
	return d.Sum(nil)
}

// repeatTo repeats b until it is n bytes long.
func repeatTo(b []byte, n int) []byte {
	out := make([]byte, 0, n+len(b))
	for len(out) < n {
		out = append(out, b...)
	}
	return out[:n]
}
