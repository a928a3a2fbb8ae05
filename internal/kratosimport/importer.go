// Package kratosimport copies a Kratos v26.2.0 database into Latchkey's:
// identities with their credentials (password hashes as Kratos stored
// them, second factors sealed with secrets.cipher on the way in, social
// sign-in links), verifiable and recovery addresses, and the sessions
// still in use (their tokens stored as keyed hashes, so the tokens apps
// hold keep working). Flows, codes and mail in flight are not copied.
//
// It reads the source in batches of identities in id order and writes
// each batch in one transaction together with a checkpoint, so a run that
// is stopped goes on where it stopped; running it again updates what
// changed in Kratos and never duplicates. An identity changed in Latchkey
// after its import (a login that upgraded its hash, a new factor) is kept
// as Latchkey has it. A dry run reads both databases and writes nothing.
package kratosimport

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/internal/sqlstore"
)

// Target is the Latchkey database an import writes to (sqlstore.ImportStore).
type Target interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
	LastChanges(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]time.Time, error)
	Owners(ctx context.Context, keys []sqlstore.Owned) (map[sqlstore.Owned]uuid.UUID, error)
	SessionChanges(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]time.Time, error)
	PutIdentities(ctx context.Context, create, update []*identity.Identity) error
	PutSessions(ctx context.Context, list []*session.Session, tokenHashes []string) error
	Checkpoint(ctx context.Context, source string) (lastID string, done int64, ok bool, err error)
	SaveCheckpoint(ctx context.Context, source, lastID string, done int64, startedAt time.Time) error
	ClearCheckpoint(ctx context.Context, source string) error
}

// TokenHasher is the keyed hash session tokens are stored as
// (session.Manager.Tokens).
type TokenHasher interface{ Hash(token string) string }

// Options configure a run.
type Options struct {
	Target  Target
	Schemas TraitsValidator
	// Sealer seals second-factor configs (secrets.cipher).
	Sealer identity.Sealer
	Tokens TokenHasher
	// SourceName identifies the source in the checkpoint table (the
	// redacted DSN and network).
	SourceName string
	BatchSize  int
	DryRun     bool
	// Restart ignores a checkpoint left by an interrupted run.
	Restart bool
	// Progress, when set, is called after every batch.
	Progress func(done, total int64)
	Log      *slog.Logger
	Now      func() time.Time
}

// DefaultBatchSize is how many identities go in one transaction: large
// enough that a hot page is written once per thousand identities rather
// than per few (docs/benchmarks.md, "Importing from Kratos"), small enough
// that a batch holds SQLite's write lock for well under a second.
const DefaultBatchSize = 1000

// Report is what a run did (or, in a dry run, would do).
type Report struct {
	DryRun bool
	// ResumedAfter is how many identities an interrupted run had done.
	ResumedAfter int64
	Total        int64

	Created, Updated, Unchanged, Skipped int64
	// Kept are identities changed in Latchkey after their import: left as
	// they are.
	Kept int64
	// Credentials imported, by type.
	Credentials map[identity.CredentialType]int64
	// Sessions written, unchanged since the last run, kept (changed in
	// Latchkey) and left out (revoked, expired, without a token).
	Sessions, SessionsUnchanged, SessionsKept           int64
	SessionsRevoked, SessionsExpired, SessionsTokenless int64
	VerifiedAddresses                                   int64

	Problems []Problem
	Elapsed  time.Duration
}

