package rie

import (
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/edgeserverlessbox/esb/internal/jsonx"
)

// Runtime API paths (version 2018-06-01).
const (
	pathNext         = "/2018-06-01/runtime/invocation/next"
	pathInitError    = "/2018-06-01/runtime/init/error"
	prefixInvocation = "/2018-06-01/runtime/invocation/"
)

// Header values shared by every response (never modified).
var (
	hdrJSON     = []string{"application/json"}
	acceptedOK  = []byte(`{"status":"OK"}`)
	emptyEvent  = []byte(`{}`)
	hdrLatest   = []string{"$LATEST"}
	hdrUnhandld = []string{"Unhandled"}
)

// runtimeAPI serves the Runtime API to the runtime process on loopback.
// It only decodes HTTP; the sandbox decides.
type runtimeAPI struct {
	s *sandbox
}

// ServeHTTP routes the Runtime API calls.
func (a *runtimeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == pathNext:
		if r.Method != http.MethodGet {
			methodNotAllowed(w, http.MethodGet)
			return
		}
		a.next(w, r)
	case p == pathInitError:
		if r.Method != http.MethodPost {
			methodNotAllowed(w, http.MethodPost)
			return
		}
		a.initError(w, r)
	case strings.HasPrefix(p, prefixInvocation):
		rest := p[len(prefixInvocation):]
		var id string
		var isErr, ok bool
		if id, ok = strings.CutSuffix(rest, "/response"); !ok {
			if id, ok = strings.CutSuffix(rest, "/error"); ok {
				isErr = true
			}
		}
		if !ok || id == "" || strings.Contains(id, "/") {
			writeRuntimeError(w, http.StatusNotFound, "NotFound", "unknown Runtime API path "+p)
			return
		}
		if r.Method != http.MethodPost {
			methodNotAllowed(w, http.MethodPost)
			return
		}
		a.result(w, r, id, isErr)
	default:
		writeRuntimeError(w, http.StatusNotFound, "NotFound", "unknown Runtime API path "+p+
			" (esb-rie serves the Runtime API 2018-06-01; the Extensions and Telemetry APIs are not supported)")
	}
}

// next answers GET /next with the event and its Lambda-Runtime-* headers.
func (a *runtimeAPI) next(w http.ResponseWriter, r *http.Request) {
	inv, err := a.s.next(r.Context())
	if err != nil {
		if r.Context().Err() != nil {
			return // the runtime hung up
		}
		writeStateError(w, err)
		return
	}
	defer inv.sending.Done()
	req := inv.req
	// One backing array for all header values: one allocation, not seven.
	v := &[7]string{req.requestID, strconv.FormatInt(inv.deadline.UnixMilli(), 10), req.functionARN,
		req.traceID, req.clientContext, req.cognitoIdentity, strconv.Itoa(len(req.payload))}
	h := w.Header()
	h["Lambda-Runtime-Aws-Request-Id"] = v[0:1:1]
	h["Lambda-Runtime-Deadline-Ms"] = v[1:2:2]
	h["Lambda-Runtime-Invoked-Function-Arn"] = v[2:3:3]
	h["Lambda-Runtime-Trace-Id"] = v[3:4:4]
	if req.clientContext != "" {
		h["Lambda-Runtime-Client-Context"] = v[4:5:5]
	}
	if req.cognitoIdentity != "" {
		h["Lambda-Runtime-Cognito-Identity"] = v[5:6:6]
	}
	h["Content-Type"] = hdrJSON
	h["Content-Length"] = v[6:7:7]
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(req.payload)
}

