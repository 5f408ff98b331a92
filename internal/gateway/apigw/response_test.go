package apigw

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
)

func hdrs(kv ...string) []Header {
	var out []Header
	for i := 0; i < len(kv); i += 2 {
		out = append(out, Header{kv[i], kv[i+1]})
	}
	return out
}

func TestMapV1(t *testing.T) {
	rest := MapOptions{API: "rest", PayloadFormat: "1.0"}
	cases := []struct {
		name string
		out  string
		o    MapOptions
		want Response
		err  error
	}{
		{
			// The developer guide's example output format.
			name: "documented",
			out: `{"isBase64Encoded": false, "statusCode": 200, "headers": {"headerName": "headerValue"},
				"multiValueHeaders": {"headerName": ["headerValue", "headerValue2"]}, "body": "hello"}`,
			o:    rest,
			want: Response{200, hdrs("headerName", "headerValue", "headerName", "headerValue2", "Content-Type", "application/json"), []byte("hello")},
		},
		{
			name: "string status and scalar header values",
			out:  `{"statusCode": "404", "headers": {"X-Count": 3, "X-Ok": true, "Content-Type": "text/plain"}, "body": "nf"}`,
			o:    rest,
			want: Response{404, hdrs("X-Count", "3", "X-Ok", "true", "Content-Type", "text/plain"), []byte("nf")},
		},
		{
			name: "cookies via multiValueHeaders",
			out:  `{"statusCode": 200, "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]}}`,
			o:    rest,
			want: Response{200, hdrs("Set-Cookie", "a=1", "Set-Cookie", "b=2", "Content-Type", "application/json"), []byte{}},
		},
		{
			name: "base64 decoded without a binary list",
			out:  `{"statusCode": 200, "headers": {"Content-Type": "image/png"}, "body": "AAH/", "isBase64Encoded": true}`,
			o:    rest,
			want: Response{200, hdrs("Content-Type", "image/png"), []byte{0, 1, 0xff}},
		},
		{
			name: "base64 kept when the binary list does not match",
			out:  `{"statusCode": 200, "headers": {"Content-Type": "image/png"}, "body": "AAH/", "isBase64Encoded": true}`,
			o:    MapOptions{API: "rest", PayloadFormat: "1.0", BinaryMediaTypes: []string{"application/pdf"}, Accept: "text/html"},
			want: Response{200, hdrs("Content-Type", "image/png"), []byte("AAH/")},
		},
		{
			name: "base64 decoded when Accept matches the binary list",
			out:  `{"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "AAH/", "isBase64Encoded": true}`,
			o:    MapOptions{API: "rest", PayloadFormat: "1.0", BinaryMediaTypes: []string{"image/*"}, Accept: "image/png, */*"},
			want: Response{200, hdrs("Content-Type", "application/json"), []byte{0, 1, 0xff}},
		},
		{name: "missing statusCode", out: `{"body": "x"}`, o: rest, err: ErrMalformed},
		{name: "unknown key (REST is strict)", out: `{"statusCode": 200, "extra": 1}`, o: rest, err: ErrMalformed},
		{name: "cookies key on REST", out: `{"statusCode": 200, "cookies": ["a=1"]}`, o: rest, err: ErrMalformed},
		{name: "non-string body", out: `{"statusCode": 200, "body": {"a": 1}}`, o: rest, err: ErrMalformed},
		{name: "object header value", out: `{"statusCode": 200, "headers": {"a": {}}}`, o: rest, err: ErrMalformed},
		{name: "not JSON", out: `hello`, o: rest, err: ErrMalformed},
		{name: "a JSON string", out: `"hello"`, o: rest, err: ErrMalformed},
		{name: "status out of range", out: `{"statusCode": 42}`, o: rest, err: ErrMalformed},
		{name: "bad base64", out: `{"statusCode": 200, "body": "!!", "isBase64Encoded": true}`, o: rest, err: ErrBodyDecode},
		{
			name: "HTTP API payload 1.0 ignores unknown keys",
			out:  `{"statusCode": 201, "extra": 1, "body": "ok"}`,
			o:    MapOptions{API: "http", PayloadFormat: "1.0"},
			want: Response{201, hdrs("Content-Type", "application/json"), []byte("ok")},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Map([]byte(c.out), c.o)
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("err = %v, want %v", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.StatusCode != c.want.StatusCode || !reflect.DeepEqual(got.Headers, c.want.Headers) || string(got.Body) != string(c.want.Body) {
				t.Errorf("got %d %v %q\nwant %d %v %q", got.StatusCode, got.Headers, got.Body, c.want.StatusCode, c.want.Headers, c.want.Body)
			}
		})
	}
}

