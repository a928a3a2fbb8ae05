package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"
)

// enumeration looks for a timing oracle in recovery: does an email
// submission for an address that belongs to an account take longer than
// one for an address that does not? It sends pairs of submissions, one
// for a known address and one for an unknown address of the same length,
// in random order within each pair, each on a fresh native flow, one
// request at a time. It reports the medians, their difference and a sign
// test over the pairs.
//
// Every submission counts against the recovery send limits, so the server
// must not apply them (SELFSERVICE_FLOWS_RECOVERY_RATE_LIMIT_PER_ADDRESS_MAX=0
// and ..._PER_IP_MAX=0); a 429 stops the run with that advice.
//
// With flow "verification" (scenario verification-enumeration) it sends
// verification email submissions instead; the server needs verification
// on and the same limits off (verification counts with recovery's values).
type enumeration struct {
	pairs int
	// flow is "recovery" or "verification".
	flow string
}

// Defaults of the enumeration scenario.
const (
	// DefaultEnumerationPairs is how many known/unknown pairs are sent.
	DefaultEnumerationPairs = 500
	// enumerationWarmup pairs are sent first and not counted (connections,
	// caches, the server's first allocations).
	enumerationWarmup = 20
	// enumerationPause separates two submissions, so the work the courier
	// does in the background for one (preparing and sending the mail,
	// which starts courier.PrepareDelay after the answer) does not fall on
	// the next, which is more often of the other kind.
	enumerationPause = 150 * time.Millisecond
	// significance is the level below which the sign test reports a difference.
	significance = 0.05
)

// Comparison is what the enumeration scenario measured.
type Comparison struct {
	Pairs         int           `json:"pairs"`
	MedianKnown   time.Duration `json:"median_known_ns"`
	MedianUnknown time.Duration `json:"median_unknown_ns"`
	// Difference is MedianKnown − MedianUnknown.
	Difference time.Duration `json:"difference_ns"`
	// KnownSlower counts the pairs in which the known address took longer.
	KnownSlower int `json:"known_slower"`
	// Ties counts pairs that took exactly as long (left out of the test).
	Ties int `json:"ties"`
	// P is the two-sided p-value of the sign test.
	P float64 `json:"p_value"`
}

// Significant reports whether the sign test finds a difference.
func (c Comparison) Significant() bool { return c.P < significance }

// Summary is the comparison in one line.
func (c Comparison) Summary() string {
	verdict := "no significant difference"
	if c.Significant() {
		verdict = "SIGNIFICANT difference"
	}
	return fmt.Sprintf("median known %s, unknown %s, Δ %+.3fms; known slower in %d of %d pairs (sign test p=%.3g): %s",
		ms(c.MedianKnown), ms(c.MedianUnknown), float64(c.Difference)/float64(time.Millisecond), c.KnownSlower, c.Pairs-c.Ties, c.P, verdict)
}

func (e enumeration) Name() string {
	if e.flow == "verification" {
		return "verification-enumeration"
	}
	return "enumeration"
}

// kind is the flow the submissions go to.
func (e enumeration) kind() string {
	if e.flow == "" {
		return "recovery"
	}
	return e.flow
}

// Setup is not used: the scenario runs a fixed plan (measure).
func (enumeration) Setup(context.Context, *Env) (Op, error) { return nil, nil }

// measure runs the pairs and returns the result.
func (e *enumeration) measure(ctx context.Context, env *Env) (Result, error) {
	res := Result{Scenario: e.Name(), Target: env.Public, Concurrency: 1, ErrorsBy: map[string]int{}, ErrorSamples: map[string]string{}, Notes: env.Notes}
	suffix := randomSuffix()
	known := "enum-k-" + suffix + "@bench.test"
	unknown := "enum-u-" + suffix + "@bench.test"
	if _, err := env.createIdentity(ctx, known, ""); err != nil {
		return res, err
	}
	conns := newWorkerConns()
	defer conns.close()
	ctx = context.WithValue(ctx, workerKey{}, conns)

	// submit times one email submission on a fresh flow.
	submit := func(email string) (time.Duration, error) {
		var flow struct {
			ID string `json:"id"`
		}
		if _, err := env.call(ctx, http.MethodGet, env.Public+"/self-service/"+e.kind()+"/api", nil, http.StatusOK, &flow); err != nil {
			return 0, err
		}
		time.Sleep(enumerationPause)
		u := env.Public + "/self-service/" + e.kind() + "?flow=" + flow.ID
		body := map[string]any{"method": "code", "email": email}
		t0 := time.Now()
		status, err := env.call(ctx, http.MethodPost, u, body, http.StatusOK, nil)
		d := time.Since(t0)
		if status == http.StatusTooManyRequests {
			return 0, fmt.Errorf("%s send limit hit: run the server with SELFSERVICE_FLOWS_RECOVERY_RATE_LIMIT_PER_ADDRESS_MAX=0 and SELFSERVICE_FLOWS_RECOVERY_RATE_LIMIT_PER_IP_MAX=0 (%w)", e.kind(), err)
		}
		return d, err
	}

	var knownTimes, unknownTimes []time.Duration
	var cmp Comparison
	start := time.Now()
	for i := 0; i < enumerationWarmup+e.pairs; i++ {
		order := []string{known, unknown}
		if rand.IntN(2) == 1 {
			order[0], order[1] = unknown, known
		}
		took := map[string]time.Duration{}
		for _, email := range order {
			d, err := submit(email)
			if err != nil {
				return res, err
			}
			took[email] = d
		}
		if i < enumerationWarmup {
			continue
		}
		knownTimes = append(knownTimes, took[known])
		unknownTimes = append(unknownTimes, took[unknown])
		switch {
		case took[known] > took[unknown]:
			cmp.KnownSlower++
		case took[known] == took[unknown]:
			cmp.Ties++
		}
	}
	res.Duration = time.Since(start)
	res.Requests = 2 * e.pairs
	res.PerSecond = float64(res.Requests) / res.Duration.Seconds()
	all := append(append([]time.Duration{}, knownTimes...), unknownTimes...)
	res.Latency = Summarize(all)

	cmp.Pairs = e.pairs
	cmp.MedianKnown, cmp.MedianUnknown = Median(knownTimes), Median(unknownTimes)
	cmp.Difference = cmp.MedianKnown - cmp.MedianUnknown
	cmp.P = SignTest(cmp.KnownSlower, e.pairs-cmp.Ties)
	res.Comparison = &cmp
	return res, nil
}
