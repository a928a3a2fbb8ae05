package courier_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/courier"
	"github.com/latchkey/latchkey/internal/courier/smtptest"
)

func TestSMTPSender(t *testing.T) {
	ctx := context.Background()
	mail := func(to string) courier.OutgoingEmail {
		return courier.OutgoingEmail{MessageID: uuid.New(), To: to, Subject: "Use code 123456 to recover access to your account",
			Text: "code 123456", HTML: "<p>code <b>123456</b></p>"}
	}

	t.Run("SendsMultipartAlternativeTextThenHTML", func(t *testing.T) {
		srv := smtptest.Start(t)
		s := MustSMTPSender(t, srv.URI())
		if err := s.Send(ctx, mail("a@example.test")); err != nil {
			t.Fatal(err)
		}
		m := srv.WaitFor(t, "a@example.test", 5*time.Second)
		if got := m.Header.Get("From"); got != `"Latchkey Test" <no-reply@latchkey.example.test>` {
			t.Errorf("From = %q", got)
		}
		if m.From != "no-reply@latchkey.example.test" {
			t.Errorf("envelope from = %q", m.From)
		}
		if m.Header.Get("To") != "<a@example.test>" && m.Header.Get("To") != "a@example.test" {
			t.Errorf("To = %q", m.Header.Get("To"))
		}
		if m.Subject != "Use code 123456 to recover access to your account" {
			t.Errorf("Subject = %q", m.Subject)
		}
		if m.Header.Get("X-Latchkey-Test") != "yes" {
			t.Errorf("configured header missing: %v", m.Header)
		}
		if !strings.HasPrefix(m.Header.Get("Content-Type"), "multipart/alternative") {
			t.Errorf("Content-Type = %q", m.Header.Get("Content-Type"))
		}
		raw := string(m.Raw)
		if p, h := strings.Index(raw, "text/plain"), strings.Index(raw, "text/html"); p < 0 || h < 0 || p > h {
			t.Errorf("want text/plain before text/html:\n%s", raw)
		}
		if m.Text != "code 123456" || m.HTML != "<p>code <b>123456</b></p>" {
			t.Errorf("parts: text %q html %q", m.Text, m.HTML)
		}
		if strings.Contains(raw, "go-mail") {
			t.Errorf("mail advertises the library:\n%s", raw)
		}
	})

	t.Run("FromWithoutNameIsBare", func(t *testing.T) {
		srv := smtptest.Start(t)
		s, err := courier.NewSMTPSender(courier.SMTPConfig{ConnectionURI: srv.URI(), FromAddress: "bare@example.test"})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Send(ctx, mail("b@example.test")); err != nil {
			t.Fatal(err)
		}
		if got := srv.WaitFor(t, "b@example.test", 5*time.Second).Header.Get("From"); got != "<bare@example.test>" && got != "bare@example.test" {
			t.Errorf("From = %q", got)
		}
	})

	t.Run("STARTTLSIsMandatoryByDefault", func(t *testing.T) {
		srv := smtptest.Start(t) // offers no STARTTLS
		uri := strings.Replace(srv.URI(), "?disable_starttls=true", "", 1)
		err := MustSMTPSender(t, uri).Send(ctx, mail("c@example.test"))
		if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
			t.Fatalf("err = %v, want a STARTTLS error", err)
		}
		if srv.Count() != 0 {
			t.Fatal("mail went out in cleartext")
		}
	})

	t.Run("STARTTLSVerifiesCertificates", func(t *testing.T) {
		srv := smtptest.Start(t, smtptest.WithStartTLS())
		uri := strings.Replace(srv.URI(), "?skip_ssl_verify=true", "", 1)
		err := MustSMTPSender(t, uri).Send(ctx, mail("d@example.test"))
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("err = %v, want a certificate error", err)
		}
		if err := MustSMTPSender(t, srv.URI()).Send(ctx, mail("d@example.test")); err != nil {
			t.Fatalf("with skip_ssl_verify: %v", err)
		}
		srv.WaitFor(t, "d@example.test", 5*time.Second)
	})

	t.Run("ImplicitTLSWithURLEncodedCredentials", func(t *testing.T) {
		srv := smtptest.Start(t, smtptest.WithImplicitTLS(), smtptest.WithAuth("mail user", "p@ss:w/rd%"))
		if !strings.HasPrefix(srv.URI(), "smtps://mail%20user:p%40ss%3Aw%2Frd%25@") {
			t.Fatalf("URI = %s", srv.URI())
		}
		if err := MustSMTPSender(t, srv.URI()).Send(ctx, mail("e@example.test")); err != nil {
			t.Fatal(err)
		}
		srv.WaitFor(t, "e@example.test", 5*time.Second)

		bad := strings.Replace(srv.URI(), "p%40ss", "wrong", 1)
		if err := MustSMTPSender(t, bad).Send(ctx, mail("e@example.test")); err == nil {
			t.Fatal("wrong password accepted")
		}
	})

	t.Run("CleartextAuthWhenStartTLSDisabled", func(t *testing.T) {
		srv := smtptest.Start(t, smtptest.WithAuth("u", "secret"))
		if err := MustSMTPSender(t, srv.URI()).Send(ctx, mail("f@example.test")); err != nil {
			t.Fatal(err)
		}
		srv.WaitFor(t, "f@example.test", 5*time.Second)
	})

	t.Run("BadConfigurationFailsAtConstruction", func(t *testing.T) {
		for name, cfg := range map[string]courier.SMTPConfig{
			"scheme":          {ConnectionURI: "http://127.0.0.1:25/"},
			"no host":         {ConnectionURI: "smtp:///"},
			"flag":            {ConnectionURI: "smtp://127.0.0.1:25/?disable_starttls=maybe"},
			"port":            {ConnectionURI: "smtp://127.0.0.1:99999/"},
			"reserved header": {ConnectionURI: "smtp://127.0.0.1:25/", Headers: map[string]string{"Subject": "x"}},
			"from address":    {ConnectionURI: "smtp://127.0.0.1:25/", FromAddress: "not an address"},
			"client cert":     {ConnectionURI: "smtp://127.0.0.1:25/", ClientCertPath: "/nope.pem", ClientKeyPath: "/nope.key"},
		} {
			if _, err := courier.NewSMTPSender(cfg); err == nil {
				t.Errorf("%s: accepted", name)
			}
		}
		_, err := courier.NewSMTPSender(courier.SMTPConfig{ConnectionURI: "ftp://user:hunter2@127.0.0.1/"})
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error leaks the password or is nil: %v", err)
		}
	})
}

