package identity

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/latchkey/latchkey/internal/docurl"
)

// DefaultSchemaID is the id of the built-in schema and the default
// identity.default_schema_id.
const DefaultSchemaID = "default"

// ErrUnknownSchema is returned by Schemas.Get for an id that is not configured.
var ErrUnknownSchema = errors.New("unknown identity schema")

// SchemaSource is one entry of identity.schemas: an id and a file:// or
// base64:// URL of the JSON Schema document.
type SchemaSource struct {
	ID  string
	URL string
}

// Schemas are the compiled identity schemas, fixed at start-up.
type Schemas struct {
	list      []*Schema
	byID      map[string]*Schema
	defaultID string
}

// Schema is one compiled identity schema.
type Schema struct {
	// ID is the schema id (identity.schemas[].id).
	ID string
	// URL is where the schema was read from ("" for the built-in one).
	URL string
	// Raw is the schema document as configured, compacted (GET /schemas/{id}).
	Raw json.RawMessage
	// Traits lists the leaf properties below properties.traits, ordered by
	// path: what flows render as "traits.<path>" inputs.
	Traits []TraitProperty

	compiled *jsonschema.Schema
}

// TraitProperty is one leaf property of the traits object, with what a UI
// needs to render an input for it and what the "ory.sh/kratos" extension
// says about it.
type TraitProperty struct {
	// Path is the dotted path below traits, e.g. "email" or "name.first".
	Path string
	// Type is the JSON type: string, number, integer, boolean or array.
	Type string
	// Format is the JSON Schema format, e.g. "email", "tel", "date".
	Format string
	// Title is the schema title ("E-Mail"); UIs label the input with it.
	Title string
	// Required is true when the property and every object above it (below
	// traits) is listed in its parent's "required".
	Required bool
	// Pattern, MinLength and MaxLength repeat string constraints (0 = none).
	Pattern   string
	MinLength int
	MaxLength int
	// Items is true when the extension applies to each element of an array.
	Items bool
	// Extension is the parsed "ory.sh/kratos" extension of the property (or
	// of its array items).
	Extension Extension
}

// Name is the form field name of the property: "traits.<path>".
func (p TraitProperty) Name() string { return "traits." + p.Path }

// Extension is the part of the "ory.sh/kratos" schema extension Latchkey
// understands.
type Extension struct {
	// PasswordIdentifier: credentials.password.identifier.
	PasswordIdentifier bool
	// RecoveryVia: recovery.via ("email" or "sms"), or "".
	RecoveryVia string
	// VerificationVia: verification.via ("email" or "sms"), or "".
	VerificationVia string
}

func (e Extension) isZero() bool { return e == Extension{} }

// defaultSchemaJSON is the built-in schema used when identity.schemas is
// empty: an email that is the password identifier, the recovery address and
// the verification address, and an optional name.
const defaultSchemaJSON = `{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "title": "Person",
  "type": "object",
  "properties": {
    "traits": {
      "type": "object",
      "properties": {
        "email": {
          "type": "string",
          "format": "email",
          "title": "E-Mail",
          "minLength": 3,
          "maxLength": 320,
          "ory.sh/kratos": {
            "credentials": {"password": {"identifier": true}},
            "recovery": {"via": "email"},
            "verification": {"via": "email"}
          }
        },
        "name": {
          "type": "string",
          "title": "Name"
        }
      },
      "required": ["email"],
      "additionalProperties": false
    }
  }
}
`

// NewSchemas reads and compiles the configured schemas. With no sources
// the built-in default schema (id "default") is used. defaultID "" means
// "default". http(s):// sources are rejected: Latchkey does not fetch
// schemas over the network.
func NewSchemas(sources []SchemaSource, defaultID string) (*Schemas, error) {
	if defaultID == "" {
		defaultID = DefaultSchemaID
	}
	s := &Schemas{byID: map[string]*Schema{}, defaultID: defaultID}
	if len(sources) == 0 {
		sch, err := compileSchema(DefaultSchemaID, "", []byte(defaultSchemaJSON))
		if err != nil {
			return nil, fmt.Errorf("built-in identity schema: %w", err)
		}
		s.add(sch)
		if defaultID != DefaultSchemaID {
			return nil, fmt.Errorf("identity.default_schema_id: no schema with id %q (only the built-in %q exists)", defaultID, DefaultSchemaID)
		}
		return s, nil
	}
	for i, src := range sources {
		key := fmt.Sprintf("identity.schemas[%d]", i)
		if src.ID == "" {
			return nil, fmt.Errorf("%s.id: must not be empty", key)
		}
		if _, dup := s.byID[src.ID]; dup {
			return nil, fmt.Errorf("%s.id: duplicate schema id %q", key, src.ID)
		}
		raw, err := docurl.Read(src.URL, "schema")
		if err != nil {
			return nil, fmt.Errorf("%s.url: %w", key, err)
		}
		sch, err := compileSchema(src.ID, src.URL, raw)
		if err != nil {
			return nil, fmt.Errorf("%s (%s): %w", key, src.ID, err)
		}
		s.add(sch)
	}
	if _, ok := s.byID[defaultID]; !ok {
		return nil, fmt.Errorf("identity.default_schema_id: no schema with id %q in identity.schemas", defaultID)
	}
	return s, nil
}

