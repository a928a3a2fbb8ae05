package identity

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"

	"github.com/google/uuid"
)

// passwordPatchPath is the one credentials path a JSON patch may set.
const passwordPatchPath = "/credentials/password/config/password"

// patchable are the top-level identity fields a JSON patch may change.
var patchable = map[string]bool{
	"traits": true, "state": true, "metadata_public": true, "metadata_admin": true,
	"schema_id": true, "external_id": true,
}

// Patch applies an RFC 6902 JSON Patch to the identity's admin JSON
// (PATCH /admin/identities/{id}). Only traits, state, metadata_public,
// metadata_admin, schema_id and external_id may change, plus
// /credentials/password/config/password, which sets a new password.
func (s *Service) Patch(ctx context.Context, id uuid.UUID, ops []PatchOperation) (*Identity, error) {
	var password *string
	for _, op := range ops {
		targets := []string{op.Path}
		if op.Op == "move" {
			targets = append(targets, op.From)
		}
		if op.Op == "test" {
			continue
		}
		for _, p := range targets {
			if p == passwordPatchPath {
				if op.Op != "add" && op.Op != "replace" {
					return nil, badRequest("patch operation %q is not allowed on %s; use add or replace", op.Op, p)
				}
				var pw string
				if err := json.Unmarshal(op.Value, &pw); err != nil {
					return nil, badRequest("%s must be a string", p)
				}
				password = &pw
				continue
			}
			tokens, err := parsePointer(p)
			if err != nil {
				return nil, badRequest("%s", err.Error())
			}
			if len(tokens) == 0 || !patchable[tokens[0]] {
				return nil, badRequest("patch includes denied path: %s", p)
			}
		}
	}
	var pwConfig json.RawMessage
	if password != nil && *password != "" {
		var err error
		pwConfig, err = s.passwordConfig(ctx, &CredentialsInput{Password: &PasswordCredentialsInput{Config: PasswordInputConfig{Password: *password}}})
		if err != nil {
			return nil, err
		}
	}
	return s.change(ctx, id, pwConfig, func(next *Identity) error {
		doc, err := patchDocument(next)
		if err != nil {
			return err
		}
		patched, err := ApplyPatch(doc, ops)
		if err != nil {
			return badRequest("%s", err.Error())
		}
		return readPatchDocument(next, patched)
	})
}

// patchDocument is the identity as a patch sees it: its admin JSON, with an
// empty credentials.password.config so a new password can be added.
func patchDocument(i *Identity) (any, error) {
	b, err := json.Marshal(i.JSON(AdminView, ""))
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	creds, _ := doc["credentials"].(map[string]any)
	if creds == nil {
		creds = map[string]any{}
		doc["credentials"] = creds
	}
	pw, _ := creds["password"].(map[string]any)
	if pw == nil {
		pw = map[string]any{"type": string(CredentialPassword)}
		creds["password"] = pw
	}
	pw["config"] = map[string]any{}
	return doc, nil
}

// readPatchDocument sets the patchable fields of next from a patched
// document.
func readPatchDocument(next *Identity, patched any) error {
	doc, ok := patched.(map[string]any)
	if !ok {
		return badRequest("the patched identity must be a JSON object")
	}
	schemaID, ok := doc["schema_id"].(string)
	if !ok {
		return badRequest("schema_id must be a string")
	}
	state, ok := doc["state"].(string)
	if !ok {
		return ErrInvalidState
	}
	next.SchemaID, next.State = schemaID, State(state)
	switch ext := doc["external_id"].(type) {
	case nil:
		next.ExternalID = ""
	case string:
		next.ExternalID = strings.TrimSpace(ext)
	default:
		return badRequest("external_id must be a string")
	}
	var err error
	if next.Traits, err = marshalField(doc, "traits"); err != nil {
		return err
	}
	if next.MetadataPublic, err = marshalField(doc, "metadata_public"); err != nil {
		return err
	}
	next.MetadataAdmin, err = marshalField(doc, "metadata_admin")
	return err
}

func marshalField(doc map[string]any, key string) (json.RawMessage, error) {
	v, ok := doc[key]
	if !ok || v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, badRequest("%s is not valid JSON", key)
	}
	return b, nil
}
