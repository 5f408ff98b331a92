package apigw

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/edgeserverlessbox/esb/internal/gateway/route"
)

var update = flag.Bool("update", false, "rewrite golden files")

// docRequest is the request of the API Gateway developer guide's proxy
// integration examples: GET /my/path?parameter1=value1&parameter1=value2&parameter2=value
// with header1: value1 and header2: value1, value2.
func docRequest(api, format string) *Request {
	resource, method := "/my/path", "GET"
	h := http.Header{}
	h.Set("Header1", "value1")
	h.Add("Header2", "value1")
	h.Add("Header2", "value2")
	h.Set("User-Agent", "agent")
	h.Add("Cookie", "cookie1; cookie2")
	tg := &route.Target{Function: "f", API: api, PayloadFormat: format, Resource: resource, Method: method, RouteKey: "GET /my/path"}
	if api == "http" {
		tg.RouteKey = "$default"
	}
	return &Request{
		Method: "GET", Path: "/my/path", RawPath: "/my/path",
		RawQuery: "parameter1=value1&parameter1=value2&parameter2=value",
		Header:   h, Host: "id.execute-api.us-east-1.amazonaws.com", Proto: "HTTP/1.1",
		Scheme: "https", Port: "443", SourceIP: "192.0.2.1",
		Target: tg, RequestID: "id=", TraceID: "Root=1-5e66d96f-7491f09xmpl79d18acf3d050",
		Time: time.UnixMilli(1583348638390), AccountID: "123456789012", APIID: "id",
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, got, "", "  "); err != nil {
		t.Fatalf("%s: event is not valid JSON: %v\n%s", name, err, got)
	}
	pretty.WriteByte('\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test -update): %v", err)
	}
	if !bytes.Equal(pretty.Bytes(), want) {
		t.Errorf("%s differs from the golden file:\n%s", name, pretty.Bytes())
	}
}

func TestEventV1Golden(t *testing.T) {
	r := docRequest("rest", "1.0")
	r.Claims = map[string]string{"sub": "7d8ca528-4931-4254-9273-ea5ee853f271", "cognito:username": "alice", "exp": "1583352238"}
	ev := AppendEventV1(nil, r)
	golden(t, "rest_v1_get.json", ev)

	// aws-lambda-go decodes it into the documented fields.
	var e events.APIGatewayProxyRequest
	if err := json.Unmarshal(ev, &e); err != nil {
		t.Fatal(err)
	}
	if e.Resource != "/my/path" || e.Path != "/my/path" || e.HTTPMethod != "GET" {
		t.Errorf("resource/path/method: %+v", e)
	}
	if e.Headers["Header2"] != "value2" || !reflect.DeepEqual(e.MultiValueHeaders["Header2"], []string{"value1", "value2"}) {
		t.Errorf("headers: %v %v", e.Headers, e.MultiValueHeaders)
	}
	if e.QueryStringParameters["parameter1"] != "value2" || !reflect.DeepEqual(e.MultiValueQueryStringParameters["parameter1"], []string{"value1", "value2"}) {
		t.Errorf("query: %v %v", e.QueryStringParameters, e.MultiValueQueryStringParameters)
	}
	if e.PathParameters != nil || e.StageVariables != nil || e.Body != "" || e.IsBase64Encoded {
		t.Errorf("empty fields: %+v", e)
	}
	rc := e.RequestContext
	if rc.RequestID != "id=" || rc.Identity.SourceIP != "192.0.2.1" || rc.RequestTimeEpoch != 1583348638390 ||
		rc.RequestTime != "04/Mar/2020:19:03:58 +0000" || rc.Stage != "Prod" || rc.ResourcePath != "/my/path" ||
		rc.AccountID != "123456789012" || rc.Protocol != "HTTP/1.1" || rc.Identity.UserAgent != "agent" {
		t.Errorf("requestContext: %+v", rc)
	}
	claims, _ := rc.Authorizer["claims"].(map[string]any)
	if claims["cognito:username"] != "alice" {
		t.Errorf("authorizer.claims: %v", rc.Authorizer)
	}
	if e.Headers["X-Forwarded-Proto"] != "https" || e.Headers["X-Forwarded-For"] != "192.0.2.1" || e.Headers["X-Amzn-Trace-Id"] == "" {
		t.Errorf("forwarding headers: %v", e.Headers)
	}
}

