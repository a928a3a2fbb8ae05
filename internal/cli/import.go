package cli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/kratosimport"
	"github.com/latchkey/latchkey/internal/server"
	"github.com/latchkey/latchkey/internal/sqlstore"
)

func newImport() *cobra.Command {
	cmd := &cobra.Command{Use: "import", Short: "Import users from another identity server"}
	cmd.AddCommand(newImportKratos())
	return cmd
}

type importFlags struct {
	configFlags
	from        string
	network     string
	dryRun      bool
	restart     bool
	migrate     bool
	keepCookies bool
	batchSize   int
	maxProblems int
}

func newImportKratos() *cobra.Command {
	var f importFlags
	cmd := &cobra.Command{
		Use:   "kratos --from DSN",
		Short: "Copy identities, credentials and live sessions from a Kratos v26.2.0 database",
		Long: `Copies a Kratos v26.2.0 database into the configured Latchkey database:
identities (traits, state, metadata, external id, timestamps), credentials
(password hashes as Kratos stored them, verified and upgraded at the next
sign-in; TOTP and backup codes, sealed with secrets.cipher; social sign-in
links; WebAuthn and passkey keys kept for later), verifiable addresses with
their status, recovery addresses, and the sessions still in use, whose
tokens keep working (Latchkey stores their keyed hash, computed with
secrets.default). Flows, codes and mail in flight are not copied.

--from takes a DSN in the forms Kratos accepts: sqlite://PATH?...,
postgres://..., cockroach://..., mysql://user:pass@tcp(host:port)/db?...
The Kratos database is only read.

The import runs in batches, each in one transaction with a checkpoint: an
interrupted run goes on where it stopped (--restart starts over). Running
it again updates what changed in Kratos and never duplicates; an identity
or session changed in Latchkey after its import is kept as it is.
--dry-run writes nothing and lists every row that cannot be imported.`,
		Args: cobra.NoArgs,
		RunE: f.run,
	}
	f.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.from, "from", "", "DSN of the Kratos database to read (required)")
	fl.StringVar(&f.network, "network", "", "Kratos network id to import (needed only when the database holds several)")
	fl.BoolVar(&f.dryRun, "dry-run", false, "read both databases, print what would change and every row that cannot be imported; write nothing")
	fl.BoolVar(&f.restart, "restart", false, "ignore the checkpoint of an interrupted run and start from the first identity")
	fl.BoolVar(&f.migrate, "migrate", false, "apply pending Latchkey migrations first (always on in --dev)")
	fl.BoolVar(&f.keepCookies, "keep-cookies", false, "refuse to run unless secrets.cookie is set: browsers stay signed in when it holds Kratos's cookie secrets (docs/migrating-from-kratos.md)")
	fl.IntVar(&f.batchSize, "batch-size", kratosimport.DefaultBatchSize, "identities per transaction")
	fl.IntVar(&f.maxProblems, "max-problems", 1000, "print at most this many problem rows (all are counted)")
	_ = cmd.MarkFlagRequired("from")
	return cmd
}

// importCacheKiB is the SQLite page cache of the import's writer: 64 MiB
// keeps a batch's dirty pages and the hot index pages in memory (see
// docs/benchmarks.md, "Importing from Kratos").
const importCacheKiB = 64 << 10

func (f *importFlags) run(cmd *cobra.Command, _ []string) error {
	if f.batchSize < 1 {
		return fmt.Errorf("--batch-size must be at least 1, got %d", f.batchSize)
	}
	cfg, err := f.load(cmd)
	if err != nil {
		return err
	}
	// Browsers keep their Kratos cookie only if Latchkey's cookie secrets
	// are Kratos's; a secrets.cookie set on purpose is the sign of that.
	if f.keepCookies && len(cfg.Secrets.Cookie) == 0 {
		return errors.New("--keep-cookies needs secrets.cookie set to the secrets Kratos signed its cookies with (its secrets.cookie, or its secrets.default if it had none): see docs/migrating-from-kratos.md")
	}
	log := newLogger(cmd.ErrOrStderr(), cfg)
	ctx, stop := signalContext()
	defer stop()

	src, err := kratosimport.OpenSource(ctx, f.from, f.network)
	if err != nil {
		return fmt.Errorf("kratos database: %w", err)
	}
	defer src.Close()
	db, err := sqlstore.Open(ctx, cfg.DSN)
	if err != nil {
		return err
	}
	defer db.Close()
	if db.InMemory() {
		return errors.New("Latchkey's dsn is an in-memory database, which is gone when this command ends: give the database to import into with -c (a config with dsn), the DSN environment variable or --dev")
	}
	migrate := migrateSQLCommand(cfg.DSN, envHasDSN(), f.files)
	if f.dryRun {
		// A dry run writes nothing, migrations included.
		if pending, err := db.Pending(ctx); err != nil {
			return err
		} else if pending > 0 {
			return fmt.Errorf("the Latchkey database has %d pending migration(s), and a dry run writes nothing: run `%s` first", pending, migrate)
		}
	} else if f.migrate || cfg.Dev {
		if _, err := db.Migrate(ctx); err != nil {
			return err
		}
	} else if pending, err := db.Pending(ctx); err != nil {
		return err
	} else if pending > 0 {
		return fmt.Errorf("the Latchkey database has %d pending migration(s): run `%s` first, or pass --migrate", pending, migrate)
	}
	if err := db.GrowWriteCache(ctx, importCacheKiB); err != nil {
		return err
	}
	tools, err := server.NewOffline(cfg, db)
	if err != nil {
		return err
	}

	progress := newProgress(cmd.ErrOrStderr(), log)
	rep, err := kratosimport.Run(ctx, src, kratosimport.Options{
		Target:     sqlstore.NewImportStore(db),
		Schemas:    tools.Identities,
		Sealer:     tools.Cipher,
		Tokens:     tools.Tokens,
		SourceName: "kratos " + sqlstore.Redact(f.from) + " network " + src.Network(),
		BatchSize:  f.batchSize,
		DryRun:     f.dryRun,
		Restart:    f.restart,
		Progress:   progress.update,
		Log:        log,
	})
	progress.finish()
	if rep != nil {
		printImport(cmd.OutOrStdout(), rep, f.maxProblems, f.keepCookies)
	}
	if err != nil {
		if ctx.Err() != nil {
			return errors.New("import interrupted: run the same command again to go on from the last committed batch")
		}
		return err
	}
	return nil
}

