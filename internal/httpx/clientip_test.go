package httpx_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/latchkey/latchkey/internal/httpx"
)

func TestClientIPs(t *testing.T) {
	trusted := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("192.0.2.1/32"),
		netip.MustParsePrefix("2001:db8:ffff::/48"),
	}
	cases := []struct {
		name    string
		trusted []netip.Prefix
		peer    string
		header  http.Header
		ip      string // ClientIP
		address string // Caller.Address (the session device record)
	}{
		{name: "NoProxyTrustedIgnoresForwardedFor", peer: "203.0.113.9:4000",
			header: http.Header{"X-Forwarded-For": {"198.51.100.7"}, "True-Client-Ip": {"198.51.100.8"}},
			ip:     "203.0.113.9", address: "203.0.113.9:4000"},
		{name: "UntrustedPeerIgnoresForwardedFor", trusted: trusted, peer: "203.0.113.9:4000",
			header: http.Header{"X-Forwarded-For": {"198.51.100.7"}, "True-Client-Ip": {"198.51.100.8"}},
			ip:     "203.0.113.9", address: "203.0.113.9:4000"},
		{name: "TrustedPeerWithoutHeadersIsTheClient", trusted: trusted, peer: "10.1.2.3:4000",
			ip: "10.1.2.3", address: "10.1.2.3:4000"},
		{name: "TrustedPeerSingleHop", trusted: trusted, peer: "10.1.2.3:4000",
			header: http.Header{"X-Forwarded-For": {"198.51.100.7"}},
			ip:     "198.51.100.7", address: "198.51.100.7"},
		{name: "TrustedPeerSeveralHops", trusted: trusted, peer: "10.1.2.3:4000",
			header: http.Header{"X-Forwarded-For": {"198.51.100.7, 192.0.2.1, 10.9.9.9"}},
			ip:     "198.51.100.7", address: "198.51.100.7"},
		{name: "SpoofedLeftmostEntriesAreIgnored", trusted: trusted, peer: "10.1.2.3:4000",
			header: http.Header{"X-Forwarded-For": {"1.1.1.1, 2.2.2.2, 198.51.100.7"}},
			ip:     "198.51.100.7", address: "198.51.100.7"},
		{name: "SeveralHeadersReadInOrder", trusted: trusted, peer: "10.1.2.3:4000",
			header: http.Header{"X-Forwarded-For": {"1.1.1.1", "198.51.100.7, 10.2.2.2"}},
			ip:     "198.51.100.7", address: "198.51.100.7"},
		{name: "EveryHopTrustedGivesTheLeftmost", trusted: trusted, peer: "10.1.2.3:4000",
			header: http.Header{"X-Forwarded-For": {"10.7.7.7, 10.8.8.8"}},
			ip:     "10.7.7.7", address: "10.7.7.7"},
		{name: "MalformedEntryStopsTheWalk", trusted: trusted, peer: "10.1.2.3:4000",
			header: http.Header{"X-Forwarded-For": {"198.51.100.7, not-an-ip, 10.8.8.8"}},
			ip:     "10.8.8.8", address: "10.8.8.8"},
		{name: "MalformedHeaderFallsBackToThePeer", trusted: trusted, peer: "10.1.2.3:4000",
			header: http.Header{"X-Forwarded-For": {"<script>, "}},
			ip:     "10.1.2.3", address: "10.1.2.3:4000"},
		{name: "EntriesWithPorts", trusted: trusted, peer: "10.1.2.3:4000",
			header: http.Header{"X-Forwarded-For": {"[2001:db8::7]:443, 10.8.8.8:80"}},
			ip:     "2001:db8::7", address: "2001:db8::7"},
		{name: "IPv6PeerAndHops", trusted: trusted, peer: "[2001:db8:ffff::1]:4000",
			header: http.Header{"X-Forwarded-For": {"2001:db8:1::5, 2001:db8:ffff::2"}},
			ip:     "2001:db8:1::5", address: "2001:db8:1::5"},
		{name: "IPv4MappedIPv6IsIPv4", trusted: trusted, peer: "[::ffff:10.1.2.3]:4000",
			header: http.Header{"X-Forwarded-For": {"::ffff:198.51.100.7"}},
			ip:     "198.51.100.7", address: "198.51.100.7"},
		{name: "TrueClientIPFromTrustedPeer", trusted: trusted, peer: "10.1.2.3:4000",
			header: http.Header{"True-Client-Ip": {"198.51.100.8"}},
			ip:     "198.51.100.8", address: "198.51.100.8"},
		{name: "ForwardedForWinsOverTrueClientIP", trusted: trusted, peer: "10.1.2.3:4000",
			header: http.Header{"X-Forwarded-For": {"198.51.100.7"}, "True-Client-Ip": {"1.1.1.1"}},
			ip:     "198.51.100.7", address: "198.51.100.7"},
		{name: "MalformedTrueClientIPIsIgnored", trusted: trusted, peer: "10.1.2.3:4000",
			header: http.Header{"True-Client-Ip": {"1.1.1"}},
			ip:     "10.1.2.3", address: "10.1.2.3:4000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var ip string
			var caller httpx.Caller
			h := httpx.NewClientIPs(tc.trusted).Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ip, caller = httpx.ClientIP(r), httpx.CallerOf(r)
			}))
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.peer
			for k, v := range tc.header {
				r.Header[k] = v
			}
			h.ServeHTTP(httptest.NewRecorder(), r)
			if ip != tc.ip || caller.IP != tc.ip || caller.Address != tc.address {
				t.Fatalf("ClientIP %q, Caller.IP %q, Caller.Address %q; want %q and address %q", ip, caller.IP, caller.Address, tc.ip, tc.address)
			}
		})
	}

	t.Run("WithoutTheMiddlewareThePeerIsTheClient", func(t *testing.T) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = "10.1.2.3:4000"
		r.Header.Set("X-Forwarded-For", "198.51.100.7")
		if ip := httpx.ClientIP(r); ip != "10.1.2.3" {
			t.Fatalf("ClientIP %q", ip)
		}
	})
}
