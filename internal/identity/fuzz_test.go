package identity

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// FuzzApplyPatch: an admin JSON Patch applied to a document yields a
// document that is still valid JSON, or an error; never a panic.
func FuzzApplyPatch(f *testing.F) {
	identityDoc := `{"id":"4ad1b4b4-2f6e-4c1c-9e0e-0f1e2d3c4b5a","schema_id":"default","state":"active","traits":{"email":"ada@example.test","name":"Ada"},"metadata_public":null,"credentials":{"password":{"type":"password","config":{}}}}`
	for _, s := range [][2]string{
		{identityDoc, `[{"op":"replace","path":"/traits/email","value":"bob@example.test"}]`},
		{identityDoc, `[{"op":"add","path":"/credentials/password/config/password","value":"Secr3t-Passw0rd"}]`},
		{identityDoc, `[{"op":"remove","path":"/traits/name"},{"op":"test","path":"/state","value":"active"}]`},
		{`{"foo":["all","grass","cows","eat"]}`, `[{"op":"move","from":"/foo/1","path":"/foo/3"}]`},
		{`{"a":{"b":{}}}`, `[{"op":"copy","from":"/a","path":"/a/b/c"}]`},
		{`{"a":[1,2,3]}`, `[{"op":"test","path":"/a/0","value":1.0},{"op":"add","path":"/a/-","value":{"x":null}}]`},
		{`{"~/":1}`, `[{"op":"move","from":"/~0~1","path":"/x~1y"}]`},
		{`{"a":1}`, `[{"op":"add","path":"","value":[1e400]}]`},
		{`[]`, `[{"op":"add","path":"/01","value":1}]`},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, docJSON, patchJSON string) {
		dec := json.NewDecoder(bytes.NewReader([]byte(docJSON)))
		dec.UseNumber() // as the identity handler decodes the document
		var doc any
		if err := dec.Decode(&doc); err != nil {
			return
		}
		var ops []PatchOperation
		if err := json.Unmarshal([]byte(patchJSON), &ops); err != nil {
			return
		}
		out, err := ApplyPatch(doc, ops)
		if err != nil {
			if _, ok := err.(*PatchError); !ok {
				t.Fatalf("ApplyPatch error %T %v is not a *PatchError", err, err)
			}
			_ = err.Error()
			return
		}
		b, err := json.Marshal(out)
		if err != nil {
			// A value the patch brought in is still raw JSON text
			// (json.Number from the decoder is marshalled as is).
			t.Fatalf("patched document does not marshal: %v (doc %s, patch %s)", err, docJSON, patchJSON)
		}
		if !json.Valid(b) {
			t.Fatalf("patched document is not valid JSON: %s", b)
		}
	})
}

// fuzzSchema is the built-in schema with an email, plus traits of the
// other kinds a schema may declare, so validation walks every branch.
const fuzzSchema = `{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "properties": {
    "traits": {
      "type": "object",
      "properties": {
        "email": {"type": "string", "format": "email", "minLength": 3, "maxLength": 320,
          "ory.sh/kratos": {"credentials": {"password": {"identifier": true}}, "recovery": {"via": "email"}, "verification": {"via": "email"}}},
        "emails": {"type": "array", "maxItems": 3, "items": {"type": "string",
          "ory.sh/kratos": {"credentials": {"password": {"identifier": true}}, "recovery": {"via": "email"}}}},
        "phone": {"type": "string", "pattern": "^\\+[0-9]+$", "ory.sh/kratos": {"verification": {"via": "sms"}}},
        "name": {"type": "object", "properties": {"first": {"type": "string"}, "last": {"type": "string"}}},
        "age": {"type": "integer", "minimum": 0, "maximum": 150},
        "score": {"type": "number", "exclusiveMaximum": 10.5, "multipleOf": 0.5},
        "newsletter": {"type": "boolean"},
        "tier": {"enum": ["free", "pro"]}
      },
      "required": ["email"],
      "additionalProperties": false
    }
  }
}`

// FuzzValidateTraits: any traits document submitted at registration,
// settings or the admin API is accepted or answered with field errors
// (each naming a field and a message); deriving the identity's
// identifiers and addresses from it never panics.
func FuzzValidateTraits(f *testing.F) {
	sch, err := compileSchema("fuzz", "", []byte(fuzzSchema))
	if err != nil {
		f.Fatal(err)
	}
	def := MustDefaultSchemas().Default()
	for _, s := range []string{
		`{"email":"ada@example.test"}`,
		`{"email":"ada@example.test","emails":["a@b.test","A@B.TEST"],"phone":"+4912345","name":{"first":"Ada"},"age":36,"score":9.5,"newsletter":true,"tier":"pro"}`,
		`{"email":"not-an-address"}`,
		`{"email":"Ada <ada@example.test>","age":-1,"score":10.5,"tier":"gold","x":1}`,
		`{"email":12,"emails":"a@b.test","name":[]}`,
		`{"age":1e400,"score":0.30000000000000004}`,
		`[]`,
		`null`,
		`"ada@example.test"`,
		`{"email":"ada@example.test"} trailing`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, traits []byte) {
		for _, s := range []*Schema{sch, def} {
			if err := s.Validate(traits); err != nil {
				ve, ok := err.(*ValidationError)
				if !ok {
					t.Fatalf("Validate(%q) error %T is not a *ValidationError", traits, err)
				}
				if len(ve.Fields) == 0 {
					t.Fatalf("Validate(%q) returned a ValidationError without fields", traits)
				}
				for _, fe := range ve.Fields {
					if fe.Field == "" || fe.MessageID == 0 {
						t.Fatalf("Validate(%q) field error without field or message: %+v", traits, fe)
					}
				}
				continue
			}
			i := &Identity{SchemaID: s.ID, Traits: json.RawMessage(traits)}
			_ = derive(s, i, nil, nil, nil, time.Unix(0, 0))
		}
	})
}
