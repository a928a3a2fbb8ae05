package server_test

import (
	"context"
	"testing"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

// TestNoUsableSecondFactorAtRest extends TestNoUsableSecretAtRest to what
// issue 13's admin endpoints and recovery step-up touch: an identity's
// TOTP key and backup codes (stored as the methods store them), shown by
// the admin API with include_credential, then a recovery that stops at
// the aal2 step-up. No key, code or otpauth URL may be readable anywhere.
func TestNoUsableSecondFactorAtRest(t *testing.T) {
	servertest.Each(t, servertest.Options{}, func(t *testing.T, srv *servertest.Server) {
		ctx := context.Background()
		secrets := map[string]string{}
		ident := srv.MustCreateIdentity(t, "factors-at-rest@example.test", "Passw0rd-Factors-At-Rest!")
		secret := srv.MustEnrolTOTP(t, ident.Id)
		secrets[secret] = "TOTP key"
		for _, c := range srv.MustEnrolBackupCodes(t, ident.Id) {
			secrets[c] = "backup code"
		}

		got, _, err := srv.SDK(false).IdentityAPI.GetIdentity(ctx, ident.Id).IncludeCredential([]string{"totp", "lookup_secret"}).Execute()
		if err != nil {
			t.Fatal(err, servertest.ErrorText(err))
		}
		totpURL, _ := got.GetCredentials()["totp"].Config["totp_url"].(string)
		if totpURL == "" {
			t.Fatal("the admin API did not open the TOTP credential")
		}
		secrets[totpURL] = "otpauth URL"

		rec := srv.MustRecover(t, ident.Id, "browser", "")
		if rec.SettingsFlowID == "" || rec.Cookie == nil {
			t.Fatalf("recovery step-up: %+v", rec)
		}
		secrets[rec.Token] = "recovery session token"
		scanForSecrets(t, srv, secrets)
	})
}
