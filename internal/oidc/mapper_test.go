package oidc_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/oidc"
)

func base64Mapper(src string) string {
	return "base64://" + base64.StdEncoding.EncodeToString([]byte(src))
}

func mustLoadMapper(t *testing.T, src string) *oidc.Mapper {
	t.Helper()
	m, err := oidc.LoadMapper(base64Mapper(src))
	if err != nil {
		t.Fatalf("LoadMapper: %v", err)
	}
	return m
}

var someClaims = &oidc.Claims{
	Issuer: "https://idp.example.com", Subject: "sub-1", Email: "Ada@Example.com", EmailVerified: true,
	Name: "Ada Lovelace", RawClaims: map[string]any{"sub": "sub-1", "groups": []any{"admins"}},
}

func TestMapper(t *testing.T) {
	t.Run("FileMapperMapsClaimsToTraits", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "mapper.jsonnet")
		if err := os.WriteFile(path, []byte(emailMapper), 0o600); err != nil {
			t.Fatal(err)
		}
		m, err := oidc.LoadMapper("file://" + path)
		if err != nil {
			t.Fatalf("LoadMapper: %v", err)
		}
		got, err := m.Map(context.Background(), someClaims)
		if err != nil {
			t.Fatalf("Map: %v", err)
		}
		if string(got.Traits) != `{"email":"Ada@Example.com"}` {
			t.Errorf("traits = %s", got.Traits)
		}
		if got.MetadataPublic != nil || got.MetadataAdmin != nil || got.VerifiedAddresses != nil {
			t.Errorf("absent keys came back: %+v", got)
		}
	})

	t.Run("Base64MapperSeesKratosClaimsShape", func(t *testing.T) {
		m := mustLoadMapper(t, `{ identity: { traits: std.extVar('claims') } }`)
		got, err := m.Map(context.Background(), someClaims)
		if err != nil {
			t.Fatalf("Map: %v", err)
		}
		var traits map[string]any
		if err := json.Unmarshal(got.Traits, &traits); err != nil {
			t.Fatal(err)
		}
		for key, want := range map[string]any{"iss": "https://idp.example.com", "sub": "sub-1", "email_verified": true, "name": "Ada Lovelace"} {
			if traits[key] != want {
				t.Errorf("claims.%s = %v, want %v", key, traits[key], want)
			}
		}
		if raw, _ := traits["raw_claims"].(map[string]any); raw["groups"] == nil {
			t.Errorf("raw_claims not passed: %v", traits["raw_claims"])
		}
		if _, ok := traits["given_name"]; ok {
			t.Errorf("empty claims must be left out, as in Kratos: %v", traits)
		}
	})

	t.Run("MetadataAndVerifiedAddressesPassThrough", func(t *testing.T) {
		m := mustLoadMapper(t, `local c = std.extVar('claims');
{ identity: {
  traits: { email: c.email },
  metadata_public: { groups: c.raw_claims.groups },
  metadata_admin: { subject: c.sub },
  verified_addresses: [{ via: 'email', value: ' ' + c.email + ' ' }],
} }`)
		got, err := m.Map(context.Background(), someClaims)
		if err != nil {
			t.Fatalf("Map: %v", err)
		}
		if string(got.MetadataPublic) != `{"groups":["admins"]}` {
			t.Errorf("metadata_public = %s", got.MetadataPublic)
		}
		if string(got.MetadataAdmin) != `{"subject":"sub-1"}` {
			t.Errorf("metadata_admin = %s", got.MetadataAdmin)
		}
		want := []oidc.VerifiedAddress{{Via: "email", Value: "ada@example.com"}}
		if len(got.VerifiedAddresses) != 1 || got.VerifiedAddresses[0] != want[0] {
			t.Errorf("verified_addresses = %+v, want %+v (email trimmed and lower-cased)", got.VerifiedAddresses, want)
		}
	})

	t.Run("NullMetadataIsAbsent", func(t *testing.T) {
		m := mustLoadMapper(t, `{ identity: { traits: {}, metadata_public: null } }`)
		got, err := m.Map(context.Background(), someClaims)
		if err != nil || got.MetadataPublic != nil {
			t.Fatalf("Map = %+v, %v", got, err)
		}
	})
}

