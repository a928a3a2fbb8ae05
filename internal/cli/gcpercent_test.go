package cli

import (
	"os"
	"runtime/debug"
	"testing"
)

// currentGCPercent reads the collector's target (setting it is the only
// way to read it) and puts it back.
func currentGCPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

func TestRaiseGCPercent(t *testing.T) {
	defer debug.SetGCPercent(currentGCPercent())
	for _, tc := range []struct {
		name string
		gogc string // "" leaves GOGC unset
		want int
	}{
		{"unset: the serving target", "", servingGCPercent},
		{"GOGC chosen: kept", "150", 150},
		{"GOGC=off chosen: kept", "off", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("GOGC", tc.gogc) // restores the variable afterwards
			if tc.gogc == "" {
				os.Unsetenv("GOGC")
			}
			// The runtime read GOGC at start; emulate the value it would have set.
			debug.SetGCPercent(tc.want)
			if tc.gogc == "" {
				debug.SetGCPercent(100)
			}
			raiseGCPercent()
			if got := currentGCPercent(); got != tc.want {
				t.Fatalf("GC percent = %d, want %d", got, tc.want)
			}
		})
	}
}

// TestServeRaisesGCPercentOnceReady: what serve runs once ready leaves the
// collector at its serving target (GOGC unset).
func TestServeRaisesGCPercentOnceReady(t *testing.T) {
	defer debug.SetGCPercent(currentGCPercent())
	t.Setenv("GOGC", "")
	os.Unsetenv("GOGC")
	debug.SetGCPercent(100)
	releaseStartUpMemory()
	if got := currentGCPercent(); got != servingGCPercent {
		t.Fatalf("GC percent after start-up = %d, want %d", got, servingGCPercent)
	}
}
