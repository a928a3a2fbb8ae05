package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"

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

// Environment variables naming the admin API, Latchkey's and the one
// `kratos` commands read.
const (
	envAdminURL       = "LATCHKEY_ADMIN_URL"
	envKratosAdminURL = "KRATOS_ADMIN_URL"
)

// identityFlags are the flags every identities command shares: which
// back end (--endpoint, or -c/-e/--dev for the database) and the output
// format.
type identityFlags struct {
	migrateFlags
	endpoint string
	output   outputFlags
}

func (f *identityFlags) register(cmd *cobra.Command) {
	f.configFlags.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.endpoint, "endpoint", "", "the admin API of a running server, e.g. http://127.0.0.1:4434 (default: $"+envAdminURL+", else $"+envKratosAdminURL+")")
	fl.BoolVarP(&f.fromEnv, "read-from-env", "e", false, "work on the database named by the DSN environment variable (configuration from the environment and -c files)")
	f.output.register(cmd)
}

// open picks the back end: the database when -c, -e or --dev is given,
// else the admin API at --endpoint or the URL in the environment.
func (f *identityFlags) open(cmd *cobra.Command, args []string) (identityBackend, error) {
	database := len(f.files) > 0 || f.fromEnv || f.dev
	switch {
	case database && f.endpoint != "":
		return nil, errors.New("--endpoint sends the commands to a server, -c/-e/--dev to the database: give one or the other")
	case database:
		return f.openDatabase(cmd, args)
	}
	endpoint := f.endpoint
	for _, env := range []string{envAdminURL, envKratosAdminURL} {
		if endpoint == "" {
			endpoint = os.Getenv(env)
		}
	}
	if endpoint == "" {
		return nil, errors.New("no server or database given: pass --endpoint URL (or set " + envAdminURL + " or " + envKratosAdminURL +
			") for a running server's admin API, or -c config.yml / -e (DSN set) to work on the database")
	}
	return newAdminAPI(endpoint)
}

func (f *identityFlags) openDatabase(cmd *cobra.Command, args []string) (identityBackend, error) {
	if f.fromEnv {
		// `kratos … -e URL` names the endpoint; here -e takes no value,
		// so the URL would be taken for an argument.
		for _, a := range args {
			if u, err := url.Parse(a); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
				return nil, fmt.Errorf("-e reads the DSN from the environment; for a server's admin API use --endpoint %s", a)
			}
		}
		if _, err := f.envDSN(); err != nil {
			return nil, err
		}
	}
	cfg, err := f.load(cmd)
	if err != nil {
		return nil, err
	}
	// The configuration takes the DSN variable over the files, so -e and
	// a set DSN both migrate with -e.
	db, err := openMigrated(cmd.Context(), cfg.DSN, migrateSQLCommand(cfg.DSN, f.fromEnv || envHasDSN(), f.files))
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
