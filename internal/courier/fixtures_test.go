package courier_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/courier"
	"github.com/latchkey/latchkey/internal/sqlstore"
	"github.com/latchkey/latchkey/internal/sqlstore/sqltest"
)

// MustTemplates returns the built-in templates.
func MustTemplates(t testing.TB) *courier.Templates {
	t.Helper()
	tpl, err := courier.NewTemplates(courier.TemplatesConfig{})
	if err != nil {
		t.Fatalf("NewTemplates: %v", err)
	}
	return tpl
}

// MustSMTPSender returns an SMTP sender for uri with a recognisable From.
func MustSMTPSender(t testing.TB, uri string) *courier.SMTPSender {
	t.Helper()
	s, err := courier.NewSMTPSender(courier.SMTPConfig{
		ConnectionURI: uri,
		FromAddress:   "no-reply@latchkey.example.test",
		FromName:      "Latchkey Test",
		Headers:       map[string]string{"X-Latchkey-Test": "yes"},
		Timeout:       5 * time.Second,
	})
	if err != nil {
		t.Fatalf("NewSMTPSender: %v", err)
	}
	return s
}

// testLogger writes to the test's output.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// fastConfig is a dispatcher configuration with test-sized intervals.
func fastConfig(t testing.TB, store courier.Store, sender courier.Sender) courier.DispatcherConfig {
	return courier.DispatcherConfig{
		Store:       store,
		Templates:   MustTemplates(t),
		Sender:      sender,
		Logger:      testLogger(t),
		PullWait:    20 * time.Millisecond,
		BackoffBase: 20 * time.Millisecond,
		BackoffMax:  100 * time.Millisecond,
	}
}

// RunDispatcher starts a dispatcher until the test ends.
func RunDispatcher(t testing.TB, cfg courier.DispatcherConfig) *courier.Dispatcher {
	t.Helper()
	d, err := courier.NewDispatcher(cfg)
	if err != nil {
		t.Fatalf("NewDispatcher: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return d
}

// MustEnqueueRecoveryCode queues a recovery code mail.
func MustEnqueueRecoveryCode(t testing.TB, q *courier.Queue, to, code string) uuid.UUID {
	t.Helper()
	id, err := q.Enqueue(context.Background(), courier.Email{
		To: to, Template: courier.TemplateRecoveryCodeValid,
		Data: courier.TemplateData{
			RecoveryCode: code, ExpiresInMinutes: 60, RequestURL: "http://127.0.0.1:4433/self-service/recovery/api",
			Identity: map[string]any{"id": uuid.NewString(), "traits": map[string]any{"email": to}},
		},
	})
	if err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	return id
}

// WaitForMessage polls the store until the message satisfies ok.
func WaitForMessage(t testing.TB, store courier.Store, id uuid.UUID, timeout time.Duration, what string, ok func(courier.Message) bool) courier.Message {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var m courier.Message
	var err error
	for time.Now().Before(deadline) {
		m, err = store.GetMessage(context.Background(), id)
		if err == nil && ok(m) {
			return m
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("message %s: not %s within %s (last: status=%s send_count=%d dispatches=%d err=%v)", id, what, timeout, m.Status, m.SendCount, len(m.Dispatches), err)
	return m
}

// WaitForStatus polls until the message has the status.
func WaitForStatus(t testing.TB, store courier.Store, id uuid.UUID, st courier.MessageStatus, timeout time.Duration) courier.Message {
	t.Helper()
	return WaitForMessage(t, store, id, timeout, string(st), func(m courier.Message) bool { return m.Status == st })
}

func newStore(t testing.TB, db *sqlstore.DB) *sqlstore.CourierStore {
	return sqltest.CourierStore(t, db)
}

func isClaimLost(err error) bool { return errors.Is(err, courier.ErrClaimLost) }
