package servertest

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/pquerna/otp/totp"

	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/internal/sqlstore"
)

// MustEnrolTOTP gives the identity a TOTP credential, stored as the totp
// method stores it (Kratos's {"totp_url":…} sealed with secrets.cipher,
// identifiers [identity id]), and returns the base32 secret.
func (s *Server) MustEnrolTOTP(t testing.TB, identityID string) string {
	t.Helper()
	key, err := totp.Generate(totp.GenerateOpts{Issuer: s.Config.TOTPIssuer(), AccountName: identityID, SecretSize: 20})
	if err != nil {
		t.Fatal(err)
	}
	s.mustPutSealed(t, identityID, identity.CredentialTOTP, map[string]any{"totp_url": key.URL()})
	return key.Secret()
}

// TOTPCode is the code of secret for the server's clock now.
func (s *Server) TOTPCode(t testing.TB, secret string) string {
	t.Helper()
	code, err := totp.GenerateCode(secret, s.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// BackupCode is one backup code as Kratos keeps it.
type BackupCode struct {
	Code   string     `json:"code"`
	UsedAt *time.Time `json:"used_at"`
}

// MustEnrolBackupCodes gives the identity twelve unused backup codes
// (lookup_secret, {"recovery_codes":[{code, used_at}]} sealed) and returns
// them.
func (s *Server) MustEnrolBackupCodes(t testing.TB, identityID string) []string {
	t.Helper()
	codes := make([]string, 12)
	stored := make([]BackupCode, 12)
	for i := range codes {
		codes[i] = strings.ToLower(secret.RandomAlphanumeric(8))
		stored[i] = BackupCode{Code: codes[i]}
	}
	s.mustPutSealed(t, identityID, identity.CredentialLookupSecret, map[string]any{"recovery_codes": stored})
	return codes
}

// Cipher is the server's secrets.cipher sealer (the same keys it uses).
func (s *Server) Cipher(t testing.TB) *secret.Cipher {
	t.Helper()
	c, err := secret.NewCipher(s.Config.Secrets.CipherKeys().VerificationSecrets())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// OpenCredential is the Kratos-shaped config of the identity's credential
// of type ct, opened with the server's cipher.
func (s *Server) OpenCredential(t testing.TB, identityID string, ct identity.CredentialType) json.RawMessage {
	t.Helper()
	id := uuid.MustParse(identityID)
	var stored string
	if err := s.DB.QueryRow(context.Background(), `SELECT config FROM identity_credentials WHERE identity_id = ? AND type = ?`,
		id.String(), string(ct)).Scan(&stored); err != nil {
		t.Fatalf("%s credential of %s: %v", ct, identityID, err)
	}
	config, _, err := identity.OpenConfig(s.Cipher(t), id, ct, json.RawMessage(stored))
	if err != nil {
		t.Fatal(err)
	}
	return config
}

func (s *Server) mustPutSealed(t testing.TB, identityID string, ct identity.CredentialType, config any) {
	t.Helper()
	id := uuid.MustParse(identityID)
	plain, err := json.Marshal(config)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := identity.SealConfig(s.Cipher(t), id, ct, plain, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := s.Clock.Now()
	err = sqlstore.NewIdentityStore(s.DB).PutCredential(context.Background(), id, identity.Credential{
		Type: ct, Identifiers: []string{identityID}, Config: sealed, Version: 0, CreatedAt: now, UpdatedAt: now,
	})
	if err != nil {
		t.Fatalf("enrol %s for %s: %v", ct, identityID, err)
	}
}

// MustRaiseToAAL2 records a completed TOTP step on session id as the
// totp login method does (through the session store, so cached whoami
// answers are dropped), for tests that need an aal2 session without
// that method.
func (s *Server) MustRaiseToAAL2(t testing.TB, id string) {
	t.Helper()
	ctx := context.Background()
	store := sqlstore.NewSessionStore(s.DB)
	ss, err := store.GetSession(ctx, uuid.MustParse(id))
	if err != nil {
		t.Fatal(err)
	}
	ss.AuthenticationMethods = append(ss.AuthenticationMethods, session.AuthMethod{Method: "totp", AAL: session.AAL2, CompletedAt: s.Clock.Now()})
	ss.AAL = session.ComputeAAL(ss.AuthenticationMethods)
	if err := store.UpdateSession(ctx, ss); err != nil {
		t.Fatal(err)
	}
}
