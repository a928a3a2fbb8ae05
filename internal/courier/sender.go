package courier

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	mail "github.com/wneessen/go-mail"
)

// OutgoingEmail is a fully rendered mail handed to a Sender.
type OutgoingEmail struct {
	MessageID uuid.UUID
	To        string
	Subject   string
	Text      string
	HTML      string // empty: send the plaintext part only
}

// Sender delivers one rendered mail.
type Sender interface {
	Send(ctx context.Context, m OutgoingEmail) error
}

// SMTPConfig is the courier.smtp configuration.
type SMTPConfig struct {
	// ConnectionURI: smtp://[user:password@]host[:port]/ requires STARTTLS
	// unless ?disable_starttls=true (then cleartext); smtps:// uses implicit
	// TLS. ?skip_ssl_verify=true skips certificate verification and
	// ?server_name= overrides the name the certificate is checked against.
	// User and password are URL-decoded.
	ConnectionURI string
	// FromAddress is the envelope sender and From address
	// (default no-reply@ory.kratos.sh, as Kratos).
	FromAddress string
	// FromName, when set, makes the From header "Name" <address>.
	FromName string
	// Headers are added to every mail (not From, To, Subject or MIME headers).
	Headers map[string]string
	// LocalName is the HELO/EHLO name (default "localhost").
	LocalName string
	// ClientCertPath and ClientKeyPath name a TLS client certificate (PEM).
	ClientCertPath string
	ClientKeyPath  string
	// Timeout bounds connecting and each SMTP command (default 10s).
	Timeout time.Duration
}

// Default SMTP settings.
const (
	DefaultFromAddress = "no-reply@ory.kratos.sh"
	DefaultLocalName   = "localhost"
	DefaultSMTPTimeout = 10 * time.Second
)

// SMTPSender delivers mail over SMTP with github.com/wneessen/go-mail, one
// connection per mail. Safe for concurrent use.
type SMTPSender struct {
	host    string
	opts    []mail.Option
	from    string
	name    string
	headers map[string]string
	timeout time.Duration
}

// reservedHeaders are written by the sender itself.
var reservedHeaders = map[string]bool{
	"from": true, "to": true, "cc": true, "bcc": true, "subject": true, "date": true, "message-id": true,
	"mime-version": true, "content-type": true, "content-transfer-encoding": true,
}

