package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// fakeS3 is a path-style S3 endpoint with just the calls the handler makes,
// so the test drives the real aws-sdk-go-v2 client over HTTP.
type fakeS3 struct {
	mu      sync.Mutex
	objects map[string][]byte
	types   map[string]string
}

func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if bucket != "files" {
		http.Error(w, "no such bucket", http.StatusNotFound)
		return
	}
	switch {
	case r.Method == http.MethodGet && key == "" && r.URL.Query().Get("list-type") == "2":
		prefix := r.URL.Query().Get("prefix")
		keys := make([]string, 0, len(f.objects))
		for k := range f.objects {
			if strings.HasPrefix(k, prefix) {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		var b strings.Builder
		b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>files</Name><IsTruncated>false</IsTruncated>`)
		for _, k := range keys {
			fmt.Fprintf(&b, "<Contents><Key>%s</Key><Size>%d</Size></Contents>", k, len(f.objects[k]))
		}
		fmt.Fprintf(&b, "<KeyCount>%d</KeyCount></ListBucketResult>", len(keys))
		w.Header().Set("Content-Type", "application/xml")
		io.WriteString(w, b.String())
	case r.Method == http.MethodPut:
		data, _ := io.ReadAll(r.Body)
		f.objects[key] = data
		f.types[key] = r.Header.Get("Content-Type")
		w.Header().Set("ETag", `"etag"`)
	case r.Method == http.MethodGet:
		data, ok := f.objects[key]
		if !ok {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>`)
			return
		}
		w.Header().Set("Content-Type", f.types[key])
		w.Write(data)
	case r.Method == http.MethodDelete:
		delete(f.objects, key)
		w.WriteHeader(http.StatusNoContent)
	default:
		http.Error(w, "unexpected "+r.Method, http.StatusBadRequest)
	}
}

func newTestHandler(t *testing.T) *handler {
	t.Helper()
	srv := httptest.NewServer(&fakeS3{objects: map[string][]byte{}, types: map[string]string{}})
	t.Cleanup(srv.Close)
	client := s3.New(s3.Options{
		BaseEndpoint: aws.String(srv.URL),
		UsePathStyle: true,
		Region:       "us-east-1",
		Credentials:  aws.AnonymousCredentials{},
	})
	return &handler{s3: client, bucket: "files"}
}

func call(t *testing.T, h *handler, method, name, body string, b64 bool) events.APIGatewayProxyResponse {
	t.Helper()
	req := events.APIGatewayProxyRequest{HTTPMethod: method, Body: body, IsBase64Encoded: b64, Headers: map[string]string{"Content-Type": "text/plain"}}
	if name != "" {
		req.PathParameters = map[string]string{"name": name}
	}
	resp, err := h.handle(context.Background(), req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, name, err)
	}
	return resp
}

func TestFilesRoundTripThroughTheS3Client(t *testing.T) {
	h := newTestHandler(t)
	if r := call(t, h, "PUT", "notes/a.txt", "hello edge", false); r.StatusCode != 201 {
		t.Fatalf("put: %d %s", r.StatusCode, r.Body)
	}
	bin := []byte{0xff, 0x00, 0xfe}
	if r := call(t, h, "PUT", "b.bin", base64.StdEncoding.EncodeToString(bin), true); r.StatusCode != 201 {
		t.Fatalf("put binary: %d %s", r.StatusCode, r.Body)
	}
	if r := call(t, h, "GET", "notes/a.txt", "", false); r.StatusCode != 200 || r.Body != "hello edge" || r.Headers["Content-Type"] != "text/plain" {
		t.Fatalf("get: %+v", r)
	}
	r := call(t, h, "GET", "b.bin", "", false)
	if got, _ := base64.StdEncoding.DecodeString(r.Body); !r.IsBase64Encoded || string(got) != string(bin) {
		t.Fatalf("get binary: %+v", r)
	}
	r = call(t, h, "GET", "", "", false)
	var list struct {
		Files []fileInfo `json:"files"`
	}
	if err := json.Unmarshal([]byte(r.Body), &list); err != nil || len(list.Files) != 2 || list.Files[0].Name != "b.bin" || list.Files[1].Size != 10 {
		t.Fatalf("list: %s (%v)", r.Body, err)
	}
	if r := call(t, h, "DELETE", "b.bin", "", false); r.StatusCode != 200 {
		t.Fatalf("delete: %+v", r)
	}
	if r := call(t, h, "GET", "b.bin", "", false); r.StatusCode != 404 {
		t.Fatalf("get after delete: %+v", r)
	}
	if r := call(t, h, "POST", "", "", false); r.StatusCode != 405 {
		t.Fatalf("post /files: %+v", r)
	}
}
