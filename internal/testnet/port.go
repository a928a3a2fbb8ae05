// Package testnet gives tests the address of a server they start later:
// a child process, or a server that is handed its port.
package testnet

import (
	"math/rand/v2"
	"net"
	"strconv"
	"testing"
)

// The ports FreePort picks from lie below Linux's ephemeral range
// (32768–60999), from which the kernel hands a port to every connecting
// socket and to every listener on port 0. A port from that range, free
// when checked, can be some client's local port by the time the server
// binds it; one from below it is taken only by a listener asking for it.
const (
	firstPort = 20000
	lastPort  = 31999
)

// FreePort returns a TCP port on 127.0.0.1 that nothing listened on a
// moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	for range 100 {
		port := firstPort + rand.IntN(lastPort-firstPort+1)
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue // taken
		}
		if err := ln.Close(); err != nil {
			t.Fatal(err)
		}
		return port
	}
	t.Fatalf("testnet: no free port between %d and %d", firstPort, lastPort)
	return 0
}

// FreeAddr is FreePort's port on 127.0.0.1, as host:port.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return "127.0.0.1:" + strconv.Itoa(FreePort(t))
}
