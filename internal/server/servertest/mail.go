package servertest

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

var sixDigits = regexp.MustCompile(`\b\d{6}\b`)

// RecoveryCode waits for the next recovery mail to addr and returns its code.
func (s *Server) RecoveryCode(t testing.TB, addr string) string {
	t.Helper()
	m := s.SMTP.WaitFor(t, addr, 10*time.Second)
	code := sixDigits.FindString(m.Text)
	if code == "" {
		t.Fatalf("no code in mail to %s: %q", addr, m.Text)
	}
	return code
}

var linkRE = regexp.MustCompile(`https?://[^\s"<>]+/self-service/recovery\?flow=[^\s"<>]+`)

// RecoveryLink waits for the next recovery mail to addr and returns its link.
func (s *Server) RecoveryLink(t testing.TB, addr string) string {
	t.Helper()
	m := s.SMTP.WaitFor(t, addr, 10*time.Second)
	link := linkRE.FindString(m.Text)
	if link == "" {
		t.Fatalf("no link in mail to %s: %q", addr, m.Text)
	}
	return strings.ReplaceAll(link, "&amp;", "&")
}
