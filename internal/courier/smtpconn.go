package courier

import (
	"sync"
	"time"

	mail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"
)

// SMTP connection reuse.
//
// A new connection costs a TCP handshake, the greeting, EHLO and usually a
// TLS handshake and AUTH: more round trips than the mail itself. So an
// SMTPSender keeps the connection of a successful mail open (go-mail ends
// each mail with RSET, leaving the session clean), at most MaxIdleConns of
// them, and sends the next mail on one. A connection unused for
// IdleTimeout is closed with QUIT: servers drop idle clients anyway.

// smtpConn is one open, authenticated SMTP connection with the go-mail
// client that opened it. The go-mail client is not shared between
// connections: choosing an AUTH mechanism may change it (as when each mail
// had its own).
type smtpConn struct {
	client *mail.Client
	smtp   *smtp.Client
}

// connPool keeps idle connections, most recently used last.
type connPool struct {
	max         int
	idleTimeout time.Duration
	timeout     time.Duration // for QUIT

	mu     sync.Mutex
	idle   []*idleConn
	closed bool
}

type idleConn struct {
	conn  *smtpConn
	timer *time.Timer // closes it after idleTimeout
}

// get takes the most recently used idle connection, or nil.
func (p *connPool) get() *smtpConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.idle)
	if n == 0 {
		return nil
	}
	ic := p.idle[n-1]
	p.idle = p.idle[:n-1]
	// If the timer fired already, expire finds ic gone and leaves it be.
	ic.timer.Stop()
	return ic.conn
}

// put keeps c for the next mail, or closes it if the pool is full or
// closed.
func (p *connPool) put(c *smtpConn) {
	p.mu.Lock()
	if p.closed || len(p.idle) >= p.max {
		p.mu.Unlock()
		p.quit(c)
		return
	}
	ic := &idleConn{conn: c}
	ic.timer = time.AfterFunc(p.idleTimeout, func() { p.expire(ic) })
	p.idle = append(p.idle, ic)
	p.mu.Unlock()
}

// expire closes ic if it is still idle.
func (p *connPool) expire(ic *idleConn) {
	p.mu.Lock()
	found := false
	for i, x := range p.idle {
		if x == ic {
			p.idle = append(p.idle[:i], p.idle[i+1:]...)
			found = true
			break
		}
	}
	p.mu.Unlock()
	if found {
		p.quit(ic.conn)
	}
}

// close closes every idle connection and keeps none from now on.
func (p *connPool) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, ic := range idle {
		ic.timer.Stop()
		wg.Go(func() { p.quit(ic.conn) })
	}
	wg.Wait()
}

// quit ends c with QUIT, or just closes it if QUIT fails (a connection
// the server dropped: nothing to report).
func (p *connPool) quit(c *smtpConn) {
	// The deadline left from the last command has passed on a connection
	// that was idle.
	_ = c.smtp.UpdateDeadline(p.timeout)
	if err := c.client.CloseWithSMTPClient(c.smtp); err != nil {
		_ = c.smtp.Close()
	}
}