// NewSMTPSender checks cfg and returns a sender. A bad URI, scheme, query
// flag, header or client certificate is an error here, not at send time.
func NewSMTPSender(cfg SMTPConfig) (*SMTPSender, error) {
	u, err := url.Parse(cfg.ConnectionURI)
	if err != nil {
		return nil, fmt.Errorf("courier.smtp.connection_uri: %w", redactURLErr(err))
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("courier.smtp.connection_uri: no host in %q", u.Redacted())
	}
	q := u.Query()
	flag := func(name string) (bool, error) {
		v := q.Get(name)
		if v == "" {
			return false, nil
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, fmt.Errorf("courier.smtp.connection_uri: %s must be true or false, got %q", name, v)
		}
		return b, nil
	}
	disableStartTLS, err := flag("disable_starttls")
	if err != nil {
		return nil, err
	}
	skipVerify, err := flag("skip_ssl_verify")
	if err != nil {
		return nil, err
	}

	tlsConf := &tls.Config{
		ServerName:         u.Hostname(),
		InsecureSkipVerify: skipVerify, //nolint:gosec // explicit opt-in through skip_ssl_verify
		MinVersion:         tls.VersionTLS12,
	}
	if sn := q.Get("server_name"); sn != "" {
		tlsConf.ServerName = sn
	}
	if cfg.ClientCertPath != "" || cfg.ClientKeyPath != "" {
		cert, err := tls.LoadX509KeyPair(cfg.ClientCertPath, cfg.ClientKeyPath)
		if err != nil {
			return nil, fmt.Errorf("courier.smtp.client_cert_path/client_key_path: %w", err)
		}
		tlsConf.Certificates = []tls.Certificate{cert}
	}

	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultSMTPTimeout
	}
	localName := cfg.LocalName
	if localName == "" {
		localName = DefaultLocalName
	}
	opts := []mail.Option{mail.WithTimeout(timeout), mail.WithHELO(localName), mail.WithTLSConfig(tlsConf)}

	encrypted := true
	switch strings.ToLower(u.Scheme) {
	case "smtp":
		port, err := portOf(u, 25)
		if err != nil {
			return nil, err
		}
		opts = append(opts, mail.WithPort(port))
		if disableStartTLS {
			opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
			encrypted = false
		} else {
			opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
		}
	case "smtps":
		port, err := portOf(u, 465)
		if err != nil {
			return nil, err
		}
		opts = append(opts, mail.WithSSL(), mail.WithPort(port))
	default:
		return nil, fmt.Errorf("courier.smtp.connection_uri: unsupported scheme %q (use smtp:// or smtps://)", u.Scheme)
	}

	if u.User != nil && u.User.Username() != "" {
		pass, _ := u.User.Password() // url.Parse has already decoded %XX
		opts = append(opts, mail.WithUsername(u.User.Username()), mail.WithPassword(pass))
		if encrypted {
			opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover))
		} else {
			// Cleartext was asked for explicitly: prefer mechanisms that do
			// not reveal the password, accept PLAIN/LOGIN if that is all the
			// server offers.
			opts = append(opts, mail.WithOpportunisticSMTPAuth(mail.SMTPAuthSCRAMSHA256, mail.SMTPAuthSCRAMSHA1,
				mail.SMTPAuthCramMD5, mail.SMTPAuthPlainNoEnc, mail.SMTPAuthLoginNoEnc))
		}
	}

	for k := range cfg.Headers {
		if reservedHeaders[strings.ToLower(k)] {
			return nil, fmt.Errorf("courier.smtp.headers: %q is set by the courier and cannot be configured", k)
		}
	}
	from := cfg.FromAddress
	if from == "" {
		from = DefaultFromAddress
	}
	s := &SMTPSender{host: u.Hostname(), opts: opts, from: from, name: cfg.FromName, headers: cfg.Headers, timeout: timeout}
	// Build a message once so a bad from address fails now.
	if _, err := s.message(OutgoingEmail{To: "check@example.com", Subject: "check", Text: "check"}); err != nil {
		return nil, err
	}
	if _, err := mail.NewClient(s.host, s.opts...); err != nil {
		return nil, fmt.Errorf("courier.smtp: %w", err)
	}
	return s, nil
}

func portOf(u *url.URL, def int) (int, error) {
	if u.Port() == "" {
		return def, nil
	}
	p, err := strconv.Atoi(u.Port())
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("courier.smtp.connection_uri: bad port %q", u.Port())
	}
	return p, nil
}

