package identity

import (
	"encoding/json"
	"time"
	"unicode/utf8"
)

// TemplateData is the identity as mail templates see it: the public view
// as a JSON object, so {{ .Identity.traits.email }} uses the JSON names.
// schemaURL, when set, gives the schema_url of the identity's schema.
//
// Every mail carries it, so it is built directly (templateMap) rather
// than by encoding the view and decoding it again; templateMapViaJSON,
// the definition, is the fallback for what the direct build does not
// reproduce byte for byte, and the test holds the two equal.
func (i *Identity) TemplateData(schemaURL func(schemaID string) string) map[string]any {
	u := ""
	if schemaURL != nil {
		u = schemaURL(i.SchemaID)
	}
	if m, ok := i.templateMap(u); ok {
		return m
	}
	return i.templateMapViaJSON(u)
}

// templateMapViaJSON is the public view encoded as JSON and decoded into
// a map: nil when it does not encode.
func (i *Identity) templateMapViaJSON(schemaURL string) map[string]any {
	b, err := json.Marshal(i.JSON(PublicView, schemaURL))
	if err != nil {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return nil
	}
	return m
}

// templateMap builds what templateMapViaJSON decodes, field by field of
// identityJSON's public view. It declines (false) what encoding changes
// or refuses: strings that are not valid UTF-8 (encoding replaces their
// bytes), times encoding rejects, traits or metadata that are not JSON.
func (i *Identity) templateMap(schemaURL string) (map[string]any, bool) {
	tb := templateBuild{ok: true}
	m := make(map[string]any, 12)
	m["id"] = i.ID.String()
	if i.ExternalID != "" {
		m["external_id"] = tb.str(i.ExternalID)
	}
	m["schema_id"] = tb.str(i.SchemaID)
	m["schema_url"] = tb.str(schemaURL)
	m["state"] = tb.str(string(i.State))
	if i.StateChangedAt != nil {
		m["state_changed_at"] = tb.time(*i.StateChangedAt)
	}
	traits := i.Traits
	if len(traits) == 0 {
		traits = json.RawMessage("{}")
	}
	m["traits"] = tb.raw(traits)
	if len(i.VerifiableAddresses) > 0 {
		list := make([]any, len(i.VerifiableAddresses))
		for k, a := range i.VerifiableAddresses {
			am := map[string]any{
				"id": a.ID.String(), "value": tb.str(a.Value), "verified": a.Verified, "via": tb.str(a.Via),
				"status": tb.str(a.Status), "created_at": tb.time(a.CreatedAt), "updated_at": tb.time(a.UpdatedAt),
			}
			if a.VerifiedAt != nil {
				am["verified_at"] = tb.time(*a.VerifiedAt)
			}
			list[k] = am
		}
		m["verifiable_addresses"] = list
	}
	if len(i.RecoveryAddresses) > 0 {
		list := make([]any, len(i.RecoveryAddresses))
		for k, a := range i.RecoveryAddresses {
			list[k] = map[string]any{
				"id": a.ID.String(), "value": tb.str(a.Value), "via": tb.str(a.Via),
				"created_at": tb.time(a.CreatedAt), "updated_at": tb.time(a.UpdatedAt),
			}
		}
		m["recovery_addresses"] = list
	}
	m["metadata_public"] = tb.raw(nullIfEmpty(i.MetadataPublic))
	m["created_at"] = tb.time(i.CreatedAt)
	m["updated_at"] = tb.time(i.UpdatedAt)
	m["organization_id"] = nil
	return m, tb.ok
}

// templateBuild converts the values of templateMap, noting in ok whether
// each is what a JSON round trip gives.
type templateBuild struct{ ok bool }

func (b *templateBuild) str(s string) string {
	if !utf8.ValidString(s) {
		b.ok = false
	}
	return s
}

func (b *templateBuild) time(t time.Time) any {
	q, err := t.MarshalJSON() // an RFC 3339 string, quoted: nothing to unescape
	if err != nil {
		b.ok = false
		return nil
	}
	return string(q[1 : len(q)-1])
}

func (b *templateBuild) raw(r json.RawMessage) any {
	var v any
	if json.Unmarshal(r, &v) != nil {
		b.ok = false
	}
	return v
}