func TestEventV1PathParamsAndBinary(t *testing.T) {
	r := docRequest("rest", "1.0")
	r.Method = "POST"
	r.Path, r.RawPath, r.RawQuery = "/users/42/files/a/b.png", "/users/42/files/a/b.png", ""
	r.Target = &route.Target{API: "rest", PayloadFormat: "1.0", Resource: "/users/{id}/files/{key+}", Method: "POST"}
	r.Params = []route.Param{{Name: "id", Value: "42"}, {Name: "key", Value: "a/b.png"}}
	r.Header = http.Header{"Content-Type": {"image/png"}}
	r.Body = []byte{0x89, 'P', 'N', 'G', 0, 0xff, 0xfe}
	r.BinaryMediaTypes = []string{"image/*"}
	var e events.APIGatewayProxyRequest
	if err := json.Unmarshal(AppendEventV1(nil, r), &e); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(e.PathParameters, map[string]string{"id": "42", "key": "a/b.png"}) {
		t.Errorf("pathParameters: %v", e.PathParameters)
	}
	if e.QueryStringParameters != nil || e.MultiValueQueryStringParameters != nil {
		t.Errorf("no query must be null: %v", e.QueryStringParameters)
	}
	got, _ := base64.StdEncoding.DecodeString(e.Body)
	if !e.IsBase64Encoded || !bytes.Equal(got, r.Body) {
		t.Errorf("binary body: %v %q", e.IsBase64Encoded, e.Body)
	}
	// Text body that is not in binaryMediaTypes stays text.
	r.Header.Set("Content-Type", "application/json")
	r.Body = []byte(`{"a":"ü\n"}`)
	e = events.APIGatewayProxyRequest{}
	json.Unmarshal(AppendEventV1(nil, r), &e)
	if e.IsBase64Encoded || e.Body != `{"a":"ü\n"}` {
		t.Errorf("text body: %v %q", e.IsBase64Encoded, e.Body)
	}
	// A body that is not UTF-8 cannot travel as text: it is base64 whatever the list says.
	r.BinaryMediaTypes = nil
	r.Body = []byte{0xff, 0x00, 0x01}
	e = events.APIGatewayProxyRequest{}
	json.Unmarshal(AppendEventV1(nil, r), &e)
	if got, _ := base64.StdEncoding.DecodeString(e.Body); !e.IsBase64Encoded || !bytes.Equal(got, r.Body) {
		t.Errorf("non-UTF-8 body: %v %q", e.IsBase64Encoded, e.Body)
	}
}

