package dynamo_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/edgeserverlessbox/esb/internal/dynamo"
)

// The GetItem and PutItem benchmarks run against a baseline in the same run:
// the same SDK client calling a trivial HTTP handler that answers a canned
// GetItem response. Their ratio is esb's cost over the bare HTTP + SDK floor.
//
//	go test -run XXX -bench . ./internal/dynamo/

func BenchmarkBaselineHTTP(b *testing.B) {
	body := []byte(`{"Item":{"pk":{"S":"k1"},"payload":{"S":"` + strings.Repeat("p", 160) + `"}}}`)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		_, _ = w.Write(body)
	}))
	defer ts.Close()
	c := newClient(ts.URL, "AKID", "secret", "us-east-1")
	in := &dynamodb.GetItemInput{TableName: aws.String("bench"), Key: item{"pk": s("k1")}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.GetItem(bg, in); err != nil {
			b.Fatal(err)
		}
	}
}

func benchTarget(b *testing.B, noSync bool) (*dynamodb.Client, string) {
	srv := startServer(b, dynamo.Config{NoSync: noSync})
	c := newClient(srv.URL(), "AKID", "secret", "us-east-1")
	tg := &target{url: srv.URL(), client: c, srv: srv}
	name := tg.hashTable(b)
	for i := 0; i < 1000; i++ {
		if _, err := c.PutItem(bg, &dynamodb.PutItemInput{TableName: &name, Item: item{"pk": s("k" + strconv.Itoa(i)), "payload": s(strings.Repeat("p", 160))}}); err != nil {
			b.Fatal(err)
		}
	}
	return c, name
}

func BenchmarkGetItem(b *testing.B) {
	c, name := benchTarget(b, true)
	in := &dynamodb.GetItemInput{TableName: &name, Key: item{"pk": s("k1")}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out, err := c.GetItem(bg, in)
		if err != nil || out.Item == nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGetItemParallel(b *testing.B) {
	c, name := benchTarget(b, true)
	in := &dynamodb.GetItemInput{TableName: &name, Key: item{"pk": s("k1")}}
	b.ReportAllocs()
	b.ResetTimer()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.GetItem(bg, in); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkPutItemDurable measures PutItem with fsync per commit, 16 writers
// sharing commits.
func BenchmarkPutItemDurable(b *testing.B) {
	c, name := benchTarget(b, false)
	payload := strings.Repeat("p", 160)
	b.ReportAllocs()
	b.ResetTimer()
	b.SetParallelism(16)
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			k := "w" + strconv.FormatInt(n.Add(1), 10)
			if _, err := c.PutItem(bg, &dynamodb.PutItemInput{TableName: &name, Item: item{"pk": s(k), "payload": s(payload)}}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// Raw benchmarks use a minimal JSON-over-HTTP client so the server's own cost
// shows: BenchmarkRawBaseline is a trivial handler, BenchmarkRawGetItem esb.
func rawPost(b *testing.B, hc *http.Client, url, target string, body []byte) {
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+target)
	resp, err := hc.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("status %d", resp.StatusCode)
	}
}

func BenchmarkRawBaseline(b *testing.B) {
	resp := []byte(`{"Item":{"pk":{"S":"k1"},"payload":{"S":"` + strings.Repeat("p", 160) + `"}}}`)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		_, _ = w.Write(resp)
	}))
	defer ts.Close()
	body := []byte(`{"TableName":"bench","Key":{"pk":{"S":"k1"}}}`)
	hc := &http.Client{}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rawPost(b, hc, ts.URL, "GetItem", body)
	}
}

func BenchmarkRawGetItem(b *testing.B) {
	srv := startServer(b, dynamo.Config{NoSync: true})
	c := newClient(srv.URL(), "AKID", "secret", "us-east-1")
	tg := &target{url: srv.URL(), client: c, srv: srv}
	name := tg.hashTable(b)
	if _, err := c.PutItem(bg, &dynamodb.PutItemInput{TableName: &name, Item: item{"pk": s("k1"), "payload": s(strings.Repeat("p", 160))}}); err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"TableName":"` + name + `","Key":{"pk":{"S":"k1"}}}`)
	hc := &http.Client{}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rawPost(b, hc, srv.URL(), "GetItem", body)
	}
}
