package webui_test

import (
	"encoding/base64"
	"encoding/json"
	"testing"

	ory "github.com/ory/client-go"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

// socialEnv configures the provider "mock" (label Mock) at op.
func socialEnv(op *servertest.OpenIDProvider) []string {
	mapper := `local claims = std.extVar('claims'); { identity: { traits: { email: claims.email } } }`
	providers, _ := json.Marshal([]map[string]any{{
		"id": "mock", "provider": "generic", "label": "Mock",
		"client_id": op.ClientID, "client_secret": op.ClientSecret, "issuer_url": op.Issuer(),
		"scope": []string{"email"}, "mapper_url": "base64://" + base64.StdEncoding.EncodeToString([]byte(mapper)),
	}})
	return []string{"SELFSERVICE_METHODS_OIDC_ENABLED=true", "SELFSERVICE_METHODS_OIDC_CONFIG_PROVIDERS=" + string(providers)}
}

// TestBrowserSocialLinkAfterRecovery is the seed's journey in Chromium:
// recover by code, link a provider on the settings page, log out, sign
// in with the provider into the same account; then sign up with it.
func TestBrowserSocialLinkAfterRecovery(t *testing.T) {
	chromiumPath(t)
	op := servertest.StartOpenIDProvider(t)
	lk := MustLatchkey(t, socialEnv(op)...)
	b := MustBrowser(t)
	email := newEmail("rosa")
	ident, _, err := lk.Admin.IdentityAPI.CreateIdentity(t.Context()).CreateIdentityBody(ory.CreateIdentityBody{
		SchemaId: "default", Traits: map[string]any{"email": email},
		Credentials: &ory.IdentityWithCredentials{Password: &ory.IdentityWithCredentialsPassword{
			Config: &ory.IdentityWithCredentialsPasswordConfig{Password: ory.PtrString("Correct-Horse-Battery-17")}}},
	}).Execute()
	if err != nil {
		t.Fatal(err)
	}
	op.SetUser("rosa-at-mock", "rosa.personal@example.test", true, nil)

	b.recoverByCode(lk.Public, email)
	b.expectPath("/ui/settings?flow=")
	b.expectText("Link Mock")
	b.click(`button[name="link"][value="mock"]`)
	b.expectPath("/ui/settings?flow=")
	b.expectText("Your changes have been saved!", "Unlink Mock")
	b.screenshot("settings-social-linked")

	b.logOut(lk.Public)
	b.expectText("Sign in with Mock")
	b.click(`button[name="provider"][value="mock"]`)
	b.open(lk.Public + "ui/welcome")
	b.expectPath("/ui/welcome")
	b.expectText(email)
	_ = ident

	// A new account signs up with the provider on the first screen.
	b.logOut(lk.Public)
	other := newEmail("sol")
	op.SetUser("sol-at-mock", other, true, nil)
	b.open(lk.Public + "ui/registration")
	b.expectText("Sign up with Mock")
	b.click(`button[name="provider"][value="mock"]`)
	b.open(lk.Public + "ui/welcome")
	b.expectText(other)
}
