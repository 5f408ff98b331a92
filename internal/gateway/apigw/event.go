// Package apigw builds API Gateway Lambda proxy events (REST payload 1.0 and
// HTTP API payload 2.0) from HTTP requests and maps proxy responses back to
// HTTP responses, as API Gateway does.
package apigw

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/edgeserverlessbox/esb/internal/gateway/route"
)

// Request is everything an event is built from. The gateway fills it from the
// incoming request; nothing here reads the network.
type Request struct {
	Method string
	// Path is the decoded request path; RawPath the path as received.
	Path, RawPath string
	// RawQuery is the query string without '?', as received.
	RawQuery string
	Header   http.Header
	// Host is the Host header (authority).
	Host string
	// Proto is the protocol, e.g. "HTTP/1.1".
	Proto string
	// Scheme ("https" or "http") and Port give X-Forwarded-Proto/-Port.
	Scheme, Port string
	SourceIP     string
	Body         []byte

	Target *route.Target
	Params []route.Param

	RequestID string
	TraceID   string
	Time      time.Time
	// Claims are the verified token claims (nil for public routes).
	Claims map[string]string
	// ClaimsJSON, when set, is Claims already rendered as a JSON object
	// (callers that see the same claims often render them once).
	ClaimsJSON []byte

	// Stage is the stage name: "Prod" for REST, "$default" for HTTP APIs when empty.
	Stage     string
	AccountID string
	APIID     string
	// BinaryMediaTypes is the REST API's binaryMediaTypes list.
	BinaryMediaTypes []string
}

func (r *Request) stage() string {
	if r.Stage != "" {
		return r.Stage
	}
	if r.Target != nil && r.Target.API == "http" {
		return "$default"
	}
	return "Prod"
}

func (r *Request) domainPrefix() string {
	h := r.Host
	if i := strings.IndexByte(h, ':'); i >= 0 && !strings.Contains(h, "]") {
		h = h[:i]
	}
	if i := strings.IndexByte(h, '.'); i >= 0 {
		return h[:i]
	}
	return h
}

func (r *Request) domainName() string {
	h := r.Host
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.HasSuffix(h, "]") {
		h = h[:i]
	}
	return h
}

// AppendEvent appends the event for r's route (payload 1.0 or 2.0).
func AppendEvent(dst []byte, r *Request) []byte {
	if r.Target != nil && r.Target.PayloadFormat == "2.0" {
		return AppendEventV2(dst, r)
	}
	return AppendEventV1(dst, r)
}

// headerList is the request's headers sorted by name, with the forwarding
// headers API Gateway adds.
type headerKV struct {
	name   string
	values []string
	single string // the value of an added header (values is nil)
}

func (h *headerKV) last() string {
	if h.values == nil {
		return h.single
	}
	return h.values[len(h.values)-1]
}

func (h *headerKV) appendAll(dst []byte) []byte {
	if h.values == nil {
		dst = append(dst, '[')
		dst = appendString(dst, h.single)
		return append(dst, ']')
	}
	return appendStrings(dst, h.values)
}

func (h *headerKV) joined() string {
	if h.values == nil {
		return h.single
	}
	if len(h.values) == 1 {
		return h.values[0]
	}
	return strings.Join(h.values, ",")
}

func (r *Request) headers(lower bool) []headerKV {
	out := make([]headerKV, 0, len(r.Header)+5)
	for k, v := range r.Header {
		name := k
		if lower {
			name = strings.ToLower(k)
		}
		out = append(out, headerKV{name: name, values: v})
	}
	add := func(name, value string) {
		if value == "" {
			return
		}
		for i := range out {
			if strings.EqualFold(out[i].name, name) {
				return
			}
		}
		if lower {
			name = strings.ToLower(name)
		}
		out = append(out, headerKV{name: name, single: value})
	}
	add("Host", r.Host)
	add("X-Amzn-Trace-Id", r.TraceID)
	add("X-Forwarded-For", r.SourceIP)
	add("X-Forwarded-Port", r.Port)
	add("X-Forwarded-Proto", r.Scheme)
	slices.SortFunc(out, func(a, b headerKV) int { return strings.Compare(a.name, b.name) })
	return out
}

type queryKV struct {
	key    string
	values []string
}

