// Package storeerr holds the errors every store returns, in a leaf package
// so domain packages can test for them without importing sqlstore (which
// imports the domain packages to implement their Store interfaces).
package storeerr

import "errors"

// ErrNotFound is returned when a row does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned when a unique constraint is violated.
var ErrConflict = errors.New("unique constraint violated")
