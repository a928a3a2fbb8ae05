//go:build unix

package sqlstore

import (
	"crypto/tls"
	"net"
	"syscall"
)

// socketIdle reports whether conn's socket is open with nothing to read.
// Sockets it cannot inspect count as idle.
func socketIdle(conn net.Conn) bool {
	if t, ok := conn.(*tls.Conn); ok {
		conn = t.NetConn() // unread bytes on an idle connection mean it is done for either way
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return true
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	idle := true
	err = raw.Read(func(fd uintptr) bool {
		var b [1]byte
		_, err := syscall.Read(int(fd), b[:])
		// EAGAIN: open and empty. Anything else (0 bytes: closed; data;
		// an error) is not a connection to reuse.
		idle = err == syscall.EAGAIN || err == syscall.EWOULDBLOCK
		return true // never wait
	})
	return err == nil && idle
}
