// Package audit is Latchkey's audit log: an append-only record of the
// security events of every identity (recoveries, logins, password and
// second-factor changes, revoked sessions, lockdowns), written in the
// same transaction as the change it records, queryable through
// GET /admin/audit/events and `latchkey audit list` (docs/audit.md).
//
// An event never holds a secret: no password, code, token or link, only
// what happened, to whom, by whom, from where and with what result.
package audit

import (
	"time"

	"github.com/google/uuid"
)

// Type names a kind of security event.
type Type string

// The event types (docs/audit.md lists what each records).
const (
	// A recovery flow was asked to send a code or link to an address.
	// Written before the address is looked up, so it names no identity.
	RecoveryRequested Type = "recovery.requested"
	// A recovery code or link was mailed (or, for an unknown address,
	// the "no account" mail; result "unknown_address").
	RecoverySent      Type = "recovery.sent"
	RecoverySucceeded Type = "recovery.succeeded"
	// A recovery submission was refused: result says why ("invalid_code",
	// "expired", "too_many_attempts", ...).
	RecoveryFailed      Type = "recovery.failed"
	RecoveryRateLimited Type = "recovery.rate_limited"

	// A verification flow was asked to send a code or link to an address
	// (before the lookup: no identity), one was mailed (or, for an
	// unknown address, result "unknown_address"), an address was
	// verified, a code or link was refused, a send was rate limited.
	VerificationRequested   Type = "verification.requested"
	VerificationSent        Type = "verification.sent"
	VerificationSucceeded   Type = "verification.succeeded"
	VerificationFailed      Type = "verification.failed"
	VerificationRateLimited Type = "verification.rate_limited"

	AdminRecoveryCodeCreated Type = "admin.recovery_code_created"
	AdminRecoveryLinkCreated Type = "admin.recovery_link_created"

	PasswordChanged Type = "password.changed"
	SessionRevoked  Type = "session.revoked"
	LoginSucceeded  Type = "login.succeeded"
	LoginFailed     Type = "login.failed"

	SecondFactorAdded   Type = "second_factor.added"
	SecondFactorRemoved Type = "second_factor.removed"
	// A social sign-in provider account was linked to or unlinked from
	// the identity; details name the provider.
	SocialLinked   Type = "social.linked"
	SocialUnlinked Type = "social.unlinked"
	// A recovery or verifiable address of the identity changed; details
	// hold "previous" and "current" address lists.
	AddressChanged Type = "address.changed"

	LockdownConfirmed Type = "lockdown.confirmed"
)

// Types lists every event type, for validating filters.
var Types = []Type{
	RecoveryRequested, RecoverySent, RecoverySucceeded, RecoveryFailed, RecoveryRateLimited,
	VerificationRequested, VerificationSent, VerificationSucceeded, VerificationFailed, VerificationRateLimited,
	AdminRecoveryCodeCreated, AdminRecoveryLinkCreated,
	PasswordChanged, SessionRevoked, LoginSucceeded, LoginFailed,
	SecondFactorAdded, SecondFactorRemoved, SocialLinked, SocialUnlinked, AddressChanged, LockdownConfirmed,
}

// Actor says who caused an event.
type Actor string

// Actors.
const (
	// ActorSelf: a request on the public listener (the user, or whoever
	// holds their flow, session or link).
	ActorSelf Actor = "self"
	// ActorAdmin: a request on the admin listener.
	ActorAdmin Actor = "admin"
	// ActorSystem: background work (the courier, cleanup, the CLI).
	ActorSystem Actor = "system"
)

// Results shared by many event types; failures name their own reason.
const (
	ResultSuccess = "success"
)

// Event is one audit record.
type Event struct {
	// ID orders events: a UUIDv7, so later events sort after earlier
	// ones written by the same instance.
	ID   uuid.UUID
	Time time.Time
	Type Type
	// IdentityID is the identity the event concerns, when known.
	IdentityID *uuid.UUID
	// Actor is filled in by Recorder.Record from the request context
	// unless set.
	Actor Actor
	// FlowID is the self-service flow the event happened in, if any.
	FlowID *uuid.UUID
	// Method is the flow method or credential type ("code", "link",
	// "password", "totp", "lookup_secret").
	Method string
	// ClientIP and UserAgent come from the request (Recorder.Record).
	ClientIP  string
	UserAgent string
	// Result is ResultSuccess or the reason of a failure.
	Result string
	// Reason is the free text an admin gave (POST /admin/recovery/*).
	Reason string
	// Details holds further non-secret facts (session ids, counts,
	// addresses). Values must marshal to JSON.
	Details map[string]any
}

// Maximum stored lengths: longer values are cut (a user agent or reason
// of megabytes must not bloat the log).
const (
	MaxUserAgent = 512
	MaxReason    = 1000
)

// ID is a helper for the optional id fields.
func ID(id uuid.UUID) *uuid.UUID {
	if id == uuid.Nil {
		return nil
	}
	return &id
}