func TestEventV2Golden(t *testing.T) {
	r := docRequest("http", "2.0")
	r.Target.RouteKey = "ANY /my/{proxy+}"
	r.Target.Resource = "/my/{proxy+}"
	r.Params = []route.Param{{Name: "proxy", Value: "path"}}
	r.Header.Set("Content-Type", "application/json")
	r.Method = "POST"
	r.Body = []byte(`Hello from Lambda`)
	r.Claims = map[string]string{"sub": "7d8ca528", "cognito:username": "alice"}
	ev := AppendEventV2(nil, r)
	golden(t, "http_v2_post.json", ev)

	var e events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(ev, &e); err != nil {
		t.Fatal(err)
	}
	if e.Version != "2.0" || e.RouteKey != "ANY /my/{proxy+}" || e.RawPath != "/my/path" ||
		e.RawQueryString != "parameter1=value1&parameter1=value2&parameter2=value" {
		t.Errorf("top level: %+v", e)
	}
	if !reflect.DeepEqual(e.Cookies, []string{"cookie1", "cookie2"}) {
		t.Errorf("cookies: %v", e.Cookies)
	}
	if _, ok := e.Headers["cookie"]; ok || e.Headers["header2"] != "value1,value2" || e.Headers["content-type"] != "application/json" {
		t.Errorf("headers: %v", e.Headers)
	}
	if e.QueryStringParameters["parameter1"] != "value1,value2" || e.PathParameters["proxy"] != "path" {
		t.Errorf("query/path: %v %v", e.QueryStringParameters, e.PathParameters)
	}
	rc := e.RequestContext
	if rc.HTTP.Method != "POST" || rc.HTTP.Path != "/my/path" || rc.HTTP.SourceIP != "192.0.2.1" || rc.Stage != "$default" ||
		rc.TimeEpoch != 1583348638390 || rc.Time != "04/Mar/2020:19:03:58 +0000" || rc.DomainPrefix != "id" ||
		rc.DomainName != "id.execute-api.us-east-1.amazonaws.com" {
		t.Errorf("requestContext: %+v", rc)
	}
	if rc.Authorizer == nil || rc.Authorizer.JWT.Claims["cognito:username"] != "alice" {
		t.Errorf("authorizer: %+v", rc.Authorizer)
	}
	if e.Body != "Hello from Lambda" || e.IsBase64Encoded {
		t.Errorf("body: %q %v", e.Body, e.IsBase64Encoded)
	}
}

func TestEventV2OmitsEmpty(t *testing.T) {
	r := docRequest("http", "2.0")
	r.RawQuery = ""
	r.Header = http.Header{}
	ev := AppendEventV2(nil, r)
	var m map[string]any
	if err := json.Unmarshal(ev, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"cookies", "queryStringParameters", "pathParameters", "body", "stageVariables"} {
		if _, ok := m[k]; ok {
			t.Errorf("%s must be omitted when empty", k)
		}
	}
	// Binary: not a text type → base64.
	r.Header.Set("Content-Type", "application/octet-stream")
	r.Body = []byte("abc")
	json.Unmarshal(AppendEventV2(nil, r), &m)
	if m["isBase64Encoded"] != true || m["body"] != "YWJj" {
		t.Errorf("binary v2 body: %v %v", m["isBase64Encoded"], m["body"])
	}
}

func TestAppendStringEscapes(t *testing.T) {
	for _, s := range []string{"plain", "quote\"back\\slash", "ctl\x00\x01\x1f\n\r\t", "ünï€😀", "bad\xffutf8", "\u2028\u2029<>&"} {
		got := appendString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Errorf("%q → %s: %v", s, got, err)
			continue
		}
		want := s
		if s == "bad\xffutf8" {
			want = "bad\ufffdutf8"
		}
		if back != want {
			t.Errorf("%q round-trips to %q", s, back)
		}
	}
}

func BenchmarkEventV1(b *testing.B) {
	r := docRequest("rest", "1.0")
	r.Body = []byte(`{"hello":"world"}`)
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendEventV1(buf[:0], r)
	}
}

func BenchmarkEventV1Baseline(b *testing.B) {
	// Baseline: encoding/json on aws-lambda-go's struct with the same content.
	r := docRequest("rest", "1.0")
	r.Body = []byte(`{"hello":"world"}`)
	var e events.APIGatewayProxyRequest
	json.Unmarshal(AppendEventV1(nil, r), &e)
	b.ReportAllocs()
	for b.Loop() {
		json.Marshal(&e)
	}
}

func TestPreRenderedClaimsMatch(t *testing.T) {
	r := docRequest("rest", "1.0")
	r.Claims = map[string]string{"sub": "s", "cognito:username": "a<b>&\"c", "exp": "1"}
	plain := AppendEventV1(nil, r)
	r.ClaimsJSON, _ = json.Marshal(r.Claims)
	pre := AppendEventV1(nil, r)
	var a, b map[string]any
	json.Unmarshal(plain, &a)
	json.Unmarshal(pre, &b)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("pre-rendered claims differ:\n%s\n%s", plain, pre)
	}
}
