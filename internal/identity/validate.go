package identity

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// Validate checks traits against the schema. The schema describes the
// whole identity document, so traits are validated as {"traits": …}. The
// result is nil or a *ValidationError.
func (sch *Schema) Validate(traits json.RawMessage) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(traitsOrEmpty(traits)))
	if err != nil {
		return &ValidationError{Fields: []FieldError{{
			Field: "traits", MessageID: MsgIDGeneric, Text: "traits must be valid JSON",
			Context: map[string]any{"reason": "traits must be valid JSON"}, Reason: "traits must be valid JSON",
		}}}
	}
	err = sch.compiled.Validate(map[string]any{"traits": inst})
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return &ValidationError{Fields: []FieldError{genericField("traits", err.Error())}}
	}
	var leaves []*jsonschema.ValidationError
	collectLeaves(ve, &leaves)
	var fields []FieldError
	for _, l := range leaves {
		fields = append(fields, fieldErrors(l)...)
	}
	if len(fields) == 0 {
		fields = []FieldError{genericField("traits", ve.Error())}
	}
	sort.SliceStable(fields, func(i, j int) bool { return fields[i].Reason < fields[j].Reason })
	return &ValidationError{Fields: fields}
}

func traitsOrEmpty(t json.RawMessage) []byte {
	if len(bytes.TrimSpace(t)) == 0 {
		return []byte("{}")
	}
	return t
}

// collectLeaves gathers the errors that name one failing keyword; the
// others (allOf, $ref, the schema root) only group their causes.
func collectLeaves(e *jsonschema.ValidationError, out *[]*jsonschema.ValidationError) {
	if len(e.Causes) == 0 {
		switch e.ErrorKind.(type) {
		case *kind.Schema, *kind.Group, *kind.Reference:
			return
		}
		*out = append(*out, e)
		return
	}
	for _, c := range e.Causes {
		collectLeaves(c, out)
	}
}

// fieldErrors turns one failing keyword into UI messages (one per missing
// property for "required").
func fieldErrors(e *jsonschema.ValidationError) []FieldError {
	field := strings.Join(e.InstanceLocation, ".")
	if field == "" {
		field = "traits"
	}
	prefix := fmt.Sprintf("I[#%s] S[#%s] ", pointer(e.InstanceLocation), keywordLocation(e))
	mk := func(field string, id int, text string, ctx map[string]any) FieldError {
		return FieldError{Field: field, MessageID: id, Text: text, Context: ctx, Reason: prefix + text}
	}
	switch k := e.ErrorKind.(type) {
	case *kind.Required:
		out := make([]FieldError, 0, len(k.Missing))
		for _, m := range k.Missing {
			f := mk(field+"."+m, MsgIDRequired, fmt.Sprintf("Property %s is missing.", m), map[string]any{"property": m})
			f.Reason = prefix + fmt.Sprintf("missing properties: %q", m)
			out = append(out, f)
		}
		return out
	case *kind.Type:
		want := strings.Join(k.Want, " or ")
		return []FieldError{mk(field, MsgIDWrongType, fmt.Sprintf("expected %s, but got %s", want, k.Got),
			map[string]any{"allowed_types": k.Want, "actual_type": k.Got})}
	case *kind.Format:
		if k.Want == "email" {
			f := mk(field, MsgIDInvalidEmail, "Enter a valid email address", map[string]any{"value": k.Got})
			f.Reason = prefix + fmt.Sprintf("%q is not valid %q", fmt.Sprint(k.Got), k.Want)
			return []FieldError{f}
		}
		text := fmt.Sprintf("%q is not valid %q", fmt.Sprint(k.Got), k.Want)
		return []FieldError{mk(field, MsgIDGeneric, text, map[string]any{"reason": text})}
	case *kind.MinLength:
		return []FieldError{mk(field, MsgIDMinLength, fmt.Sprintf("length must be >= %d, but got %d", k.Want, k.Got),
			map[string]any{"min_length": k.Want, "actual_length": k.Got})}
	case *kind.MaxLength:
		return []FieldError{mk(field, MsgIDMaxLength, fmt.Sprintf("length must be <= %d, but got %d", k.Want, k.Got),
			map[string]any{"max_length": k.Want, "actual_length": k.Got})}
	case *kind.Pattern:
		return []FieldError{mk(field, MsgIDPattern, fmt.Sprintf("does not match pattern %q", k.Want),
			map[string]any{"pattern": k.Want})}
	case *kind.Minimum:
		return []FieldError{numField(mk, field, MsgIDMinimum, "must be >= %s but found %s", "minimum", k.Want, k.Got)}
	case *kind.ExclusiveMinimum:
		return []FieldError{numField(mk, field, MsgIDExclusiveMinimum, "must be > %s but found %s", "minimum", k.Want, k.Got)}
	case *kind.Maximum:
		return []FieldError{numField(mk, field, MsgIDMaximum, "must be <= %s but found %s", "maximum", k.Want, k.Got)}
	case *kind.ExclusiveMaximum:
		return []FieldError{numField(mk, field, MsgIDExclusiveMaximum, "must be < %s but found %s", "maximum", k.Want, k.Got)}
	case *kind.MultipleOf:
		text := fmt.Sprintf("%s not multipleOf %s", ratString(k.Got), ratString(k.Want))
		return []FieldError{mk(field, MsgIDMultipleOf, text, map[string]any{"actual": ratFloat(k.Got), "base": ratFloat(k.Want)})}
	case *kind.MinItems:
		return []FieldError{mk(field, MsgIDMinItems, fmt.Sprintf("minimum %d items allowed, but found %d items", k.Want, k.Got),
			map[string]any{"min_items": k.Want, "actual_items": k.Got})}
	case *kind.MaxItems:
		return []FieldError{mk(field, MsgIDMaxItems, fmt.Sprintf("maximum %d items allowed, but found %d items", k.Want, k.Got),
			map[string]any{"max_items": k.Want, "actual_items": k.Got})}
	case *kind.UniqueItems:
		return []FieldError{mk(field, MsgIDUniqueItems, fmt.Sprintf("items at index %d and %d are equal", k.Duplicates[0], k.Duplicates[1]),
			map[string]any{"index_a": k.Duplicates[0], "index_b": k.Duplicates[1]})}
	case *kind.Const:
		return []FieldError{mk(field, MsgIDConst, fmt.Sprintf("must be equal to constant %v", k.Want), map[string]any{"expected": k.Want})}
	case *kind.AdditionalProperties:
		quoted := make([]string, len(k.Properties))
		for i, p := range k.Properties {
			quoted[i] = fmt.Sprintf("%q", p)
		}
		text := fmt.Sprintf("additionalProperties %s not allowed", strings.Join(quoted, ", "))
		return []FieldError{mk(field, MsgIDGeneric, text, map[string]any{"reason": text})}
	}
	text := otherKindText(e.ErrorKind)
	return []FieldError{mk(field, MsgIDGeneric, text, map[string]any{"reason": text})}
}

