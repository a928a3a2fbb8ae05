package servertest

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/courier/smtptest"
)

var sixDigits = regexp.MustCompile(`\b\d{6}\b`)

// RecoveryCode waits for the next recovery mail to addr and returns its
// code. Other mail to addr on the way (a security notification) is
// passed over.
func (s *Server) RecoveryCode(t testing.TB, addr string) string {
	t.Helper()
	return s.nextMatch(t, addr, sixDigits, "code")
}

// VerificationCode waits for the next mail to addr with a code (the
// verification mail) and returns the code, as RecoveryCode does.
func (s *Server) VerificationCode(t testing.TB, addr string) string {
	t.Helper()
	return s.nextMatch(t, addr, sixDigits, "verification code")
}

var verificationLinkRE = regexp.MustCompile(`https?://[^\s"<>]+/self-service/verification\?code=[^\s"<>]+`)

// VerificationLink waits for the next verification mail to addr and
// returns the link in it.
func (s *Server) VerificationLink(t testing.TB, addr string) string {
	t.Helper()
	return strings.ReplaceAll(s.nextMatch(t, addr, verificationLinkRE, "verification link"), "&amp;", "&")
}

var verificationTokenLinkRE = regexp.MustCompile(`https?://[^\s"<>]+/self-service/verification\?flow=[^\s"<>]+`)

// VerificationTokenLink waits for the next mail to addr with a link of
// the link method (?flow=&token=) and returns it.
func (s *Server) VerificationTokenLink(t testing.TB, addr string) string {
	t.Helper()
	return strings.ReplaceAll(s.nextMatch(t, addr, verificationTokenLinkRE, "verification link"), "&amp;", "&")
}

var linkRE = regexp.MustCompile(`https?://[^\s"<>]+/self-service/recovery\?flow=[^\s"<>]+`)

// RecoveryLink waits for the next recovery mail to addr and returns its
// link, passing over other mail as RecoveryCode does.
func (s *Server) RecoveryLink(t testing.TB, addr string) string {
	t.Helper()
	return strings.ReplaceAll(s.nextMatch(t, addr, linkRE, "link"), "&amp;", "&")
}

// nextMatch returns the first match of re in the next mail to addr whose
// plaintext has one.
func (s *Server) nextMatch(t testing.TB, addr string, re *regexp.Regexp, what string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var skipped []string
	for {
		m := s.SMTP.WaitFor(t, addr, time.Until(deadline))
		if found := re.FindString(m.Text); found != "" {
			return found
		}
		skipped = append(skipped, m.Subject)
		if time.Now().After(deadline) {
			t.Fatalf("no %s in the mails to %s: %q", what, addr, skipped)
		}
	}
}

var lockdownRE = regexp.MustCompile(`https?://[^\s"<>]+/lockdown\?token=[A-Za-z0-9]+`)

// Notification waits for a mail to addr with subject (not returned by
// Notification before) and returns it with its lockdown link ("" for
// the lockdown confirmation, which has none).
func (s *Server) Notification(t testing.TB, addr, subject string) (smtptest.Mail, string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		taken := s.notified[addr+"\x00"+subject]
		s.mu.Unlock()
		n := 0
		for _, m := range s.SMTP.Mails() {
			if m.Subject != subject || !hasRecipient(m, addr) {
				continue
			}
			if n++; n > taken {
				s.mu.Lock()
				s.notified[addr+"\x00"+subject] = n
				s.mu.Unlock()
				return m, lockdownRE.FindString(m.Text)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new mail %q to %s within 10s", subject, addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Notifications are the subjects of every mail to addr so far.
func (s *Server) Notifications(addr string) []string {
	var out []string
	for _, m := range s.SMTP.Mails() {
		if hasRecipient(m, addr) {
			out = append(out, m.Subject)
		}
	}
	return out
}

func hasRecipient(m smtptest.Mail, addr string) bool {
	for _, r := range m.To {
		if strings.EqualFold(r, addr) {
			return true
		}
	}
	return false
}
