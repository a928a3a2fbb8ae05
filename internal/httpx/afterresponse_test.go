package httpx

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// Work registered with AfterResponse runs only once the client can read
// the whole answer.
func TestAfterResponseRunsOnceTheAnswerIsOut(t *testing.T) {
	var clientHasAnswer atomic.Bool
	ranAfterAnswer := make(chan bool, 1)
	srv := httptest.NewServer(WithAfterResponse(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok := AfterResponse(r.Context(), func() {
			// The client reads the answer while this waits; were the
			// answer still buffered, it could not.
			deadline := time.Now().Add(10 * time.Second)
			for !clientHasAnswer.Load() && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			ranAfterAnswer <- clientHasAnswer.Load()
		})
		if !ok {
			t.Error("AfterResponse refused inside WithAfterResponse")
		}
		_, _ = io.WriteString(w, "the answer")
	})))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(body) != "the answer" {
		t.Fatalf("body %q, %v", body, err)
	}
	clientHasAnswer.Store(true)
	if !<-ranAfterAnswer {
		t.Fatal("the work ran before the client had the answer")
	}
}

func TestAfterResponseOutsideARequest(t *testing.T) {
	if AfterResponse(context.Background(), func() { t.Error("ran") }) {
		t.Fatal("AfterResponse accepted work it will never run")
	}
}

// A response with no work waiting is left alone: net/http gives it its
// Content-Length, as without the middleware.
func TestAfterResponseLeavesOtherResponsesAlone(t *testing.T) {
	srv := httptest.NewServer(WithAfterResponse(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"id":"x"}`)
	})))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ContentLength != int64(len(`{"id":"x"}`)) || len(resp.TransferEncoding) != 0 {
		t.Fatalf("content length %d, transfer encoding %v", resp.ContentLength, resp.TransferEncoding)
	}
}
