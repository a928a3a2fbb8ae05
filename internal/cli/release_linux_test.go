package cli

import (
	"bufio"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// written lives in the executable's writable data, which must keep its
// value: only read-only mappings are released.
var written = []string{"before"}

// TestReleaseExecutablePages: once released, the executable's read-only
// mappings are (almost) no longer resident, and the program runs on with
// its data intact.
func TestReleaseExecutablePages(t *testing.T) {
	written[0] = "after start"
	before := readOnlyExecutableRss(t)
	if before == 0 {
		t.Skip("no resident read-only executable mapping")
	}
	releaseExecutablePages()
	after := readOnlyExecutableRss(t)
	if after >= before {
		t.Errorf("read-only executable pages resident: %d kB before, %d kB after", before, after)
	}
	t.Logf("read-only executable pages resident: %d kB before, %d kB after", before, after)
	if written[0] != "after start" {
		t.Errorf("writable data lost: %q", written[0])
	}
	if got := strings.ToUpper("still runs"); got != "STILL RUNS" {
		t.Errorf("ToUpper = %q", got)
	}
}

// readOnlyExecutableRss sums the Rss of the test binary's read-only
// mappings (kB).
func readOnlyExecutableRss(t *testing.T) int {
	t.Helper()
	maps, err := readMappings()
	if err != nil {
		t.Fatal(err)
	}
	self := uintptr(reflect.ValueOf(readOnlyExecutableRss).Pointer())
	var dev, inode string
	for _, m := range maps {
		if m.start <= self && self < m.end {
			dev, inode = m.dev, m.inode
		}
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	total, counting := 0, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 5 && strings.Contains(fields[0], "-") && len(fields[1]) == 4 {
			counting = fields[3] == dev && fields[4] == inode && fields[1][1] == '-'
			continue
		}
		if counting && len(fields) >= 2 && fields[0] == "Rss:" {
			n, _ := strconv.Atoi(fields[1])
			total += n
		}
	}
	return total
}
