package courier_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/courier"
	"github.com/latchkey/latchkey/internal/courier/smtptest"
	"github.com/latchkey/latchkey/internal/sqlstore"
	"github.com/latchkey/latchkey/internal/sqlstore/sqltest"
)

// TestDispatchOrder: a mail someone waits for waits neither for a slow
// mail being sent nor behind a burst of notifications.
func TestDispatchOrder(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		t.Run("MailEnqueuedDuringASlowSendDoesNotWaitForIt", func(t *testing.T) {
			store := newStore(t, sqltest.Open(t, db.Dialect))
			srv := smtptest.Start(t)
			cfg := fastConfig(t, store, patientSMTPSender(t, srv.URI()))
			d := RunDispatcher(t, cfg)
			// (After RunDispatcher: a failing test releases the mail before
			// it stops the dispatcher, which waits for the mail.)
			release := srv.Hold(t, "slow@example.test")
			q := courier.NewQueue(store, cfg.Templates, d.Wake)

			slow := MustEnqueueRecoveryCode(t, q, "slow@example.test", "131313")
			srv.WaitHeld(t, "slow@example.test", 5*time.Second)
			// The slow mail is with the SMTP server; a recovery code queued
			// now goes out while it still is.
			MustEnqueueRecoveryCode(t, q, "fast@example.test", "141414")
			srv.WaitFor(t, "fast@example.test", 5*time.Second)
			if n := srv.CountTo("slow@example.test"); n != 0 {
				t.Fatalf("the slow mail was delivered %d times before its release", n)
			}
			release()
			srv.WaitFor(t, "slow@example.test", 5*time.Second)
			if m := WaitForStatus(t, store, slow, courier.StatusSent, 5*time.Second); m.SendCount != 1 {
				t.Errorf("slow mail: send_count %d", m.SendCount)
			}
		})

		t.Run("CodeOvertakesANotificationBurst", func(t *testing.T) {
			store := newStore(t, sqltest.Open(t, db.Dialect))
			srv := smtptest.Start(t)
			cfg := fastConfig(t, store, patientSMTPSender(t, srv.URI()))
			cfg.Concurrency = 1
			d := RunDispatcher(t, cfg)
			release := srv.Hold(t, "burst-00@example.test")
			q := courier.NewQueue(store, cfg.Templates, d.Wake)

			// An admin issues recovery codes in bulk: a notification each.
			const burst = 20
			mustEnqueueNotification(t, q, "burst-00@example.test")
			srv.WaitHeld(t, "burst-00@example.test", 5*time.Second)
			for i := 1; i < burst; i++ {
				mustEnqueueNotification(t, q, fmt.Sprintf("burst-%02d@example.test", i))
			}
			MustEnqueueRecoveryCode(t, q, "waiting@example.test", "151515")
			release()

			srv.WaitFor(t, "waiting@example.test", 5*time.Second)
			mails := srv.Mails()
			if len(mails) != 2 || mails[0].To[0] != "burst-00@example.test" || mails[1].To[0] != "waiting@example.test" {
				var got []string
				for _, m := range mails {
					got = append(got, m.To[0])
				}
				t.Fatalf("delivered %v, want the notification being sent, then the code", got)
			}
			// The notifications still go out.
			for i := 1; i < burst; i++ {
				srv.WaitFor(t, fmt.Sprintf("burst-%02d@example.test", i), 10*time.Second)
			}
		})

		t.Run("FirstClaimAfterANotificationBurstIsTheCode", func(t *testing.T) {
			store := newStore(t, sqltest.Open(t, db.Dialect))
			q := courier.NewQueue(store, MustTemplates(t), nil)
			for i := range 50 {
				mustEnqueueNotification(t, q, fmt.Sprintf("n%02d@example.test", i))
			}
			id := MustEnqueueRecoveryCode(t, q, "code@example.test", "161616")
			now := time.Now()
			got, err := store.ClaimMessages(context.Background(), courier.Claim{Token: "t", Now: now, StaleBefore: now.Add(-time.Minute), Limit: 1})
			if err != nil || len(got) != 1 || got[0].ID != id {
				var to []string
				for _, m := range got {
					to = append(to, m.Recipient)
				}
				t.Fatalf("first claim: %v %v, want the code mail", err, to)
			}
		})
	})
}

// patientSMTPSender is MustSMTPSender with a timeout longer than any test
// holds a mail.
func patientSMTPSender(t testing.TB, uri string) *courier.SMTPSender {
	t.Helper()
	s, err := courier.NewSMTPSender(courier.SMTPConfig{ConnectionURI: uri, FromAddress: "no-reply@latchkey.example.test", Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// mustEnqueueNotification queues the security notification of an
// admin-issued recovery code.
func mustEnqueueNotification(t testing.TB, q *courier.Queue, to string) {
	t.Helper()
	now := time.Now().UTC()
	if _, err := q.Enqueue(context.Background(), courier.Email{To: to, Template: courier.TemplateSecurityAdminRecovery,
		Data: courier.TemplateData{
			Event:       &courier.EventData{Type: "recovery.admin_issued", Time: now, TimeText: now.Format(time.RFC1123), Method: "code", Actor: "admin"},
			LockdownURL: "http://127.0.0.1:4433/self-service/lockdown?token=x", LockdownValidFor: "7 days",
		}}); err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
}
