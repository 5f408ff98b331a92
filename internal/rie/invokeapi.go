package rie

import (
	"encoding/base64"
	"errors"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/edgeserverlessbox/esb/internal/jsonx"
)

// Invoke endpoint paths.
const (
	prefixFunctions   = "/2015-03-31/functions/"
	suffixInvocations = "/invocations"
	pathHealth        = "/healthz"
)

// invokeAPI serves the invoke endpoint (docs/contracts.md, "Invoking a
// worker") and /healthz. It only decodes HTTP; the sandbox decides.
type invokeAPI struct {
	s          *sandbox
	defaultARN string
	version    []string
}

func newInvokeAPI(s *sandbox, cfg *Config) *invokeAPI {
	return &invokeAPI{
		s:          s,
		defaultARN: "arn:aws:lambda:" + cfg.Region + ":" + cfg.AccountID + ":function:" + cfg.FunctionName,
		version:    []string{cfg.FunctionVersion},
	}
}

// ServeHTTP routes /healthz and /2015-03-31/functions/{name}/invocations.
func (a *invokeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == pathHealth:
		a.health(w)
	case strings.HasPrefix(p, prefixFunctions) && strings.HasSuffix(p, suffixInvocations) &&
		len(p) > len(prefixFunctions)+len(suffixInvocations) &&
		!strings.Contains(p[len(prefixFunctions):len(p)-len(suffixInvocations)], "/"):
		a.invoke(w, r)
	default:
		writeServiceError(w, http.StatusNotFound, "ResourceNotFoundException",
			"unknown path "+p+"; invoke with POST /2015-03-31/functions/function/invocations", "")
	}
}

