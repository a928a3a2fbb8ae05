package cli

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/sqlstore"
)

// newAudit is `latchkey audit`: the audit log (docs/audit.md).
func newAudit() *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Read the audit log of security events"}
	cmd.AddCommand(newAuditList())
	return cmd
}

// auditListFlags are the filters of `audit list`.
type auditListFlags struct {
	backEndFlags
	identity     string
	types        []string
	since, until string
	pageSize     int
	limit        int
}

func newAuditList() *cobra.Command {
	var f auditListFlags
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List audit events, oldest first",
		Long: `Lists the events of the audit log oldest first, through a running server's
admin API (GET /admin/audit/events; --endpoint URL, or $` + envAdminURL + ` / $` + envKratosAdminURL + `) or
on the database directly (-c config.yml, or -e with the DSN environment
variable). Every page is read, --page-size events at a time, until the end
or until --limit events have been printed.

--since and --until take an RFC 3339 time (2026-01-31T09:00:00Z) or a
duration meaning "that long ago" (24h, 90m); --since is inclusive, --until
exclusive. --type may be repeated or list types separated by commas.

--format json prints a JSON array of the events as the API answers them;
-q prints their ids.`,
		Example: `  latchkey audit list --endpoint http://127.0.0.1:4434 --since 24h
  latchkey audit list --identity 3bb5f5d9-6a7e-4b8e-9d62-2f7a5b1c0d4e --type admin.recovery_code_created,admin.recovery_link_created
  latchkey audit list -e --type recovery.failed --since 2026-01-31T00:00:00Z --format json | jq -r '.[].client_ip'`,
		// Arguments are refused in run, after open has explained a
		// `-e URL` written as for kratos.
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.output.check(); err != nil {
				return err
			}
			q, err := f.query(time.Now())
			if err != nil {
				return err
			}
			ctx, stop := signalContext()
			defer stop()
			cmd.SetContext(ctx)
			b, err := f.open(cmd, args)
			if err != nil {
				return err
			}
			defer b.close()
			if len(args) > 0 {
				return fmt.Errorf("list takes no arguments, got %q", args[0])
			}
			p := newEventPrinter(cmd.OutOrStdout(), f.output)
			if err := listAllEvents(ctx, b, q, f.limit, p.add); err != nil {
				return errors.New(failureText(err))
			}
			return p.close()
		},
	}
	f.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.identity, "identity", "", "only the events of this identity id")
	fl.StringArrayVar(&f.types, "type", nil, "only events of this type (recovery.succeeded, login.failed, …); repeat or separate with commas for several")
	fl.StringVar(&f.since, "since", "", "only events at or after this RFC 3339 time, or this long ago (24h)")
	fl.StringVar(&f.until, "until", "", "only events before this RFC 3339 time, or this long ago")
	fl.IntVar(&f.pageSize, "page-size", audit.DefaultPageSize, "events read per request (at most 1000)")
	fl.IntVar(&f.limit, "limit", 0, "print at most this many events (0: all)")
	return cmd
}

// query turns the flags into the API's query parameters; durations count
// back from now.
func (f *auditListFlags) query(now time.Time) (url.Values, error) {
	if f.pageSize < 1 || f.pageSize > audit.MaxPageSize {
		return nil, fmt.Errorf("--page-size must be between 1 and %d, got %d", audit.MaxPageSize, f.pageSize)
	}
	if f.limit < 0 {
		return nil, fmt.Errorf("--limit must not be negative, got %d", f.limit)
	}
	size := f.pageSize
	if f.limit > 0 {
		size = min(size, f.limit)
	}
	q := url.Values{"page_size": {strconv.Itoa(size)}}
	if f.identity != "" {
		q.Set("identity_id", f.identity)
	}
	if len(f.types) > 0 {
		q["type"] = f.types
	}
	for _, t := range []struct{ name, value string }{{"since", f.since}, {"until", f.until}} {
		if t.value == "" {
			continue
		}
		at, err := pointInTime(t.value, now)
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", t.name, err)
		}
		q.Set(t.name, at.UTC().Format(time.RFC3339Nano))
	}
	return q, nil
}

// pointInTime reads an RFC 3339 time, or a duration meaning that long
// before now.
func pointInTime(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time (2026-01-31T09:00:00Z) nor a duration (24h)", s)
	}
	if d < 0 {
		return time.Time{}, fmt.Errorf("the duration %q must not be negative: it counts back from now", s)
	}
	return now.Add(-d), nil
}

// auditBackend is where `audit list` reads: a server's admin API or the
// database. Both take the API's query parameters and fail with
// *httpx.Error for what the API would answer with an error.
type auditBackend interface {
	listEvents(ctx context.Context, q url.Values) (events []audit.Event, next string, err error)
	close() error
}

func (f *auditListFlags) open(cmd *cobra.Command, args []string) (auditBackend, error) {
	endpoint, err := f.adminEndpoint()
	if err != nil {
		return nil, err
	}
	if endpoint != "" {
		return newAdminAPI(endpoint)
	}
	_, db, err := f.openDatabase(cmd, args)
	if err != nil {
		return nil, err
	}
	return &auditDatabase{db: db}, nil
}

func (a *adminAPI) listEvents(ctx context.Context, q url.Values) ([]audit.Event, string, error) {
	var page []audit.Event
	next, err := a.getPage(ctx, "/admin/audit/events", q, &page)
	return page, next, err
}

// auditDatabase reads the log from the database with the API's own
// parameter parsing.
type auditDatabase struct{ db *sqlstore.DB }

func (d *auditDatabase) close() error { return d.db.Close() }

func (d *auditDatabase) listEvents(ctx context.Context, q url.Values) ([]audit.Event, string, error) {
	f, err := audit.ParseFilter(q)
	if err != nil {
		return nil, "", err
	}
	return sqlstore.NewAuditStore(d.db).ListEvents(ctx, f)
}

// listAllEvents hands every page to print, following the next page
// token until the last page or until limit events (0: no limit).
func listAllEvents(ctx context.Context, b auditBackend, q url.Values, limit int, print func([]audit.Event) error) error {
	seen := 0
	for {
		events, next, err := b.listEvents(ctx, q)
		if err != nil {
			return err
		}
		if limit > 0 && seen+len(events) > limit {
			events = events[:limit-seen]
		}
		seen += len(events)
		if err := print(events); err != nil {
			return err
		}
		if next == "" || (limit > 0 && seen >= limit) {
			return nil
		}
		q.Set("page_token", next)
	}
}

// auditColumns are the table columns of `audit list`.
var auditColumns = []string{"TIME", "TYPE", "ACTOR", "IDENTITY", "METHOD", "RESULT", "CLIENT IP", "REASON"}

func auditRow(e audit.Event) []string {
	identity := ""
	if e.IdentityID != nil {
		identity = e.IdentityID.String()
	}
	row := []string{e.Time.UTC().Format(time.RFC3339), string(e.Type), string(e.Actor), identity, e.Method, e.Result, e.ClientIP, e.Reason}
	for i := range row {
		row[i] = printable(row[i])
	}
	return row
}

// printable replaces control characters, which would break the table or
// drive the terminal (an admin's reason is free text), with spaces.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || (r >= 0x7f && r < 0xa0) {
			return ' '
		}
		return r
	}, s)
}
