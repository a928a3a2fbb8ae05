package identity_test

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"testing"

	ory "github.com/ory/client-go"

	"github.com/latchkey/latchkey/internal/server/servertest"
	"github.com/latchkey/latchkey/internal/sqlstore"
)

var totpURL = regexp.MustCompile(`^otpauth://totp/[^:]+:([0-9a-f-]{36})\?algorithm=SHA1&digits=6&issuer=[^&]+&period=30&secret=([A-Z2-7]{32})$`)

// TestAdminSecondFactorCredentials: the admin API lists second factors
// without their secrets, opens them on ?include_credential= into Kratos's
// shape, and deletes them with Kratos's rules; whoami sees a deletion at
// once.
func TestAdminSecondFactorCredentials(t *testing.T) {
	servertest.EachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		ctx := context.Background()
		f := newAdminServer(t, servertest.Options{Dialect: d})
		ident := f.mustCreate("mfa@example.test", "Correct-Horse-9")
		token := f.srv.MustNativeLogin(t, "mfa@example.test", "Correct-Horse-9")
		if !f.srv.SessionActive(t, token) {
			t.Fatal("aal1 session refused before any second factor")
		}
		secret := f.srv.MustEnrolTOTP(t, ident.Id)
		codes := f.srv.MustEnrolBackupCodes(t, ident.Id)

		t.Run("ListedWithoutSecrets", func(t *testing.T) {
			got, _, err := f.sdk.IdentityAPI.GetIdentity(ctx, ident.Id).Execute()
			if err != nil {
				t.Fatal(err, errBody(err))
			}
			creds := got.GetCredentials()
			for _, ct := range []string{"password", "totp", "lookup_secret"} {
				c, ok := creds[ct]
				if !ok || c.Config != nil {
					t.Fatalf("%s = %+v (present %v), want listed without config", ct, c, ok)
				}
			}
			if ids := creds["totp"].Identifiers; !slices.Equal(ids, []string{ident.Id}) {
				t.Fatalf("totp identifiers = %v", ids)
			}
		})

		t.Run("IncludeTOTP", func(t *testing.T) {
			got, _, err := f.sdk.IdentityAPI.GetIdentity(ctx, ident.Id).IncludeCredential([]string{"totp"}).Execute()
			if err != nil {
				t.Fatal(err, errBody(err))
			}
			creds := got.GetCredentials()
			u, _ := creds["totp"].Config["totp_url"].(string)
			m := totpURL.FindStringSubmatch(u)
			if m == nil || m[1] != ident.Id || m[2] != secret {
				t.Fatalf("totp_url = %q, want the enrolled secret %s", u, secret)
			}
			if creds["lookup_secret"].Config != nil || creds["password"].Config != nil {
				t.Fatalf("other configs shown: %+v", creds)
			}
		})

		t.Run("IncludeLookupSecret", func(t *testing.T) {
			got, _, err := f.sdk.IdentityAPI.GetIdentity(ctx, ident.Id).IncludeCredential([]string{"lookup_secret"}).Execute()
			if err != nil {
				t.Fatal(err, errBody(err))
			}
			raw, _ := json.Marshal(got.GetCredentials()["lookup_secret"].Config)
			var cfg struct {
				RecoveryCodes []map[string]any `json:"recovery_codes"`
			}
			if err := json.Unmarshal(raw, &cfg); err != nil || len(cfg.RecoveryCodes) != 12 {
				t.Fatalf("lookup_secret config = %s", raw)
			}
			for n, c := range cfg.RecoveryCodes {
				if c["code"] != codes[n] || c["used_at"] != nil || len(c) != 2 {
					t.Fatalf("code %d = %v, want %s unused", n, c, codes[n])
				}
			}
		})

		t.Run("ListIncludeTOTP", func(t *testing.T) {
			list, _, err := f.sdk.IdentityAPI.ListIdentities(ctx).IncludeCredential([]string{"totp"}).Execute()
			if err != nil || len(list) != 1 {
				t.Fatal(err, errBody(err), len(list))
			}
			if u, _ := list[0].GetCredentials()["totp"].Config["totp_url"].(string); totpURL.FindStringSubmatch(u) == nil {
				t.Fatalf("listed totp_url = %q", u)
			}
		})

		t.Run("IncludeUnknownType", func(t *testing.T) {
			for path, reason := range map[string]string{
				"/admin/identities/" + ident.Id + "?include_credential=bogus":                             "Invalid value `[]` for parameter `include_credential`.",
				"/admin/identities/" + ident.Id + "?include_credential=password&include_credential=bogus": "Invalid value `[password]` for parameter `include_credential`.",
				"/admin/identities?include_credential=bogus":                                              "Invalid value `bogus` for parameter `include_credential`.",
			} {
				status, body := f.do(http.MethodGet, path, "", "")
				if e := decodeError(t, body); status != http.StatusBadRequest || e.Error.Reason != reason {
					t.Fatalf("%s = %d %s", path, status, body)
				}
			}
		})

		t.Run("UpdateKeepsSecondFactors", func(t *testing.T) {
			before := f.srv.OpenCredential(t, ident.Id, "totp")
			_, _, err := f.sdk.IdentityAPI.UpdateIdentity(ctx, ident.Id).UpdateIdentityBody(ory.UpdateIdentityBody{
				SchemaId: "default", State: "active", Traits: map[string]any{"email": "mfa2@example.test"},
				Credentials: &ory.IdentityWithCredentials{Password: &ory.IdentityWithCredentialsPassword{
					Config: &ory.IdentityWithCredentialsPasswordConfig{Password: ory.PtrString("Correct-Horse-9")}}},
			}).Execute()
			if err != nil {
				t.Fatal(err, errBody(err))
			}
			_, _, err = f.sdk.IdentityAPI.PatchIdentity(ctx, ident.Id).JsonPatch([]ory.JsonPatch{
				{Op: "replace", Path: "/traits/email", Value: "mfa@example.test"}}).Execute()
			if err != nil {
				t.Fatal(err, errBody(err))
			}
			got := f.srv.MustGetIdentity(t, ident.Id)
			creds := got.GetCredentials()
			for _, ct := range []string{"totp", "lookup_secret"} {
				if !slices.Equal(creds[ct].Identifiers, []string{ident.Id}) {
					t.Fatalf("%s after PUT and PATCH = %+v", ct, creds[ct])
				}
			}
			if !slices.Equal(creds["password"].Identifiers, []string{"mfa@example.test"}) {
				t.Fatalf("password identifiers = %v", creds["password"].Identifiers)
			}
			if after := f.srv.OpenCredential(t, ident.Id, "totp"); string(after) != string(before) {
				t.Fatalf("totp config changed: %s → %s", before, after)
			}
		})

		t.Run("Delete", func(t *testing.T) {
			before := f.counts()
			for _, c := range []struct {
				id, ct string
				status int
				reason string
			}{
				{ident.Id, "password", 400, "You cannot remove the last first factor credential."},
				{ident.Id, "webauthn", 404, "You tried to remove a webauthn but this user have no webauthn set up."},
				{ident.Id, "bogus", 404, "You tried to remove a bogus but this user have no bogus set up."},
				{"8f7e3b6a-0000-4000-8000-000000000000", "totp", 404, "The requested identity does not exist."},
			} {
				resp, err := f.sdk.IdentityAPI.DeleteIdentityCredentials(ctx, c.id, c.ct).Execute()
				if err == nil || resp.StatusCode != c.status || decodeError(t, errBody(err)).Error.Reason != c.reason {
					t.Fatalf("delete %s of %s = %v %s", c.ct, c.id, err, errBody(err))
				}
			}
			if after := f.counts(); !mapsEqual(before, after) {
				t.Fatalf("refused deletions wrote: %v → %v", before, after)
			}
			if f.srv.SessionActive(t, token) {
				t.Fatal("whoami accepted an aal1 session of an identity with a second factor")
			}
			resp, err := f.sdk.IdentityAPI.DeleteIdentityCredentials(ctx, ident.Id, "totp").Execute()
			if err != nil || resp.StatusCode != http.StatusNoContent {
				t.Fatalf("delete totp = %v %s", err, errBody(err))
			}
			resp, err = f.sdk.IdentityAPI.DeleteIdentityCredentials(ctx, ident.Id, "totp").Execute()
			if err == nil || resp.StatusCode != http.StatusNotFound {
				t.Fatalf("delete totp again = %v", err)
			}
			if f.srv.SessionActive(t, token) {
				t.Fatal("backup codes left, yet whoami accepted an aal1 session")
			}
			if resp, err := f.sdk.IdentityAPI.DeleteIdentityCredentials(ctx, ident.Id, "lookup_secret").Execute(); err != nil || resp.StatusCode != http.StatusNoContent {
				t.Fatalf("delete lookup_secret = %v %s", err, errBody(err))
			}
			// No second factor is left: highest_available is aal1 now,
			// and the cached refusal is gone.
			if !f.srv.SessionActive(t, token) {
				t.Fatal("whoami still refuses the aal1 session after both factors were removed")
			}
			got := f.srv.MustGetIdentity(t, ident.Id)
			if creds := got.GetCredentials(); len(creds) != 1 || creds["password"].Identifiers[0] != "mfa@example.test" {
				t.Fatalf("credentials left = %+v", creds)
			}
			if n := f.srv.CountRows(t, "identity_credential_identifiers"); n != 1 {
				t.Fatalf("%d identifiers left, want the email only", n)
			}
		})

		t.Run("DeleteKeepsAAL2Sessions", func(t *testing.T) {
			token := f.srv.MustNativeLogin(t, "mfa@example.test", "Correct-Horse-9")
			who, _, err := f.srv.SDK(false).FrontendAPI.ToSession(ctx).XSessionToken(token).Execute()
			if err != nil {
				t.Fatal(err)
			}
			f.srv.MustRaiseToAAL2(t, who.Id)
			f.srv.MustEnrolTOTP(t, ident.Id)
			if resp, err := f.sdk.IdentityAPI.DeleteIdentityCredentials(ctx, ident.Id, "totp").Execute(); err != nil || resp.StatusCode != http.StatusNoContent {
				t.Fatalf("delete totp = %v %s", err, errBody(err))
			}
			who, _, err = f.srv.SDK(false).FrontendAPI.ToSession(ctx).XSessionToken(token).Execute()
			if err != nil || who.GetAuthenticatorAssuranceLevel() != ory.AUTHENTICATORASSURANCELEVEL_AAL2 {
				t.Fatalf("whoami after delete = %v %+v", err, who)
			}
		})
	})
}

func mapsEqual(a, b map[string]int) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return len(a) == len(b)
}
