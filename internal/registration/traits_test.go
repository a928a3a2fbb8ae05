package registration

import (
	"encoding/base64"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/latchkey/latchkey/internal/identity"
)

const richSchema = `{
  "type": "object",
  "properties": {
    "traits": {
      "type": "object",
      "properties": {
        "email": {"type": "string", "format": "email", "title": "E-Mail",
                  "ory.sh/kratos": {"credentials": {"password": {"identifier": true}}}},
        "username": {"type": "string", "title": "Username", "pattern": "^[a-z]+$",
                     "ory.sh/kratos": {"credentials": {"password": {"identifier": true}}}},
        "age": {"type": "integer"},
        "newsletter": {"type": "boolean", "title": "Newsletter"},
        "phone": {"type": "string", "format": "tel"},
        "name": {"type": "object", "properties": {"first": {"type": "string", "title": "First name"}}, "required": ["first"]}
      },
      "required": ["email", "name"]
    }
  }
}`

func mustRichSchema(t *testing.T) *identity.Schema {
	t.Helper()
	s, err := identity.NewSchemas([]identity.SchemaSource{{ID: "rich", URL: "base64://" + base64.StdEncoding.EncodeToString([]byte(richSchema))}}, "rich")
	if err != nil {
		t.Fatal(err)
	}
	return s.Default()
}

func TestFormTraitsFollowTheSchemaTypes(t *testing.T) {
	sch := mustRichSchema(t)
	got := formTraits(sch, map[string]string{
		"traits.email": "a@example.test", "traits.age": "42", "traits.newsletter": "on",
		"traits.name.first": "Ada", "traits.phone": "", "traits.unknown": "x",
	})
	var m map[string]any
	if err := json.Unmarshal(got, &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"email": "a@example.test", "age": float64(42), "newsletter": true, "name": map[string]any{"first": "Ada"}}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("traits %s", got)
	}
	// A value that does not convert stays a string, for the schema to reject.
	if got := formTraits(sch, map[string]string{"traits.age": "old"}); string(got) != `{"age":"old"}` {
		t.Fatalf("traits %s", got)
	}
}

func TestPasswordIdentifiersAreNormalised(t *testing.T) {
	sch := mustRichSchema(t)
	ids := passwordIdentifiers(sch, decodeTraits(json.RawMessage(`{"email":" Ada@Example.TEST ","username":"ada"}`)))
	if !reflect.DeepEqual(ids, []string{"ada@example.test", "ada"}) {
		t.Fatalf("identifiers %v", ids)
	}
}

func TestTraitInputsFollowTheSchema(t *testing.T) {
	sch := mustRichSchema(t)
	type want struct {
		name, typ, autocomplete, pattern string
		required                         bool
		label                            string
	}
	var got []want
	for _, n := range (&Password{}).Nodes(sch) {
		w := want{n.Attributes.Name, n.Attributes.Type, n.Attributes.Autocomplete, n.Attributes.Pattern, n.Attributes.Required, ""}
		if n.Meta.Label != nil {
			w.label = n.Meta.Label.Text
		}
		got = append(got, w)
	}
	expected := []want{
		{"traits.age", "number", "", "", false, ""},
		{"traits.email", "email", "email", "", true, "E-Mail"},
		{"traits.name.first", "text", "", "", true, "First name"},
		{"traits.newsletter", "checkbox", "", "", false, "Newsletter"},
		{"traits.phone", "tel", "tel", "", false, ""},
		{"traits.username", "text", "", "^[a-z]+$", false, "Username"},
		{"password", "password", "new-password", "", true, "Password"},
		{"method", "submit", "", "", false, "Sign up"},
	}
	if !reflect.DeepEqual(got, expected) {
		t.Fatalf("nodes\n got %v\nwant %v", got, expected)
	}
}