func TestLoadMapperRefuses(t *testing.T) {
	tests := []struct {
		name, url, want string
	}{
		{"BadSyntax", base64Mapper("{ identity: { traits: } }"), "jsonnet syntax: "},
		{"HTTP", "http://example.com/mapper.jsonnet", "does not fetch a mapper over http(s)"},
		{"HTTPS", "https://example.com/mapper.jsonnet", "does not fetch a mapper over http(s)"},
		{"NotBase64", "base64://%%%", "does not decode as base64"},
		{"UnknownScheme", "s3://bucket/mapper.jsonnet", "unsupported mapper URL"},
		{"Import", base64Mapper(`local lib = import 'lib.libsonnet'; { identity: { traits: lib } }`), `imports "lib.libsonnet": imports are not available`},
		{"TailStrictLoop", base64Mapper(`local loop(n) = loop(n + 1) tailstrict; { identity: { traits: { n: loop(0) } } }`), "uses tailstrict"},
		{"ImportStr", base64Mapper(`{ identity: { traits: { key: importstr '/etc/passwd' } } }`), `imports "/etc/passwd"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := oidc.LoadMapper(tt.url)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("LoadMapper() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	t.Run("BadSyntaxNamesThePlace", func(t *testing.T) {
		_, err := oidc.LoadMapper(base64Mapper("{\n identity: { traits: } }"))
		if err == nil || !strings.Contains(err.Error(), ":2:") {
			t.Fatalf("LoadMapper() = %v, want the line of the problem", err)
		}
	})
}

func TestMapperFailures(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"RuntimeError", `{ identity: { traits: { email: error 'no email' } } }`, "RUNTIME ERROR: no email"},
		{"MissingField", `local c = std.extVar('claims'); { identity: { traits: { x: c.nope } } }`, "RUNTIME ERROR"},
		{"NoIdentity", `{ traits: {} }`, "no identity object"},
		{"NoTraits", `{ identity: { metadata_public: {} } }`, "identity.traits must be an object"},
		{"TraitsNotObject", `{ identity: { traits: 'ada@example.com' } }`, "identity.traits must be an object"},
		{"MetadataNotObject", `{ identity: { traits: {}, metadata_admin: [1] } }`, "identity.metadata_admin must be an object"},
		{"VerifiedAddressesNotArray", `{ identity: { traits: {}, verified_addresses: 'x' } }`, "identity.verified_addresses must be an array"},
		{"EndlessRecursion", `local loop(n) = loop(n + 1); { identity: { traits: { n: loop(0) } } }`, "max stack frames exceeded"},
		{"DeepRecursion", `local f(n) = 1 + f(n + 1); { identity: { traits: { n: f(0) } } }`, "max stack frames exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := mustLoadMapper(t, tt.src).Map(context.Background(), someClaims)
			var me *oidc.MapperError
			if !errors.As(err, &me) {
				t.Fatalf("Map() = %v, want a *MapperError", err)
			}
			if !strings.Contains(me.Reason, tt.want) || strings.Contains(me.Reason, "\n") {
				t.Fatalf("reason = %q, want one line containing %q", me.Reason, tt.want)
			}
		})
	}

	t.Run("LongEvaluationIsCutOff", func(t *testing.T) {
		// 10^8 additions: minutes of work that stays within the stack
		// limit, which only the time bound can end.
		m := mustLoadMapper(t, `local sum(n) = std.foldl(function(a, b) a + b, std.range(1, n), 0);
{ identity: { traits: { n: std.foldl(function(a, i) a + sum(10000), std.range(1, 10000), 0) } } }`)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := m.Map(ctx, someClaims)
		var me *oidc.MapperError
		if !errors.As(err, &me) || !strings.Contains(me.Reason, "did not finish in time") {
			t.Fatalf("Map() = %v, want a timeout MapperError", err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Fatalf("Map took %v to give up", took)
		}
	})
}
