package courier_test

import (
	"context"
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
