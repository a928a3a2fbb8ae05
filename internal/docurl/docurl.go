// Package docurl reads the documents a configuration names by URL, as
// Kratos names them: identity schemas, Jsonnet claim mappers and
// web_hook body templates.
package docurl

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
)

// ErrRemote matches the error Read gives for an http(s) URL. Schemas and
// mappers refuse such URLs: Latchkey does not take them from the network.
// A web_hook body template is fetched instead, once, at start-up.
var ErrRemote = errors.New("document is fetched over HTTP")

// Read returns the document at a file:// URL (file://./x.json is relative
// to the working directory, as in Kratos) or a base64:// URL (standard or
// URL alphabet, padded or not). what names the document in errors
// ("schema", "mapper"). An http(s) URL gives an error matching ErrRemote.
func Read(u, what string) ([]byte, error) {
	switch {
	case strings.HasPrefix(u, "file://"):
		b, err := os.ReadFile(strings.TrimPrefix(u, "file://"))
		if err != nil {
			return nil, fmt.Errorf("cannot read %s file: %w", what, err)
		}
		return b, nil
	case strings.HasPrefix(u, "base64://"):
		b, err := DecodeBase64(strings.TrimPrefix(u, "base64://"))
		if err != nil {
			return nil, fmt.Errorf("base64:// %s does not decode as base64: %w", what, err)
		}
		return b, nil
	case strings.HasPrefix(u, "http://"), strings.HasPrefix(u, "https://"):
		return nil, remoteError{url: u, what: what}
	case u == "":
		return nil, errors.New("must not be empty")
	}
	return nil, fmt.Errorf("unsupported %s URL %q (use file:// or base64://)", what, u)
}

type remoteError struct{ url, what string }

func (e remoteError) Error() string {
	return fmt.Sprintf("%q: Latchkey does not fetch a %s over http(s); use a file:// or base64:// URL", e.url, e.what)
}

func (remoteError) Is(target error) bool { return target == ErrRemote }

// DecodeBase64 decodes s in whichever of the four base64 encodings it is
// in (Kratos's configs use all of them); the error is the standard
// encoding's.
func DecodeBase64(s string) ([]byte, error) {
	var firstErr error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		b, err := enc.DecodeString(s)
		if err == nil {
			return b, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, firstErr
}
