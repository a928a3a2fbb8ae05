package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	// The three drivers Latchkey speaks.
	_ "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

// Open connects to the database named by a Kratos-style DSN:
// "sqlite://path?...", "sqlite3://", "file:path", "memory" (or another
// in-memory SQLite form, see isMemory),
// "postgres://", "postgresql://", "cockroach://" (PostgreSQL protocol) or
// "mysql://user:pass@tcp(host:port)/db?...".
// Pool settings come from the DSN query: max_conns, max_idle_conns,
// max_conn_lifetime (Kratos names them the same way); on a SQLite file
// they size the read pool, writes always share one connection. The DSN may
// also set session_cache_ttl (Latchkey only): how long a whoami lookup may
// be reused, "0s" to never reuse one (default DefaultSessionCacheTTL), and,
// on PostgreSQL and MySQL, session_cache_poll and session_cache_lease: how
// often an instance reads the other instances' changes, and for how long
// one read lets it serve from its cache (see invalidations.go).
func Open(ctx context.Context, dsn string) (*DB, error) {
	dialect, driver, source, pool, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	// A SQLite file gets one writer connection and a pool of readers
	// beside it (see DB); the writer leaves checkpoints to the background
	// (see checkpoints).
	split := dialect == SQLite && pool.maxOpen != 1
	writer := source
	if split {
		writer += "&_pragma=wal_autocheckpoint(" + strconv.Itoa(walSafetyCheckpoint) + ")"
	}
	sqlDB, err := openPool(driver, writer)
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", dialect, err)
	}
	db := &DB{SQL: sqlDB, Dialect: dialect, memory: isMemory(dsn), whoami: newWhoamiCache(pool.sessionCacheTTL), idleConns: pool.idleConns()}
	if dialect != SQLite && db.whoami != nil {
		db.whoami.lease = pool.sessionCacheLease
		db.feed = newInvalidationFeed(db, db.whoami, pool.sessionCachePoll)
	}
	if split {
		sqlDB.SetMaxOpenConns(1)
		sqlDB.SetMaxIdleConns(1)
		if db.read, err = sql.Open(driver, source+"&_pragma=query_only(1)"); err != nil {
			_ = sqlDB.Close()
			return nil, fmt.Errorf("open %s database: %w", dialect, err)
		}
		pool.apply(db.read)
		db.group = &groupCommit{db: db}
	} else {
		pool.apply(sqlDB)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err = sqlDB.PingContext(pingCtx)
	// A new SQLite file turns to WAL mode on its first connection, which
	// needs the file to itself: instances starting together on one file
	// may be told SQLITE_BUSY at once, without the busy timeout. Their turn
	// comes within milliseconds.
	for attempt := 0; err != nil && dialect == SQLite && isBusy(err) && attempt < 100 && pingCtx.Err() == nil; attempt++ {
		time.Sleep(time.Duration(10+attempt) * time.Millisecond)
		err = sqlDB.PingContext(pingCtx)
	}
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("connect to %s database: %w", dialect, err)
	}
	if split {
		db.stopCheckpoints = db.checkpoints(walCheckpointInterval)
	}
	if dialect == Postgres {
		var level string
		if err := sqlDB.QueryRowContext(pingCtx, `SHOW default_transaction_isolation`).Scan(&level); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("connect to %s database: %w", dialect, err)
		}
		db.readsBeforeBegin = level == "read committed"
	}
	return db, nil
}

// SQLite's write-ahead log is copied back into the database file
// (checkpointed) every walCheckpointInterval by a background goroutine, so
// that requests do not do that work. Under a steady stream of writes the
// log only starts over from its beginning when the writer checkpoints
// itself, which it does once the log holds walSafetyCheckpoint pages
// (about 40 MiB on disk); by then the background has copied almost every
// page, so that checkpoint is short.
const (
	walCheckpointInterval = 200 * time.Millisecond
	walSafetyCheckpoint   = 10000
)

