package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

// newIdentities is `latchkey identities`: Kratos's identity commands
// (import identities, list identities, get/delete identity) plus patch,
// against a running server's admin API or the database itself.
func newIdentities() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "identities",
		Short: "Import, list, get, patch and delete identities",
		Long: `Manage identities as the kratos identity commands do, either through a running
server's admin API (--endpoint URL, or $` + envAdminURL + ` / $` + envKratosAdminURL + `) or on the
database directly (-c config.yml, or -e with the DSN environment variable):
the database back end loads the configuration and validates, hashes and
shows identities exactly as serve does.`,
	}
	cmd.AddCommand(newIdentitiesImport(), newIdentitiesList(), newIdentitiesGet(), newIdentitiesDelete(), newIdentitiesPatch())
	return cmd
}

// identityCommand builds a subcommand whose run gets the opened back end.
func identityCommand(cmd *cobra.Command, f *backEndFlags, run func(cmd *cobra.Command, b identityBackend, args []string) error) *cobra.Command {
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := f.output.check(); err != nil {
			return err
		}
		ctx, stop := signalContext()
		defer stop()
		cmd.SetContext(ctx)
		b, err := f.openIdentities(cmd, args)
		if err != nil {
			return err
		}
		defer b.close()
		return run(cmd, b, args)
	}
	f.register(cmd)
	return cmd
}

func newIdentitiesImport() *cobra.Command {
	var f backEndFlags
	return identityCommand(&cobra.Command{
		Use:   "import [FILE...]",
		Short: "Create identities from JSON files or stdin",
		Long: `Creates the identities in each FILE (stdin when there is none, or for "-"). A
file holds one identity or an array of them, each the body of
POST /admin/identities (schema_id, traits, credentials.password.config with
password or hashed_password, addresses, metadata, state, external_id).

Prints the created identities; one that fails is reported on stderr as
FILE[INDEX] and the reason, and the others are still created. Exits with 1
when any failed. Files that cannot be read or are not JSON stop the import
before anything is created.`,
		Example: `  latchkey identities import users.json --endpoint http://127.0.0.1:4434
  cat users.json | latchkey identities import -e -q`,
	}, &f, func(cmd *cobra.Command, b identityBackend, args []string) error {
		items, err := readImport(cmd.InOrStdin(), args)
		if err != nil {
			return err
		}
		var created []json.RawMessage
		var failed []itemFailure
		for _, it := range items {
			doc, err := b.create(cmd.Context(), it.body)
			if err != nil {
				failed = append(failed, itemFailure{it.source, err})
				continue
			}
			created = append(created, doc)
		}
		if err := f.output.printIdentities(cmd.OutOrStdout(), created); err != nil {
			return err
		}
		return reportFailures(cmd, failed, len(items), "imported")
	})
}

func newIdentitiesList() *cobra.Command {
	var (
		f         backEndFlags
		pageSize  int
		pageToken string
	)
	cmd := identityCommand(&cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List identities, one page at a time",
		Long: `Lists identities in the order they were created, --page-size at a time. The
table ends with the token of the next page (empty on the last one); pass it
to --page-token. --format json prints {"identities":[…],"next_page_token":"…"}.`,
		Example: `  latchkey identities list --page-size 100 --endpoint http://127.0.0.1:4434
  latchkey identities list -e --format json | jq -r '.identities[].id'`,
		// Arguments are refused in run, after open has explained a
		// `-e URL` written as for kratos.
	}, &f, func(cmd *cobra.Command, b identityBackend, args []string) error {
		if len(args) > 0 {
			return fmt.Errorf("list takes no arguments, got %q", args[0])
		}
		if pageSize < 1 {
			return fmt.Errorf("--page-size must be at least 1, got %d", pageSize)
		}
		page, next, err := b.list(cmd.Context(), pageSize, pageToken)
		if err != nil {
			return errors.New(failureText(err))
		}
		return f.output.printPage(cmd.OutOrStdout(), page, next)
	})
	cmd.Flags().IntVar(&pageSize, "page-size", 100, "identities per page (at most 1000)")
	cmd.Flags().StringVar(&pageToken, "page-token", "", "the next page token printed by the previous page")
	return cmd
}