// Run copies the source into the target.
func Run(ctx context.Context, src *Source, opts Options) (*Report, error) {
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	started := opts.Now()
	rep := &Report{DryRun: opts.DryRun, Credentials: map[identity.CredentialType]int64{}}
	total, err := src.Count(ctx)
	if err != nil {
		return nil, fmt.Errorf("count Kratos identities: %w", err)
	}
	rep.Total = total

	var lastID string
	if !opts.DryRun && !opts.Restart {
		id, done, ok, err := opts.Target.Checkpoint(ctx, opts.SourceName)
		if err != nil {
			return nil, fmt.Errorf("read import checkpoint: %w", err)
		}
		if ok {
			lastID, rep.ResumedAfter = id, done
			opts.Log.Info("resuming an interrupted import", "after_identities", done, "after_id", id)
		}
	}
	conv := &converter{schemas: opts.Schemas, sealer: opts.Sealer, now: sqlstore.Time(started)}
	readCtx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	batches := read(readCtx, src, conv, lastID, opts.BatchSize)
	done := rep.ResumedAfter
	for rb := range batches {
		if rb.err != nil {
			return rep, rb.err
		}
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		b, err := plan(ctx, opts.Target, rb.converted, rep)
		if err != nil {
			return rep, err
		}
		done += int64(len(rb.converted))
		if !opts.DryRun {
			if err := b.write(ctx, opts, rep, rb.lastID, done, started); err != nil {
				return rep, err
			}
		}
		b.count(rep)
		if opts.Progress != nil {
			opts.Progress(done, total)
		}
	}
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	if !opts.DryRun {
		if err := opts.Target.ClearCheckpoint(ctx, opts.SourceName); err != nil {
			return rep, fmt.Errorf("clear import checkpoint: %w", err)
		}
	}
	rep.Elapsed = opts.Now().Sub(started)
	return rep, nil
}

// readBatch is one batch read from Kratos and converted.
type readBatch struct {
	converted []converted
	lastID    string // the source id the batch ends with (the keyset cursor)
	err       error
}

// read reads and converts the batches after afterID in a goroutine of its
// own, one batch ahead of the writer: on two cores, reading Kratos and
// writing Latchkey overlap. The channel closes after the last batch, an
// error, or when ctx is done.
func read(ctx context.Context, src *Source, conv *converter, afterID string, size int) <-chan readBatch {
	out := make(chan readBatch, 1)
	go func() {
		defer close(out)
		for {
			records, err := src.Batch(ctx, afterID, size)
			if err != nil || len(records) == 0 {
				if err != nil {
					select {
					case out <- readBatch{err: err}:
					case <-ctx.Done():
					}
				}
				return
			}
			rb := readBatch{converted: make([]converted, len(records)), lastID: records[len(records)-1].Identity.ID}
			for k, r := range records {
				rb.converted[k] = conv.convert(r)
			}
			select {
			case out <- rb:
			case <-ctx.Done():
				return
			}
			afterID = rb.lastID
		}
	}()
	return out
}

// action is what happens to one identity of a batch.
type action int

const (
	skip action = iota
	create
	update
	unchanged
	keep
)

type planned struct {
	c      converted
	action action
	// sessions to write (those not changed in Latchkey since)
	sessions []importedSession
}

type batch []planned

// plan decides, for each identity of the batch, whether it is created,
// updated, kept or skipped, looking at what the target already holds.
func plan(ctx context.Context, t Target, list []converted, rep *Report) (batch, error) {
	b := make(batch, 0, len(list))
	var ids, sessionIDs []uuid.UUID
	var keys []sqlstore.Owned
	for _, c := range list {
		rep.Problems = append(rep.Problems, c.problems...)
		rep.SessionsRevoked += int64(c.revoked)
		rep.SessionsExpired += int64(c.expired)
		rep.SessionsTokenless += int64(c.tokenless)
		p := planned{c: c}
		if c.identity != nil {
			ids = append(ids, c.identity.ID)
			keys = append(keys, ownedKeys(c.identity)...)
			for _, s := range c.sessions {
				sessionIDs = append(sessionIDs, s.session.ID)
			}
		}
		b = append(b, p)
	}
	existing, err := t.LastChanges(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("read Latchkey identities: %w", err)
	}
	owners, err := t.Owners(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("read Latchkey identifiers and addresses: %w", err)
	}
	sessionChanges, err := t.SessionChanges(ctx, sessionIDs)
	if err != nil {
		return nil, fmt.Errorf("read Latchkey sessions: %w", err)
	}
	for k := range b {
		p := &b[k]
		i := p.c.identity
		if i == nil {
			p.action = skip
			continue
		}
		if conflict := conflictOf(i, owners); conflict != "" {
			p.action = skip
			rep.Problems = append(rep.Problems, Problem{IdentityID: i.ID.String(), Row: "identity", Reason: conflict, Skipped: true})
			continue
		}
		changed, exists := existing[i.ID]
		switch {
		case !exists:
			p.action = create
		case changed.After(p.c.lastChange):
			p.action = keep
		case changed.Equal(p.c.lastChange):
			p.action = unchanged
		default:
			p.action = update
		}
		for _, s := range p.c.sessions {
			at, ok := sessionChanges[s.session.ID]
			switch {
			case !ok || at.Before(s.session.UpdatedAt):
				p.sessions = append(p.sessions, s)
			case at.After(s.session.UpdatedAt):
				rep.SessionsKept++
			default:
				rep.SessionsUnchanged++
			}
		}
	}
	return b, nil
}

