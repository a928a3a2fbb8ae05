//go:build !unix

package sqlstore

import "net"

// socketIdle cannot look at sockets here: every connection counts as
// idle, and a lost one is caught by the retry instead (see reconnect.go).
func socketIdle(net.Conn) bool { return true }