// query parses RawQuery keeping the order of first appearance of each key.
func (r *Request) query() []queryKV {
	var out []queryKV
	q := r.RawQuery
	for q != "" {
		var part string
		part, q, _ = strings.Cut(q, "&")
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		if uk, err := url.QueryUnescape(k); err == nil {
			k = uk
		}
		if uv, err := url.QueryUnescape(v); err == nil {
			v = uv
		}
		found := false
		for i := range out {
			if out[i].key == k {
				out[i].values = append(out[i].values, v)
				found = true
				break
			}
		}
		if !found {
			out = append(out, queryKV{k, []string{v}})
		}
	}
	slices.SortStableFunc(out, func(a, b queryKV) int { return strings.Compare(a.key, b.key) })
	return out
}

// appendRequestTime appends t as API Gateway's requestTime (a JSON string):
// "04/Mar/2020:19:15:17 +0000".
func appendRequestTime(dst []byte, t time.Time) []byte {
	dst = append(dst, '"')
	dst = t.UTC().AppendFormat(dst, "02/Jan/2006:15:04:05 -0700")
	return append(dst, '"')
}

// AppendEventV1 appends a REST API proxy event (payload format 1.0).
func AppendEventV1(dst []byte, r *Request) []byte {
	tg := r.Target
	hs := r.headers(tg != nil && tg.API == "http")
	dst = append(dst, '{')
	if tg != nil && tg.API == "http" {
		dst = append(dst, `"version":"1.0",`...)
	}
	dst = appendKey(dst, "resource")
	dst = appendString(dst, tg.Resource)
	dst = append(dst, ',')
	dst = appendKey(dst, "path")
	dst = appendString(dst, r.Path)
	dst = append(dst, ',')
	dst = appendKey(dst, "httpMethod")
	dst = appendString(dst, r.Method)

	dst = append(dst, `,"headers":`...)
	if len(hs) == 0 {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '{')
		for i, h := range hs {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendKey(dst, h.name)
			dst = appendString(dst, h.last())
		}
		dst = append(dst, '}')
	}
	dst = append(dst, `,"multiValueHeaders":`...)
	if len(hs) == 0 {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '{')
		for i, h := range hs {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendKey(dst, h.name)
			dst = h.appendAll(dst)
		}
		dst = append(dst, '}')
	}

	qs := r.query()
	dst = append(dst, `,"queryStringParameters":`...)
	if len(qs) == 0 {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '{')
		for i, q := range qs {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendKey(dst, q.key)
			dst = appendString(dst, q.values[len(q.values)-1])
		}
		dst = append(dst, '}')
	}
	dst = append(dst, `,"multiValueQueryStringParameters":`...)
	if len(qs) == 0 {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '{')
		for i, q := range qs {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendKey(dst, q.key)
			dst = appendStrings(dst, q.values)
		}
		dst = append(dst, '}')
	}
	dst = append(dst, `,"pathParameters":`...)
	dst = appendParams(dst, r.Params, true)
	dst = append(dst, `,"stageVariables":null`...)

	// requestContext
	dst = append(dst, `,"requestContext":{`...)
	dst = appendKey(dst, "accountId")
	dst = appendString(dst, r.AccountID)
	dst = append(dst, ',')
	dst = appendKey(dst, "apiId")
	dst = appendString(dst, r.APIID)
	if len(r.Claims) > 0 {
		dst = append(dst, `,"authorizer":{"claims":`...)
		dst = r.appendClaims(dst)
		dst = append(dst, `,"principalId":`...)
		dst = appendString(dst, r.Claims["sub"])
		dst = append(dst, '}')
	}
	dst = append(dst, ',')
	dst = appendKey(dst, "domainName")
	dst = appendString(dst, r.domainName())
	dst = append(dst, ',')
	dst = appendKey(dst, "domainPrefix")
	dst = appendString(dst, r.domainPrefix())
	dst = append(dst, ',')
	dst = appendKey(dst, "extendedRequestId")
	dst = appendString(dst, r.RequestID)
	dst = append(dst, ',')
	dst = appendKey(dst, "httpMethod")
	dst = appendString(dst, r.Method)
	dst = append(dst, `,"identity":{"accessKey":null,"accountId":null,"apiKey":null,"apiKeyId":null,"caller":null,"clientCert":null,"cognitoAuthenticationProvider":null,"cognitoAuthenticationType":null,"cognitoIdentityId":null,"cognitoIdentityPoolId":null,"principalOrgId":null,`...)
	dst = appendKey(dst, "sourceIp")
	dst = appendString(dst, r.SourceIP)
	dst = append(dst, `,"user":null,"userAgent":`...)
	dst = appendString(dst, r.Header.Get("User-Agent"))
	dst = append(dst, `,"userArn":null}`...)
	dst = append(dst, ',')
	dst = appendKey(dst, "path")
	dst = appendString(dst, r.Path)
	dst = append(dst, ',')
	dst = appendKey(dst, "protocol")
	dst = appendString(dst, r.Proto)
	dst = append(dst, ',')
	dst = appendKey(dst, "requestId")
	dst = appendString(dst, r.RequestID)
	dst = append(dst, ',')
	dst = appendKey(dst, "requestTime")
	dst = appendRequestTime(dst, r.Time)
	dst = append(dst, ',')
	dst = appendKey(dst, "requestTimeEpoch")
	dst = appendInt(dst, r.Time.UnixMilli())
	dst = append(dst, ',')
	dst = appendKey(dst, "resourceId")
	dst = appendString(dst, resourceID(tg.Resource))
	dst = append(dst, ',')
	dst = appendKey(dst, "resourcePath")
	dst = appendString(dst, tg.Resource)
	dst = append(dst, ',')
	dst = appendKey(dst, "stage")
	dst = appendString(dst, r.stage())
	dst = append(dst, '}')

	dst = appendBody(dst, r, r.binaryV1(), true)
	return append(dst, '}')
}

