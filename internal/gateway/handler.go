package gateway

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/edgeserverlessbox/esb/internal/gateway/apigw"
	"github.com/edgeserverlessbox/esb/internal/gateway/auth"
	"github.com/edgeserverlessbox/esb/internal/gateway/invokeapi"
	"github.com/edgeserverlessbox/esb/internal/gateway/route"
	"github.com/edgeserverlessbox/esb/internal/gateway/worker"
	"github.com/edgeserverlessbox/esb/internal/h1"
	"github.com/edgeserverlessbox/esb/internal/pool"
)

// MaxAPIPayload is API Gateway's request payload limit (10 MB).
const MaxAPIPayload = 10 << 20

// request carries per-request values through the handlers.
type request struct {
	id, trace string
	start     time.Time
	kind      string // api, invoke, auth, internal
	function  string
	cold      bool
	status    int
	bytes     int
	w         http.ResponseWriter
	rec       recorder
	match     route.Match
	event     []byte
	body      []byte
}

var requestPool = sync.Pool{New: func() any {
	return &request{match: route.Match{Params: make([]route.Param, 0, 8)}, event: make([]byte, 0, 4096)}
}}

// recorder wraps the ResponseWriter to see the status code and size.
type recorder struct {
	http.ResponseWriter
	rq *request
}

func (r *recorder) WriteHeader(code int) {
	if r.rq.status == 0 {
		r.rq.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.rq.status == 0 {
		r.rq.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.rq.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// ServeHTTP is the gateway's front: request and trace ids, dispatch, metrics
// and the access log.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rq := requestPool.Get().(*request)
	rq.start = time.Now()
	rq.id = g.ids.requestID()
	rq.trace = g.ids.traceID(r.Header.Get("X-Amzn-Trace-Id"), rq.start)
	rq.kind, rq.function, rq.cold, rq.status, rq.bytes = "api", "", false, 0, 0
	h := w.Header()
	// One allocation for both values (servers write the headers after
	// ServeHTTP returns, so they cannot live in the pooled request).
	ids := []string{rq.id, rq.trace}
	h["X-Amzn-Requestid"] = ids[0:1:1]
	h["X-Amzn-Trace-Id"] = ids[1:2:2]
	rq.rec = recorder{ResponseWriter: w, rq: rq}
	rq.w = &rq.rec

	g.dispatch(rq, r)

	d := time.Since(rq.start)
	code := rq.status
	if code == 0 {
		code = http.StatusOK
	}
	g.metrics.request(rq.kind, code, d.Seconds())
	if g.access != nil {
		g.access.write(&accessEntry{
			requestID: rq.id, traceID: rq.trace, method: r.Method, path: r.URL.Path, status: code,
			latency: d, bytes: rq.bytes, function: rq.function, cold: rq.cold,
			clientIP: clientIP(r), userAgent: r.UserAgent(),
		}, rq.start.Add(d))
	}
	rq.w = nil
	rq.rec = recorder{}
	rq.body = rq.body[:0]
	if cap(rq.event) <= 1<<20 && cap(rq.body) <= 1<<20 { // do not keep huge buffers
		requestPool.Put(rq)
	}
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (g *Gateway) dispatch(rq *request, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == "/health":
		rq.kind = "internal"
		g.serveHealth(rq, r)
	case p == "/metrics":
		rq.kind = "internal"
		g.metricsHandler.ServeHTTP(rq.w, r)
	case p == "/metrics/containers":
		rq.kind = "internal"
		if g.auth != nil {
			if _, err := g.auth.Verify(r.Header.Get("Authorization"), time.Now()); err != nil {
				writeJSON(rq.w, http.StatusUnauthorized, msgUnauthorized)
				return
			}
		}
		g.serveContainerMetrics(rq, r)
	case g.auth != nil && p == g.cfg.AuthPath && r.Method == http.MethodPost:
		rq.kind = "auth"
		g.serveLogin(rq, r)
	case strings.HasPrefix(p, invokeapi.PathPrefix):
		rq.kind = "invoke"
		g.serveInvoke(rq, r)
	default:
		g.serveAPI(rq, r)
	}
}

var (
	msgUnauthorized     = []byte(`{"message":"Unauthorized"}`)
	msgNotFound         = []byte(`{"message":"Not Found"}`)
	msgMissingToken     = []byte(`{"message":"Missing Authentication Token"}`)
	msgInternalREST     = []byte(`{"message": "Internal server error"}`)
	msgInternalHTTP     = []byte(`{"message":"Internal Server Error"}`)
	msgTimeout          = []byte(`{"message": "Endpoint request timed out"}`)
	msgTooMany          = []byte(`{"message":"Too Many Requests"}`)
	msgTooLarge         = []byte(`{"message":"Request Too Long"}`)
	msgBreakerOpen      = []byte(`{"message":"Service Unavailable: the function is failing repeatedly (circuit breaker open); retrying shortly"}`)
	msgAgentUnavailable = []byte(`{"message":"Service Unavailable: the container agent is not reachable"}`)
	msgUnavailable      = []byte(`{"message":"Service Unavailable"}`)
)

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	w.Write(body)
}

func (g *Gateway) serveLogin(rq *request, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		writeJSON(rq.w, http.StatusBadRequest, []byte(`{"message":"Bad Request"}`))
		return
	}
	res := g.auth.Login(r.Header.Get("X-Api-Key"), body, time.Now())
	if res.UserAuthorized {
		// The product's clients read this exact (non-canonical) name.
		rq.w.Header()[auth.HeaderUserAuthorized] = []string{"true"}
	}
	writeJSON(rq.w, res.Status, res.Body)
}

