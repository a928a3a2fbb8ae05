package hook

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

// Egress is Kratos's clients.http policy for the calls hooks make (the
// web_hooks and the http(s) body templates fetched at start-up): with
// DisallowPrivate, a call may only reach a public address, unless its URL
// matches one of the exception globs (then private networks are allowed
// too, as in Kratos).
//
// The address is checked when the connection is dialled, after DNS: a
// name that resolves (or is rebound) to 127.0.0.1 is refused, and so is
// a redirect to a private address.
type Egress struct {
	// DisallowPrivate is clients.http.disallow_private_ip_ranges.
	DisallowPrivate bool
	// exceptions are clients.http.private_ip_exception_urls, compiled.
	exceptions []*regexp.Regexp
}

// NewEgress is the policy of clients.http.disallow_private_ip_ranges and
// clients.http.private_ip_exception_urls (globs, see Glob).
func NewEgress(disallowPrivate bool, exceptionURLs []string) *Egress {
	e := &Egress{DisallowPrivate: disallowPrivate}
	for _, g := range exceptionURLs {
		e.exceptions = append(e.exceptions, Glob(g))
	}
	return e
}

// Glob compiles an exception URL glob as Kratos reads it (gobwas/glob
// with separators '.' and '/'): "*" is any run of characters without a
// dot or a slash, "**" any run at all, "?" one character other than a
// dot or a slash; everything else matches itself. It is matched against
// the whole URL without its query and fragment, so
// "https://hooks.internal/*" allows https://hooks.internal/signup but not
// https://hooks.internal/a/b.
func Glob(pattern string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`^`)
	for rest := pattern; rest != ""; {
		r, size := utf8.DecodeRuneInString(rest)
		switch {
		case strings.HasPrefix(rest, "**"):
			b.WriteString(`.*`)
			size = 2
		case r == '*':
			b.WriteString(`[^./]*`)
		case r == '?':
			b.WriteString(`[^./]`)
		case r == utf8.RuneError:
			b.WriteString(`\x{fffd}`)
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
		rest = rest[size:]
	}
	b.WriteString(`$`)
	// RE2 matches in linear time: no pattern can make a call hang.
	return regexp.MustCompile(b.String())
}

// Client is the HTTP client the policy allows: the default transport's
// settings (proxy from the environment included), with every dial
// checked when DisallowPrivate is on.
func (e *Egress) Client() *http.Client {
	base := http.DefaultTransport.(*http.Transport).Clone()
	if e == nil || !e.DisallowPrivate {
		return &http.Client{Transport: base}
	}
	return &http.Client{Transport: &egressTransport{
		strict:     dialChecked(base, publicOnly),
		exempt:     dialChecked(base, publicOrInternal),
		exceptions: e.exceptions,
	}}
}

// egressTransport sends a request through the exempt transport when its
// URL is an exception, else through the strict one. Each keeps its own
// connections, so one dialled for an exception never carries a request
// that is not; each redirect is a request of its own, checked again.
type egressTransport struct {
	strict, exempt http.RoundTripper
	exceptions     []*regexp.Regexp
}

func (t *egressTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	u := *req.URL
	u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
	s := u.String()
	for _, re := range t.exceptions {
		if re.MatchString(s) {
			return t.exempt.RoundTrip(req)
		}
	}
	return t.strict.RoundTrip(req)
}

// dialChecked is base with a dialer that refuses every address allowed
// rejects.
func dialChecked(base *http.Transport, allowed func(netip.Addr) bool) *http.Transport {
	t := base.Clone()
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second,
		Control: func(network, address string, _ syscall.RawConn) error {
			return checkDial(network, address, allowed)
		}}
	t.DialContext = d.DialContext
	return t
}

// errNotPublic is a dial the policy refused. It is not retried: the
// address will not have changed a second later.
var errNotPublic = errors.New("the address is not public (clients.http.disallow_private_ip_ranges)")

// checkDial is the dialer's Control: address is the IP and port about to
// be connected to, after DNS.
func checkDial(network, address string, allowed func(netip.Addr) bool) error {
	if network != "tcp4" && network != "tcp6" {
		return fmt.Errorf("%w: network %s", errNotPublic, network)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %q is not an IP address", errNotPublic, address)
	}
	if !allowed(ap.Addr()) {
		return fmt.Errorf("%w: %s", errNotPublic, ap.Addr())
	}
	return nil
}

// prefixes parses a list of networks.
func prefixes(nets ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(nets))
	for i, n := range nets {
		out[i] = netip.MustParsePrefix(n)
	}
	return out
}

var (
	// internalNets are the private networks: loopback, RFC 1918,
	// carrier-grade NAT (often a cloud's internal network), link-local
	// (169.254.169.254 is the cloud metadata service) and IPv6's unique
	// local and link-local addresses. An exception URL may reach them.
	internalNets = prefixes("10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16",
		"::1/128", "fc00::/7", "fe80::/10")
	// reservedNets are never called, exception or not: "this network"
	// (0.0.0.0 reaches the local host), IETF, documentation and
	// benchmarking ranges, multicast, reserved and broadcast; IPv6's
	// unspecified address, multicast, documentation and the ranges that
	// embed an IPv4 address (NAT64, 6to4, Teredo).
	reservedNets = prefixes("0.0.0.0/8", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
		"224.0.0.0/4", "240.0.0.0/4",
		"::/128", "64:ff9b::/96", "64:ff9b:1::/48", "2001::/23", "2001:db8::/32", "2002::/16", "3fff::/20", "ff00::/8")
	// globalUnicast6 is the only IPv6 space handed out for the Internet.
	globalUnicast6 = netip.MustParsePrefix("2000::/3")
)

// publicOnly reports whether a is a public unicast address.
func publicOnly(a netip.Addr) bool {
	a = a.Unmap().WithZone("") // ::ffff:127.0.0.1 is 127.0.0.1
	if in(a, internalNets) || in(a, reservedNets) {
		return false
	}
	return a.Is4() || globalUnicast6.Contains(a)
}

// publicOrInternal reports whether a is public or on a private network
// (what an exception URL may reach).
func publicOrInternal(a netip.Addr) bool {
	return publicOnly(a) || in(a.Unmap().WithZone(""), internalNets)
}

func in(a netip.Addr, nets []netip.Prefix) bool {
	for _, p := range nets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