// checkpoints runs passive checkpoints on a read connection until the
// returned function is called (it waits for the goroutine to end).
// A passive checkpoint never blocks readers or the writer.
func (db *DB) checkpoints(every time.Duration) (stop func()) {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				// Errors (SQLITE_BUSY while another checkpoint runs) only
				// mean this round is skipped.
				_, _ = db.read.Exec(`PRAGMA wal_checkpoint(PASSIVE)`)
			}
		}
	}()
	return func() { close(done); <-stopped }
}

// openPool opens a pool of driver on source. PostgreSQL connections are
// checked before reuse (pgAlive; go-sql-driver/mysql checks its own);
// MySQL connections run at READ COMMITTED (mysqlconn.go).
func openPool(driver, source string) (*sql.DB, error) {
	switch driver {
	case "mysql":
		return openMySQL(source)
	case "pgx":
	default:
		return sql.Open(driver, source)
	}
	cfg, err := pgx.ParseConfig(source)
	if err != nil {
		return nil, err
	}
	return stdlib.OpenDB(*cfg, stdlib.OptionResetSession(pgAlive)), nil
}

type poolSettings struct {
	maxOpen, maxIdle int
	lifetime         time.Duration
	// sessionCacheTTL bounds how long a whoami lookup is reused
	// (session_cache_ttl; 0 turns the cache off). See whoamiCache.
	sessionCacheTTL time.Duration
	// sessionCachePoll and sessionCacheLease time the invalidation feed
	// (session_cache_poll, session_cache_lease). See invalidations.go.
	sessionCachePoll, sessionCacheLease time.Duration
}

// idleConns is the idle connection limit apply sets (database/sql keeps
// 2 unless told).
func (p poolSettings) idleConns() int {
	if p.maxIdle > 0 {
		return p.maxIdle
	}
	return 2
}

func (p poolSettings) apply(db *sql.DB) {
	if p.maxOpen > 0 {
		db.SetMaxOpenConns(p.maxOpen)
	}
	if p.maxIdle > 0 {
		db.SetMaxIdleConns(p.maxIdle)
	}
	if p.lifetime > 0 {
		db.SetConnMaxLifetime(p.lifetime)
	}
}

// popPool removes Latchkey/Kratos pool keys (and Latchkey's
// session_cache_ttl) from q and returns them.
func popPool(q url.Values, def poolSettings) (poolSettings, error) {
	p := def
	p.sessionCacheTTL = DefaultSessionCacheTTL
	p.sessionCachePoll, p.sessionCacheLease = DefaultSessionCachePoll, DefaultSessionCacheLease
	for _, k := range []string{"max_conns", "max_idle_conns", "max_conn_lifetime", "max_conn_idle_time", "session_cache_ttl", "session_cache_poll", "session_cache_lease"} {
		v := q.Get(k)
		q.Del(k)
		if v == "" {
			continue
		}
		switch k {
		case "max_conns", "max_idle_conns":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return p, fmt.Errorf("dsn: %s must be a non-negative integer, got %q", k, v)
			}
			if k == "max_conns" {
				p.maxOpen = n
			} else {
				p.maxIdle = n
			}
		case "max_conn_lifetime", "session_cache_ttl", "session_cache_poll", "session_cache_lease":
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return p, fmt.Errorf("dsn: %s must be a duration, got %q", k, v)
			}
			switch k {
			case "session_cache_ttl":
				p.sessionCacheTTL = d
			case "session_cache_poll":
				p.sessionCachePoll = d
			case "session_cache_lease":
				p.sessionCacheLease = d
			default:
				p.lifetime = d
			}
		}
	}
	if p.sessionCachePoll <= 0 || p.sessionCacheLease <= p.sessionCachePoll {
		return p, fmt.Errorf("dsn: session_cache_lease (%s) must be longer than session_cache_poll (%s), which must be positive", p.sessionCacheLease, p.sessionCachePoll)
	}
	return p, nil
}

