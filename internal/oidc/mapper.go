package oidc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-jsonnet"
	"github.com/google/go-jsonnet/ast"
	"github.com/google/go-jsonnet/toolutils"

	"github.com/latchkey/latchkey/internal/docurl"
)

// mapperTimeout bounds one evaluation when the caller's ctx allows more:
// a mapper turns a handful of claims into traits in microseconds, so five
// seconds only ever cuts off a mapper that loops.
const mapperTimeout = 5 * time.Second

// mapperMaxStack bounds recursion depth (go-jsonnet's default is 500); a
// runaway recursion fails fast instead of waiting for the timeout.
const mapperMaxStack = 500

// Mapper is a compiled Jsonnet mapper (mapper_url): claims in, identity
// traits and metadata out.
type Mapper struct {
	url     string
	snippet string
}

// MapperError is a mapper that failed at run time or returned something
// that is not Kratos's output shape. Reason is one line.
type MapperError struct {
	URL    string
	Reason string
}

// Error names the mapper and the reason.
func (e *MapperError) Error() string {
	return fmt.Sprintf("jsonnet mapper %s: %s", e.URL, e.Reason)
}

// Mapped is what a mapper returns, in Kratos's output shape
// {identity: {traits, verified_addresses?, metadata_public?, metadata_admin?}}.
type Mapped struct {
	// Traits is identity.traits, always a JSON object.
	Traits json.RawMessage
	// MetadataPublic is identity.metadata_public, nil when absent.
	MetadataPublic json.RawMessage
	// MetadataAdmin is identity.metadata_admin, nil when absent.
	MetadataAdmin json.RawMessage
	// VerifiedAddresses are the addresses the mapper vouches for.
	VerifiedAddresses []VerifiedAddress
}

// VerifiedAddress is one entry of identity.verified_addresses: an address
// the provider has verified, so Latchkey marks it verified too.
type VerifiedAddress struct {
	Via   string `json:"via"`
	Value string `json:"value"`
}

// LoadMapper reads a file:// or base64:// Jsonnet mapper and checks its
// syntax (the error names the problem and where). http(s) URLs are
// refused: Latchkey does not fetch code over the network.
func LoadMapper(url string) (*Mapper, error) {
	src, err := docurl.Read(url, "mapper")
	if err != nil {
		return nil, err
	}
	node, err := jsonnet.SnippetToAST(url, string(src))
	if err != nil {
		return nil, fmt.Errorf("jsonnet syntax: %s", firstLine(err.Error()))
	}
	if problem := forbidden(node); problem != "" {
		return nil, errors.New(problem)
	}
	return &Mapper{url: url, snippet: string(src)}, nil
}

// forbidden names the first construct a mapper may not use, "" when
// there is none:
//   - imports, so a mapper reads nothing but its claims (refused here
//     rather than at sign-in, so a broken mapper stops start-up);
//   - tailstrict, because go-jsonnet's tail calls escape the stack-frame
//     limit but still grow the Go stack: an endless tailstrict loop ends
//     in a fatal stack overflow of the whole process, which no timeout
//     can prevent. Without it every recursion counts against MaxStack.
func forbidden(n ast.Node) string {
	switch n := n.(type) {
	case *ast.Import:
		return fmt.Sprintf("jsonnet mapper imports %q: imports are not available to mappers", n.File.Value)
	case *ast.ImportStr:
		return fmt.Sprintf("jsonnet mapper imports %q: imports are not available to mappers", n.File.Value)
	case *ast.ImportBin:
		return fmt.Sprintf("jsonnet mapper imports %q: imports are not available to mappers", n.File.Value)
	case *ast.Apply:
		if n.TailStrict {
			return fmt.Sprintf("jsonnet mapper uses tailstrict (%s): it is not available to mappers, whose recursion must stay within the stack limit", n.Loc().String())
		}
	}
	for _, c := range toolutils.Children(n) {
		if problem := forbidden(c); problem != "" {
			return problem
		}
	}
	return ""
}

