// Package invokeapi holds the Lambda Invoke API's wire rules
// (POST /2015-03-31/functions/{FunctionName}/invocations): function name and
// qualifier parsing, invocation types, size limits, AWS's error responses,
// SigV4 verification and the queue of asynchronous (Event) invocations.
package invokeapi

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// PathPrefix is the path prefix of the Invoke API.
const PathPrefix = "/2015-03-31/functions/"

// Payload limits.
const (
	MaxSyncPayload     = 6291456
	DefaultAsyncLimit  = 262144
	MaxClientContext   = 3583
	DefaultAccountID   = "123456789012"
	DefaultRegion      = "us-east-1"
	InvocationSync     = "RequestResponse"
	InvocationEvent    = "Event"
	InvocationDryRun   = "DryRun"
	LatestVersion      = "$LATEST"
	headerErrorType    = "X-Amzn-Errortype"
	headerRequestID    = "X-Amzn-Requestid"
	contentTypeJSON    = "application/json"
	maxFunctionNameLen = 170
)

// Error is an AWS service error of the rest-json protocol.
type Error struct {
	Status  int
	Type    string // x-amzn-ErrorType, e.g. ResourceNotFoundException
	Message string
	Reason  string // TooManyRequestsException's Reason
	// Kind is "User" or "Service".
	Kind string
}

// Error implements error.
func (e *Error) Error() string { return e.Type + ": " + e.Message }

// Body renders the error JSON as the Lambda service does.
func (e *Error) Body() []byte {
	kind := e.Kind
	if kind == "" {
		kind = "User"
	}
	b := []byte(`{"Type":`)
	b = strconv.AppendQuote(b, kind)
	if e.Reason != "" {
		b = append(b, `,"Reason":`...)
		b = strconv.AppendQuote(b, e.Reason)
	}
	b = append(b, `,"message":`...)
	b = appendJSONString(b, e.Message)
	return append(b, '}')
}

// Write sends the error.
func (e *Error) Write(w http.ResponseWriter) {
	h := w.Header()
	h.Set(headerErrorType, e.Type)
	h.Set("Content-Type", contentTypeJSON)
	if e.Status == http.StatusTooManyRequests {
		h.Set("Retry-After", "1")
	}
	w.WriteHeader(e.Status)
	w.Write(e.Body())
}

