package identity

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
)

// PatchOperation is one RFC 6902 JSON Patch operation.
type PatchOperation struct {
	Op    string          `json:"op"`
	Path  string          `json:"path"`
	From  string          `json:"from,omitempty"`
	Value json.RawMessage `json:"value,omitempty"`
}

// PatchError explains why a patch cannot be applied.
type PatchError struct {
	Index  int // position of the failing operation
	Op     PatchOperation
	Reason string
}

// Error names the failing operation and why it failed.
func (e *PatchError) Error() string {
	return fmt.Sprintf("json patch operation %d (%s %s): %s", e.Index, e.Op.Op, e.Op.Path, e.Reason)
}

// ApplyPatch applies ops in order to doc, a value as decoded by
// encoding/json into any (numbers may be json.Number), and returns the
// result. doc may be modified in place; on error it must be discarded.
func ApplyPatch(doc any, ops []PatchOperation) (any, error) {
	for n, op := range ops {
		var err error
		doc, err = applyOp(doc, op)
		if err != nil {
			return nil, &PatchError{Index: n, Op: op, Reason: err.Error()}
		}
	}
	return doc, nil
}

func applyOp(doc any, op PatchOperation) (any, error) {
	path, err := parsePointer(op.Path)
	if err != nil {
		return nil, err
	}
	switch op.Op {
	case "add", "replace", "test":
		if op.Value == nil {
			return nil, fmt.Errorf("%q needs a value", op.Op)
		}
		v, err := decodeValue(op.Value)
		if err != nil {
			return nil, err
		}
		switch op.Op {
		case "add":
			return add(doc, path, v)
		case "replace":
			if len(path) == 0 {
				return v, nil
			}
			if _, err := get(doc, path); err != nil {
				return nil, err
			}
			if doc, _, err = remove(doc, path); err != nil {
				return nil, err
			}
			return add(doc, path, v)
		default:
			cur, err := get(doc, path)
			if err != nil {
				return nil, err
			}
			if !jsonEqual(cur, v) {
				return nil, fmt.Errorf("test failed: the value at %q differs", op.Path)
			}
			return doc, nil
		}
	case "remove":
		doc, _, err := remove(doc, path)
		return doc, err
	case "move", "copy":
		from, err := parsePointer(op.From)
		if err != nil {
			return nil, fmt.Errorf("from: %w", err)
		}
		if op.Op == "move" {
			if isPrefix(from, path) && len(from) < len(path) {
				return nil, fmt.Errorf("cannot move %q into one of its children", op.From)
			}
			doc, v, err := remove(doc, from)
			if err != nil {
				return nil, fmt.Errorf("from: %w", err)
			}
			return add(doc, path, v)
		}
		v, err := get(doc, from)
		if err != nil {
			return nil, fmt.Errorf("from: %w", err)
		}
		return add(doc, path, deepCopy(v))
	case "":
		return nil, fmt.Errorf("op is missing")
	}
	return nil, fmt.Errorf("unknown op %q (use add, remove, replace, move, copy or test)", op.Op)
}

// parsePointer splits an RFC 6901 JSON pointer into unescaped tokens.
func parsePointer(p string) ([]string, error) {
	if p == "" {
		return nil, nil
	}
	if !strings.HasPrefix(p, "/") {
		return nil, fmt.Errorf("path %q must be empty or start with /", p)
	}
	parts := strings.Split(p[1:], "/")
	for i, t := range parts {
		// ~1 first, then ~0: "~01" means "~1", not "/".
		parts[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
	}
	return parts, nil
}

func decodeValue(raw json.RawMessage) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("value is not valid JSON: %w", err)
	}
	return v, nil
}

func get(doc any, path []string) (any, error) {
	cur := doc
	for n, t := range path {
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[t]
			if !ok {
				return nil, fmt.Errorf("path %q does not exist", pointer(path[:n+1]))
			}
			cur = v
		case []any:
			i, err := arrayIndex(t, len(c)-1)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", pointer(path[:n+1]), err)
			}
			cur = c[i]
		default:
			return nil, fmt.Errorf("path %q does not exist", pointer(path[:n+1]))
		}
	}
	return cur, nil
}