// conflictOf names an identifier or address of i that another Latchkey
// identity already owns.
func conflictOf(i *identity.Identity, owners map[sqlstore.Owned]uuid.UUID) string {
	for _, k := range ownedKeys(i) {
		if owner, ok := owners[k]; ok && owner != i.ID {
			return fmt.Sprintf("%s %q belongs to another Latchkey identity (%s)", describeKind(k.Kind), k.Value, owner)
		}
	}
	return ""
}

func describeKind(kind string) string {
	switch {
	case len(kind) > 9 && kind[:9] == "recovery:":
		return "the recovery address"
	case len(kind) > 11 && kind[:11] == "verifiable:":
		return "the verifiable address"
	}
	return "the " + kind + " identifier"
}

// write stores the batch and its checkpoint in one transaction. Should the
// transaction fail (a row the plan could not foresee, such as an
// identifier taken meanwhile), each identity is written in a transaction
// of its own, so one bad row costs only itself.
func (b batch) write(ctx context.Context, opts Options, rep *Report, lastID string, done int64, started time.Time) error {
	err := opts.Target.InTx(ctx, func(ctx context.Context) error {
		if err := b.put(ctx, opts); err != nil {
			return err
		}
		return opts.Target.SaveCheckpoint(ctx, opts.SourceName, lastID, done, started)
	})
	if err == nil || ctx.Err() != nil {
		return err
	}
	opts.Log.Warn("a batch failed; writing its identities one by one", "error", err)
	for k := range b {
		p := b[k : k+1]
		if p[0].action == skip || p[0].action == keep {
			continue
		}
		if err := opts.Target.InTx(ctx, func(ctx context.Context) error { return p.put(ctx, opts) }); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			rep.Problems = append(rep.Problems, Problem{IdentityID: p[0].c.identity.ID.String(), Row: "identity", Reason: "writing it failed: " + err.Error(), Skipped: true})
			p[0].action = skip
		}
	}
	return opts.Target.SaveCheckpoint(ctx, opts.SourceName, lastID, done, started)
}

// put writes the identities of the batch to create or update, then the
// sessions to write: a few multi-row statements for the whole batch.
func (b batch) put(ctx context.Context, opts Options) error {
	var created, updated []*identity.Identity
	var sessions []*session.Session
	var hashes []string
	for _, p := range b {
		switch p.action {
		case skip, keep:
			continue
		case create:
			created = append(created, p.c.identity)
		case update:
			updated = append(updated, p.c.identity)
		}
		for _, s := range p.sessions {
			sessions = append(sessions, s.session)
			hashes = append(hashes, opts.Tokens.Hash(s.token))
		}
	}
	if err := opts.Target.PutIdentities(ctx, created, updated); err != nil {
		return err
	}
	return opts.Target.PutSessions(ctx, sessions, hashes)
}

// count adds the batch's outcome to the report.
func (b batch) count(rep *Report) {
	for _, p := range b {
		switch p.action {
		case skip:
			rep.Skipped++
			continue
		case keep:
			rep.Kept++
			continue
		case create:
			rep.Created++
		case update:
			rep.Updated++
		case unchanged:
			rep.Unchanged++
		}
		for t := range p.c.identity.Credentials {
			rep.Credentials[t]++
		}
		for _, a := range p.c.identity.VerifiableAddresses {
			if a.Verified {
				rep.VerifiedAddresses++
			}
		}
		rep.Sessions += int64(len(p.sessions))
	}
}
