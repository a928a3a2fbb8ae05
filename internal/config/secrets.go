package config

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"unicode/utf8"
)

// devSecretsFile is the file in the data dir that keeps development
// secrets across restarts, so sessions and codes survive them.
const devSecretsFile = "latchkey-secrets.json"

// devSecrets is the content of devSecretsFile.
type devSecrets struct {
	Default []string `json:"default"`
}

// prepareDev does development mode's side effects, once the configuration
// is otherwise valid: the data dir exists and secrets.default is set.
func (l *loader) prepareDev(c *Config, opts LoadOptions) {
	if !c.Dev {
		return
	}
	dir := dataDir(opts)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		l.errs = append(l.errs, fmt.Errorf("config: data dir: %w", err))
		return
	}
	if len(c.Secrets.Default) > 0 {
		return
	}
	path := filepath.Join(dir, devSecretsFile)
	secrets, created, err := loadOrCreateDevSecrets(path)
	if err != nil {
		l.fail("secrets.default", "not set, and development secrets in %s are unusable: %v", path, err)
		return
	}
	c.Secrets.Default = secrets
	if created {
		l.warn("secrets.default", "not set; generated development secrets in %s", path)
	} else {
		l.warn("secrets.default", "not set; using development secrets from %s", path)
	}
}

// loadOrCreateDevSecrets reads the secrets file, or creates it with one
// fresh secret (32 random bytes, hex) readable only by the owner. The file
// is written under a temporary name and hard-linked into place, so two
// processes starting at once agree on one secret and neither reads a
// half-written file.
func loadOrCreateDevSecrets(path string) ([]string, bool, error) {
	if s, err := readDevSecrets(path); !errors.Is(err, fs.ErrNotExist) {
		return s, false, err
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, false, err
	}
	secret := hex.EncodeToString(raw)
	body, err := json.MarshalIndent(devSecrets{Default: []string{secret}}, "", "  ")
	if err != nil {
		return nil, false, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".latchkey-secrets-*") // mode 0600
	if err != nil {
		return nil, false, err
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.Write(append(body, '\n'))
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return nil, false, werr
	}
	if err := os.Link(tmp.Name(), path); errors.Is(err, fs.ErrExist) {
		s, err := readDevSecrets(path)
		return s, false, err
	} else if err != nil {
		return nil, false, err
	}
	return []string{secret}, true, nil
}

func readDevSecrets(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s devSecrets
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	if len(s.Default) == 0 {
		return nil, errors.New(`no "default" secrets`)
	}
	for _, secret := range s.Default {
		if utf8.RuneCountInString(secret) < minSecretLength {
			return nil, fmt.Errorf("a secret is shorter than %d characters", minSecretLength)
		}
	}
	return s.Default, nil
}
