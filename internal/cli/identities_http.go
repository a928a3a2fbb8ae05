package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/httpx"
)

// adminAPI runs the identities commands against a server's admin API
// (Latchkey's or Kratos's) with plain net/http.
type adminAPI struct {
	base   string
	client *http.Client
}

// adminAPITimeout bounds one request: a create hashes a plain password,
// which takes well under a second with any sane hasher setting.
const adminAPITimeout = 60 * time.Second

func newAdminAPI(endpoint string) (*adminAPI, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("the admin API endpoint must be an http(s) URL such as http://127.0.0.1:4434, got %q", u.Redacted())
	}
	return &adminAPI{base: u.String(), client: &http.Client{Timeout: adminAPITimeout}}, nil
}

func (a *adminAPI) close() error { return nil }

func (a *adminAPI) create(ctx context.Context, body json.RawMessage) (json.RawMessage, error) {
	return a.do(ctx, http.MethodPost, "/admin/identities", body, http.StatusCreated)
}

func (a *adminAPI) get(ctx context.Context, id string, include []string) (json.RawMessage, error) {
	path := identityPath(id)
	if len(include) > 0 {
		path += "?" + url.Values{"include_credential": include}.Encode()
	}
	return a.do(ctx, http.MethodGet, path, nil, http.StatusOK)
}

func (a *adminAPI) delete(ctx context.Context, id string) error {
	_, err := a.do(ctx, http.MethodDelete, identityPath(id), nil, http.StatusNoContent)
	return err
}

func (a *adminAPI) patch(ctx context.Context, id string, jsonPatch json.RawMessage) (json.RawMessage, error) {
	return a.do(ctx, http.MethodPatch, identityPath(id), jsonPatch, http.StatusOK)
}

func (a *adminAPI) list(ctx context.Context, pageSize int, pageToken string) ([]json.RawMessage, string, error) {
	q := url.Values{"page_size": {strconv.Itoa(pageSize)}}
	if pageToken != "" {
		q.Set("page_token", pageToken)
	}
	var page []json.RawMessage
	next, err := a.getPage(ctx, "/admin/identities", q, &page)
	return page, next, err
}

// getPage reads one page of an admin list into page and returns the
// next page's token from the Link header ("" on the last page).
func (a *adminAPI) getPage(ctx context.Context, path string, q url.Values, page any) (string, error) {
	req, err := a.request(ctx, http.MethodGet, path+"?"+q.Encode(), nil)
	if err != nil {
		return "", err
	}
	res, body, err := a.send(req, http.StatusOK)
	if err != nil {
		return "", err
	}
	if err := json.Unmarshal(body, page); err != nil {
		return "", fmt.Errorf("the admin API answered a list that is not a JSON array: %w", err)
	}
	return nextPageToken(res.Header.Get("Link")), nil
}

// do sends one request and returns the body of the expected answer.
func (a *adminAPI) do(ctx context.Context, method, path string, body json.RawMessage, want int) (json.RawMessage, error) {
	req, err := a.request(ctx, method, path, body)
	if err != nil {
		return nil, err
	}
	_, b, err := a.send(req, want)
	return b, err
}

func (a *adminAPI) request(ctx context.Context, method, path string, body json.RawMessage) (*http.Request, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, adminURL(a.base, path), r)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// send runs req; any status but want is an error, the API's own when the
// body is Kratos's error envelope.
func (a *adminAPI) send(req *http.Request, want int) (*http.Response, []byte, error) {
	res, err := a.client.Do(req)
	if err != nil {
		return nil, nil, err // net/http leaves any password out of the URL it names
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("read the admin API's answer: %w", err)
	}
	if res.StatusCode == want {
		return res, b, nil
	}
	var envelope struct {
		Error *httpx.Body `json:"error"`
	}
	if json.Unmarshal(b, &envelope) == nil && envelope.Error != nil && envelope.Error.Code != 0 {
		e := envelope.Error
		return nil, nil, &httpx.Error{ID: e.ID, Code: e.Code, Reason: e.Reason, Details: e.Details, Message: e.Message}
	}
	return nil, nil, fmt.Errorf("%s %s: the admin API answered %s", req.Method, req.URL.Path, res.Status)
}

// identityPath is the admin API path of one identity.
func identityPath(id string) string { return "/admin/identities/" + url.PathEscape(id) }

// nextPageToken reads the page_token of the rel="next" link of a Link
// header; "" on the last page.
func nextPageToken(link string) string {
	for _, part := range strings.Split(link, ",") {
		target, params, _ := strings.Cut(part, ";")
		if !strings.Contains(params, `rel="next"`) {
			continue
		}
		u, err := url.Parse(strings.Trim(strings.TrimSpace(target), "<>"))
		if err != nil {
			return ""
		}
		return u.Query().Get("page_token")
	}
	return ""
}

// adminURL joins the admin API's base URL and a path ("/admin/identities").
func adminURL(base, path string) string { return strings.TrimRight(base, "/") + path }
