package identity

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseExtension(t *testing.T) {
	tests := []struct {
		name    string
		prop    string
		want    Extension
		wantErr string
	}{
		{name: "None", prop: `{"type":"string"}`, want: Extension{}},
		{name: "All", prop: `{"ory.sh/kratos":{"credentials":{"password":{"identifier":true}},"recovery":{"via":"email"},"verification":{"via":"email"}}}`,
			want: Extension{PasswordIdentifier: true, RecoveryVia: "email", VerificationVia: "email"}},
		{name: "IdentifierOnly", prop: `{"ory.sh/kratos":{"credentials":{"password":{"identifier":true}}}}`, want: Extension{PasswordIdentifier: true}},
		{name: "IdentifierFalse", prop: `{"ory.sh/kratos":{"credentials":{"password":{"identifier":false}}}}`, want: Extension{}},
		{name: "SMS", prop: `{"ory.sh/kratos":{"recovery":{"via":"sms"},"verification":{"via":"sms"}}}`, want: Extension{RecoveryVia: "sms", VerificationVia: "sms"}},
		{name: "OtherCredentialsIgnored", prop: `{"ory.sh/kratos":{"credentials":{"webauthn":{"identifier":true},"code":{"identifier":true,"via":"email"}}}}`, want: Extension{}},
		{name: "UnknownChannel", prop: `{"ory.sh/kratos":{"recovery":{"via":"pigeon"}}}`, wantErr: `recovery.via must be "email" or "sms", got "pigeon"`},
		{name: "NotAnObject", prop: `{"ory.sh/kratos":true}`, want: Extension{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var prop map[string]any
			if err := json.Unmarshal([]byte(tc.prop), &prop); err != nil {
				t.Fatal(err)
			}
			got, err := ParseExtension(prop)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

const nestedSchema = `{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "definitions": {
    "email": {"type": "string", "format": "email", "title": "Work mail",
      "ory.sh/kratos": {"credentials": {"password": {"identifier": true}}, "verification": {"via": "email"}}}
  },
  "type": "object",
  "properties": {
    "traits": {
      "type": "object",
      "properties": {
        "work": {"$ref": "#/definitions/email"},
        "username": {"type": "string", "pattern": "^[a-z]+$", "minLength": 2, "maxLength": 20,
          "ory.sh/kratos": {"credentials": {"password": {"identifier": true}}}},
        "name": {"type": "object", "required": ["first"], "properties": {
          "first": {"type": "string", "title": "First name"},
          "last": {"type": "string", "title": "Last name"}}},
        "backup": {"type": "array", "items": {"type": "string", "format": "email",
          "ory.sh/kratos": {"recovery": {"via": "email"}}}},
        "phone": {"type": ["string", "null"], "format": "tel", "ory.sh/kratos": {"recovery": {"via": "sms"}}},
        "newsletter": {"type": "boolean"}
      },
      "required": ["work", "name"]
    }
  }
}`

func TestTraitProperties(t *testing.T) {
	sch, err := compileSchema("nested", "", []byte(nestedSchema))
	if err != nil {
		t.Fatal(err)
	}
	want := []TraitProperty{
		{Path: "backup", Type: "array", Format: "email", Items: true, Extension: Extension{RecoveryVia: "email"}},
		{Path: "name.first", Type: "string", Title: "First name", Required: true},
		{Path: "name.last", Type: "string", Title: "Last name"},
		{Path: "newsletter", Type: "boolean"},
		{Path: "phone", Type: "string", Format: "tel", Extension: Extension{RecoveryVia: "sms"}},
		{Path: "username", Type: "string", Pattern: "^[a-z]+$", MinLength: 2, MaxLength: 20, Extension: Extension{PasswordIdentifier: true}},
		{Path: "work", Type: "string", Format: "email", Title: "Work mail", Required: true, Extension: Extension{PasswordIdentifier: true, VerificationVia: "email"}},
	}
	if !reflect.DeepEqual(sch.Traits, want) {
		t.Fatalf("traits:\n got %+v\nwant %+v", sch.Traits, want)
	}
	if got := sch.Traits[1].Name(); got != "traits.name.first" {
		t.Errorf("Name() = %q", got)
	}
	if !sch.HasPasswordIdentifier() {
		t.Error("HasPasswordIdentifier = false")
	}
}

func TestDefaultSchema(t *testing.T) {
	s := MustDefaultSchemas()
	sch, err := s.Get("")
	if err != nil || sch.ID != "default" || s.DefaultID() != "default" {
		t.Fatalf("Get(\"\") = %v, %v", sch, err)
	}
	want := []TraitProperty{
		{Path: "email", Type: "string", Format: "email", Title: "E-Mail", Required: true, MinLength: 3, MaxLength: 320,
			Extension: Extension{PasswordIdentifier: true, RecoveryVia: "email", VerificationVia: "email"}},
		{Path: "name", Type: "string", Title: "Name"},
	}
	if !reflect.DeepEqual(sch.Traits, want) {
		t.Fatalf("traits:\n got %+v\nwant %+v", sch.Traits, want)
	}
	if _, err := s.Get("nope"); !errors.Is(err, ErrUnknownSchema) {
		t.Fatalf("Get(nope) err = %v", err)
	}
	for _, id := range []string{"default", "ZGVmYXVsdA", "ZGVmYXVsdA=="} {
		if got, err := s.Lookup(id); err != nil || got.ID != "default" {
			t.Errorf("Lookup(%q) = %v, %v", id, got, err)
		}
	}
	if got := SchemaURL("http://127.0.0.1:4433/", "default"); got != "http://127.0.0.1:4433/schemas/ZGVmYXVsdA" {
		t.Errorf("SchemaURL = %q", got)
	}
}

func TestNewSchemas(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "person.json")
	if err := os.WriteFile(good, []byte(nestedSchema), 0o600); err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(dir, "broken.json")
	if err := os.WriteFile(broken, []byte(`{"type":`), 0o600); err != nil {
		t.Fatal(err)
	}
	b64 := "base64://" + base64.StdEncoding.EncodeToString([]byte(defaultSchemaJSON))

	t.Run("FileAndBase64", func(t *testing.T) {
		s, err := NewSchemas([]SchemaSource{{ID: "person", URL: "file://" + good}, {ID: "b64", URL: b64}}, "person")
		if err != nil {
			t.Fatal(err)
		}
		if got := len(s.List()); got != 2 || s.Default().ID != "person" {
			t.Fatalf("list %d, default %q", got, s.Default().ID)
		}
		if sch, _ := s.Get("b64"); len(sch.Traits) != 2 {
			t.Errorf("b64 traits = %+v", sch.Traits)
		}
	})
	errCases := []struct {
		name      string
		sources   []SchemaSource
		defaultID string
		want      string
	}{
		{"HTTP", []SchemaSource{{ID: "a", URL: "https://example.com/s.json"}}, "a", "does not fetch a schema over http(s)"},
		{"MissingFile", []SchemaSource{{ID: "a", URL: "file://" + filepath.Join(dir, "nope.json")}}, "a", "cannot read schema file"},
		{"NotJSON", []SchemaSource{{ID: "a", URL: "file://" + broken}}, "a", "schema is not valid JSON"},
		{"BadBase64", []SchemaSource{{ID: "a", URL: "base64://!!!"}}, "a", "does not decode"},
		{"Duplicate", []SchemaSource{{ID: "a", URL: b64}, {ID: "a", URL: b64}}, "a", `duplicate schema id "a"`},
		{"DefaultMissing", []SchemaSource{{ID: "a", URL: b64}}, "b", `no schema with id "b"`},
		{"BuiltInOnlyDefault", nil, "person", `no schema with id "person"`},
		{"DoesNotCompile", []SchemaSource{{ID: "a", URL: "base64://" + base64.StdEncoding.EncodeToString([]byte(`{"type":"nope"}`))}}, "a", "does not compile"},
	}
	for _, tc := range errCases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewSchemas(tc.sources, tc.defaultID)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestValidateFieldErrors(t *testing.T) {
	sch := MustDefaultSchemas().Default()
	tests := []struct {
		name   string
		traits string
		want   []FieldError // Reason compared by prefix only
	}{
		{name: "Valid", traits: `{"email":"a@example.test","name":"A"}`},
		{name: "Missing", traits: `{}`, want: []FieldError{{
			Field: "traits.email", MessageID: 4000002, Text: "Property email is missing.", Context: map[string]any{"property": "email"},
			Reason: `I[#/traits] S[#/properties/traits/required] missing properties: "email"`}}},
		{name: "NotAnEmail", traits: `{"email":"nope"}`, want: []FieldError{{
			Field: "traits.email", MessageID: 4000040, Text: "Enter a valid email address", Context: map[string]any{"value": "nope"},
			Reason: `I[#/traits/email] S[#/properties/traits/properties/email/format] "nope" is not valid "email"`}}},
		{name: "WrongType", traits: `{"email":"a@example.test","name":7}`, want: []FieldError{{
			Field: "traits.name", MessageID: 4000026, Text: "expected string, but got number",
			Context: map[string]any{"allowed_types": []string{"string"}, "actual_type": "number"},
			Reason:  `I[#/traits/name] S[#/properties/traits/properties/name/type] expected string, but got number`}}},
		{name: "TooShort", traits: `{"email":"@b"}`, want: []FieldError{
			{Field: "traits.email", MessageID: 4000003, Text: "length must be >= 3, but got 2", Context: map[string]any{"min_length": 3, "actual_length": 2},
				Reason: `I[#/traits/email] S[#/properties/traits/properties/email/minLength] length must be >= 3, but got 2`}}},
		{name: "UnknownTrait", traits: `{"email":"a@example.test","bar":1}`, want: []FieldError{{
			Field: "traits", MessageID: 4000001, Text: `additionalProperties "bar" not allowed`, Context: map[string]any{"reason": `additionalProperties "bar" not allowed`},
			Reason: `I[#/traits] S[#/properties/traits/additionalProperties] additionalProperties "bar" not allowed`}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := sch.Validate(json.RawMessage(tc.traits))
			if tc.want == nil {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want *ValidationError", err)
			}
			if !reflect.DeepEqual(ve.Fields, tc.want) {
				t.Fatalf("fields:\n got %#v\nwant %#v", ve.Fields, tc.want)
			}
		})
	}
}

func TestDeriveAddressRules(t *testing.T) {
	// No "format" or "maxLength" in the schema: the extension itself
	// demands a valid email and a bounded length.
	raw := `{"properties":{"traits":{"type":"object","properties":{"mail":{"type":"string","ory.sh/kratos":{"recovery":{"via":"email"}}}}}}}`
	sch, err := compileSchema("loose", "", []byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("a", 320) + "@example.test"
	tests := []struct {
		name      string
		mail      string
		messageID int
	}{
		{"NotAnEmail", "not-an-address", MsgIDInvalidEmail},
		{"DisplayName", "Ada <ada@example.test>", MsgIDInvalidEmail},
		{"TooLong", long, MsgIDMaxLength},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := json.Marshal(map[string]string{"mail": tc.mail})
			err := derive(sch, &Identity{Traits: b}, nil, nil, nil, time.Time{})
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Fields) != 1 || ve.Fields[0].Field != "traits.mail" || ve.Fields[0].MessageID != tc.messageID {
				t.Fatalf("err = %#v", err)
			}
		})
	}
	i := &Identity{Traits: json.RawMessage(`{"mail":" Ada@Example.TEST "}`)}
	if err := derive(sch, i, nil, nil, nil, time.Time{}); err != nil || i.RecoveryAddresses[0].Value != "ada@example.test" {
		t.Fatalf("valid address: %v, %+v", err, i.RecoveryAddresses)
	}
}
