package httpx

import (
	"net"
	"net/http"
	"strings"
)

// Caller is what the server knows about who sent a request, read once
// from it so services never need the request itself.
type Caller struct {
	// IP is the client address that limits count and logs name
	// (ClientIP).
	IP string
	// Address is the client address as a session's device record shows
	// it: a proxy header's value, else the socket address with its port,
	// as Kratos records it. It is informational only.
	Address string
	// UserAgent is the User-Agent header.
	UserAgent string
	// Location is the city and country the edge (Cloudflare) reports,
	// "City, CC", or "".
	Location string
}

// CallerOf reads the Caller of r.
func CallerOf(r *http.Request) Caller {
	c := Caller{IP: ClientIP(r), UserAgent: r.UserAgent()}
	c.Address = strings.TrimSpace(r.Header.Get("True-Client-IP"))
	if c.Address == "" {
		if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
			first, _, _ := strings.Cut(xff, ",")
			c.Address = strings.TrimSpace(first)
		}
	}
	if c.Address == "" {
		c.Address = r.RemoteAddr
	}
	var loc []string
	for _, h := range []string{"Cf-Ipcity", "Cf-Ipcountry"} {
		if v := strings.TrimSpace(r.Header.Get(h)); v != "" {
			loc = append(loc, v)
		}
	}
	c.Location = strings.Join(loc, ", ")
	return c
}

// ClientIP is the one function that says which IP address sent r: the
// socket peer's. Forwarding headers are not trusted here, so a client
// cannot pick the address a limit counts.
func ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
