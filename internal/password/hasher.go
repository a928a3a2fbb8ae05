package password

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Algorithms a Hasher makes new hashes with (config key hashers.algorithm).
const (
	AlgorithmBcrypt = "bcrypt"
	AlgorithmArgon2 = "argon2" // argon2id
)

// BcryptMaxLength is the number of password bytes bcrypt looks at; the
// rest would be silently ignored, so longer passwords are refused.
const BcryptMaxLength = 72

// Errors returned by Hasher.
var (
	// ErrPasswordTooLong is returned by Hash when bcrypt would ignore part
	// of the password. The policy reports it to users as message 4000033.
	ErrPasswordTooLong = errors.New("password: longer than the 72 bytes bcrypt uses")
	// ErrUnknownHashFormat is returned by Compare for a stored hash whose
	// format is not recognised.
	ErrUnknownHashFormat = errors.New("password: unknown hash format")
	// ErrMalformedHash is returned by Compare for a stored hash whose format
	// is recognised but whose parameters or encoding are broken.
	ErrMalformedHash = errors.New("password: malformed hash")
)

// Argon2Params are the argon2id parameters for new hashes.
type Argon2Params struct {
	Memory      uint32 // KiB, as golang.org/x/crypto/argon2 takes it
	Iterations  uint32
	Parallelism uint8
	SaltLength  uint32 // bytes
	KeyLength   uint32 // bytes
}

// HashConfig says how new password hashes are made. Zero fields take
// Kratos's defaults (see DefaultHashConfig).
type HashConfig struct {
	// Algorithm is AlgorithmBcrypt (the default) or AlgorithmArgon2.
	Algorithm string
	// BcryptCost is the bcrypt work factor, 4..31; default 12.
	BcryptCost int
	// Argon2 is used when Algorithm is AlgorithmArgon2.
	Argon2 Argon2Params
}

// DefaultHashConfig returns Kratos's defaults: bcrypt with cost 12, and for
// argon2id 128 MiB of memory, 1 iteration, parallelism twice the number of
// CPUs, a 16-byte salt and a 32-byte key.
func DefaultHashConfig() HashConfig {
	return HashConfig{}.withDefaults()
}

func (c HashConfig) withDefaults() HashConfig {
	if c.Algorithm == "" {
		c.Algorithm = AlgorithmBcrypt
	}
	if c.BcryptCost == 0 {
		c.BcryptCost = 12
	}
	a := &c.Argon2
	if a.Memory == 0 {
		a.Memory = 128 * 1024
	}
	if a.Iterations == 0 {
		a.Iterations = 1
	}
	if a.Parallelism == 0 {
		a.Parallelism = uint8(min(runtime.NumCPU()*2, 255))
	}
	if a.SaltLength == 0 {
		a.SaltLength = 16
	}
	if a.KeyLength == 0 {
		a.KeyLength = 32
	}
	return c
}

func (c HashConfig) validate() error {
	switch c.Algorithm {
	case AlgorithmBcrypt:
		if c.BcryptCost < bcrypt.MinCost || c.BcryptCost > bcrypt.MaxCost {
			return fmt.Errorf("password: bcrypt cost %d is outside %d..%d", c.BcryptCost, bcrypt.MinCost, bcrypt.MaxCost)
		}
	case AlgorithmArgon2:
		a := c.Argon2
		if a.Memory < 8*uint32(a.Parallelism) {
			return fmt.Errorf("password: argon2 memory %d KiB is below 8 KiB per lane (%d lanes)", a.Memory, a.Parallelism)
		}
		if a.SaltLength < 8 {
			return fmt.Errorf("password: argon2 salt length %d is below 8 bytes", a.SaltLength)
		}
		if a.KeyLength < 16 {
			return fmt.Errorf("password: argon2 key length %d is below 16 bytes", a.KeyLength)
		}
	default:
		return fmt.Errorf("password: unknown hash algorithm %q (want %q or %q)", c.Algorithm, AlgorithmBcrypt, AlgorithmArgon2)
	}
	return nil
}

// MaxPasswordLength is the longest password, in bytes, that the algorithm
// uses in full: BcryptMaxLength for bcrypt, 0 (no limit) for argon2. It is
// meant for PolicyConfig.MaxLength.
func (c HashConfig) MaxPasswordLength() int {
	if c.withDefaults().Algorithm == AlgorithmBcrypt {
		return BcryptMaxLength
	}
	return 0
}

// Hasher hashes and verifies passwords. All work runs in a pool of a fixed
// number of concurrent jobs; callers beyond that wait their turn or give
// up when their context ends. A Hasher is safe for concurrent use.
type Hasher struct {
	cfg  HashConfig
	pool chan struct{} // one token per running job

	dummyOnce sync.Once
	dummy     storedHash
	dummyErr  error
}

