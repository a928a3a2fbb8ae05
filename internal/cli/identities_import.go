package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// importItem is one identity of an import, named after where it came
// from: "users.json[3]", "STD_IN[0]" (Kratos's names).
type importItem struct {
	source string
	body   json.RawMessage
}

// readImport reads the identities of `identities import`: each file (or
// stdin, for none or "-") holds one create body or an array of them,
// Kratos's import format. A file that cannot be read or is not JSON
// stops the import before anything is created.
func readImport(stdin io.Reader, files []string) ([]importItem, error) {
	if len(files) == 0 {
		files = []string{"-"}
	}
	var items []importItem
	for _, name := range files {
		var (
			b   []byte
			err error
		)
		label := name
		if name == "-" {
			label = "STD_IN"
			b, err = io.ReadAll(stdin)
		} else {
			b, err = os.ReadFile(name)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: could not read the identities: %w", label, err)
		}
		bodies, err := splitImport(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", label, err)
		}
		for n, body := range bodies {
			items = append(items, importItem{source: fmt.Sprintf("%s[%d]", label, n), body: body})
		}
	}
	return items, nil
}

// splitImport returns the create bodies of one document: the document
// itself, or the elements of an array.
func splitImport(b []byte) ([]json.RawMessage, error) {
	b = bytes.TrimSpace(b)
	if !json.Valid(b) {
		return nil, fmt.Errorf("not JSON: expected an identity object or an array of them")
	}
	if b[0] != '[' {
		return []json.RawMessage{b}, nil
	}
	var bodies []json.RawMessage
	if err := json.Unmarshal(b, &bodies); err != nil {
		return nil, err
	}
	return bodies, nil
}