// AppendEventV2 appends an HTTP API proxy event (payload format 2.0).
func AppendEventV2(dst []byte, r *Request) []byte {
	tg := r.Target
	dst = append(dst, `{"version":"2.0","routeKey":`...)
	dst = appendString(dst, tg.RouteKey)
	dst = append(dst, ',')
	dst = appendKey(dst, "rawPath")
	dst = appendString(dst, r.RawPath)
	dst = append(dst, ',')
	dst = appendKey(dst, "rawQueryString")
	dst = appendString(dst, r.RawQuery)

	var cookies []string
	for _, c := range r.Header.Values("Cookie") {
		for _, part := range strings.Split(c, ";") {
			if part = strings.TrimSpace(part); part != "" {
				cookies = append(cookies, part)
			}
		}
	}
	if len(cookies) > 0 {
		dst = append(dst, `,"cookies":`...)
		dst = appendStrings(dst, cookies)
	}
	dst = append(dst, `,"headers":{`...)
	first := true
	for _, h := range r.headers(true) {
		if h.name == "cookie" {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendKey(dst, h.name)
		dst = appendString(dst, h.joined())
	}
	dst = append(dst, '}')
	if qs := r.query(); len(qs) > 0 {
		dst = append(dst, `,"queryStringParameters":{`...)
		for i, q := range qs {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendKey(dst, q.key)
			dst = appendString(dst, strings.Join(q.values, ","))
		}
		dst = append(dst, '}')
	}
	if len(r.Params) > 0 {
		dst = append(dst, `,"pathParameters":`...)
		dst = appendParams(dst, r.Params, false)
	}

	dst = append(dst, `,"requestContext":{`...)
	dst = appendKey(dst, "accountId")
	dst = appendString(dst, r.AccountID)
	dst = append(dst, ',')
	dst = appendKey(dst, "apiId")
	dst = appendString(dst, r.APIID)
	if len(r.Claims) > 0 {
		dst = append(dst, `,"authorizer":{"jwt":{"claims":`...)
		dst = r.appendClaims(dst)
		dst = append(dst, `,"scopes":null}}`...)
	}
	dst = append(dst, ',')
	dst = appendKey(dst, "domainName")
	dst = appendString(dst, r.domainName())
	dst = append(dst, ',')
	dst = appendKey(dst, "domainPrefix")
	dst = appendString(dst, r.domainPrefix())
	dst = append(dst, `,"http":{"method":`...)
	dst = appendString(dst, r.Method)
	dst = append(dst, ',')
	dst = appendKey(dst, "path")
	dst = appendString(dst, r.Path)
	dst = append(dst, ',')
	dst = appendKey(dst, "protocol")
	dst = appendString(dst, r.Proto)
	dst = append(dst, ',')
	dst = appendKey(dst, "sourceIp")
	dst = appendString(dst, r.SourceIP)
	dst = append(dst, ',')
	dst = appendKey(dst, "userAgent")
	dst = appendString(dst, r.Header.Get("User-Agent"))
	dst = append(dst, "},"...)
	dst = appendKey(dst, "requestId")
	dst = appendString(dst, r.RequestID)
	dst = append(dst, ',')
	dst = appendKey(dst, "routeKey")
	dst = appendString(dst, tg.RouteKey)
	dst = append(dst, ',')
	dst = appendKey(dst, "stage")
	dst = appendString(dst, r.stage())
	dst = append(dst, ',')
	dst = appendKey(dst, "time")
	dst = appendRequestTime(dst, r.Time)
	dst = append(dst, ',')
	dst = appendKey(dst, "timeEpoch")
	dst = appendInt(dst, r.Time.UnixMilli())
	dst = append(dst, '}')

	dst = appendBody(dst, r, r.binaryV2(), false)
	return append(dst, '}')
}

func (r *Request) appendClaims(dst []byte) []byte {
	if len(r.ClaimsJSON) > 0 {
		return append(dst, r.ClaimsJSON...)
	}
	return appendStringMap(dst, r.Claims, false)
}

// AppendClaims renders claims as the JSON object events carry (sorted keys).
func AppendClaims(dst []byte, claims map[string]string) []byte {
	return appendStringMap(dst, claims, false)
}

func appendBody(dst []byte, r *Request, binary, v1 bool) []byte {
	if len(r.Body) == 0 {
		if v1 {
			return append(dst, `,"body":null,"isBase64Encoded":false`...)
		}
		return append(dst, `,"isBase64Encoded":false`...)
	}
	dst = append(dst, `,"body":`...)
	if binary || !utf8.Valid(r.Body) {
		dst = appendBase64String(dst, r.Body)
		return append(dst, `,"isBase64Encoded":true`...)
	}
	dst = appendBytesString(dst, r.Body)
	return append(dst, `,"isBase64Encoded":false`...)
}

func appendStrings(dst []byte, vs []string) []byte {
	dst = append(dst, '[')
	for i, v := range vs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, v)
	}
	return append(dst, ']')
}