// NewHasher returns a Hasher making hashes as cfg says, running at most
// workers hashes or comparisons at a time (workers <= 0: one per CPU).
func NewHasher(cfg HashConfig, workers int) (*Hasher, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	return &Hasher{cfg: cfg, pool: make(chan struct{}, workers)}, nil
}

// Config returns the configuration with defaults filled in.
func (h *Hasher) Config() HashConfig { return h.cfg }

// Hash returns the encoded hash of plain: a bcrypt "$2a$" string or an
// argon2id PHC string "$argon2id$v=19$m=…,t=…,p=…$salt$key". With bcrypt,
// a password longer than 72 bytes gives ErrPasswordTooLong. It returns the
// context's error if ctx ends while waiting for the pool.
func (h *Hasher) Hash(ctx context.Context, plain []byte) (string, error) {
	if h.cfg.Algorithm == AlgorithmBcrypt && len(plain) > BcryptMaxLength {
		return "", ErrPasswordTooLong
	}
	var encoded string
	var err error
	if perr := h.run(ctx, func() { encoded, err = h.hash(plain) }); perr != nil {
		return "", perr
	}
	return encoded, err
}

func (h *Hasher) hash(plain []byte) (string, error) {
	if h.cfg.Algorithm == AlgorithmBcrypt {
		b, err := bcrypt.GenerateFromPassword(plain, h.cfg.BcryptCost)
		return string(b), err
	}
	a := h.cfg.Argon2
	salt := make([]byte, a.SaltLength)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password: reading salt: %w", err)
	}
	key := argon2.IDKey(plain, salt, a.Iterations, a.Memory, a.Parallelism, a.KeyLength)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		a.Memory, a.Iterations, a.Parallelism,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// Compare reports whether plain is the password encoded in encoded, which
// may be in any format IsKnownFormat accepts. A wrong password is
// (false, nil); an unusable stored hash is ErrUnknownHashFormat or
// ErrMalformedHash. Digests are compared in constant time. It returns the
// context's error if ctx ends while waiting for the pool.
func (h *Hasher) Compare(ctx context.Context, plain []byte, encoded string) (bool, error) {
	stored, err := parseHash(encoded)
	if err != nil {
		return false, err
	}
	var ok bool
	if perr := h.run(ctx, func() { ok, err = stored.verify(plain) }); perr != nil {
		return false, perr
	}
	return ok, err
}

// IsKnownFormat is the package function IsKnownFormat, as a method so that
// a Hasher alone satisfies the identity package's hasher interface.
func (h *Hasher) IsKnownFormat(encoded string) bool { return IsKnownFormat(encoded) }

// CompareDummy does the work of Compare against a hash made with the
// configured algorithm and parameters, and always reports false. Login
// calls it when no identity matches, so that an unknown identifier takes
// as long to reject as a wrong password.
func (h *Hasher) CompareDummy(ctx context.Context, plain []byte) (bool, error) {
	var err error
	perr := h.run(ctx, func() {
		h.dummyOnce.Do(h.makeDummy)
		if h.dummyErr != nil {
			err = h.dummyErr
			return
		}
		// The dummy's password is random and never leaves this process,
		// but the result is discarded anyway: this must never log anyone in.
		_, err = h.dummy.verify(plain)
	})
	if perr != nil {
		return false, perr
	}
	return false, err
}

func (h *Hasher) makeDummy() {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		h.dummyErr = fmt.Errorf("password: reading dummy password: %w", err)
		return
	}
	encoded, err := h.hash([]byte(base64.RawStdEncoding.EncodeToString(secret)))
	if err != nil {
		h.dummyErr = err
		return
	}
	h.dummy, h.dummyErr = parseHash(encoded)
}

// NeedsRehash reports whether encoded was not made with the configured
// algorithm and parameters, so that it should be replaced by a fresh hash
// after the password was verified (on login). Hashes in other formats,
// bcrypt hashes of another cost and argon2id hashes with other memory,
// iterations, parallelism, salt or key length all need a rehash.
func (h *Hasher) NeedsRehash(encoded string) bool {
	stored, err := parseHash(encoded)
	if err != nil {
		return true
	}
	switch s := stored.(type) {
	case bcryptHash:
		return h.cfg.Algorithm != AlgorithmBcrypt || s.cost != h.cfg.BcryptCost
	case argon2Hash:
		a := h.cfg.Argon2
		return h.cfg.Algorithm != AlgorithmArgon2 || !s.id ||
			s.memory != a.Memory || s.iterations != a.Iterations || s.parallelism != a.Parallelism ||
			len(s.salt) != int(a.SaltLength) || len(s.key) != int(a.KeyLength)
	}
	return true
}

// run runs fn once a pool slot is free. It gives up, without running fn,
// when ctx ends first. fn itself is not interruptible: hashing is short
// compared to the wait it replaces.
func (h *Hasher) run(ctx context.Context, fn func()) error {
	// A ctx that has already ended must lose even when a slot is free;
	// select alone would pick at random.
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case h.pool <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-h.pool }()
	fn()
	return nil
}
