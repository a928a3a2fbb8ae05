// Package smtptest runs a real SMTP server inside a test process, so tests
// can read the mails Latchkey sends (recovery codes, links) and make the
// server fail on purpose. It is built on github.com/emersion/go-smtp.
//
//	srv := smtptest.Start(t)
//	... configure courier.smtp.connection_uri = srv.URI() ...
//	mail := srv.WaitFor(t, "user@example.test", 5*time.Second)
//	code := regexp.MustCompile(`\d{6}`).FindString(mail.Text)
package smtptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Mail is one message the server accepted.
type Mail struct {
	From    string   // envelope sender (MAIL FROM)
	To      []string // envelope recipients (RCPT TO)
	Header  mail.Header
	Subject string // decoded
	Text    string // the text/plain part, decoded
	HTML    string // the text/html part, decoded
	Raw     []byte // the message as received
}

// Server is an SMTP server listening on 127.0.0.1.
type Server struct {
	addr        string
	startTLS    bool
	implicitTLS bool
	user, pass  string
	tlsConfig   *tls.Config

	mu         sync.Mutex
	srv        *smtp.Server
	listener   net.Listener
	mails      []Mail
	taken      map[string]int // per recipient: mails already returned by WaitFor
	attempts   int
	rejectNext int
	rejectAll  bool
	loseReply  int
	conns      int                   // connections accepted
	open       map[*trackedConn]bool // connections open
	holds      map[string]*hold      // by lower-case recipient
	// changed is closed and replaced whenever a mail arrives, a held mail
	// arrives, or a connection opens or closes.
	changed chan struct{}
}

// Option configures a Server.
type Option func(*Server)

// WithStartTLS makes the server offer STARTTLS with a self-signed
// certificate; URI then requires STARTTLS and skips verification.
func WithStartTLS() Option { return func(s *Server) { s.startTLS = true } }

// WithImplicitTLS makes the server speak TLS from the first byte (smtps://)
// with a self-signed certificate.
func WithImplicitTLS() Option { return func(s *Server) { s.implicitTLS = true } }

// WithAuth makes the server require AUTH PLAIN with these credentials; URI
// includes them.
func WithAuth(user, password string) Option {
	return func(s *Server) { s.user, s.pass = user, password }
}

// Start runs a server on a free port of 127.0.0.1 until the test ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{taken: map[string]int{}, open: map[*trackedConn]bool{}, holds: map[string]*hold{}, changed: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	if s.startTLS || s.implicitTLS {
		cert, err := selfSigned()
		if err != nil {
			t.Fatalf("smtptest: certificate: %v", err)
		}
		s.tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if err := s.listen("127.0.0.1:0"); err != nil {
		t.Fatalf("smtptest: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) listen(addr string) error {
	tcp, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	var l net.Listener = trackingListener{Listener: tcp, s: s}
	if s.implicitTLS {
		l = tls.NewListener(l, s.tlsConfig)
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{s: s, conn: c}, nil
	}))
	srv.Domain = "smtptest.localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.MaxMessageBytes = 10 << 20
	srv.AllowInsecureAuth = !s.startTLS && !s.implicitTLS
	if s.startTLS {
		srv.TLSConfig = s.tlsConfig
	}
	s.mu.Lock()
	s.addr, s.srv, s.listener = l.Addr().String(), srv, l
	s.mu.Unlock()
	go func() { _ = srv.Serve(l) }()
	return nil
}

// Addr is host:port of the server.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// URI is the courier.smtp.connection_uri that reaches this server:
// smtp://127.0.0.1:port/?disable_starttls=true by default.
func (s *Server) URI() string {
	u := url.URL{Scheme: "smtp", Host: s.Addr(), Path: "/"}
	switch {
	case s.implicitTLS:
		u.Scheme, u.RawQuery = "smtps", "skip_ssl_verify=true"
	case s.startTLS:
		u.RawQuery = "skip_ssl_verify=true"
	default:
		u.RawQuery = "disable_starttls=true"
	}
	if s.user != "" {
		u.User = url.UserPassword(s.user, s.pass)
	}
	return u.String()
}

