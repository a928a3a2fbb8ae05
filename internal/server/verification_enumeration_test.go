package server_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

// TestVerificationRequestPathIsTheSameForEveryAddress: an email
// submission writes the same rows whether the address belongs to an
// account or not — the limits' counters, one internal message, the flow,
// the audit event — and neither a code nor a status change: with the
// courier off nothing else happens. An instance running the courier then
// mails the known address only and marks it sent.
func TestVerificationRequestPathIsTheSameForEveryAddress(t *testing.T) {
	opts := servertest.Options{Env: verificationOn, NoCourier: true}
	servertest.Each(t, opts, func(t *testing.T, front *servertest.Server) {
		const known, unknown = "known-path@example.test", "unknown-path@example.test"
		id := front.MustCreateIdentity(t, known, "Verify-Passw0rd!").Id
		ip := 60
		submit := func(email string) map[string]int {
			t.Helper()
			// Each from its own client address, so each starts its own
			// send counters, as a first request does.
			ip++
			sdk := front.SDKWith(front.HTTPClientFrom(fmt.Sprintf("127.0.0.%d", ip), false))
			f, res, err := sdk.FrontendAPI.CreateNativeVerificationFlow(context.Background()).Execute()
			mustStatus(t, res, err, http.StatusOK)
			before := front.CountAllRows(t)
			sent, res, err := verifyEmail(t, sdk, f.Id, email, "")
			mustStatus(t, res, err, http.StatusOK)
			if sent.State != "sent_email" {
				t.Fatalf("%s: state %v", email, sent.State)
			}
			return servertest.DiffRows(before, front.CountAllRows(t))
		}
		wroteKnown, wroteUnknown := submit(known), submit(unknown)
		if fmt.Sprint(wroteKnown) != fmt.Sprint(wroteUnknown) {
			t.Fatalf("known wrote %v, unknown wrote %v", wroteKnown, wroteUnknown)
		}
		if wroteKnown["courier_messages"] != 1 || wroteKnown["verification_codes"] != 0 {
			t.Fatalf("the request path wrote %v", wroteKnown)
		}
		if a := mustAddress(t, front, id); a.Status != "pending" {
			t.Fatalf("address %+v after the request path, want pending", a)
		}

		back := front.StartSharingDB(t, servertest.Options{Env: verificationOn})
		back.VerificationCode(t, known)
		if a := mustAddress(t, front, id); a.Status != "sent" {
			t.Fatalf("address %+v after the courier, want sent", a)
		}
		time.Sleep(300 * time.Millisecond) // the unknown request's turn has passed too
		if n := back.SMTP.CountTo(unknown); n != 0 {
			t.Fatalf("%d mails to the unknown address", n)
		}
	})
}