func appendParams(dst []byte, ps []route.Param, nullIfEmpty bool) []byte {
	if len(ps) == 0 {
		if nullIfEmpty {
			return append(dst, "null"...)
		}
		return append(dst, "{}"...)
	}
	dst = append(dst, '{')
	for i, p := range ps {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendKey(dst, p.Name)
		dst = appendString(dst, p.Value)
	}
	return append(dst, '}')
}

// resourceID makes the short resource id API Gateway shows (stable per resource).
func resourceID(resource string) string {
	var h uint32 = 2166136261
	for i := 0; i < len(resource); i++ {
		h ^= uint32(resource[i])
		h *= 16777619
	}
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	var b [6]byte
	for i := range b {
		b[i] = alphabet[h%36]
		h /= 36
	}
	return string(b[:])
}

// binaryV1 tells whether a REST request body is passed base64-encoded: its
// Content-Type matches the API's binaryMediaTypes.
func (r *Request) binaryV1() bool {
	if len(r.BinaryMediaTypes) == 0 {
		return false
	}
	return MediaTypeMatches(r.Header.Get("Content-Type"), r.BinaryMediaTypes)
}

// binaryV2 tells whether an HTTP API request body is passed base64-encoded:
// everything but text types is.
func (r *Request) binaryV2() bool {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return false
	}
	return !isTextType(ct)
}

func mediaType(ct string) string {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.ToLower(strings.TrimSpace(ct))
}

func isTextType(ct string) bool {
	mt := mediaType(ct)
	switch {
	case strings.HasPrefix(mt, "text/"):
		return true
	case mt == "application/json", mt == "application/xml", mt == "application/javascript",
		mt == "application/graphql", mt == "application/x-yaml", mt == "application/yaml":
		return true
	case strings.HasSuffix(mt, "+json"), strings.HasSuffix(mt, "+xml"):
		return true
	}
	return false
}

// MediaTypeMatches reports whether the media type of ct matches one of the
// patterns ("image/png", "image/*", "*/*").
func MediaTypeMatches(ct string, patterns []string) bool {
	mt := mediaType(ct)
	if mt == "" {
		return false
	}
	typ, _, _ := strings.Cut(mt, "/")
	for _, p := range patterns {
		p = strings.ToLower(strings.TrimSpace(p))
		switch {
		case p == "*/*" || p == mt:
			return true
		case strings.HasSuffix(p, "/*") && p[:len(p)-2] == typ:
			return true
		}
	}
	return false
}
