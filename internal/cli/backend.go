package cli

import (
	"errors"
	"fmt"
	"net/url"
	"os"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/sqlstore"
)

// Environment variables naming the admin API, Latchkey's and the one
// `kratos` commands read.
const (
	envAdminURL       = "LATCHKEY_ADMIN_URL"
	envKratosAdminURL = "KRATOS_ADMIN_URL"
)

// backEndFlags are the flags of the commands that work either through a
// running server's admin API or on the database itself (identities,
// audit list): which back end (--endpoint, or -c/-e/--dev for the
// database) and the output format.
type backEndFlags struct {
	migrateFlags
	endpoint string
	output   outputFlags
}

func (f *backEndFlags) register(cmd *cobra.Command) {
	f.configFlags.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.endpoint, "endpoint", "", "the admin API of a running server, e.g. http://127.0.0.1:4434 (default: $"+envAdminURL+", else $"+envKratosAdminURL+")")
	fl.BoolVarP(&f.fromEnv, "read-from-env", "e", false, "work on the database named by the DSN environment variable (configuration from the environment and -c files)")
	f.output.register(cmd)
}

// adminEndpoint is the admin API the command talks to: --endpoint or the
// URL in the environment; "" when -c, -e or --dev send it to the
// database.
func (f *backEndFlags) adminEndpoint() (string, error) {
	database := len(f.files) > 0 || f.fromEnv || f.dev
	switch {
	case database && f.endpoint != "":
		return "", errors.New("--endpoint sends the commands to a server, -c/-e/--dev to the database: give one or the other")
	case database:
		return "", nil
	}
	endpoint := f.endpoint
	for _, env := range []string{envAdminURL, envKratosAdminURL} {
		if endpoint == "" {
			endpoint = os.Getenv(env)
		}
	}
	if endpoint == "" {
		return "", errors.New("no server or database given: pass --endpoint URL (or set " + envAdminURL + " or " + envKratosAdminURL +
			") for a running server's admin API, or -c config.yml / -e (DSN set) to work on the database")
	}
	return endpoint, nil
}

// openDatabase loads the configuration and opens its database, which
// must be migrated.
func (f *backEndFlags) openDatabase(cmd *cobra.Command, args []string) (*config.Config, *sqlstore.DB, error) {
	if f.fromEnv {
		// `kratos … -e URL` names the endpoint; here -e takes no value,
		// so the URL would be taken for an argument.
		for _, a := range args {
			if u, err := url.Parse(a); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
				return nil, nil, fmt.Errorf("-e reads the DSN from the environment; for a server's admin API use --endpoint %s", a)
			}
		}
		if _, err := f.envDSN(); err != nil {
			return nil, nil, err
		}
	}
	cfg, err := f.load(cmd)
	if err != nil {
		return nil, nil, err
	}
	// The configuration takes the DSN variable over the files, so -e and
	// a set DSN both migrate with -e.
	db, err := openMigrated(cmd.Context(), cfg.DSN, migrateSQLCommand(cfg.DSN, f.fromEnv || envHasDSN(), f.files))
	if err != nil {
		return nil, nil, err
	}
	return cfg, db, nil
}
