package cli

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

func TestLogWriterKeepsRecordsWholeAndInOrder(t *testing.T) {
	var out servertest.LogBuffer
	l := newLogWriter(&out)
	const writers, records = 8, 2000
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for n := range records {
				if _, err := fmt.Fprintf(l, "writer=%d record=%d %s\n", g, n, strings.Repeat("x", n%97)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	next := make([]int, writers)
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	for _, line := range lines {
		var g, n int
		var pad string
		if _, err := fmt.Sscanf(line, "writer=%d record=%d %s", &g, &n, &pad); err != nil && n%97 != 0 {
			t.Fatalf("torn record %q: %v", line, err)
		}
		if n != next[g] || len(pad) != n%97 {
			t.Fatalf("writer %d: record %d (%d bytes of padding) where %d was due", g, n, len(pad), next[g])
		}
		next[g]++
	}
	if len(lines) != writers*records {
		t.Fatalf("%d records, want %d", len(lines), writers*records)
	}
}

func TestLogWriterWritesWithoutWaitingForClose(t *testing.T) {
	var out servertest.LogBuffer
	l := newLogWriter(&out)
	defer l.Close()
	slog.New(slog.NewTextHandler(l, nil)).Info("recovery flow created", "flow_id", "f1")
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), `msg="recovery flow created" flow_id=f1`) {
		if time.Now().After(deadline) {
			t.Fatalf("an idle server's log line was not written: %q", out.String())
		}
		time.Sleep(time.Millisecond)
	}
}

// stalled is a writer that blocks until released: a log pipe nobody reads.
type stalled struct {
	release chan struct{}
	servertest.LogBuffer
}

func (s *stalled) Write(p []byte) (int, error) {
	<-s.release
	return s.LogBuffer.Write(p)
}

func TestLogWriterHoldsAtMostMaxPending(t *testing.T) {
	out := &stalled{release: make(chan struct{})}
	l := newLogWriter(out)
	record := []byte(strings.Repeat("y", 1023) + "\n")
	total := 3 * maxPending / len(record)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range total {
			if _, err := l.Write(record); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	time.Sleep(200 * time.Millisecond)
	select {
	case <-done:
		t.Fatal("3 MiB of log taken while the pipe was stalled")
	default:
	}
	l.mu.Lock()
	held := len(l.pending)
	l.mu.Unlock()
	if held > maxPending+len(record) {
		t.Fatalf("%d bytes held, more than %d", held, maxPending)
	}
	close(out.release)
	<-done
	l.Close()
	if n := strings.Count(out.String(), "\n"); n != total {
		t.Fatalf("%d records written, want %d", n, total)
	}
	// After Close a record is written directly.
	if _, err := l.Write([]byte("late\n")); err != nil || !strings.HasSuffix(out.String(), "late\n") {
		t.Fatalf("write after close: %v", err)
	}
}

// BenchmarkLogRecord logs a flow's line from 64 goroutines, as a
// recovery-flow run does, straight to a file and through a logWriter.
func BenchmarkLogRecord(b *testing.B) {
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer devNull.Close()
	for _, c := range []struct {
		name string
		wrap func() (w *logWriter)
	}{{"file", nil}, {"logWriter", func() *logWriter { return newLogWriter(devNull) }}} {
		b.Run(c.name, func(b *testing.B) {
			var log *slog.Logger
			if c.wrap == nil {
				log = slog.New(slog.NewTextHandler(devNull, nil))
			} else {
				w := c.wrap()
				defer w.Close()
				log = slog.New(slog.NewTextHandler(w, nil))
			}
			b.ReportAllocs()
			b.SetParallelism(32)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					log.Info("recovery flow created", "client_ip", "127.0.0.1", "flow_id", "01a2428a-0e4e-7a2e-99d4-e0c97276bdab", "flow_type", "api", "method", "code")
				}
			})
		})
	}
}
