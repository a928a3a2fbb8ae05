package password

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// These tests reach inside the package: the pool's slots and the breach
// list's file format are not visible from outside.

var cheapBcrypt = HashConfig{Algorithm: AlgorithmBcrypt, BcryptCost: 4}

func TestPool(t *testing.T) {
	t.Run("WaitingCallerGivesUpWhenContextEnds", func(t *testing.T) {
		h, err := NewHasher(cheapBcrypt, 1)
		if err != nil {
			t.Fatal(err)
		}
		encoded, err := h.Hash(context.Background(), []byte("Correct Horse 1"))
		if err != nil {
			t.Fatal(err)
		}
		h.pool <- struct{}{} // the only slot is busy

		calls := map[string]func(ctx context.Context) error{
			"Hash": func(ctx context.Context) error {
				_, err := h.Hash(ctx, []byte("Correct Horse 1"))
				return err
			},
			"Compare": func(ctx context.Context) error {
				_, err := h.Compare(ctx, []byte("Correct Horse 1"), encoded)
				return err
			},
			"CompareDummy": func(ctx context.Context) error {
				_, err := h.CompareDummy(ctx, []byte("Correct Horse 1"))
				return err
			},
		}
		for name, call := range calls {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
			start := time.Now()
			err := call(ctx)
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s: err = %v, want context.DeadlineExceeded", name, err)
			}
			if waited := time.Since(start); waited < 25*time.Millisecond {
				t.Errorf("%s returned after %v, before its deadline", name, waited)
			}
		}

		<-h.pool // slot free again: work proceeds
		if ok, err := h.Compare(context.Background(), []byte("Correct Horse 1"), encoded); !ok || err != nil {
			t.Fatalf("after release: Compare = %v, %v", ok, err)
		}
	})

	t.Run("CancelledContextLosesEvenWithFreeSlot", func(t *testing.T) {
		h, _ := NewHasher(cheapBcrypt, 4)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		for range 20 {
			if _, err := h.Hash(ctx, []byte("x")); !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want context.Canceled", err)
			}
		}
	})

	t.Run("RunsAtMostWorkersJobsAtOnce", func(t *testing.T) {
		h, _ := NewHasher(cheapBcrypt, 2)
		var running, peak atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := h.run(context.Background(), func() {
					n := running.Add(1)
					for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
					}
					time.Sleep(5 * time.Millisecond)
					running.Add(-1)
				})
				if err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if p := peak.Load(); p != 2 {
			t.Fatalf("peak concurrency %d, want 2", p)
		}
	})

	t.Run("DefaultSizeIsOnePerCPU", func(t *testing.T) {
		h, _ := NewHasher(cheapBcrypt, 0)
		if cap(h.pool) < 1 {
			t.Fatalf("pool size %d", cap(h.pool))
		}
	})
}

func TestDummyUsesConfiguredAlgorithm(t *testing.T) {
	t.Run("Bcrypt", func(t *testing.T) {
		h, _ := NewHasher(cheapBcrypt, 1)
		h.CompareDummy(context.Background(), []byte("x"))
		if d, ok := h.dummy.(bcryptHash); !ok || d.cost != 4 {
			t.Fatalf("dummy %#v, want bcrypt cost 4", h.dummy)
		}
	})
	t.Run("Argon2", func(t *testing.T) {
		cfg := HashConfig{Algorithm: AlgorithmArgon2, Argon2: Argon2Params{Memory: 64, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}}
		h, _ := NewHasher(cfg, 1)
		h.CompareDummy(context.Background(), []byte("x"))
		d, ok := h.dummy.(argon2Hash)
		if !ok || !d.id || d.memory != 64 || d.iterations != 2 || d.parallelism != 1 || len(d.key) != 32 {
			t.Fatalf("dummy %#v, want argon2id with the configured parameters", h.dummy)
		}
		if h.NeedsRehash("$argon2id$v=19$m=64,t=2,p=1$MDEyMzQ1Njc4OWFiY2RlZg$" + string(bytes.Repeat([]byte("A"), 43))) {
			t.Fatal("configured parameters need a rehash")
		}
	})
}

func TestEmbeddedBreachList(t *testing.T) {
	l, err := EmbeddedBreachList()
	if err != nil {
		t.Fatal(err)
	}
	if l.Len() != 47023 {
		t.Errorf("Len = %d, want 47023 (data/passwords.txt of trustelem/zxcvbn v1.0.1)", l.Len())
	}
	for pw, want := range map[string]int{
		"123456": 55893, "password": 20785, "123456789": 11696, "qwertyuiop": 2885,
		"QWERTYUIOP": 2885, "xpcrew": 11, // the list's last line
	} {
		if n, ok := l.Breached(pw); !ok || n != want {
			t.Errorf("Breached(%q) = %d, %v; want %d, true", pw, n, ok, want)
		}
	}
	for _, pw := range []string{"", "t7#Qm!v9Lp@2xZr", "correct horse battery staple 1977"} {
		if n, ok := l.Breached(pw); ok {
			t.Errorf("Breached(%q) = %d, true; want not found", pw, n)
		}
	}
}

func TestParseBreachList(t *testing.T) {
	record := func(pw string, count uint64) []byte {
		s := sha1.Sum([]byte(pw))
		return binary.AppendUvarint(s[:8:8], count)
	}
	file := func(body ...[]byte) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		for _, b := range body {
			zw.Write(b)
		}
		zw.Close()
		return buf.Bytes()
	}
	sorted := func(a, b string) (string, string) {
		x, y := sha1.Sum([]byte(a)), sha1.Sum([]byte(b))
		if bytes.Compare(x[:8], y[:8]) > 0 {
			return b, a
		}
		return a, b
	}
	first, second := sorted("hunter2", "letmein")
	count2 := binary.AppendUvarint(nil, 2)

	t.Run("ReadsRecords", func(t *testing.T) {
		l, err := parseBreachList(bytes.NewReader(file([]byte(breachedMagic), count2, record(first, 7), record(second, 300000))))
		if err != nil {
			t.Fatal(err)
		}
		if n, ok := l.Breached(second); !ok || n != 300000 {
			t.Fatalf("Breached(%q) = %d, %v", second, n, ok)
		}
	})
	for name, data := range map[string][]byte{
		"NotGzip":       []byte("latchkey-breached-v1\n"),
		"WrongMagic":    file([]byte("something-else-v1\n!!"), count2),
		"Truncated":     file([]byte(breachedMagic), count2, record(first, 7)),
		"Unsorted":      file([]byte(breachedMagic), count2, record(second, 7), record(first, 7)),
		"Duplicate":     file([]byte(breachedMagic), count2, record(first, 7), record(first, 7)),
		"TrailingBytes": file([]byte(breachedMagic), count2, record(first, 7), record(second, 7), []byte{0}),
	} {
		t.Run("Rejects"+name, func(t *testing.T) {
			if _, err := parseBreachList(bytes.NewReader(data)); err == nil {
				t.Fatal("parsed without error")
			}
		})
	}
}

func BenchmarkEmbeddedBreachList(b *testing.B) {
	for b.Loop() {
		if _, err := EmbeddedBreachList(); err != nil {
			b.Fatal(err)
		}
	}
}
