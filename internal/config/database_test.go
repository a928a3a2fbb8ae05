package config

import (
	"strings"
	"testing"
	"time"
)

// TestDatabaseCleanup: the cleanup is on by default with documented
// values, reads Kratos's database.cleanup keys from a kratos.yml, and
// refuses values it cannot run with.
func TestDatabaseCleanup(t *testing.T) {
	t.Run("Defaults", func(t *testing.T) {
		cfg, _ := MustLoad(t, LoadOptions{Env: prodEnv})
		check(t, "database.cleanup", cfg.Database.Cleanup, DatabaseCleanup{
			Enabled: true, Interval: time.Hour, BatchSize: 100,
			Sleep: CleanupSleep{Tables: 100 * time.Millisecond}, OlderThan: 24 * time.Hour,
		})
	})
	t.Run("KratosKeysAndEnvironment", func(t *testing.T) {
		file := MustWriteFile(t, "kratos.yml", "database:\n  cleanup:\n    batch_size: 500\n    sleep:\n      tables: 1m\n    older_than: 6h\n")
		cfg, warns := MustLoad(t, LoadOptions{Files: []string{file}, Env: append(prodEnv, "DATABASE_CLEANUP_ENABLED=false", "DATABASE_CLEANUP_INTERVAL=15m")})
		check(t, "database.cleanup", cfg.Database.Cleanup, DatabaseCleanup{
			Enabled: false, Interval: 15 * time.Minute, BatchSize: 500,
			Sleep: CleanupSleep{Tables: time.Minute}, OlderThan: 6 * time.Hour,
		})
		check(t, "warnings", warnedKeys(warns), []string(nil))
	})
	t.Run("OtherDatabaseKeysAreIgnored", func(t *testing.T) {
		file := MustWriteFile(t, "kratos.yml", "database:\n  pool: {max: 3}\n")
		_, warns := MustLoad(t, LoadOptions{Files: []string{file}, Env: prodEnv})
		check(t, "warnings", warnedKeys(warns), []string{"database.pool"})
	})
	for _, c := range []struct{ env, want string }{
		{"DATABASE_CLEANUP_BATCH_SIZE=0", "config: database.cleanup.batch_size: must be at least 1, got 0"},
		{"DATABASE_CLEANUP_INTERVAL=0s", "config: database.cleanup.interval: must be a positive duration, got 0s"},
	} {
		t.Run("Invalid/"+c.env, func(t *testing.T) {
			_, _, err := Load(LoadOptions{Env: append(prodEnv, c.env)})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
	t.Run("LongestRateLimitWindow", func(t *testing.T) {
		cfg, _ := MustLoad(t, LoadOptions{Env: append(prodEnv, "SELFSERVICE_FLOWS_RECOVERY_RATE_LIMIT_PER_IP_WINDOW=3h")})
		check(t, "window", cfg.LongestRateLimitWindow(), 3*time.Hour)
	})
}