// add sets the value at path; the parent must exist. Arrays take an index
// (insert before) or "-" (append).
func add(doc any, path []string, v any) (any, error) {
	if len(path) == 0 {
		return v, nil
	}
	return update(doc, path, func(parent any, last string) (any, error) {
		switch p := parent.(type) {
		case map[string]any:
			p[last] = v
			return p, nil
		case []any:
			i := len(p)
			if last != "-" {
				var err error
				if i, err = arrayIndex(last, len(p)); err != nil {
					return nil, err
				}
			}
			return slices.Insert(p, i, v), nil
		}
		return nil, fmt.Errorf("the parent of %q is not an object or array", pointer(path))
	})
}

// remove deletes the value at path and returns it.
func remove(doc any, path []string) (any, any, error) {
	if len(path) == 0 {
		return nil, nil, fmt.Errorf("cannot remove the whole document")
	}
	var removed any
	doc, err := update(doc, path, func(parent any, last string) (any, error) {
		switch p := parent.(type) {
		case map[string]any:
			v, ok := p[last]
			if !ok {
				return nil, fmt.Errorf("path %q does not exist", pointer(path))
			}
			removed = v
			delete(p, last)
			return p, nil
		case []any:
			i, err := arrayIndex(last, len(p)-1)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", pointer(path), err)
			}
			removed = p[i]
			return slices.Delete(p, i, i+1), nil
		}
		return nil, fmt.Errorf("path %q does not exist", pointer(path))
	})
	return doc, removed, err
}

// update walks to the parent of path, lets fn change it, and stores the
// (possibly new, for arrays) parent back into its own parent.
func update(node any, path []string, fn func(parent any, last string) (any, error)) (any, error) {
	if len(path) == 1 {
		return fn(node, path[0])
	}
	switch c := node.(type) {
	case map[string]any:
		child, ok := c[path[0]]
		if !ok {
			return nil, fmt.Errorf("path %q does not exist", "/"+escapeToken(path[0]))
		}
		nc, err := update(child, path[1:], fn)
		if err != nil {
			return nil, err
		}
		c[path[0]] = nc
		return c, nil
	case []any:
		i, err := arrayIndex(path[0], len(c)-1)
		if err != nil {
			return nil, err
		}
		nc, err := update(c[i], path[1:], fn)
		if err != nil {
			return nil, err
		}
		c[i] = nc
		return c, nil
	}
	return nil, fmt.Errorf("path %q does not exist", pointer(path))
}

// arrayIndex parses an array index token no greater than max.
func arrayIndex(t string, max int) (int, error) {
	if t == "" || (len(t) > 1 && t[0] == '0') || strings.TrimLeft(t, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not an array index", t)
	}
	i, err := strconv.Atoi(t)
	if err != nil || i > max {
		return 0, fmt.Errorf("array index %s is out of bounds", t)
	}
	return i, nil
}

func escapeToken(t string) string { return strings.NewReplacer("~", "~0", "/", "~1").Replace(t) }

func isPrefix(prefix, path []string) bool {
	return len(prefix) <= len(path) && slices.Equal(prefix, path[:len(prefix)])
}

func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[k] = deepCopy(x)
		}
		return m
	case []any:
		s := make([]any, len(t))
		for i, x := range t {
			s[i] = deepCopy(x)
		}
		return s
	}
	return v
}

// jsonEqual compares JSON values; numbers compare by value (1 == 1.0).
func jsonEqual(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !jsonEqual(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !jsonEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	case json.Number, float64:
		ra, okA := toRat(a)
		rb, okB := toRat(b)
		return okA && okB && ra.Cmp(rb) == 0
	}
	return a == b
}

func toRat(v any) (*big.Rat, bool) {
	switch n := v.(type) {
	case json.Number:
		return new(big.Rat).SetString(string(n))
	case float64:
		r := new(big.Rat)
		if r.SetFloat64(n) == nil {
			return nil, false
		}
		return r, true
	}
	return nil, false
}
