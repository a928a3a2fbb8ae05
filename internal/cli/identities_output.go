package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/internal/httpx"
)

// outputFlags choose how the identities commands print, with the flags
// of the `kratos` identity commands: --format table|json|json-pretty and
// -q/--quiet for ids only.
type outputFlags struct {
	format string
	quiet  bool
}

func (o *outputFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.format, "format", "table", "output format: table, json or json-pretty")
	cmd.Flags().BoolVarP(&o.quiet, "quiet", "q", false, "print only ids, one per line (wins over --format)")
}

// check refuses an unknown format before any work is done.
func (o *outputFlags) check() error {
	switch o.format {
	case "table", "default", "json", "json-pretty":
		return nil
	}
	return fmt.Errorf("unknown --format %q: use table, json or json-pretty", o.format)
}

// identityColumns are the table columns of `kratos list identities`.
var identityColumns = []string{"ID", "VERIFIED ADDRESSES", "RECOVERY ADDRESSES", "SCHEMA ID", "SCHEMA URL"}

// identityRow is what the table shows of an identity.
type identityRow struct {
	ID                  string `json:"id"`
	SchemaID            string `json:"schema_id"`
	SchemaURL           string `json:"schema_url"`
	VerifiableAddresses []struct {
		Value string `json:"value"`
	} `json:"verifiable_addresses"`
	RecoveryAddresses []struct {
		Value string `json:"value"`
	} `json:"recovery_addresses"`
}

func (r identityRow) columns() []string {
	values := func(addrs []struct {
		Value string `json:"value"`
	}) string {
		var out []string
		for _, a := range addrs {
			if a.Value != "" {
				out = append(out, a.Value)
			}
		}
		return strings.Join(out, ", ")
	}
	return []string{r.ID, values(r.VerifiableAddresses), values(r.RecoveryAddresses), r.SchemaID, r.SchemaURL}
}

func rows(docs []json.RawMessage) ([]identityRow, error) {
	out := make([]identityRow, len(docs))
	for n, d := range docs {
		if err := json.Unmarshal(d, &out[n]); err != nil {
			return nil, fmt.Errorf("not an identity: %w", err)
		}
	}
	return out, nil
}

// printIdentities prints identities as `kratos get identity` does: one
// as a two-column table (or a JSON object), several as a table (or a
// JSON array). Nothing is printed for none.
func (o *outputFlags) printIdentities(w io.Writer, docs []json.RawMessage) error {
	if len(docs) == 0 {
		return nil
	}
	rs, err := rows(docs)
	if err != nil {
		return err
	}
	switch {
	case o.quiet:
		return writeLines(w, idsOf(rs))
	case o.isJSON() && len(docs) == 1:
		return o.printJSON(w, docs[0])
	case o.isJSON():
		return o.printJSON(w, docs)
	case len(docs) == 1:
		return printVertical(w, identityColumns, rs[0].columns())
	}
	table := make([][]string, len(rs))
	for n, r := range rs {
		table[n] = r.columns()
	}
	return printTable(w, identityColumns, table)
}

// printPage prints one page of a list as `kratos list identities` does:
// the table ends with the next page's token; JSON is
// {"identities":[…],"next_page_token":"…"}.
func (o *outputFlags) printPage(w io.Writer, docs []json.RawMessage, next string) error {
	rs, err := rows(docs)
	if err != nil {
		return err
	}
	switch {
	case o.quiet:
		return writeLines(w, idsOf(rs))
	case o.isJSON():
		if docs == nil {
			docs = []json.RawMessage{}
		}
		return o.printJSON(w, struct {
			Identities    []json.RawMessage `json:"identities"`
			NextPageToken string            `json:"next_page_token"`
		}{docs, next})
	}
	table := make([][]string, 0, len(rs)+2)
	for _, r := range rs {
		table = append(table, r.columns())
	}
	table = append(table, []string{""}, []string{"NEXT PAGE TOKEN", next})
	return printTable(w, identityColumns, table)
}

// printIDs prints the ids of deleted identities as `kratos delete
// identity` does.
func (o *outputFlags) printIDs(w io.Writer, ids []string) error {
	switch {
	case len(ids) == 0:
		return nil
	case o.quiet:
		return writeLines(w, ids)
	case o.isJSON() && len(ids) == 1:
		return o.printJSON(w, ids[0])
	case o.isJSON():
		return o.printJSON(w, ids)
	case len(ids) == 1:
		return printVertical(w, []string{"ID"}, ids)
	}
	table := make([][]string, len(ids))
	for n, id := range ids {
		table[n] = []string{id}
	}
	return printTable(w, []string{"ID"}, table)
}

func (o *outputFlags) isJSON() bool { return o.format == "json" || o.format == "json-pretty" }

func (o *outputFlags) printJSON(w io.Writer, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if o.format == "json-pretty" {
		enc.SetIndent("", "  ")
	}
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// newTabWriter aligns columns with tabs, as the kratos commands do.
func newTabWriter(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 8, 1, '\t', 0) }

// printTable prints a header line and one line per row.
func printTable(w io.Writer, header []string, table [][]string) error {
	tw := newTabWriter(w)
	fmt.Fprintln(tw, strings.Join(header, "\t")+"\t")
	for _, row := range table {
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	return tw.Flush()
}

// printVertical prints one record as "HEADER<tab>value" lines.
func printVertical(w io.Writer, header, values []string) error {
	tw := newTabWriter(w)
	for n, h := range header {
		fmt.Fprintf(tw, "%s\t%s\t\n", h, values[n])
	}
	return tw.Flush()
}

// failureText is how one failed item is reported: the API's reason (its
// message when it gives none), or the error itself.
func failureText(err error) string {
	var e *httpx.Error
	if !errors.As(err, &e) {
		return err.Error()
	}
	if e.Reason != "" {
		return e.Reason
	}
	return e.Message
}

// reportFailures prints one line per failed item, "source: why", and
// returns the command's error (nil when nothing failed).
func reportFailures(cmd *cobra.Command, failures []itemFailure, total int, verb string) error {
	for _, f := range failures {
		fmt.Fprintf(cmd.ErrOrStderr(), "%s: %s\n", f.source, failureText(f.err))
	}
	if len(failures) == 0 {
		return nil
	}
	return fmt.Errorf("%d of %d identities could not be %s", len(failures), total, verb)
}

// itemFailure is one identity a command could not handle.
type itemFailure struct {
	source string // the id, or the file and index of an import
	err    error
}

// writeLines prints one id per line: the --quiet output of every command.
func writeLines(w io.Writer, ids []string) error {
	for _, id := range ids {
		if _, err := fmt.Fprintln(w, id); err != nil {
			return err
		}
	}
	return nil
}

func idsOf(rs []identityRow) []string {
	ids := make([]string, len(rs))
	for n, r := range rs {
		ids[n] = r.ID
	}
	return ids
}