// Map runs the mapper with std.extVar('claims') set to the claims (their
// JSON with Kratos's keys). The evaluation is bounded by ctx and by five
// seconds. A mapper cannot loop forever (no tailstrict, recursion within
// MaxStack), but it can compute for long; go-jsonnet cannot be
// interrupted, so such an evaluation is abandoned and Map returns while
// its goroutine runs on until it ends.
func (m *Mapper) Map(ctx context.Context, c *Claims) (*Mapped, error) {
	claimsJSON, err := json.Marshal(c)
	if err != nil {
		return nil, &MapperError{URL: m.url, Reason: "claims cannot be encoded: " + err.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, mapperTimeout)
	defer cancel()
	type result struct {
		out string
		err error
	}
	done := make(chan result, 1) // buffered: an abandoned evaluation must not block forever on send
	go func() {
		vm := jsonnet.MakeVM()
		vm.Importer(noImports{})
		vm.MaxStack = mapperMaxStack
		vm.ExtCode("claims", string(claimsJSON))
		out, err := vm.EvaluateAnonymousSnippet(m.url, m.snippet)
		done <- result{out, err}
	}()
	select {
	case <-ctx.Done():
		return nil, &MapperError{URL: m.url, Reason: "evaluation did not finish in time (" + ctx.Err().Error() + ")"}
	case r := <-done:
		if r.err != nil {
			return nil, &MapperError{URL: m.url, Reason: firstLine(r.err.Error())}
		}
		// Jsonnet pretty-prints; the traits are stored, so keep them compact.
		var compact bytes.Buffer
		if err := json.Compact(&compact, []byte(r.out)); err != nil {
			return nil, &MapperError{URL: m.url, Reason: "the output is not JSON"}
		}
		return m.parse(compact.Bytes())
	}
}

// parse checks the mapper's output against Kratos's shape.
func (m *Mapper) parse(out []byte) (*Mapped, error) {
	var doc struct {
		Identity *struct {
			Traits            json.RawMessage `json:"traits"`
			MetadataPublic    json.RawMessage `json:"metadata_public"`
			MetadataAdmin     json.RawMessage `json:"metadata_admin"`
			VerifiedAddresses json.RawMessage `json:"verified_addresses"`
		} `json:"identity"`
	}
	if err := json.Unmarshal(out, &doc); err != nil || doc.Identity == nil {
		return nil, &MapperError{URL: m.url, Reason: "the output has no identity object (expected {identity: {traits: {...}}})"}
	}
	id := doc.Identity
	if !isObject(id.Traits) {
		return nil, &MapperError{URL: m.url, Reason: "identity.traits must be an object"}
	}
	mapped := &Mapped{Traits: id.Traits}
	for _, md := range []struct {
		key string
		raw json.RawMessage
		dst *json.RawMessage
	}{
		{"identity.metadata_public", id.MetadataPublic, &mapped.MetadataPublic},
		{"identity.metadata_admin", id.MetadataAdmin, &mapped.MetadataAdmin},
	} {
		if isAbsent(md.raw) {
			continue
		}
		if !isObject(md.raw) {
			return nil, &MapperError{URL: m.url, Reason: md.key + " must be an object"}
		}
		*md.dst = md.raw
	}
	if !isAbsent(id.VerifiedAddresses) {
		if err := json.Unmarshal(id.VerifiedAddresses, &mapped.VerifiedAddresses); err != nil {
			return nil, &MapperError{URL: m.url, Reason: "identity.verified_addresses must be an array of {via, value}"}
		}
		for i := range mapped.VerifiedAddresses {
			va := &mapped.VerifiedAddresses[i]
			// Email addresses are stored lower-cased and trimmed, so the
			// mapper's spelling must match the stored address.
			if va.Via == "email" {
				va.Value = strings.ToLower(strings.TrimSpace(va.Value))
			}
		}
	}
	return mapped, nil
}

func isAbsent(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

func isObject(raw json.RawMessage) bool {
	return bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{"))
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// noImports refuses every import at run time (LoadMapper already refuses
// them; this is the belt to those braces).
type noImports struct{}

func (noImports) Import(_, path string) (jsonnet.Contents, string, error) {
	return jsonnet.Contents{}, "", fmt.Errorf("import %q: imports are not available to mappers", path)
}