func (a *invokeAPI) health(w http.ResponseWriter) {
	st := a.s.state()
	a.s.mu.Lock()
	draining := a.s.draining
	a.s.mu.Unlock()
	w.Header()["Content-Type"] = hdrJSON
	if draining || st == StateShutdown {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"status":"shutting-down","state":"` + st.String() + `"}`))
		return
	}
	_, _ = w.Write([]byte(`{"status":"ok","state":"` + st.String() + `"}`))
}

// invoke decodes one invoke, runs it and writes the outcome.
func (a *invokeAPI) invoke(w http.ResponseWriter, r *http.Request) {
	if a.s.busy() {
		// Refuse before reading the body; invoke checks again for real.
		writeBusy(w)
		return
	}
	h := r.Header
	req := &invokeRequest{
		requestID:       h.Get("X-Amzn-Requestid"),
		traceID:         h.Get("X-Amzn-Trace-Id"),
		cognitoIdentity: h.Get("X-Amz-Cognito-Identity"),
		functionARN:     h.Get("X-Esb-Invoked-Function-Arn"),
		tail:            strings.EqualFold(h.Get("X-Amz-Log-Type"), "Tail"),
	}
	if req.requestID == "" {
		req.requestID = newRequestID()
	}
	if req.traceID == "" {
		req.traceID = newTraceID(time.Now())
	}
	if req.functionARN == "" {
		req.functionARN = a.defaultARN
	}
	if cc := h.Get("X-Amz-Client-Context"); cc != "" {
		dec, err := base64.StdEncoding.DecodeString(cc)
		if err != nil {
			dec, err = base64.RawStdEncoding.DecodeString(cc)
		}
		if err != nil {
			writeServiceError(w, http.StatusBadRequest, "InvalidRequestContentException",
				"X-Amz-Client-Context must be base64-encoded JSON: "+err.Error(), "")
			return
		}
		req.clientContext = string(dec)
	}
	if d := h.Get("X-Esb-Deadline-Ms"); d != "" {
		msec, err := strconv.ParseInt(d, 10, 64)
		if err != nil || msec <= 0 {
			writeServiceError(w, http.StatusBadRequest, "InvalidParameterValueException",
				"X-Esb-Deadline-Ms "+strconv.Quote(d)+": want Unix time in milliseconds", "")
			return
		}
		req.deadline = time.UnixMilli(msec)
	}

	buf := a.s.getBuf()
	defer a.s.putBuf(buf)
	total, err := readBody(r.Body, buf, MaxRequestBytes, r.ContentLength)
	if err != nil {
		writeServiceError(w, http.StatusBadRequest, "InvalidRequestContentException",
			"could not read the request body: "+err.Error(), "")
		return
	}
	if total > MaxRequestBytes {
		writeServiceError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLargeException",
			"Request must be smaller than "+strconv.Itoa(MaxRequestBytes)+" bytes for the InvokeFunction operation", "")
		return
	}
	req.payload = *buf
	if len(req.payload) == 0 {
		req.payload = emptyEvent
	}

	inv, res, err := a.s.run(req)
	switch {
	case errors.Is(err, ErrBusy):
		writeBusy(w)
		return
	case errors.Is(err, ErrShuttingDown):
		writeServiceError(w, http.StatusServiceUnavailable, "ServiceException", err.Error(), "")
		return
	case err != nil:
		writeServiceError(w, http.StatusInternalServerError, "ServiceException", err.Error(), "")
		return
	}
	defer a.s.putBuf(res.buf)
	if req.tail {
		// The tail ends with END and REPORT: print them first.
		a.s.complete(inv, res)
	}

	// One backing array for the header values: one allocation.
	v := &[6]string{req.requestID, formatMS(res.duration), strconv.Itoa(len(res.payload)), res.errorKind}
	out := w.Header()
	out["X-Amzn-RequestId"] = v[0:1:1]
	out["X-Amz-Executed-Version"] = a.version
	out["Content-Type"] = hdrJSON
	out["X-Esb-Duration-Ms"] = v[1:2:2]
	if res.initDuration > 0 {
		v[4] = formatMS(res.initDuration)
		out["X-Esb-Init-Duration-Ms"] = v[4:5:5]
	}
	if res.errorKind != "" {
		out["X-Amz-Function-Error"] = hdrUnhandld
		out["X-Esb-Error-Kind"] = v[3:4:4]
	}
	if req.tail {
		v[5] = base64.StdEncoding.EncodeToString(res.logTail)
		out["X-Amz-Log-Result"] = v[5:6:6]
	}
	out["Content-Length"] = v[2:3:3]
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(res.payload)
	if req.tail {
		return
	}
	// As on AWS, the caller has its response before END and REPORT are
	// printed (and before the runtime's 202: runtimeAPI.result yields to
	// this goroutine). Then, on esb-rie's single P, yield back so the 202
	// goes out and the runtime can ask for its next event while END and
	// REPORT are written.
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	runtime.Gosched()
	a.s.complete(inv, res)
}

func writeBusy(w http.ResponseWriter) {
	writeServiceError(w, http.StatusTooManyRequests, "TooManyRequestsException",
		"Rate Exceeded. "+ErrBusy.Error()+" (one at a time, as on Lambda)", "ConcurrentInvocationLimitExceeded")
}

// writeServiceError writes an invoke-level error the way the Lambda API
// does (x-amzn-ErrorType, "Type"/"message") and the way esb's contract
// reads it ("errorType"/"errorMessage").
func writeServiceError(w http.ResponseWriter, status int, code, message, reason string) {
	b := append([]byte(`{"errorType":`), nil...)
	b = jsonx.AppendString(b, code)
	b = append(b, `,"errorMessage":`...)
	b = jsonx.AppendString(b, message)
	b = append(b, `,"Type":"User","message":`...)
	b = jsonx.AppendString(b, message)
	if reason != "" {
		b = append(b, `,"Reason":`...)
		b = jsonx.AppendString(b, reason)
	}
	b = append(b, '}')
	h := w.Header()
	h["X-Amzn-Errortype"] = []string{code}
	h["Content-Type"] = hdrJSON
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
