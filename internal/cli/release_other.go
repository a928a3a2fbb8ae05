//go:build !linux

package cli

// releaseExecutablePages does nothing outside Linux.
func releaseExecutablePages() {}