// printImport writes the summary and the problem rows.
func printImport(w io.Writer, rep *kratosimport.Report, maxProblems int, keepCookies bool) {
	verb := func(done, would string) string {
		if rep.DryRun {
			return would
		}
		return done
	}
	if rep.DryRun {
		fmt.Fprintln(w, "Dry run: nothing was written.")
	}
	if rep.ResumedAfter > 0 {
		fmt.Fprintf(w, "Resumed after %d identities done by an interrupted run.\n", rep.ResumedAfter)
	}
	fmt.Fprintf(w, "Kratos identities:   %d\n", rep.Total)
	for _, line := range []struct {
		what string
		n    int64
	}{
		{verb("created", "to create"), rep.Created},
		{verb("updated", "to update"), rep.Updated},
		{"unchanged", rep.Unchanged},
		{"kept (changed in Latchkey since)", rep.Kept},
		{verb("not imported", "cannot import"), rep.Skipped},
	} {
		fmt.Fprintf(w, "  %-33s %d\n", line.what, line.n)
	}
	types := make([]string, 0, len(rep.Credentials))
	for t := range rep.Credentials {
		types = append(types, string(t))
	}
	sort.Strings(types)
	var parts []string
	for _, t := range types {
		parts = append(parts, fmt.Sprintf("%s %d", t, rep.Credentials[identity.CredentialType(t)]))
	}
	fmt.Fprintf(w, "Credentials:         %s\n", strings.Join(parts, ", "))
	fmt.Fprintf(w, "Verified addresses:  %d\n", rep.VerifiedAddresses)
	fmt.Fprintf(w, "Sessions:            %d %s, %d unchanged, %d kept (changed in Latchkey since); left out: %d revoked, %d expired, %d without a token\n",
		rep.Sessions, verb("written", "to write"), rep.SessionsUnchanged, rep.SessionsKept, rep.SessionsRevoked, rep.SessionsExpired, rep.SessionsTokenless)
	if keepCookies {
		fmt.Fprintln(w, "Browser sessions:    a browser's Kratos cookie is read with secrets.cookie and re-issued in Latchkey's format")
	} else {
		fmt.Fprintln(w, "Browser sessions:    kept only if Latchkey's cookie secrets are Kratos's (--keep-cookies checks secrets.cookie is set)")
	}
	if len(rep.Problems) > 0 {
		fmt.Fprintf(w, "Rows that cannot be imported as they are: %d\n", len(rep.Problems))
		for k, p := range rep.Problems {
			if k == maxProblems {
				fmt.Fprintf(w, "  … and %d more (--max-problems)\n", len(rep.Problems)-k)
				break
			}
			fmt.Fprintf(w, "  %s\n", p)
		}
	}
	if !rep.DryRun {
		fmt.Fprintf(w, "Done in %s.\n", rep.Elapsed.Round(time.Millisecond))
	}
}

// progress shows how far the import is: a bar redrawn in place on a
// terminal, otherwise a log line at most every few seconds.
type progress struct {
	w        io.Writer
	log      *slog.Logger
	terminal bool
	started  time.Time
	lastLog  time.Time
	drawn    bool
}

func newProgress(w io.Writer, log *slog.Logger) *progress {
	p := &progress{w: w, log: log, started: time.Now()}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.terminal = true
		}
	}
	return p
}

const progressLogEvery = 5 * time.Second

func (p *progress) update(done, total int64) {
	elapsed := time.Since(p.started)
	rate := float64(done) / max(elapsed.Seconds(), 0.001)
	if p.terminal {
		const width = 30
		filled := width
		if total > 0 {
			filled = int(float64(width) * float64(min(done, total)) / float64(total))
		}
		fmt.Fprintf(p.w, "\r[%s%s] %d/%d identities  %.0f/s ", strings.Repeat("#", filled), strings.Repeat(" ", width-filled), done, total, rate)
		p.drawn = true
		return
	}
	if time.Since(p.lastLog) >= progressLogEvery || done >= total {
		p.lastLog = time.Now()
		p.log.Info("import progress", "identities_done", done, "identities_total", total, "per_second", int(rate))
	}
}

func (p *progress) finish() {
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}
