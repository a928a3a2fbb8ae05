package bench

import (
	"context"
	"testing"
	"time"
)

func TestSummarizeNearestRank(t *testing.T) {
	var s []time.Duration
	for i := 100; i >= 1; i-- { // unsorted on purpose
		s = append(s, time.Duration(i)*time.Millisecond)
	}
	p := Summarize(s)
	want := Percentiles{P50: 50 * time.Millisecond, P90: 90 * time.Millisecond, P99: 99 * time.Millisecond, Max: 100 * time.Millisecond}
	if p != want {
		t.Fatalf("Summarize = %+v, want %+v", p, want)
	}
	if (Summarize(nil) != Percentiles{}) {
		t.Fatal("empty input must give zero percentiles")
	}
	one := Summarize([]time.Duration{7})
	if one.P50 != 7 || one.P99 != 7 || one.Max != 7 {
		t.Fatalf("single sample: %+v", one)
	}
}

func TestCeilingRunCountsRequestsWithoutErrors(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := New("ceiling", Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(ctx, s, NewEnv("", "", 4), 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 || res.Errors != 0 || res.PerSecond <= 0 {
		t.Fatalf("unexpected result %+v", res)
	}
	if res.Latency.P50 <= 0 || res.Latency.Max < res.Latency.P99 || res.Latency.P99 < res.Latency.P50 {
		t.Fatalf("percentiles out of order: %+v", res.Latency)
	}
}

func TestUnknownScenario(t *testing.T) {
	if _, err := New("nope", Options{}); err == nil {
		t.Fatal("want an error for an unknown scenario")
	}
}
