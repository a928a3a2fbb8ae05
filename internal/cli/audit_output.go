package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/latchkey/latchkey/internal/audit"
)

// eventPrinter prints the events of `audit list` page by page: JSON is
// written as it comes, so a long log is never held in memory; the table
// is aligned once all rows are in.
type eventPrinter struct {
	w      io.Writer
	output outputFlags
	table  *tabwriter.Writer
	count  int
}

func newEventPrinter(w io.Writer, output outputFlags) *eventPrinter {
	p := &eventPrinter{w: w, output: output}
	if !output.quiet && !output.isJSON() {
		p.table = newTabWriter(w)
		fmt.Fprintln(p.table, strings.Join(auditColumns, "\t")+"\t")
	}
	return p
}

// add prints one page.
func (p *eventPrinter) add(events []audit.Event) error {
	for _, e := range events {
		var err error
		switch {
		case p.output.quiet:
			_, err = fmt.Fprintln(p.w, e.ID)
		case p.output.isJSON():
			err = p.writeJSON(e)
		default:
			_, err = fmt.Fprintln(p.table, strings.Join(auditRow(e), "\t")+"\t")
		}
		if err != nil {
			return err
		}
		p.count++
	}
	return nil
}

// writeJSON writes one element of the JSON array, opening it first.
func (p *eventPrinter) writeJSON(e audit.Event) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	sep, indent := ",", ""
	if p.count == 0 {
		sep = "["
	}
	if p.output.format == "json-pretty" {
		sep, indent = sep+"\n", "  "
		enc.SetIndent(indent, "  ")
	}
	if err := enc.Encode(e); err != nil {
		return err
	}
	_, err := io.WriteString(p.w, sep+indent+strings.TrimSuffix(buf.String(), "\n"))
	return err
}

// close ends the output: the JSON array's bracket, or the aligned table.
func (p *eventPrinter) close() error {
	switch {
	case p.output.quiet:
		return nil
	case p.output.isJSON() && p.count == 0:
		_, err := io.WriteString(p.w, "[]\n")
		return err
	case p.output.format == "json-pretty":
		_, err := io.WriteString(p.w, "\n]\n")
		return err
	case p.output.isJSON():
		_, err := io.WriteString(p.w, "]\n")
		return err
	}
	return p.table.Flush()
}