// MustDefaultSchemas returns the built-in schema set; it panics only if the
// built-in schema itself is broken. Handy for tests and tools.
func MustDefaultSchemas() *Schemas {
	s, err := NewSchemas(nil, "")
	if err != nil {
		panic(err)
	}
	return s
}

func (s *Schemas) add(sch *Schema) {
	s.list = append(s.list, sch)
	s.byID[sch.ID] = sch
}

// DefaultID is the schema id used when a request names none.
func (s *Schemas) DefaultID() string { return s.defaultID }

// Default returns the default schema.
func (s *Schemas) Default() *Schema { return s.byID[s.defaultID] }

// Get returns the schema with the given id ("" means the default). An
// unknown id is an error wrapping ErrUnknownSchema.
func (s *Schemas) Get(id string) (*Schema, error) {
	if id == "" {
		id = s.defaultID
	}
	sch, ok := s.byID[id]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownSchema, id)
	}
	return sch, nil
}

// Lookup resolves the {id} of GET /schemas/{id}: the plain id or its
// base64url encoding (with or without padding).
func (s *Schemas) Lookup(idOrEncoded string) (*Schema, error) {
	if sch, ok := s.byID[idOrEncoded]; ok {
		return sch, nil
	}
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.StdEncoding, base64.RawStdEncoding} {
		if b, err := enc.DecodeString(idOrEncoded); err == nil {
			if sch, ok := s.byID[string(b)]; ok {
				return sch, nil
			}
		}
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownSchema, idOrEncoded)
}

// List returns every schema in configuration order.
func (s *Schemas) List() []*Schema { return append([]*Schema(nil), s.list...) }

// SchemaURL is the public URL of a schema: PUB/schemas/<base64url(id)>.
func SchemaURL(publicBase, schemaID string) string {
	return strings.TrimRight(publicBase, "/") + "/schemas/" + base64.RawURLEncoding.EncodeToString([]byte(schemaID))
}

// HasPasswordIdentifier reports whether some trait is a password identifier.
func (sch *Schema) HasPasswordIdentifier() bool {
	for _, p := range sch.Traits {
		if p.Extension.PasswordIdentifier {
			return true
		}
	}
	return false
}

// Trait returns the trait property at the dotted path.
func (sch *Schema) Trait(path string) (TraitProperty, bool) {
	for _, p := range sch.Traits {
		if p.Path == path {
			return p, true
		}
	}
	return TraitProperty{}, false
}

// compileSchema parses, compiles and inspects one schema document.
func compileSchema(id, source string, raw []byte) (*Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("schema is not valid JSON: %w", err)
	}
	root, ok := doc.(map[string]any)
	if !ok {
		return nil, errors.New("schema must be a JSON object")
	}
	// The resource URL only names the document inside the compiler; relative
	// file references resolve against the file's own URL.
	loc := "latchkey:///schemas/" + url.PathEscape(id) + ".json"
	if strings.HasPrefix(source, "file://") {
		if abs, err := filepath.Abs(strings.TrimPrefix(source, "file://")); err == nil {
			loc = abs // the compiler turns a path into a file:// URL
		}
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	c.AssertFormat()
	c.UseLoader(jsonschema.SchemeURLLoader{"file": jsonschema.FileLoader{}})
	if err := c.AddResource(loc, doc); err != nil {
		return nil, err
	}
	compiled, err := c.Compile(loc)
	if err != nil {
		return nil, fmt.Errorf("schema does not compile: %w", err)
	}
	traits, err := traitProperties(root)
	if err != nil {
		return nil, err
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		return nil, err
	}
	return &Schema{ID: id, URL: source, Raw: compact.Bytes(), Traits: traits, compiled: compiled}, nil
}