// message builds the MIME message: multipart/alternative, text/plain first
// then text/html.
func (s *SMTPSender) message(m OutgoingEmail) (*mail.Msg, error) {
	msg := mail.NewMsg(mail.WithNoDefaultUserAgent())
	var err error
	if s.name != "" {
		err = msg.FromFormat(s.name, s.from)
	} else {
		err = msg.From(s.from)
	}
	if err != nil {
		return nil, fmt.Errorf("courier.smtp.from_address: %w", err)
	}
	if err := msg.To(m.To); err != nil {
		return nil, fmt.Errorf("courier: recipient: %w", err)
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	domain := "localhost"
	if _, d, ok := strings.Cut(s.from, "@"); ok && d != "" {
		domain = d
	}
	// One Message-ID per message, the same on every attempt: a mail that
	// went out twice (its result could not be recorded) is one mail to
	// clients that de-duplicate.
	id := m.MessageID
	if id == uuid.Nil {
		id = uuid.New()
	}
	msg.SetMessageIDWithValue(id.String() + "@" + domain)
	for k, v := range s.headers {
		msg.SetGenHeader(mail.Header(k), v)
	}
	msg.SetBodyString(mail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(mail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

// Send delivers m, bounded by ctx and the configured timeout.
func (s *SMTPSender) Send(ctx context.Context, m OutgoingEmail) error {
	msg, err := s.message(m)
	if err != nil {
		return err
	}
	c, err := mail.NewClient(s.host, s.opts...)
	if err != nil {
		return fmt.Errorf("smtp client: %w", err)
	}
	return c.DialAndSendWithContext(ctx, msg)
}

// DevMailbox is the sender of development mode without SMTP: it delivers
// nothing, logs one line with subject and recipient, and keeps the last
// devMailboxSize mails in memory, in full, for the built-in UI's mailbox
// (Lister). The database cannot serve them: a sent message is wiped there.
type DevMailbox struct {
	logger *slog.Logger

	mu    sync.Mutex
	kept  map[uuid.UUID]OutgoingEmail
	order []uuid.UUID // oldest first
}

// devMailboxSize bounds the mails a DevMailbox keeps (the mailbox page
// shows 50).
const devMailboxSize = 200

// NewDevMailbox returns an empty dev mailbox logging to logger.
func NewDevMailbox(logger *slog.Logger) *DevMailbox {
	if logger == nil {
		logger = slog.Default()
	}
	return &DevMailbox{logger: logger, kept: map[uuid.UUID]OutgoingEmail{}}
}

// Send keeps and logs the message and reports success.
func (d *DevMailbox) Send(_ context.Context, m OutgoingEmail) error {
	d.mu.Lock()
	if _, ok := d.kept[m.MessageID]; !ok {
		d.order = append(d.order, m.MessageID)
	}
	d.kept[m.MessageID] = m
	if len(d.order) > devMailboxSize {
		delete(d.kept, d.order[0])
		d.order = d.order[1:]
	}
	d.mu.Unlock()
	d.logger.Info("dev mailbox: email kept, not sent (open /ui/mail)", "message_id", m.MessageID, "to", m.To, "subject", m.Subject)
	return nil
}

// Lister is the dev mailbox's view of store: its messages, with the ones
// this mailbox delivered shown in full instead of wiped. Messages not yet
// delivered come from the store in full anyway (it decrypts them); ones
// delivered before a restart show their redacted form.
func (d *DevMailbox) Lister(store MailboxLister) MailboxLister {
	return devMailboxLister{box: d, store: store}
}

type devMailboxLister struct {
	box   *DevMailbox
	store MailboxLister
}

func (l devMailboxLister) ListMessages(ctx context.Context, f MessageFilter) ([]Message, error) {
	msgs, err := l.store.ListMessages(ctx, f)
	if err != nil {
		return nil, err
	}
	l.box.mu.Lock()
	defer l.box.mu.Unlock()
	for i, m := range msgs {
		if kept, ok := l.box.kept[m.ID]; ok {
			msgs[i].Subject, msgs[i].Body = kept.Subject, kept.Text
		}
	}
	return msgs, nil
}

// unconfigured fails every delivery: no SMTP server and no dev mailbox.
type unconfigured struct{}

func (unconfigured) Send(context.Context, OutgoingEmail) error { return ErrSMTPNotConfigured }

// NewSender picks the sender for a configuration: SMTP when a connection
// URI is set; otherwise the dev mailbox when devMailbox is true; otherwise
// a sender whose every delivery fails with ErrSMTPNotConfigured (messages
// are retried and eventually abandoned, as in Kratos).
func NewSender(cfg SMTPConfig, devMailbox bool, logger *slog.Logger) (Sender, error) {
	if cfg.ConnectionURI != "" {
		return NewSMTPSender(cfg)
	}
	if devMailbox {
		return NewDevMailbox(logger), nil
	}
	return unconfigured{}, nil
}

// redactURLErr drops the URL from a url.Parse error: it may hold a password.
func redactURLErr(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return fmt.Errorf("%s", ue.Err)
	}
	return err
}
