package docurl

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "s.json")
	if err := os.WriteFile(file, []byte(`{"type":"object"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	tests := []struct {
		name, url string
		want      string // the document, or a part of the error
		remote    bool
	}{
		{"AbsoluteFile", "file://" + file, `{"type":"object"}`, false},
		{"RelativeFile", "file://./s.json", `{"type":"object"}`, false},
		{"MissingFile", "file://" + filepath.Join(dir, "nope.json"), "cannot read schema file", false},
		{"Base64Padded", "base64://eyJ0eXBlIjoib2JqZWN0In0=", `{"type":"object"}`, false},
		{"Base64Unpadded", "base64://eyJ0eXBlIjoib2JqZWN0In0", `{"type":"object"}`, false},
		{"Base64URLAlphabet", "base64://Pz8-", "??>", false},
		{"NotBase64", "base64://%%%", "base64:// schema does not decode as base64", false},
		{"HTTP", "http://example.com/s.json", `"http://example.com/s.json": Latchkey does not fetch a schema over http(s)`, true},
		{"HTTPS", "https://example.com/s.json", "does not fetch a schema over http(s)", true},
		{"Empty", "", "must not be empty", false},
		{"UnknownScheme", "s3://bucket/s.json", `unsupported schema URL "s3://bucket/s.json"`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Read(tt.url, "schema")
			if errors.Is(err, ErrRemote) != tt.remote {
				t.Errorf("Read(%q) error %v: matches ErrRemote %v, want %v", tt.url, err, !tt.remote, tt.remote)
			}
			got := string(b)
			if err != nil {
				got = err.Error()
			}
			if !strings.Contains(got, tt.want) {
				t.Errorf("Read(%q) = %q, want it to contain %q", tt.url, got, tt.want)
			}
		})
	}
}
