package courier_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/courier"
	"github.com/latchkey/latchkey/internal/sqlstore"
	"github.com/latchkey/latchkey/internal/sqlstore/sqltest"
)

type apiMessage struct {
	ID           string            `json:"id"`
	Status       string            `json:"status"`
	Type         string            `json:"type"`
	Recipient    string            `json:"recipient"`
	Body         string            `json:"body"`
	Subject      string            `json:"subject"`
	TemplateType string            `json:"template_type"`
	Channel      string            `json:"channel"`
	SendCount    int               `json:"send_count"`
	Dispatches   []json.RawMessage `json:"dispatches"`
	CreatedAt    time.Time         `json:"created_at"`
	UpdatedAt    time.Time         `json:"updated_at"`
}

func TestAdminAPI(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		store := newStore(t, db)
		mux := http.NewServeMux()
		courier.NewHandler(store).Register(mux)
		get := func(t *testing.T, path string) *httptest.ResponseRecorder {
			t.Helper()
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
			return rec
		}
		list := func(t *testing.T, path string) ([]apiMessage, *httptest.ResponseRecorder) {
			t.Helper()
			rec := get(t, path)
			if rec.Code != 200 {
				t.Fatalf("GET %s = %d %s", path, rec.Code, rec.Body)
			}
			var out []apiMessage
			if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
				t.Fatalf("GET %s: %v: %s", path, err, rec.Body)
			}
			return out, rec
		}

		// Seven messages one second apart: five code mails to alice (the
		// oldest two already sent), two "unknown address" mails to bob.
		clock := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		q := courier.NewQueue(store, MustTemplates(t), nil)
		q.SetClock(func() time.Time { clock = clock.Add(time.Second); return clock })
		var ids []uuid.UUID // oldest first
		for i := range 5 {
			ids = append(ids, MustEnqueueRecoveryCode(t, q, "alice@example.test", fmt.Sprintf("90000%d", i)))
		}
		for range 2 {
			id, err := q.Enqueue(ctx, courier.Email{To: "bob@example.test", Template: courier.TemplateRecoveryCodeInvalid})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		claimed, err := store.ClaimMessages(ctx, courier.Claim{Token: "t", Now: clock.Add(-5*time.Second + time.Millisecond), StaleBefore: clock.Add(-time.Hour), Limit: 2})
		if err != nil || len(claimed) != 2 {
			t.Fatalf("claim: %v %d", err, len(claimed))
		}
		for _, m := range claimed {
			err := store.FinishMessage(ctx, courier.Outcome{MessageID: m.ID, ClaimToken: "t", Status: courier.StatusSent, Now: clock,
				KeptSubject: "Use code [redacted] to recover access to your account", KeptBody: "Enter this code: [redacted]",
				Dispatch: &courier.Dispatch{ID: uuid.New(), MessageID: m.ID, Status: courier.DispatchSuccess, CreatedAt: clock, UpdatedAt: clock}})
			if err != nil {
				t.Fatal(err)
			}
		}

		t.Run("ListsNewestFirstInKratosShape", func(t *testing.T) {
			got, rec := list(t, "/admin/courier/messages")
			if len(got) != 7 {
				t.Fatalf("%d messages", len(got))
			}
			for i, m := range got {
				if want := ids[len(ids)-1-i].String(); m.ID != want {
					t.Errorf("position %d: %s, want %s", i, m.ID, want)
				}
			}
			if rec.Header().Get("Cache-Control") == "" || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
				t.Errorf("headers %v", rec.Header())
			}
			var raw []map[string]any
			_ = json.Unmarshal(rec.Body.Bytes(), &raw)
			for _, k := range []string{"id", "status", "type", "recipient", "body", "subject", "template_type", "channel", "send_count", "created_at", "updated_at"} {
				if _, ok := raw[0][k]; !ok {
					t.Errorf("message lacks %q", k)
				}
			}
			for _, k := range []string{"template_data", "last_error", "next_attempt_at", "claimed_by"} {
				if _, ok := raw[0][k]; ok {
					t.Errorf("internal field %q exposed", k)
				}
			}
			sent := got[len(got)-1]
			if sent.Status != "sent" || sent.Type != "email" || sent.Channel != "email" || sent.SendCount != 1 || len(sent.Dispatches) != 1 {
				t.Errorf("oldest message: %+v", sent)
			}
		})

		t.Run("ListAndGetRedactCodes", func(t *testing.T) {
			got, _ := list(t, "/admin/courier/messages?recipient=alice@example.test")
			digits := regexp.MustCompile(`\d{6}`)
			for _, m := range got {
				if digits.MatchString(m.Subject) || digits.MatchString(m.Body) {
					t.Errorf("code visible in list: %q / %q", m.Subject, m.Body)
				}
				if m.Subject != "Use code [redacted] to recover access to your account" || !strings.Contains(m.Body, "[redacted]") {
					t.Errorf("subject %q body %q", m.Subject, m.Body)
				}
			}
			rec := get(t, "/admin/courier/messages/"+ids[0].String())
			var one apiMessage
			if err := json.Unmarshal(rec.Body.Bytes(), &one); err != nil || rec.Code != 200 {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
			if one.Subject != "Use code [redacted] to recover access to your account" || strings.Contains(one.Body, "900000") ||
				!strings.Contains(one.Body, "[redacted]") || one.Status != "sent" {
				t.Errorf("single GET of a sent message: %q %q", one.Subject, one.Body)
			}
			queued := ids[4]
			rec = get(t, "/admin/courier/messages/"+queued.String())
			if err := json.Unmarshal(rec.Body.Bytes(), &one); err != nil || rec.Code != 200 {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
			if one.Status != "queued" || one.Subject != "Use code [redacted] to recover access to your account" || strings.Contains(one.Body, "900004") {
				t.Errorf("single GET of a queued message: %s %q %q", one.Status, one.Subject, one.Body)
			}
			// Messages without a secret are listed as they are.
			bob, _ := list(t, "/admin/courier/messages?recipient=bob@example.test")
			if len(bob) != 2 || strings.Contains(bob[0].Body, "[redacted]") || bob[0].Subject != "Account access attempted" {
				t.Errorf("bob: %+v", bob)
			}
		})

		t.Run("FiltersByStatusAndRecipient", func(t *testing.T) {
			for path, want := range map[string]int{
				"/admin/courier/messages?status=sent":                                      2,
				"/admin/courier/messages?status=queued":                                    5,
				"/admin/courier/messages?status=abandoned":                                 0,
				"/admin/courier/messages?recipient=bob@example.test":                       2,
				"/admin/courier/messages?recipient=alice@example.test&status=queued":       3,
				"/admin/courier/messages?recipient=nobody@example.test":                    0,
				"/admin/courier/messages?status=sent&recipient=bob%40example.test":         0,
				"/admin/courier/messages?recipient=ALICE@example.test&status=processing":   0,
				"/admin/courier/messages?recipient=alice%40example.test&status=processing": 0,
			} {
				got, rec := list(t, path)
				if len(got) != want {
					t.Errorf("%s: %d messages, want %d", path, len(got), want)
				}
				if want == 0 && strings.TrimSpace(rec.Body.String()) != "[]" {
					t.Errorf("%s: empty list is %q", path, rec.Body)
				}
			}
		})

		t.Run("PaginatesWithLinkHeader", func(t *testing.T) {
			var seen []string
			path := "/admin/courier/messages?page_size=3"
			next := regexp.MustCompile(`<([^>]+)>; rel="next"`)
			for pages := 0; path != ""; pages++ {
				if pages > 5 {
					t.Fatal("pagination does not end")
				}
				got, rec := list(t, path)
				if len(got) > 3 {
					t.Fatalf("page of %d", len(got))
				}
				for _, m := range got {
					seen = append(seen, m.ID)
				}
				path = ""
				if m := next.FindStringSubmatch(rec.Header().Get("Link")); m != nil {
					path = m[1]
				}
				if !strings.Contains(rec.Header().Get("Link"), `rel="first"`) {
					t.Errorf("Link = %q", rec.Header().Get("Link"))
				}
			}
			if len(seen) != 7 {
				t.Fatalf("saw %d messages over all pages", len(seen))
			}
			for i, id := range seen {
				if id != ids[len(ids)-1-i].String() {
					t.Errorf("page order broken at %d", i)
				}
			}
			// Filters travel with the page token.
			_, rec := list(t, "/admin/courier/messages?page_size=2&status=queued")
			if l := rec.Header().Get("Link"); !strings.Contains(l, "status=queued") || !strings.Contains(l, "page_token=") {
				t.Errorf("Link = %q", l)
			}
		})

		t.Run("BadRequests", func(t *testing.T) {
			for path, reason := range map[string]string{
				"/admin/courier/messages?status=delivered":  "Message status is not valid",
				"/admin/courier/messages?page_size=0":       "page_size",
				"/admin/courier/messages?page_size=abc":     "page_size",
				"/admin/courier/messages?page_token=!!!!":   "page_token",
				"/admin/courier/messages?page_token=bm9wZQ": "page_token",
				"/admin/courier/messages/not-a-uuid":        "UUID",
			} {
				rec := get(t, path)
				var e struct {
					Error struct {
						Code    int    `json:"code"`
						Reason  string `json:"reason"`
						Message string `json:"message"`
					} `json:"error"`
				}
				_ = json.Unmarshal(rec.Body.Bytes(), &e)
				if rec.Code != 400 || e.Error.Code != 400 || !strings.Contains(e.Error.Reason, reason) {
					t.Errorf("%s: %d %s", path, rec.Code, rec.Body)
				}
			}
		})

		t.Run("UnknownMessageIs404", func(t *testing.T) {
			rec := get(t, "/admin/courier/messages/"+uuid.NewString())
			if rec.Code != 404 || !strings.Contains(rec.Body.String(), `"message":"Unable to locate the resource"`) {
				t.Errorf("%d %s", rec.Code, rec.Body)
			}
		})

		t.Run("PageSizeIsCappedAt1000", func(t *testing.T) {
			got, rec := list(t, "/admin/courier/messages?page_size=5000")
			if len(got) != 7 || !strings.Contains(rec.Header().Get("Link"), "page_size=1000") {
				t.Errorf("%d messages, Link %q", len(got), rec.Header().Get("Link"))
			}
		})
	})
}
