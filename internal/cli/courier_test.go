package cli_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/courier/smtptest"
)

// courierMessage is the part of the Kratos courier message object the
// tests read.
type courierMessage struct {
	ID         string `json:"id"`
	Status     string `json:"status"`
	Recipient  string `json:"recipient"`
	Subject    string `json:"subject"`
	SendCount  int    `json:"send_count"`
	Dispatches []struct {
		Status string         `json:"status"`
		Error  map[string]any `json:"error"`
	} `json:"dispatches"`
}

// noAdminNotification turns off the mail telling a user an admin created
// a recovery code for them.
const noAdminNotification = "SELFSERVICE_NOTIFICATIONS_ADMIN_RECOVERY_ISSUED_ENABLED=false"

// TestCourierWatch: a mail that serve could not deliver (the SMTP server
// rejects it) stays queued when serve stops; `latchkey courier watch`, the
// dispatcher on its own, delivers it once the SMTP server accepts mail, and
// the admin API then shows the failed and the successful attempt.
func TestCourierWatch(t *testing.T) {
	dir := t.TempDir()
	p := freePorts(t)
	mail := smtptest.Start(t)
	mail.RejectAll(true)
	// The admin code's security notification is a second mail; this test
	// follows one.
	env := append(p.env(), "COURIER_SMTP_CONNECTION_URI="+mail.URI(), noAdminNotification)
	const email = "watch@example.com"

	serve := start(t, dir, env, "serve", "--dev")
	serve.waitReady(p.publicURL())
	status, body := do(t, "POST", p.adminURL()+"/admin/identities", "application/json", `{"schema_id":"default","traits":{"email":"`+email+`"}}`)
	if status != http.StatusCreated {
		t.Fatalf("create identity: %d %s", status, body)
	}
	var ident struct{ ID string }
	mustUnmarshal(t, body, &ident)
	status, body = do(t, "POST", p.adminURL()+"/admin/recovery/code", "application/json", `{"identity_id":"`+ident.ID+`","send":true}`)
	if status != http.StatusCreated {
		t.Fatalf("admin recovery code with send: %d %s", status, body)
	}

	// serve tried and failed at least once; the message waits for a retry.
	msg := waitForMessage(t, p.adminURL(), email, func(m courierMessage) bool { return m.SendCount >= 1 && m.Status == "queued" })
	if code := serve.stop(); code != 0 {
		t.Fatalf("serve exit code %d", code)
	}
	if n := mail.CountTo(email); n != 0 {
		t.Fatalf("%d mails delivered while the SMTP server rejected them", n)
	}

	mail.RejectAll(false)
	watch := start(t, dir, env, "courier", "watch", "--dev")
	got := mail.WaitFor(t, email, 20*time.Second)
	if !strings.Contains(got.Subject, "recover access to your account") || got.Text == "" || got.HTML == "" {
		t.Errorf("mail: subject %q, text %d bytes, html %d bytes", got.Subject, len(got.Text), len(got.HTML))
	}
	time.Sleep(1500 * time.Millisecond) // a duplicate would come with the next poll
	if n := mail.CountTo(email); n != 1 {
		t.Errorf("%d mails delivered, want exactly 1", n)
	}
	if code := watch.stop(); code != 0 {
		t.Fatalf("courier watch exit code %d\n%s", code, watch.stderr)
	}

	// The admin API of a new serve shows the history of the message.
	serve = start(t, dir, env, "serve", "--dev")
	serve.waitReady(p.publicURL())
	status, body = do(t, "GET", p.adminURL()+"/admin/courier/messages/"+msg.ID, "", "")
	var final courierMessage
	mustUnmarshal(t, body, &final)
	if status != http.StatusOK || final.Status != "sent" || len(final.Dispatches) != final.SendCount || final.SendCount < 2 {
		t.Fatalf("message after courier watch: %d %s", status, body)
	}
	failed, succeeded := 0, 0
	for _, d := range final.Dispatches {
		switch d.Status {
		case "failed":
			failed++
			if d.Error["message"] == nil {
				t.Errorf("failed dispatch without an error message: %s", body)
			}
		case "success":
			succeeded++
		}
	}
	if failed != final.SendCount-1 || succeeded != 1 {
		t.Errorf("dispatches: %d failed, %d success; want %d and 1: %s", failed, succeeded, final.SendCount-1, body)
	}
	if code := serve.stop(); code != 0 {
		t.Fatalf("serve exit code %d", code)
	}
}

// waitForMessage polls the admin courier list for the newest message to
// recipient until ok accepts it.
func waitForMessage(t *testing.T, adminURL, recipient string, ok func(courierMessage) bool) courierMessage {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		status, body := do(t, "GET", adminURL+"/admin/courier/messages?recipient="+url.QueryEscape(recipient), "", "")
		last = body
		var msgs []courierMessage
		if status == http.StatusOK {
			mustUnmarshal(t, body, &msgs)
			if len(msgs) > 0 && ok(msgs[0]) {
				return msgs[0]
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no matching message to %s; last list: %s", recipient, last)
	return courierMessage{}
}

// TestServeDevMailbox: in --dev without SMTP, mail is kept in the database
// (status sent) and serve logs one line with its subject and recipient.
func TestServeDevMailbox(t *testing.T) {
	dir := t.TempDir()
	p := freePorts(t)
	const email = "mailbox@example.com"
	serve := start(t, dir, append(p.env(), noAdminNotification), "serve", "--dev")
	serve.waitReady(p.publicURL())
	status, body := do(t, "POST", p.adminURL()+"/admin/identities", "application/json", `{"schema_id":"default","traits":{"email":"`+email+`"}}`)
	if status != http.StatusCreated {
		t.Fatalf("create identity: %d %s", status, body)
	}
	var ident struct{ ID string }
	mustUnmarshal(t, body, &ident)
	if status, body = do(t, "POST", p.adminURL()+"/admin/recovery/code", "application/json", `{"identity_id":"`+ident.ID+`","send":true}`); status != http.StatusCreated {
		t.Fatalf("admin recovery code with send: %d %s", status, body)
	}
	msg := waitForMessage(t, p.adminURL(), email, func(m courierMessage) bool { return m.Status == "sent" })
	// The line is written before the message is marked sent, but reaches
	// the test through a pipe: wait for it a little.
	var line string
	for deadline := time.Now().Add(5 * time.Second); line == "" && time.Now().Before(deadline); {
		for _, l := range strings.Split(serve.stderr.String(), "\n") {
			if strings.Contains(l, "dev mailbox") {
				if line != "" {
					t.Errorf("more than one dev mailbox line:\n%s", serve.stderr)
				}
				line = l
			}
		}
		if line == "" {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if !strings.Contains(line, "to="+email) || !strings.Contains(line, "recover access to your account") || !strings.Contains(line, msg.ID) {
		t.Errorf("dev mailbox line %q lacks recipient, subject or message id", line)
	}
	if code := serve.stop(); code != 0 {
		t.Fatalf("serve exit code %d", code)
	}
}
