package httpx

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ClientIPs says which address sent a request: the socket peer, unless
// the peer is a trusted proxy (serve.public.trusted_proxies). Behind
// trusted proxies the client is the right-most X-Forwarded-For entry that
// is not itself a trusted proxy: each proxy appends the address it was
// reached from, so entries left of the first untrusted one are whatever
// the client chose to send and are never believed.
type ClientIPs struct {
	trusted []netip.Prefix
	// admin marks requests of the admin listener (Origin.Admin).
	admin bool
}

// NewClientIPs returns the resolver trusting forwarding headers from
// peers in trusted (none: the socket peer is always the client).
func NewClientIPs(trusted []netip.Prefix) *ClientIPs {
	return &ClientIPs{trusted: trusted}
}

// ForAdmin returns c for the admin listener: its requests' Origin says
// Admin, so the audit log names an admin as their actor.
func (c *ClientIPs) ForAdmin() *ClientIPs {
	return &ClientIPs{trusted: c.trusted, admin: true}
}

// client is a resolved client address.
type client struct {
	ip string
	// forwarded: ip came from a trusted proxy's header, not the socket.
	forwarded bool
	userAgent string
	// acceptLanguage is the Accept-Language header: the language of mail
	// the request causes (courier.RequestLanguage).
	acceptLanguage string
	admin          bool
}

type clientKey struct{}

// Wrap resolves each request's client address once and keeps it in the
// request context, where ClientIP and CallerOf read it.
func (c *ClientIPs) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cl := c.resolve(r)
		cl.userAgent, cl.acceptLanguage, cl.admin = r.UserAgent(), r.Header.Get("Accept-Language"), c.admin
		ctx := context.WithValue(r.Context(), clientKey{}, cl)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// resolve applies the trusted-proxy rule to r. X-Forwarded-For is
// walked from the right; True-Client-IP (set by some CDNs) counts only
// from a trusted peer that sent no X-Forwarded-For.
func (c *ClientIPs) resolve(r *http.Request) client {
	peer, ok := parseIP(r.RemoteAddr)
	if !ok {
		return client{ip: peerHost(r.RemoteAddr)}
	}
	if !c.isTrusted(peer) {
		return client{ip: peer.String()}
	}
	if hops := forwardedFor(r.Header); len(hops) > 0 {
		// All hops trusted: the left-most is the furthest anyone knows.
		res := client{ip: peer.String()}
		for i := len(hops) - 1; i >= 0; i-- {
			hop, ok := parseIP(hops[i])
			if !ok {
				break // garbage the trusted chain did not write
			}
			res = client{ip: hop.String(), forwarded: true}
			if !c.isTrusted(hop) {
				break
			}
		}
		return res
	}
	if tc, ok := parseIP(strings.TrimSpace(r.Header.Get("True-Client-IP"))); ok {
		return client{ip: tc.String(), forwarded: true}
	}
	return client{ip: peer.String()}
}

func (c *ClientIPs) isTrusted(ip netip.Addr) bool {
	for _, p := range c.trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// forwardedFor lists the X-Forwarded-For entries of every such header,
// in order.
func forwardedFor(h http.Header) []string {
	var hops []string
	for _, v := range h.Values("X-Forwarded-For") {
		for _, hop := range strings.Split(v, ",") {
			hops = append(hops, strings.TrimSpace(hop))
		}
	}
	return hops
}

// parseIP reads an address as proxies write it: a bare IP, or host:port
// ("[v6]:port" for IPv6). IPv4-mapped IPv6 addresses become IPv4, and
// zones are dropped, so one client has one spelling.
func parseIP(s string) (netip.Addr, bool) {
	ip, err := netip.ParseAddr(s)
	if err != nil {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return netip.Addr{}, false
		}
		ip = ap.Addr()
	}
	return ip.Unmap().WithZone(""), true
}

// ClientIP is the one function that says which IP address sent r: the
// address ClientIPs resolved for it (behind trusted proxies, the
// forwarded client), else the socket peer's. Limits count by it, session
// devices record it and request logs name it.
func ClientIP(r *http.Request) string {
	if c, ok := r.Context().Value(clientKey{}).(client); ok {
		return c.ip
	}
	if ip, ok := parseIP(r.RemoteAddr); ok {
		return ip.String()
	}
	return peerHost(r.RemoteAddr)
}

// peerHost is the host part of a socket address that parseIP could not
// read (a Unix socket, a test's "pipe").
func peerHost(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return host
}

// Origin is who sent the request a context belongs to, as the audit log
// records it. The zero Origin (Known false) is background work: the
// courier, cleanup, a CLI command.
type Origin struct {
	IP, UserAgent string
	// AcceptLanguage is the request's Accept-Language header.
	AcceptLanguage string
	// Admin: the request came in on the admin listener.
	Admin bool
	// Known: ctx belongs to a request that ClientIPs.Wrap saw.
	Known bool
}

// OriginOf reads the Origin of the request ctx belongs to.
func OriginOf(ctx context.Context) Origin {
	c, ok := ctx.Value(clientKey{}).(client)
	if !ok {
		return Origin{}
	}
	return Origin{IP: c.ip, UserAgent: c.userAgent, AcceptLanguage: c.acceptLanguage, Admin: c.admin, Known: true}
}
