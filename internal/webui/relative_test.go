package webui

import (
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/i18n"
)

// TestRelative: times read as a person would say them, rounded to the
// nearest unit, without "60 minutes" or "48 hours".
func TestRelative(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		d    time.Duration // now - t
		want string
	}{
		{0, "just now"},
		{59 * time.Second, "just now"},
		{-59 * time.Second, "just now"},
		{time.Minute, "1 minute ago"},
		{20*time.Minute + 29*time.Second, "20 minutes ago"},
		{20*time.Minute + 30*time.Second, "21 minutes ago"},
		{59*time.Minute + 40*time.Second, "1 hour ago"},
		{-(2*time.Hour + 20*time.Minute), "in 2 hours"},
		{47*time.Hour + 40*time.Minute, "2 days ago"},
		{-(7*24*time.Hour - time.Second), "in 7 days"},
		{-(6*24*time.Hour + 23*time.Hour + 40*time.Minute), "in 7 days"},
		{-(6*24*time.Hour + 11*time.Hour), "in 6 days"},
	} {
		if got := relativeIn(i18n.For(i18n.Default), now.Add(-c.d), now); got != c.want {
			t.Errorf("%v: %q, want %q", c.d, got, c.want)
		}
	}
}
