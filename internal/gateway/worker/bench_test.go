package worker

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// benchBody is the function result of the benchmark's invokes.
const benchBody = `{"statusCode":200,"body":"{\"hello\":\"world\"}"}`

// benchReply is a typical esb-rie answer to a small invoke.
func benchReply() []byte {
	return []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Amzn-Requestid: 0e5b9d4e-0000-4000-8000-000000000000\r\n" +
		"X-Esb-Duration-Ms: 0.21\r\nDate: Thu, 27 Nov 2026 19:00:00 GMT\r\nContent-Length: " + strconv.Itoa(len(benchBody)) + "\r\n\r\n" + benchBody)
}

// benchServer is a loopback server that answers every request with
// benchReply without allocating, so allocs/op are the client's.
func benchServer(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go serveBench(nc)
		}
	}()
	return "http://" + ln.Addr().String() + invokePath
}

func serveBench(nc net.Conn) {
	defer nc.Close()
	br := bufio.NewReaderSize(nc, 16<<10)
	reply := benchReply()
	for {
		n := -1
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			if len(line) <= 2 {
				break
			}
			if len(line) > 16 && bytes.EqualFold(line[:15], []byte("content-length:")) {
				n = 0
				for _, c := range bytes.TrimSpace(line[15:]) {
					n = n*10 + int(c-'0')
				}
			}
		}
		if n < 0 {
			return
		}
		if _, err := br.Discard(n); err != nil {
			return
		}
		if _, err := nc.Write(reply); err != nil {
			return
		}
	}
}

// BenchmarkInvoke measures one warm invoke on loopback: this client with no
// deadline, with a deadline (as the gateway calls it), and net/http's
// Transport as tuned before (the baseline), against the same server.
func BenchmarkInvoke(b *testing.B) {
	payload := []byte(`{"resource":"/hello","path":"/hello","httpMethod":"GET","headers":{"Accept":"*/*"}}`)
	inv := &Invocation{Payload: payload, RequestID: "0e5b9d4e-0000-4000-8000-000000000000",
		TraceID: "Root=1-67890abc-0123456789abcdef01234567", FunctionARN: "arn:aws:lambda:us-east-1:000000000000:function:hello"}
	b.Run("client/no-deadline", func(b *testing.B) {
		inv.URL = benchServer(b)
		c := NewClient()
		benchClient(b, c, context.Background(), inv)
	})
	b.Run("client/deadline", func(b *testing.B) {
		inv.URL = benchServer(b)
		c := NewClient()
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		benchClient(b, c, ctx, inv)
	})
	b.Run("baseline/net-http", func(b *testing.B) {
		url := benchServer(b)
		tr := &http.Transport{MaxIdleConnsPerHost: 4, DisableCompression: true, IdleConnTimeout: 90 * time.Second}
		defer tr.CloseIdleConnections()
		hc := &http.Client{Transport: tr}
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		buf := make([]byte, 0, 16<<10)
		b.ReportAllocs()
		for b.Loop() {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
			if err != nil {
				b.Fatal(err)
			}
			req.Header["Content-Type"] = []string{"application/json"}
			req.Header[HeaderRequestID] = []string{inv.RequestID}
			req.Header[HeaderTraceID] = []string{inv.TraceID}
			req.Header[HeaderFunctionARN] = []string{inv.FunctionARN}
			resp, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			buf = buf[:0]
			for {
				n, err := resp.Body.Read(buf[len(buf):cap(buf)])
				buf = buf[:len(buf)+n]
				if err == io.EOF {
					break
				} else if err != nil {
					b.Fatal(err)
				}
			}
			resp.Body.Close()
			if resp.StatusCode != 200 || len(buf) != len(benchBody) {
				b.Fatalf("status %d, %d bytes", resp.StatusCode, len(buf))
			}
		}
	})
}

func benchClient(b *testing.B, c *Client, ctx context.Context, inv *Invocation) {
	b.ReportAllocs()
	for b.Loop() {
		res, err := c.Invoke(ctx, inv)
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Body) != len(benchBody) {
			b.Fatalf("%d bytes", len(res.Body))
		}
		res.Release()
	}
}