// readBody reads at most limit bytes into rq.body; ok=false when larger.
func readBody(rq *request, r *http.Request, limit int) (ok bool, err error) {
	if r.ContentLength > int64(limit) {
		return false, nil
	}
	buf := rq.body[:0]
	if r.ContentLength > 0 && int64(cap(buf)) < r.ContentLength {
		buf = make([]byte, 0, r.ContentLength)
	}
	lr := io.LimitReader(r.Body, int64(limit)+1)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			rq.body = buf
			return false, err
		}
	}
	rq.body = buf
	return len(buf) <= limit, nil
}

// serveAPI handles a request to a function route: auth, route lookup, event,
// invoke, response mapping.
func (g *Gateway) serveAPI(rq *request, r *http.Request) {
	st := g.state.Load()
	found := st.routes.Lookup(r.Method, r.URL.Path, &rq.match)
	tg := rq.match.Target
	var claims map[string]string
	var claimsJSON []byte
	if g.auth != nil && !(found && tg.Public) {
		// Checked before revealing whether the route exists.
		id, err := g.auth.Identify(r.Header.Get("Authorization"), rq.start)
		if err != nil {
			writeJSON(rq.w, http.StatusUnauthorized, msgUnauthorized)
			return
		}
		claims, claimsJSON = id.Claims, id.ClaimsJSON
	}
	if !found {
		g.noRoute(rq.w)
		return
	}
	fn := st.functions[tg.Function]
	rq.function = fn.name
	ok, err := readBody(rq, r, MaxAPIPayload)
	if err != nil {
		return // client went away
	}
	if !ok {
		writeJSON(rq.w, http.StatusRequestEntityTooLarge, msgTooLarge)
		return
	}
	scheme, port := "http", "80"
	if r.TLS != nil {
		scheme, port = "https", "443"
	}
	if _, p, err := net.SplitHostPort(r.Host); err == nil {
		port = p
	} else if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if _, p, err := net.SplitHostPort(a.String()); err == nil {
			port = p
		}
	}
	rawPath := r.URL.Path
	if tg.PayloadFormat == "2.0" {
		rawPath = r.URL.EscapedPath()
	}
	ev := apigw.Request{
		Method: r.Method, Path: r.URL.Path, RawPath: rawPath, RawQuery: r.URL.RawQuery,
		Header: r.Header, Host: r.Host, Proto: r.Proto, Scheme: scheme, Port: port, SourceIP: clientIP(r),
		Body: rq.body, Target: tg, Params: rq.match.Params, RequestID: rq.id, TraceID: rq.trace,
		Time: rq.start, Claims: claims, ClaimsJSON: claimsJSON, AccountID: g.cfg.AccountID, APIID: apiID(tg.API),
		BinaryMediaTypes: g.cfg.BinaryMediaTypes,
	}
	rq.event = apigw.AppendEvent(rq.event[:0], &ev)

	timeout := g.cfg.IntegrationTimeout
	if tg.TimeoutMs > 0 {
		timeout = time.Duration(tg.TimeoutMs) * time.Millisecond
	}
	c := call{fn: fn, inv: worker.Invocation{Payload: rq.event, RequestID: rq.id, TraceID: rq.trace, FunctionARN: fn.arn}, limit: timeout}
	res, err := g.invoke(r.Context(), rq, &c)
	rest := tg.API != "http"
	if err != nil {
		g.writeInvokeError(rq, err, rest)
		return
	}
	defer res.Release()
	if res.Failed() {
		c.pool.Breaker().Failure()
		if res.ErrorKind == worker.KindTimeout {
			writeJSON(rq.w, http.StatusGatewayTimeout, msgTimeout)
			return
		}
		g.writeInternal(rq, rest)
		return
	}
	resp, err := apigw.Map(res.Body, apigw.MapOptions{API: tg.API, PayloadFormat: tg.PayloadFormat,
		BinaryMediaTypes: g.cfg.BinaryMediaTypes, Accept: r.Header.Get("Accept")})
	if err != nil {
		c.pool.Breaker().Failure()
		g.fnMetrics(fn.name).errorKind("malformed", rq.id, "malformed Lambda proxy response: "+err.Error())
		g.log.Warn("malformed Lambda proxy response", "function", fn.name, "request_id", rq.id, "err", err)
		if errors.Is(err, apigw.ErrBodyDecode) {
			writeJSON(rq.w, http.StatusInternalServerError, msgInternalREST)
			return
		}
		g.writeInternal(rq, rest)
		return
	}
	if resp.StatusCode >= 500 {
		c.pool.Breaker().Failure()
	} else {
		c.pool.Breaker().Success()
	}
	h := rq.w.Header()
	free := make([]string, len(resp.Headers)) // backing of the values, one allocation
	for _, hd := range resp.Headers {
		if hopByHop(hd.Name) {
			continue // the gateway frames the response itself
		}
		k := http.CanonicalHeaderKey(hd.Name)
		if vs, ok := h[k]; ok || len(free) == 0 {
			h[k] = append(vs, hd.Value)
			continue
		}
		free[0] = hd.Value
		h[k] = free[0:1:1]
		free = free[1:]
	}
	if !h1.Buffered(rq.rec.ResponseWriter) {
		// h1.Server frames the answer itself; net/http needs the length
		// to not chunk a body larger than its buffer.
		h.Set("Content-Length", strconv.Itoa(len(resp.Body)))
	}
	rq.w.WriteHeader(resp.StatusCode)
	rq.w.Write(resp.Body)
}

