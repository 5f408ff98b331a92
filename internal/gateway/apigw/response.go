package apigw

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
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

type v1Output struct {
	StatusCode        json.RawMessage              `json:"statusCode"`
	Headers           map[string]json.RawMessage   `json:"headers"`
	MultiValueHeaders map[string][]json.RawMessage `json:"multiValueHeaders"`
	Body              json.RawMessage              `json:"body"`
	IsBase64Encoded   json.RawMessage              `json:"isBase64Encoded"`
	Cookies           json.RawMessage              `json:"cookies"`
}

// MapV1 maps a payload 1.0 response. REST APIs reject unknown keys; HTTP APIs
// with payload 1.0 ignore them.
func MapV1(out []byte, o MapOptions) (Response, error) {
	var v v1Output
	dec := json.NewDecoder(bytes.NewReader(out))
	if o.API != "http" {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(&v); err != nil {
		return Response{}, malformed("%v", err)
	}
	if dec.More() {
		return Response{}, malformed("trailing data after the JSON object")
	}
	if o.API != "http" && v.Cookies != nil {
		return Response{}, malformed(`unknown field "cookies"`)
	}
	status, err := statusCode(v.StatusCode)
	if err != nil {
		return Response{}, err
	}
	resp := Response{StatusCode: status}
	// headers, then multiValueHeaders; a name/value pair present in both appears once.
	for _, k := range sortedKeys(v.Headers) {
		s, ok, err := headerValue(v.Headers[k])
		if err != nil {
			return Response{}, malformed("headers.%s: %v", k, err)
		}
		if !ok {
			continue
		}
		if inMulti(v.MultiValueHeaders, k, s) {
			continue
		}
		resp.Headers = append(resp.Headers, Header{k, s})
	}
	for _, k := range sortedKeys(v.MultiValueHeaders) {
		for _, raw := range v.MultiValueHeaders[k] {
			s, ok, err := headerValue(raw)
			if err != nil {
				return Response{}, malformed("multiValueHeaders.%s: %v", k, err)
			}
			if ok {
				resp.Headers = append(resp.Headers, Header{k, s})
			}
		}
	}
	body, err := bodyString(v.Body)
	if err != nil {
		return Response{}, err
	}
	b64, err := boolValue(v.IsBase64Encoded)
	if err != nil {
		return Response{}, malformed("isBase64Encoded: %v", err)
	}
	ct := headerGet(resp.Headers, "Content-Type")
	if ct == "" {
		resp.Headers = append(resp.Headers, Header{"Content-Type", "application/json"})
	}
	decode := b64
	if b64 && o.API != "http" && len(o.BinaryMediaTypes) > 0 {
		accept := firstAccept(o.Accept)
		decode = MediaTypeMatches(accept, o.BinaryMediaTypes) || MediaTypeMatches(ct, o.BinaryMediaTypes)
	}
	if decode {
		resp.Body, err = base64.StdEncoding.DecodeString(body)
		if err != nil {
			return Response{}, fmt.Errorf("%w: %v", ErrBodyDecode, err)
		}
	} else {
		resp.Body = []byte(body)
	}
	return resp, nil
}

type v2Output struct {
	StatusCode      json.RawMessage            `json:"statusCode"`
	Headers         map[string]json.RawMessage `json:"headers"`
	Body            json.RawMessage            `json:"body"`
	IsBase64Encoded json.RawMessage            `json:"isBase64Encoded"`
	Cookies         []json.RawMessage          `json:"cookies"`
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
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return inferred, nil
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &probe); err != nil {
		return Response{}, malformed("%v", err)
	}
	if _, ok := probe["statusCode"]; !ok {
		return inferred, nil
	}
	var v v2Output
	if err := json.Unmarshal(trimmed, &v); err != nil {
		return Response{}, malformed("%v", err)
	}
	status, err := statusCode(v.StatusCode)
	if err != nil {
		return Response{}, err
	}
	resp := Response{StatusCode: status}
	for _, k := range sortedKeys(v.Headers) {
		s, ok, err := headerValue(v.Headers[k])
		if err != nil {
			return Response{}, malformed("headers.%s: %v", k, err)
		}
		if ok {
			resp.Headers = append(resp.Headers, Header{k, s})
		}
	}
	for i, raw := range v.Cookies {
		var c string
		if err := json.Unmarshal(raw, &c); err != nil {
			return Response{}, malformed("cookies[%d]: not a string", i)
		}
		resp.Headers = append(resp.Headers, Header{"Set-Cookie", c})
	}
	body, err := bodyString(v.Body)
	if err != nil {
		return Response{}, err
	}
	b64, err := boolValue(v.IsBase64Encoded)
	if err != nil {
		return Response{}, malformed("isBase64Encoded: %v", err)
	}
	if headerGet(resp.Headers, "Content-Type") == "" {
		resp.Headers = append(resp.Headers, Header{"Content-Type", "application/json"})
	}
	if b64 {
		resp.Body, err = base64.StdEncoding.DecodeString(body)
		if err != nil {
			return Response{}, fmt.Errorf("%w: %v", ErrBodyDecode, err)
		}
	} else {
		resp.Body = []byte(body)
	}
	return resp, nil
}

func statusCode(raw json.RawMessage) (int, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, malformed("statusCode is missing")
	}
	s := string(raw)
	if s[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, malformed("statusCode: %v", err)
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, malformed("statusCode %s is not an integer", raw)
	}
	if n < 100 || n > 599 {
		return 0, malformed("statusCode %d is out of range", n)
	}
	return n, nil
}

// headerValue renders a header value: strings as they are, numbers and
// booleans as their JSON text; null is skipped.
func headerValue(raw json.RawMessage) (string, bool, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", false, nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", false, err
		}
		return s, true, nil
	case '{', '[':
		return "", false, fmt.Errorf("must be a string")
	default:
		return string(raw), true, nil
	}
}

func bodyString(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	if raw[0] != '"' {
		return "", malformed("body must be a string")
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", malformed("body: %v", err)
	}
	return s, nil
}

func boolValue(raw json.RawMessage) (bool, error) {
	switch string(raw) {
	case "", "null", "false", `"false"`:
		return false, nil
	case "true", `"true"`:
		return true, nil
	}
	return false, fmt.Errorf("must be a boolean, got %s", raw)
}

func inMulti(m map[string][]json.RawMessage, k, v string) bool {
	for mk, vs := range m {
		if !strings.EqualFold(mk, k) {
			continue
		}
		for _, raw := range vs {
			if s, ok, _ := headerValue(raw); ok && s == v {
				return true
			}
		}
	}
	return false
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

func sortedKeys[V any](m map[string]V) []string {
	if len(m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	// small maps: insertion sort keeps this cheap
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}
