package kratosimport_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	ory "github.com/ory/client-go"

	"github.com/latchkey/latchkey/internal/kratosimport"
	"github.com/latchkey/latchkey/internal/server/servertest"
	"github.com/latchkey/latchkey/internal/sqlstore"
)

// TestImportKratosFixtures imports each database the real Kratos v26.2.0
// wrote and checks, through the official SDK, that every user goes on as
// before: the same password signs in, every live session token answers
// whoami as it did on Kratos and the revoked one does not, verified
// addresses stay verified, and TOTP and backup codes work.
func TestImportKratosFixtures(t *testing.T) {
	m := loadManifest(t)
	servertest.EachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		backend := string(d)
		fx := m.Backends[backend].Identities
		if len(fx) == 0 {
			t.Fatalf("manifest has no identities for %s", backend)
		}
		srv := startLatchkey(t, d, m, backend)
		from := kratosDSN(t, d)

		rep := mustImport(t, srv, from, kratosimport.Options{})
		if rep.Created != 13 || rep.Skipped != 0 || len(rep.Problems) != 0 {
			t.Fatalf("report: created %d, skipped %d, problems %v; want 13 created and nothing else", rep.Created, rep.Skipped, rep.Problems)
		}
		if rep.Sessions != 11 || rep.SessionsRevoked != 1 {
			t.Fatalf("sessions: imported %d, revoked %d; want 11 and 1", rep.Sessions, rep.SessionsRevoked)
		}

		ctx := context.Background()
		sdk := srv.SDK(false)
		for _, fi := range fx {
			t.Run(fi.Key, func(t *testing.T) {
				checkIdentity(t, srv, fi)
				checkSessions(t, srv, fi)
				checkPassword(t, srv, fi)
				checkSecondFactors(t, srv, fi)
			})
		}

		t.Run("SecretsAreNotAtRest", func(t *testing.T) {
			for _, fi := range fx {
				for _, s := range fi.Sessions {
					if n := countRows(t, srv, `SELECT COUNT(*) FROM sessions WHERE token_hash = ?`, s.Token); n != 0 {
						t.Errorf("session token of %s stored raw", fi.Key)
					}
				}
				if fi.TOTPSecret != nil {
					if n := countRows(t, srv, `SELECT COUNT(*) FROM identity_credentials WHERE config LIKE ?`, "%"+*fi.TOTPSecret+"%"); n != 0 {
						t.Errorf("TOTP secret of %s stored readable", fi.Key)
					}
				}
				for _, code := range fi.LookupUnused {
					if n := countRows(t, srv, `SELECT COUNT(*) FROM identity_credentials WHERE config LIKE ?`, "%"+code+"%"); n != 0 {
						t.Errorf("backup code of %s stored readable", fi.Key)
					}
				}
			}
		})

		t.Run("RunningAgainChangesNothing", func(t *testing.T) {
			again := mustImport(t, srv, from, kratosimport.Options{})
			if again.Created != 0 || again.Updated != 0 || again.Skipped != 0 {
				t.Errorf("second run: created %d, updated %d, skipped %d; want all unchanged", again.Created, again.Updated, again.Skipped)
			}
			if n := srv.CountRows(t, "identities"); n != 13 {
				t.Errorf("identities after a second run: %d, want 13", n)
			}
			if n := srv.CountRows(t, "sessions"); n < 11 {
				t.Errorf("sessions after a second run: %d, want at least the 11 imported", n)
			}
		})

		t.Run("ChangedInLatchkeyIsKept", func(t *testing.T) {
			// greta's scrypt hash became bcrypt at her login above: a new
			// import must not bring the old hash back.
			greta := byKey(t, fx, "greta")
			before := srv.HashedPassword(t, greta.ID)
			if !strings.HasPrefix(before, "$2a$") {
				t.Fatalf("greta's hash after login: %.8s…, want it upgraded to bcrypt", before)
			}
			again := mustImport(t, srv, from, kratosimport.Options{})
			if again.Kept == 0 {
				t.Errorf("no identity reported as kept")
			}
			if after := srv.HashedPassword(t, greta.ID); after != before {
				t.Errorf("greta's upgraded hash was replaced by the import")
			}
		})

		t.Run("AdminSeesSocialSignInLinks", func(t *testing.T) {
			kai := byKey(t, fx, "kai")
			got, _, err := srv.SDK(false).IdentityAPI.GetIdentity(ctx, kai.ID).IncludeCredential([]string{"oidc"}).Execute()
			if err != nil {
				t.Fatal(err)
			}
			oidc := got.GetCredentials()["oidc"]
			want := kai.OIDCProviders[0].Provider + ":" + kai.OIDCProviders[0].Subject
			if ids := oidc.GetIdentifiers(); len(ids) != 1 || ids[0] != want {
				t.Errorf("oidc identifiers %v, want [%s]", ids, want)
			}
			raw, _ := json.Marshal(oidc.GetConfig())
			if strings.Contains(string(raw), "initial_") {
				t.Errorf("oidc config keeps Kratos's sealed provider tokens: %s", raw)
			}
		})
		_ = sdk
	})
}