func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, `\u00`...)
			b = append(b, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// Errors the API returns.

// NotFound is ResourceNotFoundException for a function (and qualifier).
func NotFound(region, account, name, qualifier string) *Error {
	arn := FunctionARN(region, account, name, qualifier)
	return &Error{Status: 404, Type: "ResourceNotFoundException", Message: "Function not found: " + arn}
}

// InvalidParameter is InvalidParameterValueException.
func InvalidParameter(msg string) *Error {
	return &Error{Status: 400, Type: "InvalidParameterValueException", Message: msg}
}

// InvalidContent is InvalidRequestContentException (body is not JSON).
func InvalidContent(msg string) *Error {
	return &Error{Status: 400, Type: "InvalidRequestContentException", Message: "Could not parse request body into json: " + msg}
}

// TooLarge is RequestEntityTooLargeException.
func TooLarge(size int, invocationType string, limit int) *Error {
	msg := "Request must be smaller than " + strconv.Itoa(limit) + " bytes for the InvokeFunction operation"
	if invocationType == InvocationEvent {
		msg = strconv.Itoa(size) + " byte payload is too large for the Event invocation type (limit " + strconv.Itoa(limit) + " bytes)"
	}
	return &Error{Status: 413, Type: "RequestEntityTooLargeException", Message: msg}
}

// Throttled is TooManyRequestsException for a function's reserved concurrency.
func Throttled() *Error {
	return &Error{Status: 429, Type: "TooManyRequestsException", Message: "Rate Exceeded.", Reason: "ReservedFunctionConcurrentInvocationLimitExceeded"}
}

// ServiceError is ServiceException (500).
func ServiceError(msg string) *Error {
	return &Error{Status: 500, Type: "ServiceException", Message: msg, Kind: "Service"}
}

// Unavailable is a 503 ServiceException (agent down, breaker open).
func Unavailable(msg string) *Error {
	return &Error{Status: 503, Type: "ServiceException", Message: msg, Kind: "Service"}
}

// ResourceNotReady is a 502 for a worker that could not be started.
func ResourceNotReady(msg string) *Error {
	return &Error{Status: 502, Type: "ResourceNotReadyException", Message: msg, Kind: "Service"}
}

// FunctionARN builds arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>].
func FunctionARN(region, account, name, qualifier string) string {
	arn := "arn:aws:lambda:" + region + ":" + account + ":function:" + name
	if qualifier != "" {
		arn += ":" + qualifier
	}
	return arn
}

var (
	nameRe      = regexp.MustCompile(`^(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?$`)
	qualifierRe = regexp.MustCompile(`^(|[a-zA-Z0-9$_-]+)$`)
)

// Target is a parsed FunctionName with its qualifier.
type Target struct {
	Name      string
	Qualifier string
}

// ParseTarget parses the {FunctionName} path segment (name, name:qualifier,
// full or partial ARN) and the Qualifier query parameter.
func ParseTarget(raw, qualifier, region string) (Target, *Error) {
	if raw == "" || len(raw) > maxFunctionNameLen {
		return Target{}, InvalidParameter("1 validation error detected: Value '" + raw + "' at 'functionName' failed to satisfy constraint: Member must have length less than or equal to 170")
	}
	if qualifier == "" && plainName(raw) {
		return Target{Name: raw}, nil // the common case, without the regexp
	}
	m := nameRe.FindStringSubmatch(raw)
	if m == nil {
		return Target{}, InvalidParameter("1 validation error detected: Value '" + raw + "' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: " + nameRe.String())
	}
	if region != "" && m[3] != "" && strings.TrimSuffix(m[3], ":") != region {
		return Target{}, &Error{Status: 404, Type: "ResourceNotFoundException",
			Message: "Functions from '" + strings.TrimSuffix(m[3], ":") + "' are not reachable in this region ('" + region + "')"}
	}
	t := Target{Name: m[7], Qualifier: m[9]}
	if len(t.Name) > 64 {
		return Target{}, InvalidParameter("function name " + t.Name + " is longer than 64 characters")
	}
	if qualifier != "" {
		if len(qualifier) > 128 || !qualifierRe.MatchString(qualifier) {
			return Target{}, InvalidParameter("1 validation error detected: Value '" + qualifier + "' at 'qualifier' failed to satisfy constraint: Member must satisfy regular expression pattern: (|[a-zA-Z0-9$_-]+)")
		}
		if t.Qualifier != "" && t.Qualifier != qualifier {
			return Target{}, InvalidParameter("The derived qualifier from the function name does not match the specified qualifier.")
		}
		t.Qualifier = qualifier
	}
	return t, nil
}

func plainName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// ParseInvocationType validates X-Amz-Invocation-Type (empty = RequestResponse).
func ParseInvocationType(v string) (string, *Error) {
	switch v {
	case "", InvocationSync:
		return InvocationSync, nil
	case InvocationEvent, InvocationDryRun:
		return v, nil
	}
	return "", InvalidParameter("1 validation error detected: Value '" + v + "' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]")
}

// ParseLogType validates X-Amz-Log-Type and tells whether Tail was asked.
func ParseLogType(v string) (bool, *Error) {
	switch v {
	case "", "None":
		return false, nil
	case "Tail":
		return true, nil
	}
	return false, InvalidParameter("1 validation error detected: Value '" + v + "' at 'logType' failed to satisfy constraint: Member must satisfy enum value set: [Tail, None]")
}

// CheckClientContext validates X-Amz-Client-Context: base64 of at most 3583 bytes.
func CheckClientContext(v string) *Error {
	if v == "" {
		return nil
	}
	if len(v) > MaxClientContext {
		return InvalidParameter("Client context must be smaller than 3583 bytes")
	}
	if _, err := base64.StdEncoding.DecodeString(v); err != nil {
		return InvalidParameter("Client context must be a valid Base64-encoded JSON object.")
	}
	return nil
}

// SplitPath extracts {FunctionName} from /2015-03-31/functions/{FunctionName}/invocations
// (the escaped path, so that a full ARN's ':' survive as %3A or plainly).
func SplitPath(escapedPath string) (string, bool) {
	rest, ok := strings.CutPrefix(escapedPath, PathPrefix)
	if !ok {
		return "", false
	}
	name, ok := strings.CutSuffix(rest, "/invocations")
	if !ok || name == "" || strings.Contains(name, "/") {
		return "", false
	}
	if strings.Contains(name, "%") {
		if u, err := url.PathUnescape(name); err == nil {
			name = u
		}
	}
	return name, true
}
