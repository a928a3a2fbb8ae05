package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// requestTimeout bounds one request of a worker.
const requestTimeout = 30 * time.Second

// workerKey carries a worker's connections in the context its operations
// get (see Run).
type workerKey struct{}

// workerConns are one worker's keep-alive connections, one per host. A
// worker sends one request at a time, as a browser tab or an app server
// does; it writes the request and reads the answer itself, without the
// goroutines of http.Transport, so the driver takes as little of the
// machine it shares with the server as it can.
type workerConns struct {
	m map[string]*rawConn
}

type rawConn struct {
	c  net.Conn
	br *bufio.Reader
	bw *bufio.Writer
}

func newWorkerConns() *workerConns { return &workerConns{m: map[string]*rawConn{}} }

// roundTrip sends req on the worker's connection to its host (dialled on
// first use) and reads the answer's head; the caller reads and closes the
// body before the next request. A connection the server closed while it
// was idle is replaced once.
func (w *workerConns) roundTrip(ctx context.Context, req *http.Request) (*http.Response, error) {
	host := req.URL.Host
	for attempt := 0; ; attempt++ {
		rc, reused := w.m[host]
		if !reused {
			c, err := (&net.Dialer{}).DialContext(ctx, "tcp", host)
			if err != nil {
				return nil, err
			}
			rc = &rawConn{c: c, br: bufio.NewReaderSize(c, 16<<10), bw: bufio.NewWriterSize(c, 4<<10)}
			w.m[host] = rc
		}
		deadline := time.Now().Add(requestTimeout)
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		_ = rc.c.SetDeadline(deadline)
		resp, err := rc.send(req)
		if err == nil {
			if resp.Close {
				delete(w.m, host)
				resp.Body = closingBody{resp.Body, rc.c}
			}
			return resp, nil
		}
		_ = rc.c.Close()
		delete(w.m, host)
		if !reused || attempt > 0 || ctx.Err() != nil || req.GetBody == nil && req.Body != nil {
			return nil, err
		}
		if req.GetBody != nil {
			if req.Body, err = req.GetBody(); err != nil {
				return nil, err
			}
		}
	}
}

func (rc *rawConn) send(req *http.Request) (*http.Response, error) {
	if err := req.Write(rc.bw); err != nil {
		return nil, err
	}
	if err := rc.bw.Flush(); err != nil {
		return nil, err
	}
	return http.ReadResponse(rc.br, req)
}

// close closes every connection.
func (w *workerConns) close() {
	for host, rc := range w.m {
		_ = rc.c.Close()
		delete(w.m, host)
	}
}

// closingBody closes the connection with the body of its last answer.
type closingBody struct {
	io.ReadCloser
	c net.Conn
}

func (b closingBody) Close() error {
	err := b.ReadCloser.Close()
	_ = b.c.Close()
	return err
}

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
	var resp *http.Response
	if wc, ok := ctx.Value(workerKey{}).(*workerConns); ok {
		resp, err = wc.roundTrip(ctx, req)
	} else {
		resp, err = e.Client.Do(req)
	}
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