// Stop closes the server and its connections. The port stays reserved for
// Restart only as long as nobody else takes it (fine on a test machine).
func (s *Server) Stop() {
	s.mu.Lock()
	srv, l := s.srv, s.listener
	s.srv, s.listener = nil, nil
	s.mu.Unlock()
	if srv != nil {
		// Serve may not have registered the listener yet: close it here too.
		_ = l.Close()
		_ = srv.Close()
	}
}

// Restart listens again on the same address after Stop.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	var err error
	for range 50 { // the old socket may take a moment to go
		if err = s.listen(s.Addr()); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("smtptest: restart: %v", err)
}

// RejectNext makes the next n delivery attempts fail with a temporary
// error (451) at RCPT TO.
func (s *Server) RejectNext(n int) {
	s.mu.Lock()
	s.rejectNext = n
	s.mu.Unlock()
}

// RejectAll makes every delivery attempt fail with 451 while on is true.
func (s *Server) RejectAll(on bool) {
	s.mu.Lock()
	s.rejectAll = on
	s.mu.Unlock()
}

// Count is how many mails the server accepted.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.mails)
}

// CountTo is how many accepted mails went to recipient.
func (s *Server) CountTo(recipient string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.to(recipient))
}

// Attempts is how many deliveries were tried (accepted or rejected).
func (s *Server) Attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

// Mails returns every accepted mail, oldest first.
func (s *Server) Mails() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mails...)
}

// WaitFor returns the oldest mail to recipient that WaitFor has not
// returned before, waiting up to timeout for it; the test fails if none
// arrives. Successive calls thus return successive mails.
func (s *Server) WaitFor(t testing.TB, recipient string, timeout time.Duration) Mail {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		key := strings.ToLower(recipient)
		got := s.to(recipient)
		changed := s.changed
		if n := s.taken[key]; n < len(got) {
			s.taken[key] = n + 1
			s.mu.Unlock()
			return got[n]
		}
		s.mu.Unlock()
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("smtptest: no new mail to %s within %s (%d accepted in total)", recipient, timeout, s.Count())
			return Mail{}
		}
	}
}

// to lists the mails to recipient; s.mu is held.
func (s *Server) to(recipient string) []Mail {
	var out []Mail
	for _, m := range s.mails {
		for _, r := range m.To {
			if strings.EqualFold(r, recipient) {
				out = append(out, m)
				break
			}
		}
	}
	return out
}

func (s *Server) deliver(m Mail) {
	s.mu.Lock()
	s.mails = append(s.mails, m)
	s.changedLocked()
	s.mu.Unlock()
}

// changedLocked wakes the waiters; s.mu is held.
func (s *Server) changedLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// waitUntil waits up to timeout for cond (called with s.mu held) to hold;
// the test fails with what otherwise.
func (s *Server) waitUntil(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		ok, changed := cond(), s.changed
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("smtptest: %s: not within %s", what, timeout)
		}
	}
}

// Connections is how many connections the server accepted.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// OpenConnections is how many connections are open now.
func (s *Server) OpenConnections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.open)
}

// WaitOpenConnections waits until exactly n connections are open.
func (s *Server) WaitOpenConnections(t testing.TB, n int, timeout time.Duration) {
	t.Helper()
	s.waitUntil(t, timeout, fmt.Sprintf("%d open connections", n), func() bool { return len(s.open) == n })
}

// DropConnections closes every open connection from the server's side,
// without a word, as a server does with a client idle for too long.
func (s *Server) DropConnections() {
	s.mu.Lock()
	open := make([]*trackedConn, 0, len(s.open))
	for c := range s.open {
		open = append(open, c)
	}
	s.mu.Unlock()
	for _, c := range open {
		_ = c.Close()
	}
}

// LoseReplyNext makes the next n mails be accepted (Count counts them)
// and then the connection closed instead of answering their final ".":
// the client cannot tell whether the server took the mail.
func (s *Server) LoseReplyNext(n int) {
	s.mu.Lock()
	s.loseReply = n
	s.mu.Unlock()
}

// Hold makes mails to recipient wait, their data received but not yet
// answered nor accepted, until release is called or the test ends: a slow
// delivery the test controls.
func (s *Server) Hold(t testing.TB, recipient string) (release func()) {
	h := &hold{arrived: make(chan struct{}), release: make(chan struct{})}
	s.mu.Lock()
	s.holds[strings.ToLower(recipient)] = h
	s.mu.Unlock()
	release = func() { h.releaseOnce.Do(func() { close(h.release) }) }
	t.Cleanup(release)
	return release
}

