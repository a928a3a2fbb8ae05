package registration

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/identity"
)

// formTraits builds the traits object of an HTML form submission from its
// traits.<path> fields: only the schema's traits are read, each typed after
// the schema (numbers and booleans parsed when they parse), and empty
// fields are left out, so a required trait left blank is reported missing.
func formTraits(sch *identity.Schema, fields map[string]string) json.RawMessage {
	traits := map[string]any{}
	for _, p := range sch.Traits {
		v, ok := fields[p.Name()]
		if !ok || v == "" {
			continue
		}
		setPath(traits, p.Path, typed(p, v))
	}
	b, _ := json.Marshal(traits)
	return b
}

// typed converts a form value to the trait's JSON type when it can; a value
// that does not convert stays a string and fails schema validation.
func typed(p identity.TraitProperty, v string) any {
	switch p.Type {
	case "number", "integer":
		if n, err := strconv.ParseFloat(v, 64); err == nil {
			return json.Number(strconv.FormatFloat(n, 'f', -1, 64))
		}
	case "boolean":
		if v == "on" {
			return true
		}
		if b, err := strconv.ParseBool(v); err == nil {
			return b
		}
	}
	return v
}

func setPath(m map[string]any, path string, v any) {
	segs := strings.Split(path, ".")
	for _, s := range segs[:len(segs)-1] {
		next, ok := m[s].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[s] = next
		}
		m = next
	}
	m[segs[len(segs)-1]] = v
}

// decodeTraits reads a traits object; nil when it is not one.
func decodeTraits(traits json.RawMessage) map[string]any {
	dec := json.NewDecoder(bytes.NewReader(traits))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil
	}
	return m
}

// valueAt returns the value at a dotted path of a traits object.
func valueAt(traits map[string]any, path string) (any, bool) {
	var cur any = traits
	for _, s := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[s]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// passwordIdentifiers returns the password identifiers the traits hold
// (trimmed and lower-cased, as the identity stores them), for the
// password policy's similarity check.
func passwordIdentifiers(sch *identity.Schema, traits map[string]any) []string {
	var out []string
	add := func(v any) {
		if s, ok := v.(string); ok {
			if s = strings.ToLower(strings.TrimSpace(s)); s != "" {
				out = append(out, s)
			}
		}
	}
	for _, p := range sch.Traits {
		if !p.Extension.PasswordIdentifier {
			continue
		}
		v, _ := valueAt(traits, p.Path)
		if list, ok := v.([]any); ok && p.Items {
			for _, e := range list {
				add(e)
			}
			continue
		}
		add(v)
	}
	return out
}

// traitNode is the input of one trait: its type follows the JSON type and
// format, its label the schema title.
func traitNode(p identity.TraitProperty) flow.Node {
	typ, autocomplete := "text", ""
	switch p.Type {
	case "number", "integer":
		typ = "number"
	case "boolean":
		typ = "checkbox"
	}
	switch p.Format {
	case "email":
		typ, autocomplete = "email", "email"
	case "tel":
		typ, autocomplete = "tel", "tel"
	case "uri":
		typ, autocomplete = "url", "url"
	case "date":
		typ = "date"
	case "date-time":
		typ = "datetime-local"
	}
	var label *flow.Message
	if p.Title != "" {
		label = flow.LabelTrait(p.Title, p.Name())
	}
	n := flow.Input(flow.GroupDefault, p.Name(), typ, label)
	if p.Required {
		n = n.Required()
	}
	if autocomplete != "" {
		n = n.WithAutocomplete(autocomplete)
	}
	if p.Pattern != "" {
		n = n.WithPattern(p.Pattern)
	}
	return n
}

// showTraits puts the submitted trait values back into the form, so the
// user does not type them again (the password never is).
func showTraits(f *Flow, sch *identity.Schema, traits map[string]any) {
	for i := range f.UI.Nodes {
		n := &f.UI.Nodes[i]
		path, ok := traitPath(n.Attributes.Name)
		if !ok {
			continue
		}
		if _, known := sch.Trait(path); !known {
			continue
		}
		if v, ok := valueAt(traits, path); ok {
			n.Attributes.Value = v
		}
	}
}

func traitPath(name string) (string, bool) {
	const prefix = "traits."
	if len(name) <= len(prefix) || name[:len(prefix)] != prefix {
		return "", false
	}
	return name[len(prefix):], true
}
