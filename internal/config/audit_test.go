package config

import (
	"testing"
	"time"
)

// TestAuditRetention: 90 days unless set; 0 (with or without a unit, from
// a file or the environment) keeps events forever; a misspelt key is
// warned about with the right guess.
func TestAuditRetention(t *testing.T) {
	t.Run("Default", func(t *testing.T) {
		cfg, _ := MustLoad(t, LoadOptions{Env: prodEnv})
		check(t, "audit.retention", cfg.Audit.Retention, 2160*time.Hour)
	})
	for _, c := range []struct {
		name, yaml string
		env        []string
		want       time.Duration
	}{
		{name: "File", yaml: "audit: {retention: 720h}", want: 720 * time.Hour},
		{name: "Environment", env: []string{"AUDIT_RETENTION=48h"}, want: 48 * time.Hour},
		{name: "ZeroNumberKeepsForever", yaml: "audit: {retention: 0}", want: 0},
		{name: "ZeroStringKeepsForever", env: []string{"AUDIT_RETENTION=0"}, want: 0},
		{name: "ZeroSeconds", yaml: "audit: {retention: 0s}", want: 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			opts := LoadOptions{Env: append(append([]string(nil), prodEnv...), c.env...)}
			if c.yaml != "" {
				opts.Files = []string{MustWriteFile(t, "latchkey.yml", c.yaml)}
			}
			cfg, warns := MustLoad(t, opts)
			check(t, "audit.retention", cfg.Audit.Retention, c.want)
			check(t, "warnings", warnedKeys(warns), []string(nil))
		})
	}
	t.Run("MisspeltKeyIsGuessed", func(t *testing.T) {
		f := MustWriteFile(t, "latchkey.yml", "audit: {retension: 24h}")
		_, warns := MustLoad(t, LoadOptions{Files: []string{f}, Env: prodEnv})
		check(t, "warnings", warnedKeys(warns), []string{"audit.retension"})
		if len(warns) != 1 || warns[0] != "config: audit.retension: unknown or unsupported key; ignored (did you mean audit.retention?)" {
			t.Errorf("warning %q", warns)
		}
	})
}
