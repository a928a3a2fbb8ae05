package bench

import (
	"fmt"
	"io"
	"net"
	"net/mail"
	"regexp"
	"strings"
	"sync"

	"github.com/emersion/go-smtp"
)

// mailSink is the SMTP server of the recovery journey: it reads the
// recovery code out of each mail and hands it to the journey waiting for
// that recipient.
type mailSink struct {
	srv     *smtp.Server
	mu      sync.Mutex
	waiting map[string]chan string
}

var sixDigits = regexp.MustCompile(`\b(\d{6})\b`)

// serveMail starts the driver's SMTP server on listen (default
// 127.0.0.1:1025) for the scenario's run: the server under test sends its
// mail there (Options.SMTPListen), the journeys' codes and every
// scenario's security notifications, which would otherwise fail and be
// retried, costing work the scenario does not describe.
func serveMail(env *Env, listen string) (*mailSink, error) {
	if listen == "" {
		listen = "127.0.0.1:1025"
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("start SMTP server on %s: %w", listen, err)
	}
	sink := startMailSink(ln)
	env.OnDone(sink.close)
	env.servesMail = true
	env.Notes["smtp"] = ln.Addr().String()
	return sink, nil
}

// startMailSink serves SMTP on ln until close.
func startMailSink(ln net.Listener) *mailSink {
	sink := &mailSink{waiting: map[string]chan string{}}
	srv := smtp.NewServer(sink)
	srv.Domain = "bench.local"
	srv.AllowInsecureAuth = true
	srv.MaxRecipients = 10
	sink.srv = srv
	go srv.Serve(ln)
	return sink
}

// close stops the SMTP server, its listener and its connections.
func (s *mailSink) close() {
	// Close, not Shutdown: the server under test keeps its SMTP connections
	// open between mails, so Shutdown would wait for them, and go-smtp's
	// Close after a Shutdown leaves them open, delivering the next run's
	// mail to a sink nobody reads.
	_ = s.srv.Close()
}

// expect registers interest in the next code sent to recipient.
func (s *mailSink) expect(recipient string) <-chan string {
	ch := make(chan string, 1)
	s.mu.Lock()
	s.waiting[strings.ToLower(recipient)] = ch
	s.mu.Unlock()
	return ch
}

func (s *mailSink) forget(recipient string) {
	s.mu.Lock()
	delete(s.waiting, strings.ToLower(recipient))
	s.mu.Unlock()
}

func (s *mailSink) deliver(recipient, code string) {
	s.mu.Lock()
	ch, ok := s.waiting[strings.ToLower(recipient)]
	delete(s.waiting, strings.ToLower(recipient))
	s.mu.Unlock()
	if ok {
		ch <- code
	}
}

// NewSession implements smtp.Backend.
func (s *mailSink) NewSession(*smtp.Conn) (smtp.Session, error) { return &sinkSession{sink: s}, nil }

type sinkSession struct {
	sink *mailSink
	to   []string
}

func (x *sinkSession) Reset()        { x.to = nil }
func (x *sinkSession) Logout() error { return nil }
func (x *sinkSession) Mail(string, *smtp.MailOptions) error {
	return nil
}
func (x *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.to = append(x.to, to)
	return nil
}
func (x *sinkSession) Data(r io.Reader) error {
	msg, err := mail.ReadMessage(r)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, msg.Body)
	// The code is in the subject of the built-in template ("Use code 123456 …").
	m := sixDigits.FindStringSubmatch(msg.Header.Get("Subject"))
	if m == nil {
		return nil
	}
	for _, to := range x.to {
		x.sink.deliver(to, m[1])
	}
	return nil
}
