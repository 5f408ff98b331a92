package apigw

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Header is one response header line.
type Header struct {
	Name, Value string
}

// Response is a mapped proxy response, ready to be written.
type Response struct {
	StatusCode int
	// Headers in order; a name may repeat (Set-Cookie, multi-value headers).
	Headers []Header
	Body    []byte
}

// ErrMalformed marks a function output that API Gateway rejects as a
// malformed Lambda proxy response.
var ErrMalformed = errors.New("malformed Lambda proxy response")

// ErrBodyDecode marks a base64 body that does not decode (API Gateway answers 500).
var ErrBodyDecode = errors.New("cannot base64-decode the response body")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// MapOptions carry what response mapping needs from the request.
type MapOptions struct {
	// API is "rest" or "http"; PayloadFormat "1.0" or "2.0".
	API, PayloadFormat string
	// BinaryMediaTypes is the REST API's list; empty means that every
	// isBase64Encoded body is decoded (as HTTP APIs do).
	BinaryMediaTypes []string
	// Accept is the request's Accept header.
	Accept string
}

// Map turns a function's output into the HTTP response API Gateway would send.
// An error wrapping ErrMalformed or ErrBodyDecode means the gateway answers
// with its own error response instead.
func Map(out []byte, o MapOptions) (Response, error) {
	if o.PayloadFormat == "2.0" {
		return MapV2(out)
	}
	return MapV1(out, o)
}

// proxyOutput is the raw members of a proxy response.
type proxyOutput struct {
	statusCode, headers, multiValueHeaders, body, isBase64Encoded, cookies []byte
	unknown                                                                string
}

func parseOutput(out []byte) (proxyOutput, error) {
	var o proxyOutput
	err := eachMember(out, func(key, val []byte) error {
		switch string(key) {
		case `"statusCode"`:
			o.statusCode = val
		case `"headers"`:
			o.headers = val
		case `"multiValueHeaders"`:
			o.multiValueHeaders = val
		case `"body"`:
			o.body = val
		case `"isBase64Encoded"`:
			o.isBase64Encoded = val
		case `"cookies"`:
			o.cookies = val
		default:
			if o.unknown == "" {
				o.unknown = string(key)
			}
		}
		return nil
	})
	return o, err
}

func isNull(v []byte) bool { return len(v) == 0 || string(v) == "null" }

// appendHeaders adds the members of a headers object.
func appendHeaders(dst []Header, raw []byte, skip func(name, value string) bool) ([]Header, error) {
	if isNull(raw) {
		return dst, nil
	}
	err := eachMember(raw, func(key, val []byte) error {
		name, err := unquote(key)
		if err != nil {
			return err
		}
		v, ok, err := headerValue(val)
		if err != nil {
			return fmt.Errorf("headers.%s: %v", name, err)
		}
		if ok && (skip == nil || !skip(name, v)) {
			dst = append(dst, Header{name, v})
		}
		return nil
	})
	if err == errNotObject {
		return dst, fmt.Errorf("headers must be an object")
	}
	return dst, err
}

// multiHeaders reads a multiValueHeaders object.
func multiHeaders(raw []byte) ([]Header, error) {
	if isNull(raw) {
		return nil, nil
	}
	var out []Header
	err := eachMember(raw, func(key, val []byte) error {
		name, err := unquote(key)
		if err != nil {
			return err
		}
		if isNull(val) {
			return nil
		}
		if val[0] != '[' {
			return fmt.Errorf("multiValueHeaders.%s must be an array", name)
		}
		return eachElement(val, func(el []byte) error {
			v, ok, err := headerValue(el)
			if err != nil {
				return fmt.Errorf("multiValueHeaders.%s: %v", name, err)
			}
			if ok {
				out = append(out, Header{name, v})
			}
			return nil
		})
	})
	if err == errNotObject {
		return nil, fmt.Errorf("multiValueHeaders must be an object")
	}
	return out, err
}

// MapV1 maps a payload 1.0 response. REST APIs reject unknown keys; HTTP APIs
// with payload 1.0 ignore them.
func MapV1(out []byte, o MapOptions) (Response, error) {
	if !json.Valid(out) {
		return Response{}, malformed("output is not JSON")
	}
	v, err := parseOutput(out)
	if err != nil {
		return Response{}, malformed("output is not a JSON object")
	}
	if o.API != "http" {
		if v.unknown != "" {
			return Response{}, malformed("unknown field %s", v.unknown)
		}
		if v.cookies != nil {
			return Response{}, malformed(`unknown field "cookies"`)
		}
	}
	status, err := statusCode(v.statusCode)
	if err != nil {
		return Response{}, err
	}
	resp := Response{StatusCode: status}
	multi, err := multiHeaders(v.multiValueHeaders)
	if err != nil {
		return Response{}, malformed("%v", err)
	}
	// headers, then multiValueHeaders; a name/value pair present in both appears once.
	resp.Headers, err = appendHeaders(make([]Header, 0, 4+len(multi)), v.headers, func(name, value string) bool {
		for _, m := range multi {
			if m.Value == value && strings.EqualFold(m.Name, name) {
				return true
			}
		}
		return false
	})
	if err != nil {
		return Response{}, malformed("%v", err)
	}
	resp.Headers = append(resp.Headers, multi...)
	return finish(resp, v, o)
}

