package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// call sends a JSON request and decodes a JSON answer into out (if not nil).
// It returns the status; a status other than want is an error.
func (e *Env) call(ctx context.Context, method, url string, body any, want int, out any, header ...string) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := e.Client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == want && out == nil {
		// Nothing to decode: read the body without keeping it.
		_, err := io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, err
	}
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode != want {
		return resp.StatusCode, fmt.Errorf("%s %s: status %d, want %d: %.300s", method, url, resp.StatusCode, want, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: decode: %w", method, url, err)
		}
	}
	return resp.StatusCode, nil
}

// identityBody is the admin create-identity request.
func identityBody(email, password string) map[string]any {
	b := map[string]any{"schema_id": "default", "traits": map[string]any{"email": email}}
	if password != "" {
		b["credentials"] = map[string]any{"password": map[string]any{"config": map[string]any{"password": password}}}
	}
	return b
}

// createIdentity creates an identity through the admin API.
func (e *Env) createIdentity(ctx context.Context, email, password string) (string, error) {
	var out struct {
		ID string `json:"id"`
	}
	_, err := e.call(ctx, http.MethodPost, e.Admin+"/admin/identities", identityBody(email, password), http.StatusCreated, &out)
	return out.ID, err
}

// nativeLogin logs in through a native login flow and returns the token.
func (e *Env) nativeLogin(ctx context.Context, identifier, password string) (int, string, error) {
	var flow struct {
		ID string `json:"id"`
	}
	if status, err := e.call(ctx, http.MethodGet, e.Public+"/self-service/login/api", nil, http.StatusOK, &flow); err != nil {
		return status, "", err
	}
	var done struct {
		SessionToken string `json:"session_token"`
	}
	status, err := e.call(ctx, http.MethodPost, e.Public+"/self-service/login?flow="+flow.ID,
		map[string]any{"method": "password", "identifier": identifier, "password": password}, http.StatusOK, &done)
	return status, done.SessionToken, err
}