func TestMapV2(t *testing.T) {
	cases := []struct {
		name string
		out  string
		want Response
		err  error
	}{
		{
			// Documented example of a payload 2.0 response.
			name: "documented",
			out: `{"cookies": ["cookie1", "cookie2"], "isBase64Encoded": true, "statusCode": 200,
				"headers": {"headername": "headervalue"}, "body": "SGVsbG8gZnJvbSBMYW1iZGEh"}`,
			want: Response{200, hdrs("headername", "headervalue", "Set-Cookie", "cookie1", "Set-Cookie", "cookie2", "Content-Type", "application/json"), []byte("Hello from Lambda!")},
		},
		{
			// Inference: JSON without statusCode → 200, application/json, the output as body.
			name: "inferred object",
			out:  `{"message": "Hello from Lambda!"}`,
			want: Response{200, hdrs("Content-Type", "application/json"), []byte(`{"message": "Hello from Lambda!"}`)},
		},
		{name: "inferred string", out: `"Hello from Lambda!"`, want: Response{200, hdrs("Content-Type", "application/json"), []byte(`"Hello from Lambda!"`)}},
		{name: "inferred number", out: "42\n", want: Response{200, hdrs("Content-Type", "application/json"), []byte(`42`)}},
		{name: "unknown keys ignored", out: `{"statusCode": 418, "foo": 1, "body": "t"}`, want: Response{418, hdrs("Content-Type", "application/json"), []byte("t")}},
		{name: "not JSON", out: `Hello`, err: ErrMalformed},
		{name: "bad statusCode", out: `{"statusCode": "x"}`, err: ErrMalformed},
		{name: "non-string cookie", out: `{"statusCode": 200, "cookies": [1]}`, err: ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Map([]byte(c.out), MapOptions{API: "http", PayloadFormat: "2.0"})
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("err = %v, want %v", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.StatusCode != c.want.StatusCode || !reflect.DeepEqual(got.Headers, c.want.Headers) || string(got.Body) != string(c.want.Body) {
				t.Errorf("got %d %v %q\nwant %d %v %q", got.StatusCode, got.Headers, got.Body, c.want.StatusCode, c.want.Headers, c.want.Body)
			}
		})
	}
}

func TestMapBinaryRoundTrip(t *testing.T) {
	body := make([]byte, 256)
	for i := range body {
		body[i] = byte(i)
	}
	out := fmt.Sprintf(`{"statusCode":200,"headers":{"Content-Type":"application/octet-stream"},"body":%q,"isBase64Encoded":true}`,
		appendBase64String(nil, body)[1:len(appendBase64String(nil, body))-1])
	for _, pf := range []string{"1.0", "2.0"} {
		got, err := Map([]byte(out), MapOptions{API: "rest", PayloadFormat: pf})
		if pf == "2.0" {
			got, err = Map([]byte(out), MapOptions{API: "http", PayloadFormat: pf})
		}
		if err != nil || string(got.Body) != string(body) {
			t.Errorf("%s: binary body not byte-for-byte: %v", pf, err)
		}
	}
}

func BenchmarkMapV1(b *testing.B) {
	out := []byte(`{"statusCode":200,"headers":{"Content-Type":"application/json","X-A":"b"},"body":"{\"hello\":\"world\"}"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := MapV1(out, MapOptions{API: "rest"}); err != nil {
			b.Fatal(err)
		}
	}
}
