package identity

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
)

// templateIdentity is an identity with every field of the public view
// set from the arguments.
func templateIdentity(traits, metadata, value, state string, when time.Time, verifiedAt, changedAt bool) *Identity {
	id := uuid.MustParse("4ad1b4b4-2f6e-4c1c-9e0e-0f1e2d3c4b5a")
	i := &Identity{
		ID: id, ExternalID: value, SchemaID: "default", State: State(state),
		Traits: json.RawMessage(traits), MetadataPublic: json.RawMessage(metadata),
		MetadataAdmin: json.RawMessage(`{"secret":"admin only"}`),
		Credentials:   map[CredentialType]Credential{CredentialPassword: {Config: json.RawMessage(`{"hashed_password":"x"}`)}},
		CreatedAt:     when, UpdatedAt: when.Add(time.Second),
	}
	if changedAt {
		i.StateChangedAt = &when
	}
	if value != "" {
		va := VerifiableAddress{ID: id, Value: value, Verified: verifiedAt, Via: ViaEmail, Status: VerifiableStatusSent, CreatedAt: when, UpdatedAt: when}
		if verifiedAt {
			va.VerifiedAt = &when
		}
		i.VerifiableAddresses = []VerifiableAddress{va, va}
		i.RecoveryAddresses = []RecoveryAddress{{ID: id, Value: value, Via: ViaEmail, CreatedAt: when, UpdatedAt: when}}
	}
	return i
}

// sameTemplateData fails unless TemplateData equals the JSON round trip
// of the public view, as a map and encoded (as the courier stores it).
func sameTemplateData(t *testing.T, i *Identity) {
	t.Helper()
	schemaURL := func(id string) string { return "https://id.example/schemas/" + id }
	got, want := i.TemplateData(schemaURL), i.templateMapViaJSON(schemaURL(i.SchemaID))
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("TemplateData differs from the JSON round trip:\n got %#v\nwant %#v", got, want)
	}
	gb, gerr := json.Marshal(got)
	wb, werr := json.Marshal(want)
	if (gerr == nil) != (werr == nil) || !bytes.Equal(gb, wb) {
		t.Fatalf("encoded TemplateData differs:\n got %s (%v)\nwant %s (%v)", gb, gerr, wb, werr)
	}
}

func TestTemplateDataIsThePublicViewRoundTrip(t *testing.T) {
	utc := time.Date(2026, 1, 2, 15, 4, 5, 123456789, time.UTC)
	for _, c := range []struct {
		name                    string
		traits, metadata, value string
		when                    time.Time
		verifiedAt, changedAt   bool
	}{
		{"typical", `{"email":"ada@example.test","name":{"first":"Ada"},"locale":"de"}`, `{"plan":"pro"}`, "ada@example.test", utc, true, true},
		{"no addresses, empty traits and metadata", ``, ``, "", utc, false, false},
		{"null traits", `null`, `null`, "a@b.test", utc, false, true},
		{"numbers, arrays, escapes", ` {"n": 1.5e3, "big": 12345678901234567890, "tags": ["<b>", "a&b", "\u2028"], "t": true} `, `[1,2]`, "x<y>@z.test", utc, true, false},
		{"time with an offset", `{}`, `{}`, "o@z.test", time.Date(2026, 5, 6, 7, 8, 9, 0, time.FixedZone("", -7*3600-30*60)), true, true},
		{"time encoding rejects", `{}`, `{}`, "o@z.test", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), true, true},
		{"invalid traits", `{"email":`, `{}`, "o@z.test", utc, false, false},
		{"out of range number", `{"n":1e400}`, `{}`, "o@z.test", utc, false, false},
		{"invalid UTF-8 in a value", `{}`, `{}`, "bad\xff\xfe@z.test", utc, false, false},
		{"invalid UTF-8 in traits", "{\"name\":\"bad\xff\"}", `{}`, "o@z.test", utc, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, state := range []string{"active", "inactive", "\xff"} {
				sameTemplateData(t, templateIdentity(c.traits, c.metadata, c.value, state, c.when, c.verifiedAt, c.changedAt))
			}
		})
	}
}

// FuzzTemplateData: the direct build equals the JSON round trip on any
// traits, metadata, address and state.
func FuzzTemplateData(f *testing.F) {
	f.Add(`{"email":"ada@example.test"}`, `{"plan":"pro"}`, "ada@example.test", "active", int64(1767366245), true, true)
	f.Add(``, `null`, "", "inactive", int64(0), false, false)
	f.Add(`{"n":1e400}`, `[`, "bad\xff", "\xfe", int64(253402300800), true, false)
	f.Fuzz(func(t *testing.T, traits, metadata, value, state string, unix int64, verifiedAt, changedAt bool) {
		sameTemplateData(t, templateIdentity(traits, metadata, value, state, time.Unix(unix, unix%1e9).UTC(), verifiedAt, changedAt))
	})
}

func BenchmarkTemplateData(b *testing.B) {
	i := templateIdentity(`{"email":"ada@example.test","name":{"first":"Ada","last":"Lovelace"},"locale":"de"}`, `{"plan":"pro"}`,
		"ada@example.test", "active", time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC), true, true)
	schemaURL := func(id string) string { return "https://id.example/schemas/" + id }
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			i.TemplateData(schemaURL)
		}
	})
	b.Run("json-round-trip", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			i.templateMapViaJSON(schemaURL(i.SchemaID))
		}
	})
}
