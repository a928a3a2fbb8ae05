// Package password owns password hashing and the password policy.
//
// A [Hasher] makes new hashes with the configured algorithm (bcrypt by
// default, or argon2id), verifies every hash format an identity can be
// imported with, tells whether a stored hash should be replaced after a
// successful login ([Hasher.NeedsRehash]), and runs all of that work in a
// bounded pool because it is deliberately CPU- and memory-heavy.
//
// A [Policy] decides whether a new password is acceptable, with Kratos's
// checks in Kratos's order: length, similarity to the identifiers, and
// presence in a list of breached passwords. It reports the first problem as
// a [Violation] carrying the Kratos UI message id, text and context; the
// flow package turns that into a UI message.
//
// # Breached passwords
//
// Kratos asks the haveibeenpwned range API. Latchkey has no network at run
// time, so the same config keys drive an offline check against an embedded
// list (breached.bin.gz, about 420 KB, 47,023 passwords, see
// [BreachList]). The list is data/passwords.txt of the Go module
// github.com/trustelem/zxcvbn v1.0.1 (MIT licence, copyright 2018 Vincent
// Vanackere and Trustelem), the common-password list of the zxcvbn
// password-strength estimator (Dropbox, MIT licence); its counts are how
// often each password occurs in the sample of leaked passwords zxcvbn was
// built from, and become the message's "breaches" context. Only the first
// 8 bytes of each password's SHA-1 and its count are stored. gen_breached.go regenerates the file byte for byte
// (`go generate ./internal/password/`); it fetches the module with the Go
// tool and checks its pinned checksum, without adding it to go.mod.
package password
