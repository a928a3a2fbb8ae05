package cli

import (
	"context"
	"encoding/json"

	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/sqlstore"
)

// identityDatabase runs the identities commands on the database, through
// the identity service serve uses (server.NewOffline): the same
// validation, hashing and JSON.
type identityDatabase struct {
	db         *sqlstore.DB
	identities *identity.Service
	// sealer opens second-factor configs (secrets.cipher).
	sealer identity.Sealer
	// publicBaseURL is where schema_url points (serve.public.base_url).
	publicBaseURL string
}

func (d *identityDatabase) close() error { return d.db.Close() }

func (d *identityDatabase) create(ctx context.Context, body json.RawMessage) (json.RawMessage, error) {
	var in identity.CreateInput
	if err := httpx.UnmarshalStrict(body, &in); err != nil {
		return nil, err
	}
	i, err := d.identities.Create(ctx, in)
	if err != nil {
		return nil, err
	}
	return d.writtenJSON(i)
}

func (d *identityDatabase) list(ctx context.Context, pageSize int, pageToken string) ([]json.RawMessage, string, error) {
	list, next, err := d.identities.List(ctx, identity.ListParams{PageSize: pageSize, PageToken: pageToken})
	if err != nil {
		return nil, "", err
	}
	page := make([]json.RawMessage, len(list))
	for n, i := range list {
		if page[n], err = d.adminJSON(i, nil); err != nil {
			return nil, "", err
		}
	}
	return page, next, nil
}

func (d *identityDatabase) get(ctx context.Context, id string, includeCredentials []string) (json.RawMessage, error) {
	uid, err := identity.ParseID(id)
	if err != nil {
		return nil, err
	}
	include, err := identity.ParseIncludeCredential(includeCredentials, false)
	if err != nil {
		return nil, err
	}
	i, err := d.identities.Get(ctx, uid)
	if err != nil {
		return nil, err
	}
	return d.adminJSON(i, include)
}

func (d *identityDatabase) delete(ctx context.Context, id string) error {
	uid, err := identity.ParseID(id)
	if err != nil {
		return err
	}
	return d.identities.Delete(ctx, uid)
}

func (d *identityDatabase) patch(ctx context.Context, id string, jsonPatch json.RawMessage) (json.RawMessage, error) {
	uid, err := identity.ParseID(id)
	if err != nil {
		return nil, err
	}
	var ops []identity.PatchOperation
	if err := httpx.UnmarshalStrict(jsonPatch, &ops); err != nil {
		return nil, err
	}
	i, err := d.identities.Patch(ctx, uid, ops)
	if err != nil {
		return nil, err
	}
	return d.writtenJSON(i)
}

// writtenJSON is an identity as the admin API answers a create or a
// change: credentials listed, no configs.
func (d *identityDatabase) writtenJSON(i *identity.Identity) (json.RawMessage, error) {
	return httpx.MarshalNoEscape(i.JSON(identity.AdminView, identity.SchemaURL(d.publicBaseURL, i.SchemaID)))
}

func (d *identityDatabase) adminJSON(i *identity.Identity, include []identity.CredentialType) (json.RawMessage, error) {
	doc, err := i.AdminJSON(d.sealer, include, d.publicBaseURL)
	if err != nil {
		return nil, err
	}
	return httpx.MarshalNoEscape(doc)
}
