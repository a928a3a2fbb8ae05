package identity

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/httpx"
)

// Handler serves the admin identity API.
type Handler struct {
	Service *Service
	// PublicBaseURL is PUB (serve.public.base_url); schema_url points there.
	PublicBaseURL string
	// AdminBaseURL is ADM (serve.admin.base_url); Location headers point there.
	AdminBaseURL string
	// Sealer opens second-factor configs for ?include_credential= (the
	// server's secrets.cipher).
	Sealer Sealer
}

// Register mounts the routes on mux, both under /admin and bare (Kratos
// answers both on the admin port).
func (h *Handler) Register(mux *http.ServeMux) {
	for _, prefix := range []string{"/admin", ""} {
		mux.HandleFunc("POST "+prefix+"/identities", h.create)
		mux.HandleFunc("GET "+prefix+"/identities", h.list)
		mux.HandleFunc("PATCH "+prefix+"/identities", h.batchPatch)
		mux.HandleFunc("GET "+prefix+"/identities/{id}", h.get)
		mux.HandleFunc("PUT "+prefix+"/identities/{id}", h.update)
		mux.HandleFunc("PATCH "+prefix+"/identities/{id}", h.patch)
		mux.HandleFunc("DELETE "+prefix+"/identities/{id}", h.delete)
		mux.HandleFunc("DELETE "+prefix+"/identities/{id}/credentials/{type}", h.deleteCredential)
	}
}

// create: POST /admin/identities → 201 + Location, admin view.
func (h *Handler) create(w http.ResponseWriter, r *http.Request) {
	var in CreateInput
	if err := httpx.DecodeJSONStrict(r, &in); err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	i, err := h.Service.Create(r.Context(), in)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	// Kratos answers zero credential times here (0001-01-01) and the real
	// ones on a later GET; the times answered are the ones stored.
	w.Header().Set("Location", strings.TrimRight(h.AdminBaseURL, "/")+"/identities/"+i.ID.String())
	httpx.WriteJSON(w, http.StatusCreated, i.JSON(AdminView, SchemaURL(h.PublicBaseURL, i.SchemaID)))
}

// list: GET /admin/identities with keyset pagination and a Link header.
func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	include, err := ParseIncludeCredential(q["include_credential"], true)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	p := ListParams{
		PageToken:             q.Get("page_token"),
		CredentialsIdentifier: q.Get("credentials_identifier"),
		IncludeCredentials:    len(q["include_credential"]) > 0,
	}
	sizeParam := q.Get("page_size")
	if sizeParam == "" {
		sizeParam = q.Get("per_page") // deprecated name
	}
	if sizeParam != "" {
		n, err := strconv.Atoi(sizeParam)
		if err != nil || n < 1 {
			httpx.WriteError(w, r, badRequest("page_size must be a positive integer, got %q", sizeParam))
			return
		}
		p.PageSize = n
	}
	if ids := q["ids"]; len(ids) > 0 {
		p.IDs = make([]uuid.UUID, 0, len(ids))
		for _, s := range ids {
			id, err := uuid.Parse(s)
			if err != nil {
				continue // Kratos ignores ids that match nothing
			}
			p.IDs = append(p.IDs, id)
		}
	}
	list, next, err := h.Service.List(r.Context(), p)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	out := make([]any, len(list))
	for n, i := range list {
		if out[n], err = i.AdminJSON(h.Sealer, include, h.PublicBaseURL); err != nil {
			httpx.WriteError(w, r, err)
			return
		}
	}
	if p.IDs == nil {
		w.Header().Set("Link", httpx.PageLinks(r, DefaultPageSize, next))
	}
	httpx.NoCache(w)
	httpx.WriteJSON(w, http.StatusOK, out)
}

// get: GET /admin/identities/{id}[?include_credential=password|totp|lookup_secret…]:
// the configs of the named types, second factors opened into Kratos's shape.
func (h *Handler) get(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	i, err := h.Service.Get(r.Context(), id)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	include, err := ParseIncludeCredential(r.URL.Query()["include_credential"], false)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	shown, err := i.AdminJSON(h.Sealer, include, h.PublicBaseURL)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	httpx.NoCache(w)
	httpx.WriteJSON(w, http.StatusOK, shown)
}

// deleteCredential: DELETE /admin/identities/{id}/credentials/{type} → 204
// (Service.RemoveCredential has the rules).
func (h *Handler) deleteCredential(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	if err := h.Service.RemoveCredential(r.Context(), id, CredentialType(r.PathValue("type")), r.URL.Query().Get("identifier")); err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// update: PUT /admin/identities/{id} (full update).
func (h *Handler) update(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var in UpdateInput
	if err := httpx.DecodeJSONStrict(r, &in); err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	i, err := h.Service.Replace(r.Context(), id, in)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, i.JSON(AdminView, SchemaURL(h.PublicBaseURL, i.SchemaID)))
}

// patch: PATCH /admin/identities/{id} with an RFC 6902 JSON Patch.
func (h *Handler) patch(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var ops []PatchOperation
	if err := httpx.DecodeJSONStrict(r, &ops); err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	i, err := h.Service.Patch(r.Context(), id, ops)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, i.JSON(AdminView, SchemaURL(h.PublicBaseURL, i.SchemaID)))
}

// delete: DELETE /admin/identities/{id} → 204.
func (h *Handler) delete(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	if err := h.Service.Delete(r.Context(), id); err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// pathID parses {id}; a malformed id is answered with 400.
func pathID(w http.ResponseWriter, r *http.Request) (uuid.UUID, bool) {
	id, err := ParseID(r.PathValue("id"))
	if err != nil {
		httpx.WriteError(w, r, err)
		return uuid.Nil, false
	}
	return id, true
}

// ParseID reads an identity id; one that is not a UUID is a 400.
func ParseID(s string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.Nil, badRequest("The identity id %q is not a valid UUID.", s)
	}
	return id, nil
}

// SchemaHandler serves the public identity schema endpoints.
type SchemaHandler struct {
	Schemas *Schemas
}

// Register mounts GET /schemas and GET /schemas/{id} on mux.
func (h *SchemaHandler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /schemas", h.list)
	mux.HandleFunc("GET /schemas/{id}", h.get)
}

// schemaContainer is one element of GET /schemas.
type schemaContainer struct {
	ID     string          `json:"id"`
	Schema json.RawMessage `json:"schema"`
}

func (h *SchemaHandler) list(w http.ResponseWriter, r *http.Request) {
	all := h.Schemas.List()
	out := make([]schemaContainer, len(all))
	for n, s := range all {
		out[n] = schemaContainer{ID: s.ID, Schema: s.Raw}
	}
	httpx.NoCache(w)
	httpx.WriteJSON(w, http.StatusOK, out)
}

func (h *SchemaHandler) get(w http.ResponseWriter, r *http.Request) {
	s, err := h.Schemas.Lookup(r.PathValue("id"))
	if err != nil {
		httpx.WriteError(w, r, httpx.ErrNotFound("The requested identity schema does not exist."))
		return
	}
	httpx.NoCache(w)
	httpx.WriteJSON(w, http.StatusOK, s.Raw)
}