func checkIdentity(t *testing.T, srv *servertest.Server, fi fixtureIdentity) {
	t.Helper()
	got, res, err := srv.SDK(false).IdentityAPI.GetIdentity(context.Background(), fi.ID).Execute()
	if err != nil {
		t.Fatalf("get identity: %v (%v)", err, res)
	}
	if string(got.GetState()) != fi.State {
		t.Errorf("state %s, want %s", got.GetState(), fi.State)
	}
	assertJSONEqual(t, "traits", got.Traits, fi.Traits)
	assertJSONEqual(t, "metadata_public", got.MetadataPublic, fi.MetadataPublic)
	if len(fi.MetadataAdmin) > 0 && string(fi.MetadataAdmin) != "null" {
		assertJSONEqual(t, "metadata_admin", got.MetadataAdmin, fi.MetadataAdmin)
	}
	if fi.ExternalID != nil && got.GetExternalId() != *fi.ExternalID {
		t.Errorf("external_id %q, want %q", got.GetExternalId(), *fi.ExternalID)
	}
	if len(got.VerifiableAddresses) != len(fi.VerifiableAddresses) {
		t.Fatalf("%d verifiable addresses, want %d", len(got.VerifiableAddresses), len(fi.VerifiableAddresses))
	}
	for k, want := range fi.VerifiableAddresses {
		a := got.VerifiableAddresses[k]
		if a.Value != want.Value || a.Verified != want.Verified || a.Status != want.Status {
			t.Errorf("verifiable address %s verified=%v status=%s, want %s %v %s", a.Value, a.Verified, a.Status, want.Value, want.Verified, want.Status)
		}
		if want.Verified && a.VerifiedAt == nil {
			t.Errorf("verified address %s lost verified_at", a.Value)
		}
	}
}

func checkSessions(t *testing.T, srv *servertest.Server, fi fixtureIdentity) {
	t.Helper()
	for _, s := range fi.Sessions {
		want := s.WhoamiStatus
		if want == 0 { // the browser session: recorded with its cookie
			want = http.StatusOK
		}
		if !s.Active {
			want = http.StatusUnauthorized
		}
		ws, res, err := srv.SDK(false).FrontendAPI.ToSession(context.Background()).XSessionToken(s.Token).Execute()
		if res == nil {
			t.Fatalf("whoami: %v", err)
		}
		if res.StatusCode != want {
			t.Errorf("whoami with session %s: %d, want %d (%s)", s.ID, res.StatusCode, want, servertest.ErrorText(err))
			continue
		}
		if want == http.StatusOK && (ws.Id != s.ID || ws.GetAuthenticatorAssuranceLevel() != ory.AuthenticatorAssuranceLevel(s.AAL)) {
			t.Errorf("whoami: session %s at %s, want %s at %s", ws.Id, ws.GetAuthenticatorAssuranceLevel(), s.ID, s.AAL)
		}
	}
}

// checkPassword signs in with the manifest's password: it works for
// active identities, and a hash Kratos imported in another format is
// upgraded to the configured one by that first login.
func checkPassword(t *testing.T, srv *servertest.Server, fi fixtureIdentity) {
	t.Helper()
	if fi.Password == nil {
		return
	}
	ctx := context.Background()
	sdk := srv.SDK(false)
	f, _, err := sdk.FrontendAPI.CreateNativeLoginFlow(ctx).Execute()
	if err != nil {
		t.Fatal(err)
	}
	ok, res, err := sdk.FrontendAPI.UpdateLoginFlow(ctx).Flow(f.Id).UpdateLoginFlowBody(
		ory.UpdateLoginFlowWithPasswordMethodAsUpdateLoginFlowBody(ory.NewUpdateLoginFlowWithPasswordMethod(fi.Email, "password", *fi.Password))).Execute()
	if fi.State != "active" {
		if err == nil {
			t.Fatalf("an inactive identity signed in")
		}
		return
	}
	if err != nil {
		t.Fatalf("login with the Kratos password (%v): %v %s", fi.HashFormat, res.Status, servertest.ErrorText(err))
	}
	// A session still short of aal2 carries no identity (as in Kratos).
	if got := ok.Session.GetIdentity(); got.Id != "" && got.Id != fi.ID {
		t.Errorf("login gave identity %q, want %s", got.Id, fi.ID)
	}
	if h := srv.HashedPassword(t, fi.ID); !strings.HasPrefix(h, "$2a$") {
		t.Errorf("hash after login %.10s…, want it upgraded to bcrypt", h)
	}
}