func parseDSN(dsn string) (Dialect, string, string, poolSettings, error) {
	switch {
	case isMemory(dsn):
		// A private in-memory database shared by the pool's connections.
		name := "memdb" + randomHex(8)
		return SQLite, "sqlite", "file:" + name + "?mode=memory&cache=shared&" + sqlitePragmas[1:], poolSettings{maxOpen: 1, sessionCacheTTL: DefaultSessionCacheTTL}, nil
	case isSQLite(dsn):
		path, query := sqlitePath(dsn)
		if path == "" {
			return "", "", "", poolSettings{}, fmt.Errorf("dsn: sqlite DSN %q has no file path", dsn)
		}
		q, err := url.ParseQuery(query)
		if err != nil {
			return "", "", "", poolSettings{}, fmt.Errorf("dsn: %w", err)
		}
		pool, err := popPool(q, poolSettings{maxOpen: 8, maxIdle: 8})
		if err != nil {
			return "", "", "", poolSettings{}, err
		}
		// Kratos-era options that the modernc driver does not know.
		for _, k := range []string{"_fk", "mode", "_busy_timeout", "_journal_mode", "cache"} {
			q.Del(k)
		}
		src := "file:" + path + sqlitePragmas
		if enc := q.Encode(); enc != "" {
			src += "&" + enc
		}
		return SQLite, "sqlite", src, pool, nil
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"), strings.HasPrefix(dsn, "cockroach://"), strings.HasPrefix(dsn, "cockroachdb://"):
		u, err := url.Parse(dsn)
		if err != nil {
			// url.Error spells the whole URL, password included.
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err
			}
			return "", "", "", poolSettings{}, fmt.Errorf("dsn: %q is not a valid URL: %w", redact(dsn), err)
		}
		u.Scheme = "postgres"
		q := u.Query()
		pool, err := popPool(q, poolSettings{maxOpen: 20, maxIdle: 20})
		if err != nil {
			return "", "", "", poolSettings{}, err
		}
		u.RawQuery = q.Encode()
		return Postgres, "pgx", u.String(), pool, nil
	case strings.HasPrefix(dsn, "mysql://"):
		rest := strings.TrimPrefix(dsn, "mysql://")
		base, query, _ := strings.Cut(rest, "?")
		q, err := url.ParseQuery(query)
		if err != nil {
			return "", "", "", poolSettings{}, fmt.Errorf("dsn: %w", err)
		}
		pool, err := popPool(q, poolSettings{maxOpen: 20, maxIdle: 20})
		if err != nil {
			return "", "", "", poolSettings{}, err
		}
		q.Set("parseTime", "true")
		q.Set("loc", "UTC")
		q.Set("multiStatements", "true")
		// Report matched rather than changed rows, as SQLite and PostgreSQL
		// do, so "UPDATE … WHERE id = ?" of an unchanged row is not "not found".
		q.Set("clientFoundRows", "true")
		if q.Get("charset") == "" {
			q.Set("charset", "utf8mb4")
		}
		return MySQL, "mysql", base + "?" + q.Encode(), pool, nil
	}
	return "", "", "", poolSettings{}, fmt.Errorf("dsn: unsupported scheme in %q (use sqlite://, memory, postgres://, cockroach:// or mysql://)", redact(dsn))
}

// isSQLite reports whether dsn names a SQLite file (sqlite://, sqlite3://
// or file:).
func isSQLite(dsn string) bool {
	return strings.HasPrefix(dsn, "sqlite://") || strings.HasPrefix(dsn, "sqlite3://") || strings.HasPrefix(dsn, "file:")
}

// sqlitePath splits a SQLite DSN into its file path and query.
func sqlitePath(dsn string) (path, query string) {
	rest := dsn
	for _, p := range []string{"sqlite://", "sqlite3://", "file:"} {
		rest = strings.TrimPrefix(rest, p)
	}
	path, query, _ = strings.Cut(rest, "?")
	return path, query
}

