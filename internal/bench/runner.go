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

// measurer is a scenario that runs a fixed plan of its own instead of
// operations for a duration (enumeration).
type measurer interface {
	measure(ctx context.Context, env *Env) (Result, error)
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
	// cleanups run when the scenario's run is over (servers it started).
	cleanups []func()
	// servesMail: the driver's SMTP server runs for this scenario, so
	// the run waits for the mail it left queued (drain).
	servesMail bool
}

// OnDone registers fn to run once the scenario's run is over.
func (e *Env) OnDone(fn func()) { e.cleanups = append(e.cleanups, fn) }

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
	defer func() {
		for i := len(env.cleanups) - 1; i >= 0; i-- {
			env.cleanups[i]()
		}
		env.cleanups = nil
	}()
	if m, ok := s.(measurer); ok {
		// A fixed plan of its own: neither duration nor concurrency apply.
		res, err := m.measure(ctx, env)
		if err != nil {
			return res, fmt.Errorf("%s: %w", s.Name(), err)
		}
		return res, nil
	}
	op, err := s.Setup(ctx, env)
	if err != nil {
		return Result{}, fmt.Errorf("%s setup: %w", s.Name(), err)
	}
	var countsBefore dbCounts
	if s.Name() != "ceiling" { // the ceiling's server is not Latchkey
		countsBefore = readDBCounts(ctx, env)
	}
	runCtx, cancel := context.WithTimeout(ctx, duration)
	end, _ := runCtx.Deadline()
	// over reports whether the run is over. Connections time out at the
	// run's deadline, a moment before runCtx reports it: an operation that
	// fails then was cut off, it did not fail.
	over := func() bool { return runCtx.Err() != nil || !time.Now().Before(end) }
	defer cancel()
	type workerStats struct {
		samples []time.Duration
		errors  map[string]int
		// first keeps the first error message of each status.
		first map[string]string
	}
	stats := make([]workerStats, env.Concurrency)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < env.Concurrency; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			conns := newWorkerConns()
			defer conns.close()
			wctx := context.WithValue(runCtx, workerKey{}, conns)
			ws := &stats[w]
			ws.errors, ws.first = map[string]int{}, map[string]string{}
			for !over() {
				t0 := time.Now()
				status, err := op(wctx, w)
				if err != nil && over() {
					return // cut off by the end of the run: not a failure
				}
				ws.samples = append(ws.samples, time.Since(t0))
				if err != nil {
					k := strconv.Itoa(status)
					ws.errors[k]++
					if _, ok := ws.first[k]; !ok {
						ws.first[k] = err.Error()
					}
				}
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	res := Result{Scenario: s.Name(), Target: env.Public, Concurrency: env.Concurrency, Duration: elapsed,
		ErrorsBy: map[string]int{}, ErrorSamples: map[string]string{}, Notes: env.Notes}
	var all []time.Duration
	for _, ws := range stats {
		all = append(all, ws.samples...)
		for k, v := range ws.errors {
			res.ErrorsBy[k] += v
			res.Errors += v
			if _, ok := res.ErrorSamples[k]; !ok {
				res.ErrorSamples[k] = ws.first[k]
			}
		}
	}
	res.Requests = len(all)
	res.PerSecond = float64(len(all)) / elapsed.Seconds()
	res.Latency = Summarize(all)
	if countsBefore.ok || countsBefore.cpuSeconds != nil {
		res.perOperation(countsBefore, readDBCounts(ctx, env))
	}
	if countsBefore.ok && env.servesMail {
		drain(ctx, env, &res)
	}
	env.mu.Lock()
	if len(env.mailLatency) > 0 {
		p := Summarize(env.mailLatency)
		res.MailLatency = &p
	}
	env.mu.Unlock()
	return res, nil
}

func trimSlash(s string) string {
	for len(s) > 0 && s[len(s)-1] == '/' {
		s = s[:len(s)-1]
	}
	return s
}

// Plan is one invocation of the driver: every scenario at every level of
// concurrency, each for Duration.
type Plan struct {
	Public, Admin string
	Scenarios     []string
	Levels        []int
	Duration      time.Duration
	Options       Options
}

// RunPlan runs the plan level by level, the scenarios in the order given,
// passing each result to report (if not nil) as soon as it is measured.
// A ceiling measured earlier at the same level gives the results after it
// their CeilingFraction.
func RunPlan(ctx context.Context, p Plan, report func(Result)) ([]Result, error) {
	for _, name := range p.Scenarios {
		if _, err := New(name, p.Options); err != nil {
			return nil, err
		}
	}
	var results []Result
	for _, level := range p.Levels {
		var ceiling float64
		for _, name := range p.Scenarios {
			s, _ := New(name, p.Options)
			res, err := Run(ctx, s, NewEnv(p.Public, p.Admin, level), p.Duration)
			if err != nil {
				return results, err
			}
			if res.Scenario == "ceiling" {
				ceiling = res.PerSecond
			} else if ceiling > 0 {
				res.CeilingFraction = res.PerSecond / ceiling
			}
			results = append(results, res)
			if report != nil {
				report(res)
			}
		}
	}
	return results, nil
}
