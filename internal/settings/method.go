package settings

import (
	"context"

	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/httpx"
)

// Method is a settings method with a group of its own beyond password and
// profile: totp and lookup_secret (and, later, webauthn and passkey). Each
// lives in its own file of this package.
type Method interface {
	flow.Method
	// Nodes are the method's group on a new flow for f.Identity, for the
	// state the identity is in (enrol or unlink, say). Secret material it
	// offers is sealed into f.Pending; img and text nodes are stored
	// empty and filled in by Show.
	Nodes(ctx context.Context, f *Flow) ([]flow.Node, error)
	// Show fills in the method's img and text nodes (from f.Pending or
	// f.Identity) before f is answered.
	Show(f *Flow)
	// Update applies a submission whose method field names this method,
	// with the service's checks (checkOrigin, checkPrivileged, reject,
	// succeed) at hand.
	Update(ctx context.Context, s *Service, f *Flow, sub submission) (*flow.Result, error)
}

// claimer is a Method that also takes submissions without its method
// field, as Kratos's totp does for its unlink button (a submit input
// named totp_unlink, so a form sends no method).
type claimer interface {
	Claims(body *httpx.FormBody) bool
}

// claims reports whether submission body is for m.
func claims(m Method, body *httpx.FormBody) bool {
	if m.ID() == body.Get("method") {
		return true
	}
	c, ok := m.(claimer)
	return ok && body.Get("method") == "" && c.Claims(body)
}
