package server

import (
	"fmt"
	"runtime"

	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/courier"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/password"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/sqlstore"
)

// Offline holds what commands that work on the database without serving
// (`latchkey import kratos`, `latchkey identities` without --endpoint)
// need, built from the configuration exactly as serve builds it: the same
// schemas, password hasher, token hash and cipher.
type Offline struct {
	Identities *identity.Service
	// Tokens hashes session tokens (secrets.default).
	Tokens secret.Hasher
	// Cipher seals second-factor secrets (secrets.cipher).
	Cipher *secret.Cipher
}

// NewOffline builds the offline parts over db.
func NewOffline(cfg *config.Config, db *sqlstore.DB) (*Offline, error) {
	hasher, err := newHasher(cfg)
	if err != nil {
		return nil, err
	}
	schemas, err := newSchemas(cfg)
	if err != nil {
		return nil, err
	}
	cipher, err := newCipher(cfg)
	if err != nil {
		return nil, err
	}
	templates, err := newTemplates(cfg)
	if err != nil {
		return nil, err
	}
	identities := identity.NewService(sqlstore.NewIdentityStore(db), schemas, hasher, nil)
	// A change made here (`latchkey identities patch`) is a security event
	// like one made through the admin API: recorded (actor "system") and,
	// where switched on, mailed about. The mail waits in the queue for a
	// serve or `courier watch` to deliver it.
	queue := courier.NewQueue(sqlstore.NewCourierStore(db, cipher), templates, nil)
	identities.Audit = &audit.Recorder{Store: sqlstore.NewAuditStore(db),
		Observers: []audit.Observer{newNotifier(cfg, identities, queue, nil)}}
	return &Offline{
		Identities: identities,
		Tokens:     tokenHasher(cfg),
		Cipher:     cipher,
	}, nil
}

func newHasher(cfg *config.Config) (*password.Hasher, error) {
	hashCfg := password.HashConfig{
		Algorithm:  cfg.Hashers.Algorithm,
		BcryptCost: cfg.Hashers.Bcrypt.Cost,
		Argon2: password.Argon2Params{
			Memory:      cfg.Hashers.Argon2.MemoryKiB(),
			Iterations:  uint32(cfg.Hashers.Argon2.Iterations),
			Parallelism: uint8(cfg.Hashers.Argon2.Parallelism),
			SaltLength:  uint32(cfg.Hashers.Argon2.SaltLength),
			KeyLength:   uint32(cfg.Hashers.Argon2.KeyLength),
		},
	}
	// One core stays free of password hashing so a login flood cannot
	// starve /sessions/whoami (docs/benchmarks.md).
	h, err := password.NewHasher(hashCfg, max(1, runtime.NumCPU()-1))
	if err != nil {
		return nil, fmt.Errorf("hashers: %w", err)
	}
	return h, nil
}

func newSchemas(cfg *config.Config) (*identity.Schemas, error) {
	var sources []identity.SchemaSource
	for _, sc := range cfg.Identity.Schemas {
		sources = append(sources, identity.SchemaSource{ID: sc.ID, URL: sc.URL})
	}
	s, err := identity.NewSchemas(sources, cfg.Identity.DefaultSchemaID)
	if err != nil {
		return nil, fmt.Errorf("identity.schemas: %w", err)
	}
	return s, nil
}

// tokenHasher hashes session tokens and codes with secrets.default.
func tokenHasher(cfg *config.Config) secret.Hasher {
	return secret.Hasher{Secrets: cfg.Secrets.DefaultKeys().VerificationSecrets()}
}

// newCipher seals mail content and second-factor secrets at rest with
// secrets.cipher (docs/courier.md, docs/second-factors.md).
func newCipher(cfg *config.Config) (*secret.Cipher, error) {
	c, err := secret.NewCipher(cfg.Secrets.CipherKeys().VerificationSecrets())
	if err != nil {
		return nil, fmt.Errorf("secrets.cipher: %w", err)
	}
	return c, nil
}
