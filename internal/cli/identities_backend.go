package cli

import (
	"context"
	"encoding/json"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/internal/server"
)

// identityBackend is where the identities commands do their work: a
// running server's admin API (adminAPI) or the database itself
// (identityDatabase). Both take and return the admin API's JSON
// documents, and fail with *httpx.Error for what the API would answer
// with an error, so the commands print the same either way.
type identityBackend interface {
	create(ctx context.Context, body json.RawMessage) (json.RawMessage, error)
	list(ctx context.Context, pageSize int, pageToken string) (page []json.RawMessage, next string, err error)
	get(ctx context.Context, id string, includeCredentials []string) (json.RawMessage, error)
	delete(ctx context.Context, id string) error
	patch(ctx context.Context, id string, jsonPatch json.RawMessage) (json.RawMessage, error)
	close() error
}

// openIdentities picks the identities commands' back end.
func (f *backEndFlags) openIdentities(cmd *cobra.Command, args []string) (identityBackend, error) {
	endpoint, err := f.adminEndpoint()
	if err != nil {
		return nil, err
	}
	if endpoint != "" {
		return newAdminAPI(endpoint)
	}
	cfg, db, err := f.openDatabase(cmd, args)
	if err != nil {
		return nil, err
	}
	tools, err := server.NewOffline(cfg, db)
	if err != nil {
		db.Close()
		return nil, err
	}
	return &identityDatabase{db: db, identities: tools.Identities, sealer: tools.Cipher, publicBaseURL: cfg.Serve.Public.BaseURL}, nil
}