func hopByHop(name string) bool {
	for _, h := range [...]string{"Connection", "Content-Length", "Keep-Alive", "Trailer", "Transfer-Encoding", "Upgrade"} {
		if len(h) == len(name) && strings.EqualFold(h, name) {
			return true
		}
	}
	return false
}

func apiID(api string) string {
	if api == "http" {
		return "esbhttpapi"
	}
	return "esbrestapi"
}

func (g *Gateway) noRoute(w http.ResponseWriter) {
	if g.cfg.NoRouteStatus == http.StatusForbidden {
		w.Header().Set("X-Amzn-Errortype", "MissingAuthenticationTokenException")
		writeJSON(w, http.StatusForbidden, msgMissingToken)
		return
	}
	writeJSON(w, http.StatusNotFound, msgNotFound)
}

func (g *Gateway) writeInternal(rq *request, rest bool) {
	if rest {
		writeJSON(rq.w, http.StatusBadGateway, msgInternalREST)
		return
	}
	writeJSON(rq.w, http.StatusInternalServerError, msgInternalHTTP)
}

// writeInvokeError answers an API route whose invoke did not produce a result.
func (g *Gateway) writeInvokeError(rq *request, err error, rest bool) {
	switch {
	case errors.Is(err, errBreakerOpen):
		writeJSON(rq.w, http.StatusServiceUnavailable, msgBreakerOpen)
	case errors.Is(err, pool.ErrThrottled), errors.Is(err, pool.ErrDisabled):
		rq.w.Header().Set("Retry-After", "1")
		writeJSON(rq.w, http.StatusTooManyRequests, msgTooMany)
	case errors.Is(err, pool.ErrAgentUnavailable):
		writeJSON(rq.w, http.StatusServiceUnavailable, msgAgentUnavailable)
	case errors.Is(err, pool.ErrClosed):
		writeJSON(rq.w, http.StatusServiceUnavailable, msgUnavailable)
	case errors.Is(err, errTimeout):
		writeJSON(rq.w, http.StatusGatewayTimeout, msgTimeout)
	case errors.Is(err, context.Canceled):
		// the client went away; nobody reads an answer
	default: // start failure, worker failure
		writeJSON(rq.w, http.StatusBadGateway, msgInternalREST)
	}
}