// result handles POST /{id}/response and /{id}/error.
func (a *runtimeAPI) result(w http.ResponseWriter, r *http.Request, id string, isErr bool) {
	target := "InvocationResponse"
	if isErr {
		target = "InvocationErrorResponse"
	}
	if err := a.s.checkResult(id, target); err != nil {
		writeStateError(w, err)
		return
	}
	if mode := r.Header.Get("Lambda-Runtime-Function-Response-Mode"); !isErr && mode != "" && !strings.EqualFold(mode, "streaming") {
		_ = a.s.respond(id, target, result{
			payload:   platformErrorBody("Runtime.InvalidResponseModeHeader", id, "invalid Lambda-Runtime-Function-Response-Mode "+strconv.Quote(mode)),
			errorKind: KindFunction, errorType: "Runtime.InvalidResponseModeHeader",
		})
		writeRuntimeError(w, http.StatusBadRequest, "InvalidFunctionResponseMode", "Invalid function response mode")
		return
	}

	buf := a.s.getBuf()
	total, err := readBody(r.Body, buf, MaxResponseBytes, r.ContentLength)
	if err != nil {
		a.s.putBuf(buf)
		writeRuntimeError(w, http.StatusBadRequest, "TruncatedHTTPRequest", "HTTP request detected as truncated")
		return
	}
	if total > MaxResponseBytes {
		a.s.putBuf(buf)
		err := a.s.respond(id, target, result{payload: oversizeBody(total), errorKind: KindOversize,
			errorType: "Function.ResponseSizeTooLarge"})
		if err != nil {
			writeStateError(w, err)
			return
		}
		writeRuntimeError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge",
			"Exceeded maximum allowed payload size ("+strconv.Itoa(MaxResponseBytes)+" bytes).")
		return
	}

	res := result{payload: *buf, buf: buf}
	errorType := r.Header.Get("Lambda-Runtime-Function-Error-Type")
	// A runtime that fails mid-response (aws-lambda-go does, for a failing
	// io.Reader) sends the error in trailers.
	if t := r.Trailer.Get("Lambda-Runtime-Function-Error-Type"); t != "" {
		isErr, errorType = true, t
		body, derr := base64.StdEncoding.DecodeString(r.Trailer.Get("Lambda-Runtime-Function-Error-Body"))
		if derr != nil || len(body) == 0 {
			body = errorObject(t, "")
		}
		a.s.putBuf(buf)
		res = result{payload: body}
	}
	if isErr {
		res.errorKind = KindFunction
		res.errorType = errorType
		if len(res.payload) == 0 {
			res.payload = errorObject(firstNonEmpty(errorType, "Unhandled"), "")
		}
	}
	if err := a.s.respond(id, target, res); err != nil {
		writeStateError(w, err)
		return
	}
	// On a single P (esb-rie's default) this runs the invoke handler now,
	// so the caller's response goes out before this 202.
	runtime.Gosched()
	w.Header()["Content-Type"] = hdrJSON
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write(acceptedOK)
}

// initError handles POST /init/error.
func (a *runtimeAPI) initError(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxResponseBytes))
	if err != nil {
		writeRuntimeError(w, http.StatusBadRequest, "TruncatedHTTPRequest", "HTTP request detected as truncated")
		return
	}
	proc, err := a.s.initError(r.Header.Get("Lambda-Runtime-Function-Error-Type"), body)
	if err != nil {
		writeStateError(w, err)
		return
	}
	w.Header()["Content-Type"] = hdrJSON
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write(acceptedOK)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	// AWS resets the environment after an init error; the next invoke
	// starts a fresh runtime.
	proc.Signal(syscall.SIGKILL)
}

// readBody reads r into *buf, up to limit bytes. When the body is larger
// it reads (and drops) the rest, up to 64 MiB, so the connection can be
// reused, and returns the full size.
func readBody(r io.Reader, buf *[]byte, limit int, contentLength int64) (int64, error) {
	b := (*buf)[:0]
	if contentLength > int64(limit) {
		n, _ := io.Copy(io.Discard, io.LimitReader(r, 64<<20))
		return max(n, contentLength), nil
	}
	if contentLength > int64(cap(b)) {
		b = make([]byte, 0, contentLength+1)
	}
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if len(b) > limit {
			*buf = b[:0]
			rest, _ := io.Copy(io.Discard, io.LimitReader(r, 64<<20))
			return int64(len(b)) + rest, nil
		}
		if err == io.EOF {
			*buf = b
			return int64(len(b)), nil
		}
		if err != nil {
			*buf = b[:0]
			return int64(len(b)), err
		}
	}
}

// errorObject builds {"errorMessage":..., "errorType":...}.
func errorObject(errorType, message string) []byte {
	b := append([]byte(`{"errorMessage":`), nil...)
	b = jsonx.AppendString(b, message)
	b = append(b, `,"errorType":`...)
	b = jsonx.AppendString(b, errorType)
	return append(b, '}')
}

// writeStateError answers a refused Runtime API call as AWS does.
func writeStateError(w http.ResponseWriter, err error) {
	var se *stateError
	switch {
	case errors.As(err, &se):
		writeRuntimeError(w, http.StatusForbidden, "InvalidStateTransition", se.Error())
	case errors.Is(err, errInvalidRequestID):
		writeRuntimeError(w, http.StatusBadRequest, "InvalidRequestID", "Invalid request ID")
	default:
		writeRuntimeError(w, http.StatusInternalServerError, "InternalServerError", "Internal Server Error")
	}
}

// writeRuntimeError writes a Runtime API error: {"errorType","errorMessage"}.
func writeRuntimeError(w http.ResponseWriter, status int, errorType, message string) {
	b := append([]byte(`{"errorType":`), nil...)
	b = jsonx.AppendString(b, errorType)
	b = append(b, `,"errorMessage":`...)
	b = jsonx.AppendString(b, message)
	b = append(b, '}')
	w.Header()["Content-Type"] = hdrJSON
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header()["Allow"] = []string{allow}
	writeRuntimeError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "use "+allow)
}
