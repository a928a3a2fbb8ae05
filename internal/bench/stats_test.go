package bench

import (
	"context"
	"math"
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

func TestSignTest(t *testing.T) {
	for _, c := range []struct {
		name    string
		wins, n int
		want    float64
	}{
		{"no pairs", 0, 0, 1},
		{"one pair", 1, 1, 1},
		{"even split", 5, 10, 1},
		{"all ten one way", 0, 10, 2.0 / 1024},
		{"all ten the other way", 10, 10, 2.0 / 1024},
		// P(X ≥ 8) = (45+10+1)/1024.
		{"eight of ten", 8, 10, 112.0 / 1024},
		// P(X ≥ 15) = (15504+4845+1140+190+20+1)/2^20: just significant.
		{"fifteen of twenty", 15, 20, 2 * 21700.0 / 1048576},
		{"six of twenty", 6, 20, 2 * (1 + 20 + 190 + 1140 + 4845 + 15504 + 38760) / 1048576.0},
		{"the issue's 157 of 200", 157, 200, 0},
		{"balanced 500", 250, 500, 1},
		{"out of range", 11, 10, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := SignTest(c.wins, c.n)
			if math.Abs(got-c.want) > 1e-9 {
				t.Fatalf("SignTest(%d, %d) = %.12f, want %.12f", c.wins, c.n, got, c.want)
			}
		})
	}
	// 157 of 200 is far beyond any significance level, but not zero.
	if p := SignTest(157, 200); p <= 0 || p > 1e-10 {
		t.Fatalf("SignTest(157, 200) = %g", p)
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []time.Duration
		want time.Duration
	}{
		{nil, 0},
		{[]time.Duration{3}, 3},
		{[]time.Duration{5, 1, 3}, 3},
		{[]time.Duration{4, 1, 3, 2}, 2}, // (2+3)/2 in integer nanoseconds
		{[]time.Duration{10, 20}, 15},
	} {
		if got := Median(c.in); got != c.want {
			t.Errorf("Median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}
