package cli

import (
	"os"
	"runtime/debug"
)

// servingGCPercent is the collector's growth target for serve (not for
// the bench driver and its ceiling server: the yardstick stays). A serving
// Latchkey keeps little live heap (3 MB under load: state is in the
// database), so at Go's default of 100 every few megabytes allocated
// start a collection, each with a fixed cost (the roots, the stacks):
// about 60 a second while flows are created at 15k/s, 10% of the CPU.
// At 400 there are five times fewer, and the heap peaks at tens of
// megabytes instead of ten (docs/operations.md § Memory).
const servingGCPercent = 400

// raiseGCPercent sets servingGCPercent unless the GOGC environment
// variable chose a target (the runtime applied it already).
func raiseGCPercent() {
	if _, chosen := os.LookupEnv("GOGC"); chosen {
		return
	}
	debug.SetGCPercent(servingGCPercent)
}