// otherKindText describes the keywords that have no dedicated UI message.
func otherKindText(k jsonschema.ErrorKind) string {
	switch k := k.(type) {
	case *kind.Enum:
		want := make([]string, len(k.Want))
		for i, w := range k.Want {
			b, _ := json.Marshal(w)
			want[i] = string(b)
		}
		return "value must be one of " + strings.Join(want, ", ")
	case *kind.FalseSchema:
		return "no value is allowed here"
	case *kind.PropertyNames:
		return fmt.Sprintf("invalid property name %q", k.Property)
	case *kind.DependentRequired:
		return fmt.Sprintf("properties %q required when %q is present", k.Missing, k.Prop)
	case *kind.Dependency:
		return fmt.Sprintf("properties %q required when %q is present", k.Missing, k.Prop)
	}
	if path := k.KeywordPath(); len(path) > 0 {
		return fmt.Sprintf("%q failed", path[len(path)-1])
	}
	return "validation failed"
}

func numField(mk func(string, int, string, map[string]any) FieldError, field string, id int, format, key string, want, got *big.Rat) FieldError {
	return mk(field, id, fmt.Sprintf(format, ratString(want), ratString(got)), map[string]any{key: ratFloat(want), "actual": ratFloat(got)})
}

func ratString(r *big.Rat) string {
	if r == nil {
		return "?"
	}
	if r.IsInt() {
		return r.Num().String()
	}
	f, _ := r.Float64()
	return fmt.Sprint(f)
}

func ratFloat(r *big.Rat) float64 {
	if r == nil {
		return 0
	}
	f, _ := r.Float64()
	return f
}

func genericField(field, reason string) FieldError {
	return FieldError{Field: field, MessageID: MsgIDGeneric, Text: reason, Context: map[string]any{"reason": reason}, Reason: reason}
}

// keywordLocation is the schema pointer of the failing keyword, e.g.
// /properties/traits/properties/email/format.
func keywordLocation(e *jsonschema.ValidationError) string {
	_, frag, _ := strings.Cut(e.SchemaURL, "#")
	return frag + pointer(e.ErrorKind.KeywordPath())
}

// pointer renders tokens as a JSON pointer ("" for none).
func pointer(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(t))
	}
	return b.String()
}
