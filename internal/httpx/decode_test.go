package httpx

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestDecodeJSONStrictLimit(t *testing.T) {
	// A body of 1 MiB plus a little: over the default, under a raised limit.
	big := `{"a":"` + strings.Repeat("x", MaxBodyBytes) + `"}`
	request := func() *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(big))
		r.Header.Set("Content-Type", "application/json")
		return r
	}
	var v struct{ A string }

	t.Run("DefaultLimitRefusesWith413", func(t *testing.T) {
		err := DecodeJSONStrict(request(), &v)
		if !errors.Is(err, ErrBodyTooLarge) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("RaisedLimitAccepts", func(t *testing.T) {
		if err := DecodeJSONStrictLimit(request(), &v, 2<<20); err != nil || len(v.A) != MaxBodyBytes {
			t.Fatalf("err %v, %d bytes", err, len(v.A))
		}
	})
	t.Run("RaisedLimitNamesItsSize", func(t *testing.T) {
		err := DecodeJSONStrictLimit(request(), &v, 1<<20+4)
		if e := AsError(err); e.Code != http.StatusRequestEntityTooLarge || !strings.Contains(e.Reason, "1 MiB") {
			t.Fatalf("got %v", err)
		}
		if err := DecodeJSONStrictLimit(httptest.NewRequest(http.MethodPost, "/", strings.NewReader(big+big)), &v, 2<<20); AsError(err).Reason != "The request body exceeds the maximum size of 2 MiB." {
			t.Fatalf("got %v", err)
		}
	})
}

func TestUnmarshalStrict(t *testing.T) {
	var v struct{ A string }
	for _, c := range []struct{ body, reason string }{
		{``, "Unable to decode JSON payload: the request body is empty."},
		{`{"a":"x","b":1}`, `Unable to decode JSON payload: json: unknown field "b"`},
		{`{"a":"x"} {}`, "Unable to decode JSON payload: unexpected data after the JSON value."},
	} {
		if e := AsError(UnmarshalStrict([]byte(c.body), &v)); e.Code != http.StatusBadRequest || e.Reason != c.reason {
			t.Errorf("%q: got %d %q, want 400 %q", c.body, e.Code, e.Reason, c.reason)
		}
	}
	if err := UnmarshalStrict([]byte(` {"a":"x"} `), &v); err != nil || v.A != "x" {
		t.Fatalf("err %v, v %+v", err, v)
	}
}