// isMemory reports whether dsn names an in-memory SQLite database, in
// any of the forms Kratos reads as one: "memory", a ":memory:" path
// (Kratos's own sqlite://file::memory:?_fk=true&cache=shared) or
// mode=memory. All of them open one private in-memory database: a
// ":memory:" path alone would give each pooled connection a database of
// its own, and Latchkey reads through a second pool.
func isMemory(dsn string) bool {
	if dsn == "memory" || strings.HasPrefix(dsn, "memory?") {
		return true
	}
	if !isSQLite(dsn) {
		return false
	}
	path, query := sqlitePath(dsn)
	if path == ":memory:" {
		return true
	}
	q, err := url.ParseQuery(query)
	return err == nil && q.Get("mode") == "memory"
}

// sqlitePragmas: WAL lets readers run beside the writer; a busy timeout
// makes writers queue instead of failing; "immediate" transactions take the
// write lock at BEGIN so they never fail half-way on a lock upgrade.
// temp_store(MEMORY) keeps statement and savepoint journals in memory: a
// transaction of a group commit runs in a savepoint, and with journals in
// a temporary file every page it changed was first written there.
const sqlitePragmas = "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_pragma=temp_store(MEMORY)&_txlock=immediate"

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// redact hides a password in a DSN for error messages and logs.
func redact(dsn string) string {
	at := strings.LastIndex(dsn, "@")
	scheme := strings.Index(dsn, "://")
	if at < 0 || scheme < 0 || at < scheme {
		return dsn
	}
	creds := dsn[scheme+3 : at]
	if user, _, ok := strings.Cut(creds, ":"); ok {
		return dsn[:scheme+3] + user + ":***" + dsn[at:]
	}
	return dsn
}

// Redact hides the password of a DSN.
func Redact(dsn string) string { return redact(dsn) }

// T converts a timestamp into what the dialect stores. SQLite keeps times as
// fixed-width UTC text so that comparisons in SQL order correctly.
func (db *DB) T(t time.Time) any {
	t = Time(t)
	if db.Dialect == SQLite {
		return t.Format(sqliteTimeLayout)
	}
	return t
}

const sqliteTimeLayout = "2006-01-02 15:04:05.000000"

// OpenReadOnly connects to a database that Latchkey does not own (the
// Kratos database `latchkey import kratos` reads), named by a DSN of the
// same forms as Open. Queries go through the returned DB (placeholders
// rewritten as for Latchkey's own), but it has no session cache and no
// migrations; a SQLite file must exist and is opened read-only.
func OpenReadOnly(ctx context.Context, dsn string) (*DB, error) {
	dialect, driver, source, pool, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	if dialect == SQLite {
		path := strings.TrimPrefix(source, "file:")
		path, _, _ = strings.Cut(path, "?")
		if strings.HasPrefix(source, "file:memdb") {
			return nil, errors.New("dsn: an in-memory database has nothing to read")
		}
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("dsn: %w", err)
		}
		source += "&_pragma=query_only(1)"
	}
	sqlDB, err := openPool(driver, source)
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", dialect, err)
	}
	pool.apply(sqlDB)
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := sqlDB.PingContext(pingCtx); err != nil {
		_ = sqlDB.Close()
		return nil, fmt.Errorf("connect to %s database: %w", dialect, err)
	}
	return &DB{SQL: sqlDB, Dialect: dialect, unprepared: true}, nil
}

// GrowWriteCache gives SQLite's writer connection a page cache of kib
// KiB, for a long bulk write (an import): the pages a batch dirties then
// stay in memory until its commit instead of spilling to the log half-way,
// and the indexes it inserts into stay cached between batches. A no-op on
// PostgreSQL and MySQL, whose servers size their own caches.
func (db *DB) GrowWriteCache(ctx context.Context, kib int) error {
	if db.Dialect != SQLite {
		return nil
	}
	// The writer pool holds a single connection, so the pragma sticks.
	_, err := db.SQL.ExecContext(ctx, fmt.Sprintf(`PRAGMA cache_size = -%d`, kib))
	return err
}