func newIdentitiesGet() *cobra.Command {
	var (
		f       backEndFlags
		include []string
	)
	cmd := identityCommand(&cobra.Command{
		Use:   "get ID...",
		Short: "Show identities by id",
		Long: `Shows the identities with the given ids. An id that is unknown or malformed is
reported on stderr and the command exits with 1; the others are still shown.`,
		Example: `  latchkey identities get 3bb5f5d9-6a7e-4b8e-9d62-2f7a5b1c0d4e --format json-pretty --include-credentials password -e`,
		Args:    cobra.MinimumNArgs(1),
	}, &f, func(cmd *cobra.Command, b identityBackend, args []string) error {
		var found []json.RawMessage
		var failed []itemFailure
		for _, id := range args {
			doc, err := b.get(cmd.Context(), id, include)
			if err != nil {
				failed = append(failed, itemFailure{id, err})
				continue
			}
			found = append(found, doc)
		}
		if err := f.output.printIdentities(cmd.OutOrStdout(), found); err != nil {
			return err
		}
		return reportFailures(cmd, failed, len(args), "shown")
	})
	cmd.Flags().StringArrayVarP(&include, "include-credentials", "i", nil,
		"show the config of this credential type (password, totp, lookup_secret, oidc, …); repeat for several")
	return cmd
}

func newIdentitiesDelete() *cobra.Command {
	var f backEndFlags
	return identityCommand(&cobra.Command{
		Use:   "delete ID...",
		Short: "Delete identities by id",
		Long: `Deletes the identities with the given ids, with everything they own (credentials,
addresses, sessions). Prints the deleted ids; an id that is unknown or
malformed is reported on stderr and the command exits with 1.`,
		Example: `  latchkey identities delete 3bb5f5d9-6a7e-4b8e-9d62-2f7a5b1c0d4e --endpoint http://127.0.0.1:4434`,
		Args:    cobra.MinimumNArgs(1),
	}, &f, func(cmd *cobra.Command, b identityBackend, args []string) error {
		var deleted []string
		var failed []itemFailure
		for _, id := range args {
			if err := b.delete(cmd.Context(), id); err != nil {
				failed = append(failed, itemFailure{id, err})
				continue
			}
			deleted = append(deleted, id)
		}
		if err := f.output.printIDs(cmd.OutOrStdout(), deleted); err != nil {
			return err
		}
		return reportFailures(cmd, failed, len(args), "deleted")
	})
}

func newIdentitiesPatch() *cobra.Command {
	var (
		f    backEndFlags
		file string
	)
	cmd := identityCommand(&cobra.Command{
		Use:   "patch ID --file PATCH.json",
		Short: "Change an identity with an RFC 6902 JSON Patch",
		Long: `Applies a JSON Patch (an array of operations, as PATCH /admin/identities/{id}
takes) to the identity and shows the result. The patch may change traits,
state, metadata_public, metadata_admin, schema_id and external_id, and set a
new password with /credentials/password/config/password. --file - reads it
from stdin.`,
		Example: `  echo '[{"op":"replace","path":"/state","value":"inactive"}]' |
    latchkey identities patch 3bb5f5d9-6a7e-4b8e-9d62-2f7a5b1c0d4e --file - -e`,
		Args: cobra.ExactArgs(1),
	}, &f, func(cmd *cobra.Command, b identityBackend, args []string) error {
		var (
			patch []byte
			err   error
		)
		if file == "-" {
			patch, err = io.ReadAll(cmd.InOrStdin())
		} else {
			patch, err = os.ReadFile(file)
		}
		if err != nil {
			return fmt.Errorf("read the patch: %w", err)
		}
		doc, err := b.patch(cmd.Context(), args[0], patch)
		if err != nil {
			return reportFailures(cmd, []itemFailure{{args[0], err}}, 1, "patched")
		}
		return f.output.printIdentities(cmd.OutOrStdout(), []json.RawMessage{doc})
	})
	cmd.Flags().StringVarP(&file, "file", "f", "", "the JSON Patch file (- for stdin)")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}
