package courier_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/courier"
	"github.com/latchkey/latchkey/internal/courier/smtptest"
	"github.com/latchkey/latchkey/internal/sqlstore"
	"github.com/latchkey/latchkey/internal/sqlstore/sqltest"
)

// BenchmarkDrain measures the courier's throughput alone: b.N mails
// queued ahead (half codes, half security notifications, as a recovery
// journey leaves them), then one dispatcher with the default slots sends
// them over real SMTP to an in-process server. mails/s is the figure the
// journeys' notifications depend on (docs/benchmarks-history.md).
func BenchmarkDrain(b *testing.B) {
	for _, d := range []sqlstore.Dialect{sqlstore.SQLite, sqlstore.Postgres, sqlstore.MySQL} {
		for _, slots := range []int{4, courier.DefaultConcurrency} {
			b.Run(fmt.Sprintf("%s/slots=%d", d, slots), func(b *testing.B) { drain(b, d, slots) })
		}
	}
}

func drain(b *testing.B, d sqlstore.Dialect, slots int) {
	db := sqltest.Open(b, d)
	store := newStore(b, db)
	srv := smtptest.Start(b)
	q := courier.NewQueue(store, MustTemplates(b), nil)
	ctx := context.Background()
	for i := range b.N {
		to := fmt.Sprintf("drain-%d@example.test", i)
		e := courier.Email{To: to, Template: courier.TemplateRecoveryCodeValid,
			Data: courier.TemplateData{RecoveryCode: "123456", ExpiresInMinutes: 60}}
		if i%2 == 1 {
			e.Template = courier.TemplateSecurityAccountRecovered
			e.Data = courier.TemplateData{Event: &courier.EventData{Type: "recovery.succeeded", Time: time.Now(), Method: "code", Actor: "self"},
				LockdownURL: "https://example.test/ui/lockdown?token=drain", LockdownValidFor: "7 days"}
		}
		if _, err := q.Enqueue(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
	cfg := fastConfig(b, store, MustSMTPSender(b, srv.URI()))
	// Warnings show: a deadlock or a failed send is worth seeing here.
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg.Concurrency = slots
	b.ResetTimer()
	start := time.Now()
	RunDispatcher(b, cfg)
	for srv.Count() < b.N {
		time.Sleep(time.Millisecond)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "mails/s")
}
