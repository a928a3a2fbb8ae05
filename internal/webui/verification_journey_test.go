package webui_test

import (
	"context"
	"strings"
	"testing"
)

// TestBrowserVerification: Ivy asks the verification page for a code,
// opens the link in the mail (it fills the code in and verifies nothing
// yet), confirms, and her address is verified.
func TestBrowserVerification(t *testing.T) {
	chromiumPath(t)
	lk := MustLatchkey(t, "SELFSERVICE_FLOWS_VERIFICATION_ENABLED=true")
	b := MustBrowser(t)
	email := newEmail("ivy")
	id := lk.MustIdentity(t, email, "Copper-Lantern-Ferry-48")
	verified := func() bool {
		ident, _, err := lk.Admin.IdentityAPI.GetIdentity(context.Background(), id).Execute()
		if err != nil {
			t.Fatalf("get identity: %v", err)
		}
		return ident.VerifiableAddresses[0].Verified
	}

	b.open(lk.Public + "ui/verification")
	b.expectPath("/ui/verification?flow=")
	b.expectText("Verify your email address")
	b.fill(`input[name="email"]`, email)
	b.click(`button[name="method"][value="code"]`)
	b.expectText("An email containing a verification code has been sent")
	b.screenshot("verification-code")

	var link string
	for _, l := range b.mailLinks(lk.Public, email, "Please verify your email address") {
		if strings.Contains(l, "/self-service/verification?code=") {
			link = l
		}
	}
	if link == "" {
		t.Fatal("no verification link in the mail")
	}
	b.open(link)
	b.expectPath("/ui/verification?flow=")
	if v := eval[string](b, `document.querySelector('input[name="code"]').value`); len(v) != 6 {
		t.Fatalf("code input %q, want the mailed code filled in", v)
	}
	if verified() {
		t.Fatal("opening the link verified the address")
	}
	b.click(`button[name="method"][value="code"]`)
	b.expectText("You successfully verified your email address.")
	b.screenshot("verification-done")
	if !verified() {
		t.Fatal("the address is not verified after the code")
	}
}

// TestBrowserSignUpThenVerify is issue 14's journey: sign up in two steps
// (profile_first), land on the verification page the show_verification_ui
// hook names, take the code from the mailbox, and the address is verified.
func TestBrowserSignUpThenVerify(t *testing.T) {
	chromiumPath(t)
	lk := MustLatchkey(t, "SELFSERVICE_FLOWS_VERIFICATION_ENABLED=true",
		`SELFSERVICE_FLOWS_REGISTRATION_AFTER_PASSWORD_HOOKS=[{"hook":"show_verification_ui"},{"hook":"session"}]`)
	b := MustBrowser(t)
	email := newEmail("noor")

	b.open(lk.Public + "ui/registration")
	b.expectPath("/ui/registration?flow=")
	b.signUp(email, "Amber-Thistle-Compass-62")
	b.expectPath("/ui/verification?flow=")
	b.expectText("An email containing a verification code has been sent")
	verifyPage := b.location()

	codes, _ := b.readMailbox(lk.Public, email)
	if len(codes) != 1 {
		t.Fatalf("codes in the verification mail: %q", codes)
	}
	b.open(verifyPage)
	b.fill(`input[name="code"]`, codes[0])
	b.click(`button[name="method"][value="code"]`)
	b.expectText("You successfully verified your email address.")

	list, _, err := lk.Admin.IdentityAPI.ListIdentities(context.Background()).CredentialsIdentifier(email).Execute()
	if err != nil || len(list) != 1 {
		t.Fatalf("list identities: %v %d", err, len(list))
	}
	if a := list[0].VerifiableAddresses[0]; !a.Verified || a.Status != "completed" {
		t.Fatalf("address after verification: %+v", a)
	}
}

// TestBrowserVerificationLink: with use: link, Ivy asks for a link, opens
// it from the mailbox (a confirm page: nothing is verified yet), presses
// its button and lands on the verification page, verified.
func TestBrowserVerificationLink(t *testing.T) {
	chromiumPath(t)
	lk := MustLatchkey(t, "SELFSERVICE_FLOWS_VERIFICATION_ENABLED=true", "SELFSERVICE_FLOWS_VERIFICATION_USE=link", "SELFSERVICE_METHODS_LINK_ENABLED=true")
	b := MustBrowser(t)
	email := newEmail("ivy-link")
	id := lk.MustIdentity(t, email, "Copper-Lantern-Ferry-48")
	verified := func() bool {
		ident, _, err := lk.Admin.IdentityAPI.GetIdentity(context.Background(), id).Execute()
		if err != nil {
			t.Fatalf("get identity: %v", err)
		}
		return ident.VerifiableAddresses[0].Verified
	}

	b.open(lk.Public + "ui/verification")
	b.expectPath("/ui/verification?flow=")
	b.fill(`input[name="email"]`, email)
	b.click(`button[name="method"][value="link"]`)
	b.expectText("An email containing a verification link has been sent")

	var link string
	for _, l := range b.mailLinks(lk.Public, email, "Please verify your email address") {
		if strings.Contains(l, "/self-service/verification?flow=") && strings.Contains(l, "token=") {
			link = l
		}
	}
	if link == "" {
		t.Fatal("no verification link in the mail")
	}
	b.open(link)
	b.expectText("Confirm that you want to verify your email address with this link.")
	if verified() {
		t.Fatal("opening the link verified the address")
	}
	b.screenshot("verification-link-confirm")
	b.click(`button[name="method"][value="link"]`)
	b.expectPath("/ui/verification?flow=")
	b.expectText("You successfully verified your email address.")
	if !verified() {
		t.Fatal("the address is not verified after the link")
	}
}
