package dynamo

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// The handler benchmarks call ServeHTTP directly with a reused request and a
// discarding response writer, so ns/op and allocs/op are the server's own
// request path (decode, engine, encode, headers) without HTTP parsing or a
// client. BenchmarkHandlerBaseline is the floor: a handler that only reads the
// body and writes a canned answer with the same headers.
//
//	go test -run XXX -bench Handler -benchmem ./internal/dynamo/

type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}

type benchReq struct {
	r    *http.Request
	body *bytes.Reader
	raw  []byte
}

func newBenchReq(target string, body []byte) *benchReq {
	br := &benchReq{body: bytes.NewReader(body), raw: body}
	r, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1/", nil)
	r.Header.Set("Content-Type", "application/x-amz-json-1.0")
	r.Header.Set("X-Amz-Target", targetPrefix+target)
	r.ContentLength = int64(len(body))
	br.r = r
	return br
}

func (br *benchReq) reset() *http.Request {
	br.body.Reset(br.raw)
	br.r.Body = io.NopCloser(br.body)
	return br.r
}

func benchServer(b *testing.B, noSync bool) *Server {
	b.Helper()
	s, err := NewServer(Config{DataDir: b.TempDir(), NoSync: noSync, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.db.Close() })
	w := &discardWriter{h: http.Header{}}
	s.ServeHTTP(w, newBenchReq("CreateTable", []byte(`{"TableName":"bench","BillingMode":"PAY_PER_REQUEST",
		"AttributeDefinitions":[{"AttributeName":"pk","AttributeType":"S"},{"AttributeName":"sk","AttributeType":"N"}],
		"KeySchema":[{"AttributeName":"pk","KeyType":"HASH"},{"AttributeName":"sk","KeyType":"RANGE"}]}`)).reset())
	if s.db.Table("bench") == nil {
		b.Fatal("CreateTable failed")
	}
	for i := 0; i < 100; i++ {
		s.ServeHTTP(w, newBenchReq("PutItem", putBody("k"+strconv.Itoa(i))).reset())
	}
	return s
}

func putBody(pk string) []byte {
	return []byte(`{"TableName":"bench","Item":{"pk":{"S":"` + pk + `"},"sk":{"N":"0"},"payload":{"S":"` + strings.Repeat("p", 160) + `"},"n":{"N":"42"}}}`)
}

func BenchmarkHandlerBaseline(b *testing.B) {
	resp := []byte(`{"Item":{"pk":{"S":"k1"},"sk":{"N":"0"},"payload":{"S":"` + strings.Repeat("p", 160) + `"},"n":{"N":"42"}}}`)
	s := &Server{}
	s.bufs.New = func() any { b := make([]byte, 0, 4096); return &b }
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bp := s.bufs.Get().(*[]byte)
		body, _ := readBody(r, (*bp)[:0])
		*bp = body
		s.bufs.Put(bp)
		writeJSON(w, http.StatusOK, resp)
	})
	br := newBenchReq("GetItem", []byte(`{"TableName":"bench","Key":{"pk":{"S":"k1"},"sk":{"N":"0"}}}`))
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, br.reset())
	}
}

func BenchmarkHandlerGetItem(b *testing.B) {
	s := benchServer(b, true)
	br := newBenchReq("GetItem", []byte(`{"TableName":"bench","Key":{"pk":{"S":"k1"},"sk":{"N":"0"}}}`))
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		s.ServeHTTP(w, br.reset())
	}
}

func BenchmarkHandlerPutItem(b *testing.B) {
	s := benchServer(b, true)
	br := newBenchReq("PutItem", putBody("k1"))
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		s.ServeHTTP(w, br.reset())
	}
}

func BenchmarkHandlerQuery(b *testing.B) {
	s := benchServer(b, true)
	br := newBenchReq("Query", []byte(`{"TableName":"bench","KeyConditionExpression":"pk = :p","ExpressionAttributeValues":{":p":{"S":"k1"}}}`))
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		s.ServeHTTP(w, br.reset())
	}
}
