package sqlstore

import (
	"context"
	"strings"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/identity"
)

// A transaction keeps the identities it read, so that the second reader
// of one identity in a request (a flow, then the audit observers that
// mail about it) costs no statements: on SQLite every statement of a
// transaction runs while all other writers wait. The first statement of
// the transaction that writes an identity table forgets them all.

type identityKey struct {
	id              uuid.UUID
	withCredentials bool
}

// cachedIdentity returns a copy of the identity the context's
// transaction read already, if any. A read with credentials also answers
// a read without.
func cachedIdentity(ctx context.Context, id uuid.UUID, withCredentials bool) *identity.Identity {
	st, ok := ctx.Value(txKey{}).(*txState)
	if !ok {
		return nil
	}
	if i, ok := st.identities[identityKey{id, withCredentials}]; ok {
		return i.Clone()
	}
	if i, ok := st.identities[identityKey{id, true}]; ok && !withCredentials {
		c := i.Clone()
		c.Credentials = nil
		return c
	}
	return nil
}

// cachedAddress returns the verifiable address the context's transaction
// read already with its identity, if any (found only when spelled as
// stored: the database may compare addresses case-insensitively).
func cachedAddress(ctx context.Context, identityID uuid.UUID, via, value string) (identity.VerifiableAddress, bool) {
	if i := cachedIdentity(ctx, identityID, false); i != nil {
		for _, a := range i.VerifiableAddresses {
			if a.Via == via && a.Value == value {
				return a, true
			}
		}
	}
	return identity.VerifiableAddress{}, false
}

// keepIdentity remembers a copy of i in the context's transaction.
func keepIdentity(ctx context.Context, i *identity.Identity, withCredentials bool) {
	st, ok := ctx.Value(txKey{}).(*txState)
	if !ok {
		return
	}
	if st.identities == nil {
		st.identities = map[identityKey]*identity.Identity{}
	}
	st.identities[identityKey{i.ID, withCredentials}] = i.Clone()
}

// sawStatement forgets the kept identities when q may change one: it
// writes a table whose name starts with "identit" (identities and every
// table of an identity's parts), or is not a plain SELECT, INSERT,
// UPDATE or DELETE whose table can be told.
func (st *txState) sawStatement(q string) {
	if len(st.identities) == 0 {
		return
	}
	q = strings.TrimSpace(q)
	verb, rest, _ := strings.Cut(q, " ")
	var table string
	switch strings.ToUpper(verb) {
	case "SELECT":
		return
	case "INSERT", "DELETE":
		_, rest, _ = strings.Cut(rest, " ") // INTO, FROM
		table, _, _ = strings.Cut(strings.TrimSpace(rest), " ")
	case "UPDATE":
		table, _, _ = strings.Cut(strings.TrimSpace(rest), " ")
	}
	if table != "" && !strings.HasPrefix(strings.ToLower(table), "identit") {
		return
	}
	st.identities = nil
}
