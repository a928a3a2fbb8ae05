package courier

import (
	"context"
	"crypto/tls"
	"errors"
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
	// Language is the mail's language, its Content-Language header
	// ("de", "pt-BR"); empty sends none.
	Language string
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
	// MaxIdleConns is how many connections are kept open between mails
	// (default DefaultSMTPMaxIdleConns: one per mail the dispatcher sends
	// at once). Negative: none, a connection per mail.
	MaxIdleConns int
	// IdleTimeout closes a kept connection unused for this long (default
	// DefaultSMTPIdleTimeout).
	IdleTimeout time.Duration
}

// Default SMTP settings.
const (
	DefaultFromAddress = "no-reply@ory.kratos.sh"
	DefaultLocalName   = "localhost"
	DefaultSMTPTimeout = 10 * time.Second
	// DefaultSMTPMaxIdleConns is the dispatcher's default concurrency.
	DefaultSMTPMaxIdleConns = DefaultConcurrency
	// DefaultSMTPIdleTimeout is well under the five minutes RFC 5321 lets
	// a server wait before dropping an idle client, and under what many
	// servers actually wait.
	DefaultSMTPIdleTimeout = 30 * time.Second
)

// SMTPSender delivers mail over SMTP with github.com/wneessen/go-mail,
// keeping connections open between mails (smtpconn.go). Safe for
// concurrent use; Close closes the connections it keeps.
type SMTPSender struct {
	host    string
	opts    []mail.Option
	from    string
	name    string
	headers map[string]string
	timeout time.Duration
	conns   *connPool
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
	// WithoutNoop: go-mail would check a connection with a NOOP before
	// each mail, a round trip for nothing. A kept connection that died
	// fails at MAIL FROM instead, before the server can have the mail, and
	// Send tries once more on a new one (safeToResend).
	opts := []mail.Option{mail.WithTimeout(timeout), mail.WithHELO(localName), mail.WithTLSConfig(tlsConf), mail.WithoutNoop()}

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
	maxIdle := cfg.MaxIdleConns
	if maxIdle == 0 {
		maxIdle = DefaultSMTPMaxIdleConns
	}
	idleTimeout := cfg.IdleTimeout
	if idleTimeout <= 0 {
		idleTimeout = DefaultSMTPIdleTimeout
	}
	s := &SMTPSender{host: u.Hostname(), opts: opts, from: from, name: cfg.FromName, headers: cfg.Headers, timeout: timeout,
		conns: &connPool{max: maxIdle, idleTimeout: idleTimeout, timeout: timeout}}
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
	if m.Language != "" {
		msg.SetGenHeader(mail.HeaderContentLang, m.Language)
	}
	for k, v := range s.headers {
		msg.SetGenHeader(mail.Header(k), v)
	}
	msg.SetBodyString(mail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(mail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

// Send delivers m on a kept connection if there is one, otherwise on a
// new one. ctx bounds connecting, the configured timeout each command.
func (s *SMTPSender) Send(ctx context.Context, m OutgoingEmail) error {
	msg, err := s.message(m)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if c := s.conns.get(); c != nil {
		err := s.sendOn(c, msg)
		if err == nil || !safeToResend(err, msg) {
			return err
		}
		// The kept connection had died (typically the server closed it
		// while idle) before the mail could have been accepted: once more,
		// on a new connection, with a fresh message.
		if msg, err = s.message(m); err != nil {
			return err
		}
	}
	c, err := s.dial(ctx)
	if err != nil {
		return err
	}
	return s.sendOn(c, msg)
}

// dial opens and authenticates a new connection.
func (s *SMTPSender) dial(ctx context.Context) (*smtpConn, error) {
	client, err := mail.NewClient(s.host, s.opts...)
	if err != nil {
		return nil, fmt.Errorf("smtp client: %w", err)
	}
	c, err := client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("dial failed: %w", err)
	}
	return &smtpConn{client: client, smtp: c}, nil
}

// sendOn sends msg on c, then keeps c for the next mail, or closes it
// after a failure (its state is unknown then).
func (s *SMTPSender) sendOn(c *smtpConn, msg *mail.Msg) error {
	// Each command gets the configured timeout, as on a new connection:
	// the deadline left on a kept one by its last command has passed.
	_ = c.smtp.UpdateDeadline(s.timeout)
	err := c.client.SendWithSMTPClient(c.smtp, msg)
	if err == nil {
		s.conns.put(c)
		return nil
	}
	s.conns.quit(c)
	if msg.IsDelivered() {
		// The server accepted the mail; only the RSET after it failed.
		// Reporting a failure would have the mail sent again.
		return nil
	}
	return fmt.Errorf("send failed: %w", err)
}

// safeToResend reports whether a send that failed on a kept connection may
// be tried again at once on a new one, which is when the server cannot
// have the mail. A server takes a mail when it answers 250 to the "."
// that ends its data. go-mail tells where a send failed: the connection
// check (no NOOP is sent: only a closed client fails it), MAIL FROM,
// RCPT TO, the DATA command, or writing the content all fail before that
// "." left (the content is written through a dot-stuffing writer whose
// final "." is only sent when it is closed), so the mail cannot have been
// taken. A failure closing the data (the "."
// was sent, its reply did not come) or after it (the RSET) may come after
// the server took the mail: it is never resent here; the dispatcher
// records the failure and its retry, with the same Message-ID, follows
// the usual backoff. Even before the ".", only a failed connection is
// worth a new one — no SMTP reply at all (EOF, reset, broken pipe,
// timeout: go-mail's error code 0) or 421, the server closing the
// channel; a refusal (any other 4xx or 5xx) would be the same on a new
// connection.
func safeToResend(err error, msg *mail.Msg) bool {
	var se *mail.SendError
	if msg.IsDelivered() || !errors.As(err, &se) {
		return false
	}
	switch se.Reason {
	case mail.ErrConnCheck, mail.ErrSMTPMailFrom, mail.ErrSMTPRcptTo, mail.ErrSMTPData, mail.ErrWriteContent:
		code := se.ErrorCode()
		return code == 0 || code == 421
	}
	return false
}

// Close closes the connections kept between mails. A mail being sent
// finishes, and its connection is closed instead of kept. The sender
// still works after Close, with a connection per mail.
func (s *SMTPSender) Close() error {
	s.conns.close()
	return nil
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
