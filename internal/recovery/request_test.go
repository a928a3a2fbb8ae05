package recovery_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/server/servertest"
	"github.com/latchkey/latchkey/internal/sqlstore"
)

// pendingRequests counts the recovery requests the courier has not
// prepared yet.
func pendingRequests(t *testing.T, srv *servertest.Server) int {
	t.Helper()
	var n int
	if err := srv.DB.QueryRow(context.Background(), `SELECT COUNT(*) FROM courier_messages WHERE template_type = 'recovery_request'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitPrepared waits until the courier has prepared every recovery request.
func waitPrepared(t *testing.T, srv *servertest.Server) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for pendingRequests(t, srv) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("recovery requests not prepared within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRequestPathIsTheSameForEveryAddress: an email submission for a known
// and for an unknown address writes the same rows (same tables, same
// counts) before any background work runs; the courier then gives the
// known address a working code or link, and the unknown one the "invalid"
// mail (notify_unknown_recipients is on here).
func TestRequestPathIsTheSameForEveryAddress(t *testing.T) {
	servertest.EachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		// The first instance answers requests but never runs the courier.
		opts := options(withLink, withNotify, withoutConfirmation)
		opts.Dialect, opts.NoCourier = d, true
		front := servertest.Start(t, opts)
		known, unknown := uniqueEmail("known"), uniqueEmail("unknown")
		mustIdentity(t, front, known)

		type sent struct{ method, flow, address string }
		var flows []sent
		ip := 40
		for _, method := range []string{"code", "link"} {
			k, u := newNativeFlow(t, front), newNativeFlow(t, front)
			submit := func(flow, email string) map[string]int {
				// Each from its own client address, so each starts a send
				// counter of its own, as a first request does.
				ip++
				client := front.HTTPClientFrom(fmt.Sprintf("127.0.0.%d", ip), false)
				before := front.CountAllRows(t)
				if res, body := postJSON(t, front, client, flow, `{"method":"`+method+`","email":"`+email+`"}`, nil); res.StatusCode != 200 || dig(body, "state") != "sent_email" {
					t.Fatalf("%s to %s: %d %v", method, email, res.StatusCode, body)
				}
				return servertest.DiffRows(before, front.CountAllRows(t))
			}
			wroteKnown := submit(k, known)
			wroteUnknown := submit(u, unknown)
			if len(wroteKnown) != len(wroteUnknown) {
				t.Fatalf("%s: known wrote %v, unknown wrote %v", method, wroteKnown, wroteUnknown)
			}
			for table, n := range wroteKnown {
				if wroteUnknown[table] != n {
					t.Fatalf("%s: known wrote %v, unknown wrote %v", method, wroteKnown, wroteUnknown)
				}
			}
			// One queued request, no code or token yet.
			if wroteKnown["courier_messages"] != 1 || wroteKnown["recovery_codes"] != 0 || wroteKnown["recovery_tokens"] != 0 {
				t.Fatalf("%s: the request path wrote %v", method, wroteKnown)
			}
			flows = append(flows, sent{method, k, known}, sent{method, u, unknown})
		}
		if front.SMTP.Count() != 0 {
			t.Fatal("mail went out without a courier")
		}

		// A second instance on the database runs the courier.
		back := front.StartSharingDB(t, options(withLink, withNotify, withoutConfirmation))
		// The two mails to the known address come in either order.
		var code, link string
		for range 2 {
			m := back.SMTP.WaitFor(t, known, 10*time.Second)
			if c := codeInSubject.FindStringSubmatch(m.Subject); c != nil {
				code = c[1]
			} else {
				link = linkInBody.FindString(m.Text)
			}
		}
		if code == "" || link == "" {
			t.Fatalf("code %q, link %q", code, link)
		}
		for _, subject := range []string{back.SMTP.WaitFor(t, unknown, 10*time.Second).Subject, back.SMTP.WaitFor(t, unknown, 10*time.Second).Subject} {
			if subject != "Account access attempted" {
				t.Fatalf("unknown recipient mail: %q", subject)
			}
		}
		waitPrepared(t, back)

		// The code works on its flow.
		res, body := postJSON(t, back, nil, flows[0].flow, `{"method":"code","code":"`+code+`"}`, nil)
		if res.StatusCode != 200 || dig(body, "state") != "passed_challenge" {
			t.Fatalf("code: %d %v", res.StatusCode, body)
		}
		// The link works too (no confirmation page in this configuration).
		res, _ = do(t, nil, "GET", link, nil, "")
		if res.StatusCode != 303 {
			t.Fatalf("link: %d", res.StatusCode)
		}
		if n := back.SMTP.CountTo(known); n != 2 {
			t.Errorf("known address got %d mails, want 2", n)
		}
	})
}

// TestFailedPreparationIsRetriedOnce: when the database fails while the
// courier prepares a request, the preparation rolls back and is tried
// again; the user gets one working code, not two.
func TestFailedPreparationIsRetriedOnce(t *testing.T) {
	servertest.Each(t, options(), func(t *testing.T, srv *servertest.Server) {
		email := uniqueEmail("fault")
		mustIdentity(t, srv, email)
		lift := srv.RefuseInserts(t, "recovery_codes")
		id := newNativeFlow(t, srv)
		if res, body := postJSON(t, srv, nil, id, `{"method":"code","email":"`+email+`"}`, nil); res.StatusCode != 200 {
			t.Fatalf("email: %d %v", res.StatusCode, body)
		}
		// Wait for a failed attempt to be recorded on the request.
		deadline := time.Now().Add(10 * time.Second)
		for {
			var failed int
			if err := srv.DB.QueryRow(context.Background(), `SELECT COUNT(*) FROM courier_messages
				WHERE template_type = 'recovery_request' AND last_error IS NOT NULL AND status = 'queued'`).Scan(&failed); err != nil {
				t.Fatal(err)
			}
			if failed == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no failed preparation recorded")
			}
			time.Sleep(10 * time.Millisecond)
		}
		if srv.SMTP.CountTo(email) != 0 || srv.CountRows(t, "recovery_codes") != 0 {
			t.Fatal("a failed preparation left a mail or a code")
		}
		lift()
		code := mustReadCode(t, srv, email)
		waitPrepared(t, srv)
		time.Sleep(300 * time.Millisecond) // several polls: a second mail would show now
		if n := srv.SMTP.CountTo(email); n != 1 {
			t.Errorf("%d mails, want 1", n)
		}
		res, body := postJSON(t, srv, nil, id, `{"method":"code","code":"`+code+`"}`, nil)
		if res.StatusCode != 200 || dig(body, "state") != "passed_challenge" {
			t.Fatalf("code: %d %v", res.StatusCode, body)
		}
	})
}

// TestRequestsAreNotListed: the admin courier API never shows a recovery
// request, even before it is prepared.
func TestRequestsAreNotListed(t *testing.T) {
	opts := options()
	opts.NoCourier = true
	srv := servertest.Start(t, opts)
	email := uniqueEmail("hidden")
	mustIdentity(t, srv, email)
	id := newNativeFlow(t, srv)
	if res, body := postJSON(t, srv, nil, id, `{"method":"code","email":"`+email+`"}`, nil); res.StatusCode != 200 {
		t.Fatalf("email: %d %v", res.StatusCode, body)
	}
	if pendingRequests(t, srv) != 1 {
		t.Fatal("no request queued")
	}
	ms, _, err := srv.SDK(false).CourierAPI.ListCourierMessages(context.Background()).Execute()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 0 {
		t.Fatalf("admin list shows %d messages: %+v", len(ms), ms)
	}
}

// TestMailedCodeNeverOutlivesItsFlow: the code is issued when the courier
// prepares the mail, with the method's lifespan (1h) from then, but never
// past the flow's expiry (10m here); the mail still names the method's
// lifespan, as Kratos's does.
func TestMailedCodeNeverOutlivesItsFlow(t *testing.T) {
	servertest.Each(t, options([]string{"SELFSERVICE_FLOWS_RECOVERY_LIFESPAN=10m"}), func(t *testing.T, srv *servertest.Server) {
		email := uniqueEmail("short")
		mustIdentity(t, srv, email)
		id := newNativeFlow(t, srv)
		if res, body := postJSON(t, srv, nil, id, `{"method":"code","email":"`+email+`"}`, nil); res.StatusCode != 200 {
			t.Fatalf("email: %d %v", res.StatusCode, body)
		}
		m := srv.SMTP.WaitFor(t, email, 10*time.Second)
		if !strings.Contains(m.Text, "expires in 1 hour") {
			t.Errorf("mail: %q", m.Text)
		}
		var codeExpires, flowExpires time.Time
		if err := srv.DB.QueryRow(context.Background(), `SELECT c.expires_at, f.expires_at FROM recovery_codes c
			JOIN selfservice_flows f ON f.id = c.flow_id WHERE f.id = ?`, id).Scan(&codeExpires, &flowExpires); err != nil {
			t.Fatal(err)
		}
		if !codeExpires.Equal(flowExpires) {
			t.Fatalf("code expires at %s, its flow at %s", codeExpires, flowExpires)
		}
	})
}

// TestRequestOfAFlowOverIsDropped: a request whose flow passed, expired
// or was deleted before the courier prepared it is dropped: no code, no
// mail. The request of a flow still open is prepared as usual.
func TestRequestOfAFlowOverIsDropped(t *testing.T) {
	servertest.EachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		opts := options()
		opts.Dialect, opts.NoCourier = d, true
		front := servertest.Start(t, opts)
		ctx := context.Background()
		cases := map[string]string{ // address → what happens to its flow
			uniqueEmail("open"):    "",
			uniqueEmail("passed"):  `UPDATE selfservice_flows SET state = 'passed_challenge' WHERE id = ?`,
			uniqueEmail("expired"): `UPDATE selfservice_flows SET expires_at = created_at WHERE id = ?`,
			uniqueEmail("deleted"): `DELETE FROM selfservice_flows WHERE id = ?`,
		}
		flows := map[string]string{}
		for email, change := range cases {
			mustIdentity(t, front, email)
			id := newNativeFlow(t, front)
			if res, body := postJSON(t, front, nil, id, `{"method":"code","email":"`+email+`"}`, nil); res.StatusCode != 200 {
				t.Fatalf("email: %d %v", res.StatusCode, body)
			}
			if change != "" {
				if _, err := front.DB.Exec(ctx, change, id); err != nil {
					t.Fatal(err)
				}
			}
			flows[email] = id
		}

		back := front.StartSharingDB(t, options())
		var open string
		for email, change := range cases {
			if change == "" {
				open = email
			}
		}
		back.SMTP.WaitFor(t, open, 10*time.Second)
		waitPrepared(t, back)
		for email, change := range cases {
			if change == "" {
				continue
			}
			if n := back.SMTP.CountTo(email); n != 0 {
				t.Errorf("%s: %d mails", email, n)
			}
			var codes int
			if err := back.DB.QueryRow(ctx, `SELECT COUNT(*) FROM recovery_codes WHERE flow_id = ?`, flows[email]).Scan(&codes); err != nil {
				t.Fatal(err)
			}
			if codes != 0 {
				t.Errorf("%s: %d codes issued", email, codes)
			}
		}
	})
}
