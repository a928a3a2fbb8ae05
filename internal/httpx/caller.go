package httpx

import (
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
	// it: the forwarded client address behind a trusted proxy, else the
	// socket address with its port, as Kratos records it.
	Address string
	// UserAgent is the User-Agent header.
	UserAgent string
	// Location is the city and country the edge (Cloudflare) reports,
	// "City, CC", or "".
	Location string
}

// CallerOf reads the Caller of r. Forwarding headers count only from
// trusted proxies (ClientIPs).
func CallerOf(r *http.Request) Caller {
	c := Caller{IP: ClientIP(r), UserAgent: r.UserAgent(), Address: r.RemoteAddr}
	if fwd, ok := r.Context().Value(clientKey{}).(client); ok && fwd.forwarded {
		c.Address = fwd.ip
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