// WaitHeld waits until a mail to recipient is being held (see Hold).
func (s *Server) WaitHeld(t testing.TB, recipient string, timeout time.Duration) {
	t.Helper()
	s.mu.Lock()
	h := s.holds[strings.ToLower(recipient)]
	s.mu.Unlock()
	if h == nil {
		t.Fatalf("smtptest: %s is not held", recipient)
	}
	select {
	case <-h.arrived:
	case <-time.After(timeout):
		t.Fatalf("smtptest: no mail to %s held within %s", recipient, timeout)
	}
}

// hold is a recipient whose mails wait for release.
type hold struct {
	arrived, release         chan struct{}
	arrivedOnce, releaseOnce sync.Once
}

// holdFor returns the hold of any of the recipients, or nil.
func (s *Server) holdFor(recipients []string) *hold {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range recipients {
		if h := s.holds[strings.ToLower(r)]; h != nil {
			return h
		}
	}
	return nil
}

// trackingListener counts and tracks the connections it accepts.
type trackingListener struct {
	net.Listener
	s *Server
}

func (l trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, s: l.s}
	l.s.mu.Lock()
	l.s.conns++
	l.s.open[tc] = true
	l.s.changedLocked()
	l.s.mu.Unlock()
	return tc, nil
}

// trackedConn leaves the open set when closed, by either side.
type trackedConn struct {
	net.Conn
	s    *Server
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.s.mu.Lock()
		delete(c.s.open, c)
		c.s.changedLocked()
		c.s.mu.Unlock()
	})
	return c.Conn.Close()
}

// session is one SMTP conversation.
type session struct {
	s      *Server
	conn   *smtp.Conn
	authed bool
	from   string
	to     []string
}

var _ smtp.AuthSession = (*session)(nil)

func (se *session) AuthMechanisms() []string {
	if se.s.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (se *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if user != se.s.user || pass != se.s.pass {
			return errors.New("invalid credentials")
		}
		se.authed = true
		return nil
	}), nil
}

func (se *session) Mail(from string, _ *smtp.MailOptions) error {
	if se.s.user != "" && !se.authed {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	}
	se.from = from
	return nil
}

func (se *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s := se.s
	s.mu.Lock()
	s.attempts++
	reject := s.rejectAll || s.rejectNext > 0
	if s.rejectNext > 0 {
		s.rejectNext--
	}
	s.mu.Unlock()
	if reject {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later (smtptest)"}
	}
	se.to = append(se.to, to)
	return nil
}

func (se *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if h := se.s.holdFor(se.to); h != nil {
		h.arrivedOnce.Do(func() { close(h.arrived) })
		<-h.release
	}
	m := parse(raw)
	m.From, m.To = se.from, append([]string(nil), se.to...)
	se.s.deliver(m)
	s := se.s
	s.mu.Lock()
	lose := s.loseReply > 0
	if lose {
		s.loseReply--
	}
	s.mu.Unlock()
	if lose {
		_ = se.conn.Conn().Close()
	}
	return nil
}

func (se *session) Reset()        { se.from, se.to = "", nil }
func (se *session) Logout() error { return nil }

// parse decodes headers and the text and HTML parts; what it cannot decode
// stays available in Raw.
func parse(raw []byte) Mail {
	m := Mail{Raw: raw}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return m
	}
	m.Header = msg.Header
	dec := new(mime.WordDecoder)
	if subj, err := dec.DecodeHeader(msg.Header.Get("Subject")); err == nil {
		m.Subject = subj
	} else {
		m.Subject = msg.Header.Get("Subject")
	}
	readPart(&m, msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
	return m
}

func readPart(m *Mail, contentType, encoding string, body io.Reader) {
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		mediaType = "text/plain"
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err != nil {
				return
			}
			readPart(m, p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p)
		}
	}
	var r io.Reader = body
	switch strings.ToLower(encoding) {
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, body)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return
	}
	text := strings.ReplaceAll(string(b), "\r\n", "\n")
	switch mediaType {
	case "text/plain":
		if m.Text == "" {
			m.Text = text
		}
	case "text/html":
		if m.HTML == "" {
			m.HTML = text
		}
	}
}

// selfSigned makes a throw-away certificate for 127.0.0.1 and localhost.
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "smtptest"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
