//go:build ignore

// gen_breached builds breached.bin.gz, the offline breach list embedded by
// breach.go. Run it with `go generate ./internal/password/` from the
// repository root; it needs the Go module proxy, nothing else.
//
// Source: data/passwords.txt of the Go module github.com/trustelem/zxcvbn
// v1.0.1 (MIT licence). Each line is "password count". The module is
// fetched with `go mod download` into the module cache from a scratch
// directory, so Latchkey's go.mod does not grow a dependency, and its
// checksum is pinned below so the list cannot change silently.
//
// Output (see parseBreachList in breach.go): gzip of the magic line, then
// a uvarint record count, then one record per password sorted by key: the
// first 8 bytes of SHA-1(password) big-endian, followed by the count as a
// uvarint.
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha1"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

const (
	module    = "github.com/trustelem/zxcvbn"
	version   = "v1.0.1"
	moduleSum = "h1:mp4JFtzdDYGj9WYSD3KQSkwwUumWNFzXaAjckaTYpsc="
	listPath  = "data/passwords.txt"
	magic     = "latchkey-breached-v1\n"
	output    = "breached.bin.gz"
)

type record struct {
	key   uint64
	count uint64
}

func main() {
	dir, err := download()
	if err != nil {
		log.Fatal(err)
	}
	records, err := readList(filepath.Join(dir, listPath))
	if err != nil {
		log.Fatal(err)
	}
	if err := write(output, records); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: %d passwords from %s@%s/%s\n", output, len(records), module, version, listPath)
}

// download fetches the module into the module cache and returns its
// directory. It runs outside any module so that go.mod is not touched.
func download() (string, error) {
	scratch, err := os.MkdirTemp("", "gen-breached-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(scratch)

	cmd := exec.Command("go", "mod", "download", "-json", module+"@"+version)
	cmd.Dir = scratch
	cmd.Env = append(os.Environ(), "GO111MODULE=on", "GOFLAGS=")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go mod download %s@%s: %w", module, version, err)
	}
	var info struct{ Dir, Sum string }
	if err := json.Unmarshal(out, &info); err != nil {
		return "", fmt.Errorf("go mod download output: %w", err)
	}
	if info.Sum != moduleSum {
		return "", fmt.Errorf("%s@%s has checksum %s, want %s", module, version, info.Sum, moduleSum)
	}
	return info.Dir, nil
}

func readList(path string) ([]record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()

	seen := map[uint64]bool{}
	var records []record
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 2 {
			return nil, fmt.Errorf("%s:%d: want \"password count\", got %q", path, line, sc.Text())
		}
		count, err := strconv.ParseUint(fields[1], 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		sum := sha1.Sum([]byte(fields[0]))
		key := binary.BigEndian.Uint64(sum[:8])
		if seen[key] {
			// Distinct passwords sharing 64 bits of SHA-1 would be news;
			// duplicates in the source are simply skipped.
			continue
		}
		seen[key] = true
		records = append(records, record{key: key, count: count})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	slices.SortFunc(records, func(a, b record) int {
		switch {
		case a.key < b.key:
			return -1
		case a.key > b.key:
			return 1
		}
		return 0
	})
	return records, nil
}

func write(path string, records []record) error {
	var raw bytes.Buffer
	raw.WriteString(magic)
	raw.Write(binary.AppendUvarint(nil, uint64(len(records))))
	for _, r := range records {
		raw.Write(binary.BigEndian.AppendUint64(nil, r.key))
		raw.Write(binary.AppendUvarint(nil, r.count))
	}

	var out bytes.Buffer
	zw, err := gzip.NewWriterLevel(&out, gzip.BestCompression)
	if err != nil {
		return err
	}
	// No name or timestamp in the gzip header: the output depends only on
	// the input, so regenerating gives a byte-identical file.
	if _, err := zw.Write(raw.Bytes()); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return os.WriteFile(path, out.Bytes(), 0o644)
}