func checkSecondFactors(t *testing.T, srv *servertest.Server, fi fixtureIdentity) {
	t.Helper()
	if fi.Password == nil || (fi.TOTPSecret == nil && len(fi.LookupUnused) == 0) {
		return
	}
	if fi.TOTPSecret != nil {
		token := srv.MustNativeLogin(t, fi.Email, *fi.Password)
		b := ory.NewUpdateLoginFlowWithTotpMethod("totp", srv.TOTPCode(t, *fi.TOTPSecret))
		if status := secondStep(t, srv, token, ory.UpdateLoginFlowWithTotpMethodAsUpdateLoginFlowBody(b)); status != http.StatusOK {
			t.Errorf("aal2 with the Kratos TOTP secret: %d, want 200", status)
		}
	}
	if len(fi.LookupUnused) > 0 {
		token := srv.MustNativeLogin(t, fi.Email, *fi.Password)
		used := ory.NewUpdateLoginFlowWithLookupSecretMethod(fi.LookupUsed[0].Code, "lookup_secret")
		if status := secondStep(t, srv, token, ory.UpdateLoginFlowWithLookupSecretMethodAsUpdateLoginFlowBody(used)); status == http.StatusOK {
			t.Errorf("a backup code spent on Kratos worked again")
		}
		unused := ory.NewUpdateLoginFlowWithLookupSecretMethod(fi.LookupUnused[0], "lookup_secret")
		if status := secondStep(t, srv, token, ory.UpdateLoginFlowWithLookupSecretMethodAsUpdateLoginFlowBody(unused)); status != http.StatusOK {
			t.Errorf("aal2 with an unused Kratos backup code: %d, want 200", status)
		}
	}
}

// secondStep submits body to a new aal2 login flow of the session token.
func secondStep(t *testing.T, srv *servertest.Server, token string, body ory.UpdateLoginFlowBody) int {
	t.Helper()
	ctx := context.Background()
	sdk := srv.SDK(false)
	f, _, err := sdk.FrontendAPI.CreateNativeLoginFlow(ctx).Aal("aal2").XSessionToken(token).Execute()
	if err != nil {
		t.Fatalf("aal2 login flow: %v %s", err, servertest.ErrorText(err))
	}
	_, res, err := sdk.FrontendAPI.UpdateLoginFlow(ctx).Flow(f.Id).XSessionToken(token).UpdateLoginFlowBody(body).Execute()
	if res == nil {
		t.Fatalf("second step: %v", err)
	}
	return res.StatusCode
}

func byKey(t *testing.T, fx []fixtureIdentity, key string) fixtureIdentity {
	t.Helper()
	for _, fi := range fx {
		if fi.Key == key {
			return fi
		}
	}
	t.Fatalf("no %s in the manifest", key)
	return fixtureIdentity{}
}

func assertJSONEqual(t *testing.T, what string, got any, want json.RawMessage) {
	t.Helper()
	if len(want) == 0 || string(want) == "null" {
		if got != nil {
			if b, _ := json.Marshal(got); string(b) != "null" && string(b) != "{}" {
				t.Errorf("%s %s, want none", what, b)
			}
		}
		return
	}
	gb, _ := json.Marshal(got)
	var g, w any
	_ = json.Unmarshal(gb, &g)
	_ = json.Unmarshal(want, &w)
	gj, _ := json.Marshal(g)
	wj, _ := json.Marshal(w)
	if string(gj) != string(wj) {
		t.Errorf("%s %s, want %s", what, gj, wj)
	}
}

func countRows(t *testing.T, srv *servertest.Server, query string, args ...any) int {
	t.Helper()
	var n int
	if err := srv.DB.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}
