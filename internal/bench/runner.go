package bench

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Op is one operation of a scenario (one request, or one whole journey).
// It returns the HTTP status that decided the outcome; a non-nil error
// counts as a failure under that status ("0" for transport errors).
type Op func(ctx context.Context, worker int) (status int, err error)

// Scenario prepares what its operations need and returns the operation.
type Scenario interface {
	Name() string
	// Setup runs before the clock starts (creating identities, tokens, ...).
	Setup(ctx context.Context, env *Env) (Op, error)
}

// Env is what scenarios share: the target URLs and an HTTP client sized for
// the concurrency.
type Env struct {
	Public      string
	Admin       string
	Concurrency int
	Client      *http.Client
	// Notes are copied into the result.
	Notes map[string]string
	// mail is set by scenarios that read mail.
	mailLatency []time.Duration
	mu          sync.Mutex
}

// NewEnv builds an environment with keep-alive connections for every worker.
func NewEnv(public, admin string, concurrency int) *Env {
	tr := &http.Transport{
		MaxIdleConns:        concurrency * 2,
		MaxIdleConnsPerHost: concurrency * 2,
		IdleConnTimeout:     90 * time.Second,
	}
	return &Env{Public: trimSlash(public), Admin: trimSlash(admin), Concurrency: concurrency,
		Client: &http.Client{Transport: tr, Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		Notes:  map[string]string{}}
}

func (e *Env) recordMail(d time.Duration) {
	e.mu.Lock()
	e.mailLatency = append(e.mailLatency, d)
	e.mu.Unlock()
}

// Run executes the scenario with env.Concurrency workers for duration.
func Run(ctx context.Context, s Scenario, env *Env, duration time.Duration) (Result, error) {
	op, err := s.Setup(ctx, env)
	if err != nil {
		return Result{}, fmt.Errorf("%s setup: %w", s.Name(), err)
	}
	runCtx, cancel := context.WithTimeout(ctx, duration)
	defer cancel()
	type workerStats struct {
		samples []time.Duration
		errors  map[string]int
	}
	stats := make([]workerStats, env.Concurrency)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < env.Concurrency; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			ws := &stats[w]
			ws.errors = map[string]int{}
			for runCtx.Err() == nil {
				t0 := time.Now()
				status, err := op(runCtx, w)
				if err != nil && runCtx.Err() != nil {
					return // cut off by the end of the run: not a failure
				}
				ws.samples = append(ws.samples, time.Since(t0))
				if err != nil {
					ws.errors[strconv.Itoa(status)]++
				}
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	res := Result{Scenario: s.Name(), Target: env.Public, Concurrency: env.Concurrency, Duration: elapsed, ErrorsBy: map[string]int{}, Notes: env.Notes}
	var all []time.Duration
	for _, ws := range stats {
		all = append(all, ws.samples...)
		for k, v := range ws.errors {
			res.ErrorsBy[k] += v
			res.Errors += v
		}
	}
	res.Requests = len(all)
	res.PerSecond = float64(len(all)) / elapsed.Seconds()
	res.Latency = Summarize(all)
	if len(env.mailLatency) > 0 {
		p := Summarize(env.mailLatency)
		res.MailLatency = &p
	}
	return res, nil
}

func trimSlash(s string) string {
	for len(s) > 0 && s[len(s)-1] == '/' {
		s = s[:len(s)-1]
	}
	return s
}