// TestSMTPConnectionReuse: mails share connections, a connection the
// server dropped is replaced without losing or doubling a mail, and a mail
// the server may have taken is never sent twice by the sender itself.
func TestSMTPConnectionReuse(t *testing.T) {
	ctx := context.Background()
	mail := func(to string) courier.OutgoingEmail {
		return courier.OutgoingEmail{MessageID: uuid.New(), To: to, Subject: "Use code 123456", Text: "code 123456"}
	}
	send := func(t *testing.T, s *courier.SMTPSender, to string) {
		t.Helper()
		if err := s.Send(ctx, mail(to)); err != nil {
			t.Fatalf("send to %s: %v", to, err)
		}
	}

	for name, opts := range map[string][]smtptest.Option{
		"Cleartext":           nil,
		"STARTTLSWithAuth":    {smtptest.WithStartTLS(), smtptest.WithAuth("mailer", "secret")},
		"ImplicitTLSWithAuth": {smtptest.WithImplicitTLS(), smtptest.WithAuth("mailer", "secret")},
	} {
		t.Run(name, func(t *testing.T) {
			t.Run("MailsInSequenceShareOneConnection", func(t *testing.T) {
				srv := smtptest.Start(t, opts...)
				s := MustSMTPSender(t, srv.URI())
				const n = 5
				for i := range n {
					send(t, s, fmt.Sprintf("seq-%d@example.test", i))
				}
				if srv.Count() != n || srv.Connections() != 1 {
					t.Errorf("%d mails over %d connections, want %d over 1", srv.Count(), srv.Connections(), n)
				}
			})

			t.Run("ConnectionDroppedWhileIdleIsReplaced", func(t *testing.T) {
				srv := smtptest.Start(t, opts...)
				s := MustSMTPSender(t, srv.URI())
				send(t, s, "before@example.test")
				srv.DropConnections()
				srv.WaitOpenConnections(t, 0, 5*time.Second)

				send(t, s, "after@example.test")
				if c := srv.CountTo("after@example.test"); c != 1 {
					t.Errorf("delivered %d times", c)
				}
				send(t, s, "later@example.test")
				if srv.Connections() != 2 {
					t.Errorf("%d connections, want 2 (the dropped one, its replacement)", srv.Connections())
				}
			})
		})
	}

	t.Run("LostReplyAfterDataIsNotResent", func(t *testing.T) {
		srv := smtptest.Start(t)
		s := MustSMTPSender(t, srv.URI())
		send(t, s, "first@example.test") // the connection is kept
		srv.LoseReplyNext(1)
		if err := s.Send(ctx, mail("unsure@example.test")); err == nil {
			t.Fatal("a send whose reply was lost succeeded")
		}
		// The server took it, and the sender did not try a new connection.
		if c, conns := srv.CountTo("unsure@example.test"), srv.Connections(); c != 1 || conns != 1 {
			t.Errorf("received %d times over %d connections, want once over 1", c, conns)
		}
		// The broken connection is not kept.
		send(t, s, "next@example.test")
		if srv.Connections() != 2 {
			t.Errorf("%d connections, want 2", srv.Connections())
		}
	})

	t.Run("RefusalOnAKeptConnectionIsNotRetried", func(t *testing.T) {
		srv := smtptest.Start(t)
		s := MustSMTPSender(t, srv.URI())
		send(t, s, "first@example.test")
		srv.RejectNext(1)
		err := s.Send(ctx, mail("refused@example.test"))
		if err == nil || !strings.Contains(err.Error(), "451") {
			t.Fatalf("err = %v, want the 451", err)
		}
		if srv.Attempts() != 2 || srv.Connections() != 1 {
			t.Errorf("%d attempts over %d connections, want 2 over 1", srv.Attempts(), srv.Connections())
		}
	})

	t.Run("IdleConnectionIsClosed", func(t *testing.T) {
		srv := smtptest.Start(t)
		s, err := courier.NewSMTPSender(courier.SMTPConfig{ConnectionURI: srv.URI(), IdleTimeout: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		send(t, s, "idle@example.test")
		srv.WaitOpenConnections(t, 0, 5*time.Second)
		send(t, s, "again@example.test")
		if srv.Connections() != 2 {
			t.Errorf("%d connections, want 2", srv.Connections())
		}
	})

	t.Run("AtMostMaxIdleConnsAreKept", func(t *testing.T) {
		srv := smtptest.Start(t)
		s, err := courier.NewSMTPSender(courier.SMTPConfig{ConnectionURI: srv.URI(), MaxIdleConns: 2})
		if err != nil {
			t.Fatal(err)
		}
		// Four mails at once need four connections...
		release := srv.Hold(t, "held@example.test")
		errs := make(chan error, 4)
		for range 4 {
			go func() { errs <- s.Send(ctx, mail("held@example.test")) }()
		}
		srv.WaitOpenConnections(t, 4, 5*time.Second)
		release()
		for range 4 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		// ...of which two are kept.
		srv.WaitOpenConnections(t, 2, 5*time.Second)
	})

	t.Run("CloseEndsKeptConnections", func(t *testing.T) {
		srv := smtptest.Start(t)
		s := MustSMTPSender(t, srv.URI())
		send(t, s, "a@example.test")
		if srv.OpenConnections() != 1 {
			t.Fatalf("%d open connections, want 1 kept", srv.OpenConnections())
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		srv.WaitOpenConnections(t, 0, 5*time.Second)
		// Still usable, without keeping connections.
		send(t, s, "b@example.test")
		srv.WaitOpenConnections(t, 0, 5*time.Second)
	})
}
