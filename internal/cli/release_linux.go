package cli

import (
	"bufio"
	"os"
	"reflect"
	"strconv"
	"strings"
	"syscall"
)

// releaseExecutablePages unmaps the executable's read-only pages (code,
// constant data, function tables) from the process. Start-up runs every
// package initialiser, the migrations and the wiring, and the kernel maps
// the 64 KB around each page it faults in, so an idle server kept about
// 25 MiB of its executable mapped. The pages stay in the page cache: those
// a request needs are mapped again on first use (a minor fault), those only
// start-up needed are not. Only read-only mappings of the executable that
// hold no private copy of a page (a relocated or debugger-patched one) are
// unmapped, so nothing is lost whatever the build mode.
func releaseExecutablePages() {
	maps, err := readMappings()
	if err != nil {
		return
	}
	self := uintptr(reflect.ValueOf(releaseExecutablePages).Pointer())
	var exe *mapping
	for i := range maps {
		if maps[i].start <= self && self < maps[i].end {
			exe = &maps[i]
		}
	}
	if exe == nil || exe.inode == "0" {
		return
	}
	for _, m := range maps {
		if m.dev == exe.dev && m.inode == exe.inode && m.readOnly && !m.anonymous {
			_, _, _ = syscall.Syscall(syscall.SYS_MADVISE, m.start, m.end-m.start, syscall.MADV_DONTNEED)
		}
	}
}

// mapping is one entry of /proc/self/smaps.
type mapping struct {
	start, end uintptr
	dev, inode string
	readOnly   bool // private and not writable
	anonymous  bool // holds private copies of pages
}

func readMappings() ([]mapping, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var maps []mapping
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		// "00400000-0112f000 r-xp 00000000 fe:00 9984778 /path" starts a
		// mapping; "Anonymous: 0 kB" is one of its counters.
		if lo, hi, ok := strings.Cut(fields[0], "-"); ok && len(fields) >= 5 {
			start, err1 := strconv.ParseUint(lo, 16, 64)
			end, err2 := strconv.ParseUint(hi, 16, 64)
			if err1 != nil || err2 != nil || len(fields[1]) != 4 {
				continue
			}
			maps = append(maps, mapping{start: uintptr(start), end: uintptr(end), dev: fields[3], inode: fields[4],
				readOnly: fields[1][1] == '-' && fields[1][3] == 'p'})
			continue
		}
		if fields[0] == "Anonymous:" && len(maps) > 0 && len(fields) >= 2 && fields[1] != "0" {
			maps[len(maps)-1].anonymous = true
		}
	}
	return maps, sc.Err()
}
