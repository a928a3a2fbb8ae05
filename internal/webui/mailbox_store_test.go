package webui_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/courier"
	"github.com/latchkey/latchkey/internal/sqlstore"
	"github.com/latchkey/latchkey/internal/sqlstore/sqltest"
	"github.com/latchkey/latchkey/internal/webui"
)

// MustEnqueue queues a mail rendered from the built-in templates.
func MustEnqueue(t *testing.T, q *courier.Queue, e courier.Email) {
	t.Helper()
	if _, err := q.Enqueue(context.Background(), e); err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
}

// TestMailboxReadsTheCourierStore shows the courier's real messages, as
// rendered by the built-in templates, through CourierMailbox.
func TestMailboxReadsTheCourierStore(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		store := sqltest.CourierStore(t, db)
		templates, err := courier.NewTemplates(courier.TemplatesConfig{})
		if err != nil {
			t.Fatal(err)
		}
		q := courier.NewQueue(store, templates, nil)
		clock := testNow.Add(-10 * time.Minute)
		q.SetClock(func() time.Time { return clock })
		MustEnqueue(t, q, courier.Email{To: "older@example.test", Template: courier.TemplateRecoveryCodeValid,
			Data: courier.TemplateData{RecoveryCode: "048213", ExpiresInMinutes: 60}})
		clock = testNow.Add(-1 * time.Minute)
		MustEnqueue(t, q, courier.Email{To: "newer@example.test", Template: courier.TemplateRecoveryValid,
			Data: courier.TemplateData{RecoveryURL: "http://pub.example.test/self-service/recovery?flow=f&token=T0k3n", ExpiresInMinutes: 60}})

		h := MustHandler(t, newFakeAPI(), webui.CourierMailbox(store))
		body := get(t, h, "/ui/mail").Body.String()
		mustContain(t, body,
			"Use code 048213 to recover access to your account", `<mark class="code">048213</mark>`, "10 minutes ago",
			"Recover access to your account", `<a href="http://pub.example.test/self-service/recovery?flow=f&amp;token=T0k3n">`, "1 minute ago",
			"recovery_code_valid (queued)")
		if strings.Index(body, "newer@example.test") > strings.Index(body, "older@example.test") {
			t.Error("the newest message is not first")
		}
	})
}
