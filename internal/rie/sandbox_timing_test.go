package rie

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkSandboxInvoke measures esb-rie's own work per invoke, in one
// process: an HTTP invoke through the invoke endpoint, the event handed to
// an in-process runtime over the Runtime API (loopback HTTP, keep-alive),
// its response back to the caller, START/END/REPORT formatted. The
// baseline is the same client against a plain loopback echo handler.
func BenchmarkSandboxInvoke(b *testing.B) {
	payload := []byte(`{"path":"/orders/42","httpMethod":"GET","headers":{"accept":"application/json"},"body":null}`)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}}
	post := func(url string) {
		resp, err := client.Post(url, "application/json", bytes.NewReader(payload))
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || n != int64(len(payload)) {
			b.Fatalf("%s: %d", url, resp.StatusCode)
		}
	}

	b.Run("plain-echo", func(b *testing.B) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			w.Write(body)
		}))
		defer srv.Close()
		b.ReportAllocs()
		for b.Loop() {
			post(srv.URL)
		}
	})

	b.Run("esb-rie", func(b *testing.B) {
		cfg := &Config{FunctionName: "fn", FunctionVersion: "$LATEST", MemoryMB: 128, Region: "us-east-1",
			AccountID: "123456789012", Timeout: 10 * time.Second, InitTimeout: 10 * time.Second}
		sink := NewLogSink(io.Discard, LogText, cfg.FunctionName)
		sp := &fakeSpawner{scripts: []script{echoLoop}}
		s := newSandbox(cfg, sink, slog.New(slog.NewTextHandler(io.Discard, nil)), sp, newMemoryMeter(b.TempDir(), false), "provided")
		api := httptest.NewServer(&runtimeAPI{s: s})
		defer api.Close()
		sp.base = api.URL
		inv := httptest.NewServer(newInvokeAPI(s, cfg))
		defer inv.Close()
		defer s.stop(0)
		url := inv.URL + "/2015-03-31/functions/function/invocations"
		post(url)
		b.ReportAllocs()
		for b.Loop() {
			post(url)
		}
	})
}
