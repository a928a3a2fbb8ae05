package identity

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestApplyPatch(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		patch   string
		want    string // expected document, compared as JSON
		wantErr string // substring of the error; "" = success
	}{
		// RFC 6902 appendix A examples and their neighbours.
		{name: "AddObjectMember", doc: `{"foo":"bar"}`, patch: `[{"op":"add","path":"/baz","value":"qux"}]`, want: `{"baz":"qux","foo":"bar"}`},
		{name: "AddArrayElement", doc: `{"foo":["bar","baz"]}`, patch: `[{"op":"add","path":"/foo/1","value":"qux"}]`, want: `{"foo":["bar","qux","baz"]}`},
		{name: "AddArrayEnd", doc: `{"foo":["bar"]}`, patch: `[{"op":"add","path":"/foo/-","value":"x"}]`, want: `{"foo":["bar","x"]}`},
		{name: "AddAtLengthAppends", doc: `{"foo":["bar"]}`, patch: `[{"op":"add","path":"/foo/1","value":"x"}]`, want: `{"foo":["bar","x"]}`},
		{name: "AddReplacesExistingMember", doc: `{"foo":1}`, patch: `[{"op":"add","path":"/foo","value":2}]`, want: `{"foo":2}`},
		{name: "AddNullValue", doc: `{}`, patch: `[{"op":"add","path":"/a","value":null}]`, want: `{"a":null}`},
		{name: "AddNestedMemberInArray", doc: `{"a":[{"b":1}]}`, patch: `[{"op":"add","path":"/a/0/c","value":2}]`, want: `{"a":[{"b":1,"c":2}]}`},
		{name: "AddWholeDocument", doc: `{"a":1}`, patch: `[{"op":"add","path":"","value":{"b":2}}]`, want: `{"b":2}`},
		{name: "AddMissingParent", doc: `{"foo":"bar"}`, patch: `[{"op":"add","path":"/baz/bat","value":"qux"}]`, wantErr: "does not exist"},
		{name: "AddIndexOutOfBounds", doc: `{"foo":["bar"]}`, patch: `[{"op":"add","path":"/foo/5","value":"x"}]`, wantErr: "out of bounds"},
		{name: "AddLeadingZeroIndex", doc: `{"foo":["a","b"]}`, patch: `[{"op":"add","path":"/foo/01","value":"x"}]`, wantErr: "not an array index"},
		{name: "AddWithoutValue", doc: `{}`, patch: `[{"op":"add","path":"/a"}]`, wantErr: "needs a value"},
		{name: "RemoveMember", doc: `{"baz":"qux","foo":"bar"}`, patch: `[{"op":"remove","path":"/baz"}]`, want: `{"foo":"bar"}`},
		{name: "RemoveArrayElement", doc: `{"foo":["bar","qux","baz"]}`, patch: `[{"op":"remove","path":"/foo/1"}]`, want: `{"foo":["bar","baz"]}`},
		{name: "RemoveMissing", doc: `{"foo":"bar"}`, patch: `[{"op":"remove","path":"/nope"}]`, wantErr: "does not exist"},
		{name: "ReplaceMember", doc: `{"baz":"qux","foo":"bar"}`, patch: `[{"op":"replace","path":"/baz","value":"boo"}]`, want: `{"baz":"boo","foo":"bar"}`},
		{name: "ReplaceArrayElement", doc: `{"a":[1,2,3]}`, patch: `[{"op":"replace","path":"/a/2","value":9}]`, want: `{"a":[1,2,9]}`},
		{name: "ReplaceMissing", doc: `{"foo":"bar"}`, patch: `[{"op":"replace","path":"/nope","value":1}]`, wantErr: "does not exist"},
		{name: "MoveMember", doc: `{"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}}`, patch: `[{"op":"move","from":"/foo/waldo","path":"/qux/thud"}]`, want: `{"foo":{"bar":"baz"},"qux":{"corge":"grault","thud":"fred"}}`},
		{name: "MoveArrayElement", doc: `{"foo":["all","grass","cows","eat"]}`, patch: `[{"op":"move","from":"/foo/1","path":"/foo/3"}]`, want: `{"foo":["all","cows","eat","grass"]}`},
		{name: "MoveIntoOwnChild", doc: `{"a":{"b":{}}}`, patch: `[{"op":"move","from":"/a","path":"/a/b/c"}]`, wantErr: "into one of its children"},
		{name: "MoveMissingFrom", doc: `{}`, patch: `[{"op":"move","from":"/x","path":"/y"}]`, wantErr: "from"},
		{name: "CopyIsDeep", doc: `{"a":{"b":1}}`, patch: `[{"op":"copy","from":"/a","path":"/c"},{"op":"replace","path":"/c/b","value":2}]`, want: `{"a":{"b":1},"c":{"b":2}}`},
		{name: "TestPasses", doc: `{"baz":"qux","foo":["a",2,"c"]}`, patch: `[{"op":"test","path":"/baz","value":"qux"},{"op":"test","path":"/foo/1","value":2}]`, want: `{"baz":"qux","foo":["a",2,"c"]}`},
		{name: "TestNumbersByValue", doc: `{"n":1}`, patch: `[{"op":"test","path":"/n","value":1.0}]`, want: `{"n":1}`},
		{name: "TestObjectsIgnoreKeyOrder", doc: `{"o":{"a":1,"b":[true,null]}}`, patch: `[{"op":"test","path":"/o","value":{"b":[true,null],"a":1}}]`, want: `{"o":{"a":1,"b":[true,null]}}`},
		{name: "TestFails", doc: `{"baz":"qux"}`, patch: `[{"op":"test","path":"/baz","value":"bar"}]`, wantErr: "test failed"},
		{name: "TestStringIsNotNumber", doc: `{"baz":"10"}`, patch: `[{"op":"test","path":"/baz","value":10}]`, wantErr: "test failed"},
		{name: "EscapedTokens", doc: `{"/":9,"~1":10}`, patch: `[{"op":"test","path":"/~01","value":10},{"op":"replace","path":"/~1","value":1}]`, want: `{"/":1,"~1":10}`},
		{name: "UnknownOp", doc: `{}`, patch: `[{"op":"frobnicate","path":"/a"}]`, wantErr: "unknown op"},
		{name: "MissingOp", doc: `{}`, patch: `[{"path":"/a"}]`, wantErr: "op is missing"},
		{name: "PathWithoutSlash", doc: `{}`, patch: `[{"op":"add","path":"a","value":1}]`, wantErr: "must be empty or start with /"},
		{name: "FailureStopsLaterOps", doc: `{"a":1}`, patch: `[{"op":"remove","path":"/a"},{"op":"test","path":"/a","value":1}]`, wantErr: "operation 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ops []PatchOperation
			if err := json.Unmarshal([]byte(tc.patch), &ops); err != nil {
				t.Fatal(err)
			}
			got, err := ApplyPatch(mustDecode(t, tc.doc), ops)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !jsonEqual(got, mustDecode(t, tc.want)) {
				b, _ := json.Marshal(got)
				t.Fatalf("got %s, want %s", b, tc.want)
			}
		})
	}
}

func mustDecode(t *testing.T, s string) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return v
}
