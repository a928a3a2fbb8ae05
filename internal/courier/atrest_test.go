package courier_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

// TestNoCodeAtRest: a database reader finds no recovery code or link token
// in the mail queue, neither while the mail waits nor after it went out,
// and the admin courier API shows none; the recipient gets them.
func TestNoCodeAtRest(t *testing.T) {
	servertest.Each(t, servertest.Options{Env: []string{"SELFSERVICE_METHODS_LINK_ENABLED=true"}}, func(t *testing.T, srv *servertest.Server) {
		email := fmt.Sprintf("at-rest-%d@example.test", time.Now().UnixNano())
		ident := srv.MustCreateIdentity(t, email, "")
		srv.SMTP.RejectAll(true) // the mail waits in the queue

		code := adminSend(t, srv, "/admin/recovery/code", ident.Id)["recovery_code"].(string)
		link := adminSend(t, srv, "/admin/recovery/link", ident.Id)["recovery_link"].(string)
		u, err := url.Parse(link)
		if err != nil || u.Query().Get("token") == "" {
			t.Fatalf("recovery link %q", link)
		}
		secrets := []string{code, u.Query().Get("token"), link}

		msgs := adminJSON[[]map[string]any](t, srv, "/admin/courier/messages?recipient="+url.QueryEscape(email))
		if len(msgs) != 2 {
			t.Fatalf("%d messages", len(msgs))
		}
		waitFor(t, "a failed attempt", func() bool {
			m := adminJSON[map[string]any](t, srv, "/admin/courier/messages/"+msgs[0]["id"].(string))
			d, _ := m["dispatches"].([]any)
			return len(d) > 0
		})
		assertNowhere(t, srv, "while queued", secrets)

		srv.SMTP.RejectAll(false)
		mails := []string{srv.SMTP.WaitFor(t, email, 30*time.Second).Text, srv.SMTP.WaitFor(t, email, 30*time.Second).Text}
		if all := strings.Join(mails, "\n"); !strings.Contains(all, code) || !strings.Contains(all, link) {
			t.Fatalf("the mails lack the code or link: %q", mails)
		}
		for _, m := range msgs {
			waitFor(t, "sent", func() bool {
				return adminJSON[map[string]any](t, srv, "/admin/courier/messages/"+m["id"].(string))["status"] == "sent"
			})
		}
		assertNowhere(t, srv, "after delivery", secrets)
	})
}

// TestDevMailboxShowsDeliveredMailInFull: without SMTP, the built-in
// mailbox page shows the code of a mail that the database no longer holds.
func TestDevMailboxShowsDeliveredMailInFull(t *testing.T) {
	srv := servertest.Start(t, servertest.Options{NoSMTP: true})
	email := fmt.Sprintf("dev-box-%d@example.test", time.Now().UnixNano())
	ident := srv.MustCreateIdentity(t, email, "")
	code := adminSend(t, srv, "/admin/recovery/code", ident.Id)["recovery_code"].(string)
	waitFor(t, "sent", func() bool {
		msgs := adminJSON[[]map[string]any](t, srv, "/admin/courier/messages?status=sent&recipient="+url.QueryEscape(email))
		return len(msgs) == 1
	})
	assertNowhere(t, srv, "after delivery to the dev mailbox", []string{code})
	res, err := http.Get(srv.Public.URL + "/ui/mail")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	page, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || !strings.Contains(string(page), `<mark class="code">`+code+`</mark>`) || !strings.Contains(string(page), "(sent)") {
		t.Errorf("/ui/mail: %d, code %s shown: %v", res.StatusCode, code, strings.Contains(string(page), code))
	}
}

// assertNowhere fails if any secret appears in any column of the courier
// tables, or in the admin courier API's list or single message.
func assertNowhere(t *testing.T, srv *servertest.Server, when string, secrets []string) {
	t.Helper()
	for _, table := range []string{"courier_messages", "courier_message_dispatches"} {
		for _, cell := range rawCells(t, srv.DB.SQL, table) {
			for _, s := range secrets {
				if strings.Contains(cell, s) {
					t.Errorf("%s: %q found in %s: %.120q", when, s, table, cell)
				}
			}
		}
	}
	list := adminJSON[[]map[string]any](t, srv, "/admin/courier/messages")
	views := []any{list}
	for _, m := range list {
		views = append(views, adminJSON[map[string]any](t, srv, "/admin/courier/messages/"+m["id"].(string)))
	}
	b, _ := json.Marshal(views)
	for _, s := range secrets {
		if strings.Contains(string(b), s) || strings.Contains(string(b), strings.ReplaceAll(s, "&", `\u0026`)) {
			t.Errorf("%s: %q shown by the admin courier API", when, s)
		}
	}
}

// rawCells reads every cell of every row of table as text.
func rawCells(t *testing.T, db *sql.DB, table string) []string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), "SELECT * FROM "+table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for _, v := range vals {
			if b, ok := v.([]byte); ok {
				out = append(out, string(b))
			} else {
				out = append(out, fmt.Sprint(v))
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// adminSend asks the admin API for a recovery code or link mailed to the
// identity ("send": true) and returns the answer.
func adminSend(t *testing.T, srv *servertest.Server, path, identityID string) map[string]any {
	t.Helper()
	res, body := servertest.Do(t, srv.HTTPClient(false), "POST", srv.Admin.URL+path, map[string]any{"identity_id": identityID, "send": true}, nil)
	if res.StatusCode != 200 && res.StatusCode != 201 {
		t.Fatalf("POST %s: %d %v", path, res.StatusCode, body)
	}
	return body
}

// adminJSON GETs an admin path and decodes the answer.
func adminJSON[T any](t *testing.T, srv *servertest.Server, path string) T {
	t.Helper()
	res, raw := servertest.DoRaw(t, srv.HTTPClient(false), "GET", srv.Admin.URL+path, nil, nil)
	var v T
	if res.StatusCode != 200 || json.Unmarshal(raw, &v) != nil {
		t.Fatalf("GET %s: %d %s", path, res.StatusCode, raw)
	}
	return v
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("not %s within 30s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestMessageRetriesWhenConfigured: courier.message_retries: n, when set,
// allows n+1 attempts, as in Kratos (unset, a message is retried until it
// expires).
func TestMessageRetriesWhenConfigured(t *testing.T) {
	srv := servertest.Start(t, servertest.Options{Env: []string{"COURIER_MESSAGE_RETRIES=1"}})
	srv.SMTP.RejectAll(true)
	email := fmt.Sprintf("retries-%d@example.test", time.Now().UnixNano())
	ident := srv.MustCreateIdentity(t, email, "")
	adminSend(t, srv, "/admin/recovery/code", ident.Id)
	var msg map[string]any
	waitFor(t, "abandoned", func() bool {
		list := adminJSON[[]map[string]any](t, srv, "/admin/courier/messages?status=abandoned&recipient="+url.QueryEscape(email))
		if len(list) == 1 {
			msg = list[0]
		}
		return msg != nil
	})
	if d, _ := msg["dispatches"].([]any); msg["send_count"] != float64(2) || len(d) != 2 || srv.SMTP.Attempts() != 2 {
		t.Errorf("abandoned after send_count %v, %d dispatches, %d SMTP attempts; want 2", msg["send_count"], len(d), srv.SMTP.Attempts())
	}
}
