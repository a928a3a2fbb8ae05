package session

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/storeerr"
)

// RegisterAdmin registers the admin-port routes under /admin (the server
// also mounts the admin mux without the prefix, as Kratos accepts both).
func (h *Handler) RegisterAdmin(mux *http.ServeMux) {
	mux.HandleFunc("GET /admin/sessions", h.adminList)
	mux.HandleFunc("GET /admin/sessions/{id}", h.adminGet)
	mux.HandleFunc("DELETE /admin/sessions/{id}", h.adminDisable)
	mux.HandleFunc("PATCH /admin/sessions/{id}/extend", h.adminExtend)
	mux.HandleFunc("GET /admin/identities/{id}/sessions", h.adminListIdentity)
	mux.HandleFunc("DELETE /admin/identities/{id}/sessions", h.adminDeleteIdentity)
}

var (
	errActiveParam    = httpx.ErrBadRequest("").WithMessage("could not parse parameter active")
	errPageSizeParam  = httpx.ErrBadRequest("").WithMessage("could not parse parameter page_size")
	errPageTokenParam = httpx.ErrBadRequest("").WithMessage("could not parse parameter page_token")
)

// adminList handles GET /admin/sessions: every session, newest first,
// keyset-paginated.
func (h *Handler) adminList(w http.ResponseWriter, r *http.Request) {
	httpx.NoCache(w)
	m := h.Manager
	q := r.URL.Query()
	active, err := parseActive(q)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	size := defaultPageSize
	if v := q.Get("page_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			httpx.WriteError(w, r, errPageSizeParam)
			return
		}
		size = min(n, maxPageSize)
	}
	var after *Cursor
	if v := q.Get("page_token"); v != "" {
		c, ok := decodeCursor(v)
		if !ok {
			httpx.WriteError(w, r, errPageTokenParam)
			return
		}
		after = c
	}
	opts, err := parseExpand(q)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	now := m.now()
	// One more than a page tells whether there is a next page.
	list, err := m.Store.ListSessions(r.Context(), ListQuery{Active: active, Now: now, After: after, Limit: size + 1})
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	links := []string{keysetLink(r.URL, "first", size, "")}
	if len(list) > size {
		list = list[:size]
		last := list[size-1]
		links = append(links, keysetLink(r.URL, "next", size, encodeCursor(Cursor{CreatedAt: last.CreatedAt, ID: last.ID})))
	}
	w.Header().Set("Link", strings.Join(links, ","))
	if opts.identity != noIdentity {
		if err := h.loadIdentities(r.Context(), list); err != nil {
			httpx.WriteError(w, r, err)
			return
		}
	}
	out := make([]sessionJSON, len(list))
	for i, s := range list {
		out[i] = m.render(s, opts, now)
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

// adminGet handles GET /admin/sessions/{id}.
func (h *Handler) adminGet(w http.ResponseWriter, r *http.Request) {
	httpx.NoCache(w)
	id, err := pathUUID(r, "id")
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	opts, err := parseExpand(r.URL.Query())
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	s, err := h.Manager.Get(r.Context(), id)
	if err != nil {
		writeStoreError(w, r, err)
		return
	}
	h.writeAdminSession(w, r, s, opts)
}

// adminDisable handles DELETE /admin/sessions/{id}: deactivate, keep the row.
func (h *Handler) adminDisable(w http.ResponseWriter, r *http.Request) {
	id, err := pathUUID(r, "id")
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	if err := h.Manager.Revoke(r.Context(), id); err != nil {
		writeStoreError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// adminExtend handles PATCH /admin/sessions/{id}/extend.
func (h *Handler) adminExtend(w http.ResponseWriter, r *http.Request) {
	id, err := pathUUID(r, "id")
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	s, err := h.Manager.Extend(r.Context(), id)
	if err != nil {
		writeStoreError(w, r, err)
		return
	}
	h.writeAdminSession(w, r, s, everything)
}

// writeAdminSession answers with one session as opts render it, its
// identity loaded when opts show it.
func (h *Handler) writeAdminSession(w http.ResponseWriter, r *http.Request, s *Session, opts renderOptions) {
	if opts.identity != noIdentity {
		if err := h.loadIdentities(r.Context(), []*Session{s}); err != nil {
			httpx.WriteError(w, r, err)
			return
		}
	}
	httpx.WriteJSON(w, http.StatusOK, h.Manager.render(s, opts, h.Manager.now()))
}

// adminListIdentity handles GET /admin/identities/{id}/sessions: the
// identity's sessions with the reduced identity and devices.
func (h *Handler) adminListIdentity(w http.ResponseWriter, r *http.Request) {
	httpx.NoCache(w)
	m := h.Manager
	id, err := pathUUID(r, "id")
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	q := r.URL.Query()
	active, err := parseActive(q)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	p := parseOffsetPage(q)
	now := m.now()
	list, total, err := m.Store.ListIdentitySessions(r.Context(), IdentityQuery{
		IdentityID: id, Active: active, Now: now, Offset: p.offset, Limit: p.size,
	})
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	if err := h.loadIdentities(r.Context(), list); err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	out := make([]sessionJSON, len(list))
	for i, s := range list {
		out[i] = m.render(s, renderOptions{identity: reducedIdentity, devices: true}, now)
	}
	p.header(w, r.URL, total)
	httpx.WriteJSON(w, http.StatusOK, out)
}

// adminDeleteIdentity handles DELETE /admin/identities/{id}/sessions:
// deletes (not just revokes) the identity's sessions; 404 when it had none.
func (h *Handler) adminDeleteIdentity(w http.ResponseWriter, r *http.Request) {
	id, err := pathUUID(r, "id")
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	n, err := h.Manager.DeleteAll(r.Context(), id)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	if n == 0 {
		httpx.WriteError(w, r, errNotFound)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// loadIdentities attaches each session's identity, loading each identity
// once. A session whose identity vanished keeps a nil Identity.
func (h *Handler) loadIdentities(ctx context.Context, list []*Session) error {
	seen := make(map[uuid.UUID]*identity.Identity)
	for _, s := range list {
		ident, ok := seen[s.IdentityID]
		if !ok {
			var err error
			ident, err = h.Manager.Identities.Get(ctx, s.IdentityID)
			if err != nil && !errors.Is(err, storeerr.ErrNotFound) {
				return err
			}
			seen[s.IdentityID] = ident
		}
		s.Identity = ident
	}
	return nil
}

// parseActive reads ?active=true|false (absent: nil).
func parseActive(q url.Values) (*bool, error) {
	v := q.Get("active")
	if v == "" {
		return nil, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return nil, errActiveParam
	}
	return &b, nil
}

// parseExpand reads ?expand=identity&expand=devices (case-insensitive, as
// Kratos's own example spells them "Identity" and "Devices").
func parseExpand(q url.Values) (renderOptions, error) {
	var o renderOptions
	for _, e := range q["expand"] {
		switch strings.ToLower(e) {
		case "identity":
			o.identity = fullIdentity
		case "devices":
			o.devices = true
		default:
			return o, httpx.ErrBadRequest("Could not parse expand option: " + e)
		}
	}
	return o, nil
}
