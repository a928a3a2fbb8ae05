package identity

import (
	"net/http"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/httpx"
)

// batchBodyLimit bounds the body of PATCH /admin/identities: MaxBatchSize
// identities of up to 16 KiB each (addresses, metadata, imported hashes),
// where every other body gets 1 MiB.
const batchBodyLimit = 16 << 20

// batchPatchBody is Kratos's patchIdentitiesBody.
type batchPatchBody struct {
	Identities []batchPatch `json:"identities"`
}

// batchPatch is Kratos's identityPatch: an identity to create (the body
// of POST /admin/identities) and an optional id echoed in its result.
type batchPatch struct {
	Create  *CreateInput `json:"create"`
	PatchID *uuid.UUID   `json:"patch_id"`
}

// batchPatchResult is Kratos's identityPatchResponse.
type batchPatchResult struct {
	Action   string      `json:"action"`
	Identity *uuid.UUID  `json:"identity,omitempty"`
	PatchID  *uuid.UUID  `json:"patch_id,omitempty"`
	Error    *httpx.Body `json:"error,omitempty"`
}

// batchPatch: PATCH /admin/identities, Kratos's batch import → 200 with
// one result per patch, in order: "create" with the new identity's id,
// or "error" with why that one failed. A patch without "create" gets
// null, as in Kratos. Errors that refuse the whole batch (limits, a bad
// state or password) answer as POST /admin/identities would.
func (h *Handler) batchPatch(w http.ResponseWriter, r *http.Request) {
	var in batchPatchBody
	if err := httpx.DecodeJSONStrictLimit(r, &in, batchBodyLimit); err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	bodies := make([]*CreateInput, len(in.Identities))
	for n, p := range in.Identities {
		bodies[n] = p.Create
	}
	results, err := h.Service.CreateBatch(r.Context(), bodies)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	out := make([]*batchPatchResult, len(results))
	for n, res := range results {
		if bodies[n] == nil {
			continue
		}
		item := &batchPatchResult{Action: "create", PatchID: in.Identities[n].PatchID}
		if res.Err != nil {
			body := res.Err.Body()
			item.Action, item.Error = "error", &body
		} else {
			item.Identity = &res.Identity.ID
		}
		out[n] = item
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"identities": out})
}