// traitProperties walks properties.traits of the raw schema (following
// local "#/..." references) and lists its leaf properties.
func traitProperties(root map[string]any) ([]TraitProperty, error) {
	props, _ := resolve(root, root["properties"]).(map[string]any)
	traits, _ := resolve(root, props["traits"]).(map[string]any)
	if traits == nil {
		return nil, nil
	}
	var out []TraitProperty
	if err := walkObject(root, traits, "", true, &out); err != nil {
		return nil, err
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

func walkObject(root, obj map[string]any, prefix string, required bool, out *[]TraitProperty) error {
	props, _ := resolve(root, obj["properties"]).(map[string]any)
	req := map[string]bool{}
	if list, ok := obj["required"].([]any); ok {
		for _, r := range list {
			if s, ok := r.(string); ok {
				req[s] = true
			}
		}
	}
	for name, v := range props {
		prop, ok := resolve(root, v).(map[string]any)
		if !ok {
			continue
		}
		path := name
		if prefix != "" {
			path = prefix + "." + name
		}
		typ := schemaType(prop)
		if typ == "object" {
			if err := walkObject(root, prop, path, required && req[name], out); err != nil {
				return err
			}
			continue
		}
		p := TraitProperty{
			Path: path, Type: typ, Required: required && req[name],
			Format: str(prop["format"]), Title: str(prop["title"]), Pattern: str(prop["pattern"]),
			MinLength: num(prop["minLength"]), MaxLength: num(prop["maxLength"]),
		}
		ext, err := ParseExtension(prop)
		if err != nil {
			return fmt.Errorf("traits.%s: %w", path, err)
		}
		p.Extension = ext
		if typ == "array" && ext.isZero() {
			if items, ok := resolve(root, prop["items"]).(map[string]any); ok {
				if ext, err = ParseExtension(items); err != nil {
					return fmt.Errorf("traits.%s items: %w", path, err)
				}
				p.Extension, p.Items = ext, !ext.isZero()
				if p.Format == "" {
					p.Format = str(items["format"])
				}
			}
		}
		*out = append(*out, p)
	}
	return nil
}

// ParseExtension reads the "ory.sh/kratos" extension of one property
// schema. Unknown keys (webauthn, code, ...) are ignored; a recovery or
// verification channel other than email or sms is an error.
func ParseExtension(prop map[string]any) (Extension, error) {
	var ext Extension
	raw, ok := prop["ory.sh/kratos"].(map[string]any)
	if !ok {
		return ext, nil
	}
	if creds, ok := raw["credentials"].(map[string]any); ok {
		if pw, ok := creds["password"].(map[string]any); ok {
			ext.PasswordIdentifier, _ = pw["identifier"].(bool)
		}
	}
	for _, f := range []struct {
		key string
		dst *string
	}{{"recovery", &ext.RecoveryVia}, {"verification", &ext.VerificationVia}} {
		m, ok := raw[f.key].(map[string]any)
		if !ok {
			continue
		}
		via, _ := m["via"].(string)
		switch via {
		case ViaEmail, ViaSMS:
			*f.dst = via
		case "":
		default:
			return ext, fmt.Errorf("ory.sh/kratos: %s.via must be %q or %q, got %q", f.key, ViaEmail, ViaSMS, via)
		}
	}
	return ext, nil
}

// resolve follows a local "$ref": "#/..." (one level at a time, bounded).
func resolve(root map[string]any, v any) any {
	for range 16 {
		m, ok := v.(map[string]any)
		if !ok {
			return v
		}
		ref, ok := m["$ref"].(string)
		if !ok || !strings.HasPrefix(ref, "#") {
			return v
		}
		v = lookupPointer(root, strings.TrimPrefix(ref, "#"))
	}
	return v
}

func lookupPointer(root any, ptr string) any {
	tokens, err := parsePointer(ptr)
	if err != nil {
		return nil
	}
	cur := root
	for _, t := range tokens {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[t]
	}
	return cur
}

func schemaType(prop map[string]any) string {
	switch t := prop["type"].(type) {
	case string:
		return t
	case []any:
		// ["string", "null"]: the first non-null type.
		for _, x := range t {
			if s, ok := x.(string); ok && s != "null" {
				return s
			}
		}
	}
	if _, ok := prop["properties"]; ok {
		return "object"
	}
	return "string"
}

func str(v any) string { s, _ := v.(string); return s }

func num(v any) int {
	if n, ok := v.(json.Number); ok {
		i, _ := n.Int64()
		return int(i)
	}
	return 0
}