// finish decodes the body and adds the default Content-Type.
func finish(resp Response, v proxyOutput, o MapOptions) (Response, error) {
	b64, err := boolValue(v.isBase64Encoded)
	if err != nil {
		return Response{}, malformed("isBase64Encoded: %v", err)
	}
	if !isNull(v.body) && v.body[0] != '"' {
		return Response{}, malformed("body must be a string")
	}
	ct := headerGet(resp.Headers, "Content-Type")
	if ct == "" {
		resp.Headers = append(resp.Headers, Header{"Content-Type", "application/json"})
	}
	var body []byte
	if !isNull(v.body) {
		if body, err = unquoteBytes(v.body); err != nil {
			return Response{}, malformed("body: %v", err)
		}
	}
	decode := b64
	if b64 && o.PayloadFormat != "2.0" && o.API != "http" && len(o.BinaryMediaTypes) > 0 {
		accept := firstAccept(o.Accept)
		decode = MediaTypeMatches(accept, o.BinaryMediaTypes) || MediaTypeMatches(ct, o.BinaryMediaTypes)
	}
	if decode {
		n, err := base64.StdEncoding.Decode(body, body)
		if err != nil {
			return Response{}, fmt.Errorf("%w: %v", ErrBodyDecode, err)
		}
		body = body[:n]
	}
	if body == nil {
		body = []byte{}
	}
	resp.Body = body
	return resp, nil
}

// MapV2 maps a payload 2.0 response, including API Gateway's inference: valid
// JSON without statusCode is returned as the body with status 200 and
// content-type application/json.
func MapV2(out []byte) (Response, error) {
	trimmed := bytes.TrimSpace(out)
	if !json.Valid(trimmed) {
		return Response{}, malformed("output is not JSON")
	}
	inferred := Response{StatusCode: 200, Headers: []Header{{"Content-Type", "application/json"}}, Body: trimmed}
	if trimmed[0] != '{' {
		return inferred, nil
	}
	v, err := parseOutput(trimmed)
	if err != nil {
		return Response{}, malformed("%v", err)
	}
	if v.statusCode == nil {
		return inferred, nil
	}
	status, err := statusCode(v.statusCode)
	if err != nil {
		return Response{}, err
	}
	resp := Response{StatusCode: status}
	if resp.Headers, err = appendHeaders(nil, v.headers, nil); err != nil {
		return Response{}, malformed("%v", err)
	}
	if !isNull(v.cookies) {
		if v.cookies[0] != '[' {
			return Response{}, malformed("cookies must be an array")
		}
		i := 0
		err := eachElement(v.cookies, func(el []byte) error {
			c, err := unquote(el)
			if err != nil {
				return fmt.Errorf("cookies[%d]: not a string", i)
			}
			i++
			resp.Headers = append(resp.Headers, Header{"Set-Cookie", c})
			return nil
		})
		if err != nil {
			return Response{}, malformed("%v", err)
		}
	}
	return finish(resp, v, MapOptions{API: "http", PayloadFormat: "2.0"})
}

func statusCode(raw []byte) (int, error) {
	if isNull(raw) {
		return 0, malformed("statusCode is missing")
	}
	digits := raw
	if raw[0] == '"' {
		digits = raw[1 : len(raw)-1]
	}
	n := 0
	for i, c := range digits {
		if c < '0' || c > '9' || i >= 3 {
			return 0, malformed("statusCode %s is not an integer from 100 to 599", raw)
		}
		n = n*10 + int(c-'0')
	}
	if n < 100 || n > 599 {
		return 0, malformed("statusCode %s is not an integer from 100 to 599", raw)
	}
	return n, nil
}

// headerValue renders a header value: strings as they are, numbers and
// booleans as their JSON text; null is skipped.
func headerValue(raw []byte) (string, bool, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", false, nil
	}
	switch raw[0] {
	case '"':
		s, err := unquote(raw)
		if err != nil {
			return "", false, err
		}
		return s, true, nil
	case '{', '[':
		return "", false, fmt.Errorf("must be a string")
	default:
		return string(raw), true, nil
	}
}

func boolValue(raw []byte) (bool, error) {
	switch string(raw) {
	case "", "null", "false", `"false"`:
		return false, nil
	case "true", `"true"`:
		return true, nil
	}
	return false, fmt.Errorf("must be a boolean, got %s", raw)
}

func headerGet(hs []Header, name string) string {
	for _, h := range hs {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}

func firstAccept(accept string) string {
	if i := strings.IndexByte(accept, ','); i >= 0 {
		accept = accept[:i]
	}
	return strings.TrimSpace(accept)
}
