package notify

import (
	"context"
	"encoding/binary"
	"math/big"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/secret"
)

// A lockdown link's token is derived, not stored: it carries what the
// link answers (the identity, the audit event, its type and time, which
// of the event's recipients it was mailed to, when it expires) and a MAC
// of all that under secrets.default. Mailing a notification writes no
// token; only confirming a link writes, one row in lockdown_uses per
// (event, recipient), which makes each link single-use.
//
// Links mailed before tokens were derived carry 32 random alphanumerics
// whose keyed hash is a row of lockdown_tokens; they keep working until
// they expire (Lockdown.Inspect tells the two apart by length).

// legacyTokenLength is the length of a stored token: 32 alphanumeric
// characters, about 190 bits.
const legacyTokenLength = 32

// The derived token: a version byte, the identity, the event, the event
// type's number (linkEvents), the recipient's index, the event time and
// the expiry (Unix milliseconds), then the MAC's first 128 bits, as one
// base-62 number of fixed length.
const (
	linkVersion   = 1
	payloadLength = 1 + 16 + 16 + 1 + 1 + 8 + 8
	macLength     = secret.MinTruncatedMAC
	// linkTokenLength digits of base 62 hold every value the 67 bytes
	// take while the version byte is 1 (below 2^529 < 62^89).
	linkTokenLength = 89
	// maxRecipient is the largest recipient index the token holds.
	maxRecipient = 255
)

// macContext keeps the token's MAC apart from anything else signed with
// the same secrets (session cookies, when secrets.cookie is unset).
var macContext = []byte("latchkey lockdown link v1\x00")

// linkEvents numbers the event types a link can answer, for the token's
// type byte. Append only: a number, once mailed, keeps its meaning.
var linkEvents = []audit.Type{
	audit.PasswordChanged,
	audit.RecoverySucceeded,
	audit.AdminRecoveryCodeCreated,
	audit.AdminRecoveryLinkCreated,
	audit.SecondFactorAdded,
	audit.SecondFactorRemoved,
	audit.AddressChanged,
	audit.SocialLinked,
}

// Token is what a lockdown link answers.
type Token struct {
	IdentityID uuid.UUID
	// EventID, EventType and EventTime name the audit event the
	// notification was about.
	EventID   uuid.UUID
	EventType audit.Type
	EventTime time.Time
	// Recipient is the index of the address the link was mailed to among
	// the event's recipients: each has a link of its own, so one cannot
	// spend another's.
	Recipient int
	ExpiresAt time.Time
	UsedAt    *time.Time
	// LegacyID is the lockdown_tokens row of a stored token (uuid.Nil for
	// a derived one).
	LegacyID uuid.UUID
}

// encodeToken returns the link token for t, signed with h's first secret.
func encodeToken(h secret.Hasher, t *Token) (string, bool) {
	typ := -1
	for i, et := range linkEvents {
		if et == t.EventType {
			typ = i
		}
	}
	if typ < 0 || t.Recipient < 0 || t.Recipient > maxRecipient {
		return "", false
	}
	raw := make([]byte, 0, payloadLength+macLength)
	raw = append(raw, linkVersion)
	raw = append(raw, t.IdentityID[:]...)
	raw = append(raw, t.EventID[:]...)
	raw = append(raw, byte(typ), byte(t.Recipient))
	raw = binary.BigEndian.AppendUint64(raw, uint64(t.EventTime.UnixMilli()))
	raw = binary.BigEndian.AppendUint64(raw, uint64(t.ExpiresAt.UnixMilli()))
	raw = append(raw, h.Sign(signed(raw))[:macLength]...)
	digits := new(big.Int).SetBytes(raw).Text(62)
	return strings.Repeat("0", linkTokenLength-len(digits)) + digits, true
}

// signed is what the MAC of payload is computed over.
func signed(payload []byte) []byte {
	return append(append(make([]byte, 0, len(macContext)+len(payload)), macContext...), payload...)
}

// decodeToken returns the token value stands for, if it is a derived
// token whose MAC one of h's secrets made. The expiry and the use are the
// caller's to check.
func decodeToken(h secret.Hasher, value string) (*Token, bool) {
	if len(value) != linkTokenLength || !alphanumeric(value) {
		return nil, false
	}
	n, ok := new(big.Int).SetString(value, 62)
	if !ok || n.BitLen() > 8*(payloadLength+macLength) {
		return nil, false
	}
	raw := n.FillBytes(make([]byte, payloadLength+macLength))
	payload, mac := raw[:payloadLength], raw[payloadLength:]
	if payload[0] != linkVersion || !h.VerifyTruncated(signed(payload), mac) {
		return nil, false
	}
	typ := int(payload[33])
	if typ >= len(linkEvents) {
		return nil, false
	}
	t := &Token{
		EventType: linkEvents[typ],
		Recipient: int(payload[34]),
		EventTime: time.UnixMilli(int64(binary.BigEndian.Uint64(payload[35:43]))).UTC(),
		ExpiresAt: time.UnixMilli(int64(binary.BigEndian.Uint64(payload[43:51]))).UTC(),
	}
	copy(t.IdentityID[:], payload[1:17])
	copy(t.EventID[:], payload[17:33])
	return t, true
}

// alphanumeric rejects what cannot be a token before any decoding or
// lookup.
func alphanumeric(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// Store keeps what lockdown links need at rest; every method joins the
// transaction ctx carries. sqlstore.LockdownStore implements it.
type Store interface {
	// LinkUsedAt says when the link of (eventID, recipient) was used, or
	// nil if it was not; storeerr.ErrNotFound when identityID names no
	// identity (a link outlives the identity it was mailed about).
	LinkUsedAt(ctx context.Context, identityID, eventID uuid.UUID, recipient int) (*time.Time, error)
	// UseLink spends the link of (eventID, recipient), kept until
	// expiresAt; false means it was spent already (another request used
	// it first).
	UseLink(ctx context.Context, eventID uuid.UUID, recipient int, at, expiresAt time.Time) (bool, error)

	// LegacyTokenByHash finds the stored token whose hash is any of hashes
	// (one per secrets.default key), or storeerr.ErrNotFound.
	LegacyTokenByHash(ctx context.Context, hashes []string) (*Token, error)
	// UseLegacyToken marks a stored token used unless it already was;
	// false means another request used it first.
	UseLegacyToken(ctx context.Context, id uuid.UUID, at time.Time) (bool, error)
}

// RecoverySecrets spends what could still recover the account
// (sqlstore.RecoveryStore).
type RecoverySecrets interface {
	// InvalidateIdentitySecrets marks every unused, unexpired recovery
	// code and link token of the identity used, and returns how many.
	InvalidateIdentitySecrets(ctx context.Context, identityID uuid.UUID, at time.Time) (int, error)
}
