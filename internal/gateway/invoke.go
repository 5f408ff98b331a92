package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/edgeserverlessbox/esb/internal/gateway/invokeapi"
	"github.com/edgeserverlessbox/esb/internal/gateway/worker"
	"github.com/edgeserverlessbox/esb/internal/pool"
)

var (
	errBreakerOpen = errors.New("circuit breaker open")
	errTimeout     = errors.New("integration timed out")
	errNoFunction  = errors.New("function has no pool")
)

// grace is added to a function's timeout before the gateway gives up on a
// worker that does not answer (esb-rie itself ends the invoke at the timeout).
const grace = 2 * time.Second

// call is one invoke of a function through its pool.
type call struct {
	fn  *function
	inv worker.Invocation
	// limit is the integration timeout (0 = the function's own timeout).
	limit time.Duration
	pool  *pool.Pool
}

// invoke runs one invocation: breaker, acquire, worker invoke, release. A
// result with Failed() is a function error; the caller records the breaker
// outcome of a result (Success/Failure), invoke records it for errors.
func (g *Gateway) invoke(ctx context.Context, rq *request, c *call) (*worker.Result, error) {
	p := g.pools.Pool(c.fn.name)
	if p == nil {
		return nil, errNoFunction
	}
	c.pool = p
	fm := g.fnMetrics(c.fn.name)
	br := p.Breaker()
	if !br.Allow() {
		fm.errorKind("breaker_open", c.inv.RequestID, "circuit breaker open")
		return nil, errBreakerOpen
	}
	w, cold, err := p.Acquire(ctx)
	if err != nil {
		switch {
		case errors.Is(err, pool.ErrStartFailed):
			br.Failure()
			fm.errorKind("start", c.inv.RequestID, err.Error())
			fm.failed.Inc()
		case errors.Is(err, pool.ErrThrottled), errors.Is(err, pool.ErrDisabled):
			br.Skip()
			fm.throttled.Inc()
		default:
			br.Skip()
		}
		return nil, err
	}
	if cold {
		fm.cold.Inc()
		if rq != nil {
			rq.cold = true
		}
	}
	start := time.Now()
	deadline := start.Add(c.fn.timeout + grace)
	if c.limit > 0 && c.limit < c.fn.timeout {
		// esb-rie stops the function at the integration timeout; the gateway
		// waits a little longer for its answer.
		c.inv.Deadline = start.Add(c.limit)
		deadline = c.inv.Deadline.Add(grace)
	}
	// A caller that goes away does not cut the invoke short: the function
	// runs to its end (as on AWS) and the worker stays usable.
	ictx := newInvokeCtx(context.WithoutCancel(ctx), deadline)
	c.inv.URL = w.URL
	res, err := g.workers.Invoke(ictx, &c.inv)
	timedOut := ictx.Err() == context.DeadlineExceeded
	ictx.release()
	fm.duration.Observe(time.Since(start).Seconds())
	if err != nil {
		p.Release(w, false)
		g.workers.Forget(w.URL)
		br.Failure()
		if timedOut {
			fm.timeout.Inc()
			fm.errorKind("timeout", c.inv.RequestID, fmt.Sprintf("no answer within %s", deadline.Sub(start).Round(time.Millisecond)))
			g.log.Warn("worker did not answer in time; evicted", "function", c.fn.name, "container", w.ID, "request_id", c.inv.RequestID)
			return nil, fmt.Errorf("%w: %s", errTimeout, c.fn.name)
		}
		fm.failed.Inc()
		fm.errorKind("worker", c.inv.RequestID, err.Error())
		g.log.Warn("worker failed; evicted", "function", c.fn.name, "container", w.ID, "request_id", c.inv.RequestID, "err", err)
		return nil, err
	}
	switch res.ErrorKind {
	case worker.KindTimeout, worker.KindExit, worker.KindInit:
		// The runtime was reset or never came up: do not reuse this worker.
		p.Release(w, false)
		g.workers.Forget(w.URL)
	default:
		p.Release(w, true)
	}
	if res.Failed() {
		kind := res.ErrorKind
		if kind == "" {
			kind = worker.KindFunction
		}
		fm.errorKind(kind, c.inv.RequestID, functionErrorMessage(res.Body))
		if kind == worker.KindTimeout {
			fm.timeout.Inc()
		} else {
			fm.fnErr.Inc()
		}
	} else {
		fm.ok.Inc()
	}
	return res, nil
}

func (g *Gateway) fnMetrics(name string) *fnMetrics { return g.metrics.fn(name) }

// serveInvoke implements POST /2015-03-31/functions/{FunctionName}/invocations.
func (g *Gateway) serveInvoke(rq *request, r *http.Request) {
	w := rq.w
	escaped := r.URL.RawPath
	if escaped == "" {
		escaped = r.URL.Path
	}
	raw, ok := invokeapi.SplitPath(escaped)
	if !ok || r.Method != http.MethodPost {
		(&invokeapi.Error{Status: 404, Type: "UnknownOperationException", Message: "Unknown operation " + r.Method + " " + r.URL.Path}).Write(w)
		return
	}
	var qualifier string
	if r.URL.RawQuery != "" {
		qualifier = r.URL.Query().Get("Qualifier")
	}
	tgt, aerr := invokeapi.ParseTarget(raw, qualifier, g.cfg.Region)
	if aerr != nil {
		aerr.Write(w)
		return
	}
	st := g.state.Load()
	fn := st.functions[tgt.Name]
	if fn == nil || !(tgt.Qualifier == "" || tgt.Qualifier == invokeapi.LatestVersion || tgt.Qualifier == fn.def.Alias) {
		invokeapi.NotFound(g.cfg.Region, g.cfg.AccountID, tgt.Name, tgt.Qualifier).Write(w)
		return
	}
	rq.function = fn.name
	invType, aerr := invokeapi.ParseInvocationType(r.Header.Get("X-Amz-Invocation-Type"))
	if aerr != nil {
		aerr.Write(w)
		return
	}
	tail, aerr := invokeapi.ParseLogType(r.Header.Get("X-Amz-Log-Type"))
	if aerr != nil {
		aerr.Write(w)
		return
	}
	cc := r.Header.Get("X-Amz-Client-Context")
	if aerr := invokeapi.CheckClientContext(cc); aerr != nil {
		aerr.Write(w)
		return
	}
	limit := invokeapi.MaxSyncPayload
	if invType == invokeapi.InvocationEvent {
		limit = g.cfg.AsyncMaxPayload
	}
	ok, err := readBody(rq, r, limit)
	if err != nil {
		return
	}
	if !ok {
		invokeapi.TooLarge(len(rq.body), invType, limit).Write(w)
		return
	}
	if g.sig != nil {
		if aerr := g.sig.Verify(r, rq.body, time.Now()); aerr != nil {
			aerr.Write(w)
			return
		}
	}
	payload := rq.body
	if len(strings.TrimSpace(string(payload))) == 0 {
		payload = []byte("{}")
	} else if !json.Valid(payload) {
		invokeapi.InvalidContent("the payload is not valid JSON").Write(w)
		return
	}
	arn := fn.arn
	if tgt.Qualifier != "" {
		arn += ":" + tgt.Qualifier
	}
	switch invType {
	case invokeapi.InvocationDryRun:
		w.WriteHeader(http.StatusNoContent)
		return
	case invokeapi.InvocationEvent:
		ev := &invokeapi.Event{ID: rq.id, Function: fn.name, Qualifier: tgt.Qualifier,
			Payload: append([]byte(nil), payload...), TraceID: rq.trace, Enqueued: time.Now()}
		if err := g.queue.Enqueue(ev); err != nil {
			if errors.Is(err, invokeapi.ErrQueueFull) {
				invokeapi.Throttled().Write(w)
				return
			}
			invokeapi.ServiceError(err.Error()).Write(w)
			return
		}
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusAccepted)
		return
	}

	c := call{fn: fn, inv: worker.Invocation{Payload: payload, RequestID: rq.id, TraceID: rq.trace,
		ClientContext: cc, FunctionARN: arn, Tail: tail}}
	res, err := g.invoke(r.Context(), rq, &c)
	if err != nil {
		g.writeInvokeAPIError(rq, fn, err)
		return
	}
	defer res.Release()
	if res.Failed() {
		c.pool.Breaker().Failure()
	} else {
		c.pool.Breaker().Success()
	}
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["X-Amz-Executed-Version"] = []string{invokeapi.LatestVersion}
	if res.Failed() {
		h["X-Amz-Function-Error"] = []string{res.FunctionError}
	}
	if tail && res.LogResult != "" {
		h["X-Amz-Log-Result"] = []string{res.LogResult}
	}
	w.WriteHeader(http.StatusOK)
	w.Write(res.Body)
}

// writeInvokeAPIError answers an Invoke API call whose invoke produced no
// result. A worker that timed out or died is a function error, as on AWS.
func (g *Gateway) writeInvokeAPIError(rq *request, fn *function, err error) {
	w := rq.w
	switch {
	case errors.Is(err, pool.ErrThrottled), errors.Is(err, pool.ErrDisabled):
		invokeapi.Throttled().Write(w)
	case errors.Is(err, errBreakerOpen):
		invokeapi.Unavailable("Function " + fn.name + " is failing repeatedly (circuit breaker open); retry later").Write(w)
	case errors.Is(err, pool.ErrAgentUnavailable):
		invokeapi.Unavailable("The container agent is not reachable: " + err.Error()).Write(w)
	case errors.Is(err, pool.ErrClosed):
		invokeapi.Unavailable("The gateway is shutting down").Write(w)
	case errors.Is(err, pool.ErrStartFailed):
		invokeapi.ResourceNotReady("Could not start a worker for " + fn.name + ": " + err.Error()).Write(w)
	case errors.Is(err, context.Canceled):
	case errors.Is(err, errTimeout):
		functionError(w, fmt.Sprintf(`{"errorType":"Sandbox.Timedout","errorMessage":"RequestId: %s Error: Task timed out after %.2f seconds"}`,
			rq.id, fn.timeout.Seconds()))
	default:
		functionError(w, fmt.Sprintf(`{"errorType":"Runtime.ExitError","errorMessage":"RequestId: %s Error: Runtime exited without providing a reason"}`, rq.id))
	}
}

func functionError(w http.ResponseWriter, body string) {
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["X-Amz-Executed-Version"] = []string{invokeapi.LatestVersion}
	h["X-Amz-Function-Error"] = []string{"Unhandled"}
	w.WriteHeader(http.StatusOK)
	w.Write([]byte(body))
}

// runEvent runs one queued asynchronous invocation.
func (g *Gateway) runEvent(ctx context.Context, ev *invokeapi.Event) invokeapi.Outcome {
	fn := g.state.Load().functions[ev.Function]
	if fn == nil {
		g.log.Warn("dropping asynchronous invocation of a removed function", "function", ev.Function, "request_id", ev.ID)
		return invokeapi.Done
	}
	arn := fn.arn
	if ev.Qualifier != "" {
		arn += ":" + ev.Qualifier
	}
	c := call{fn: fn, inv: worker.Invocation{Payload: ev.Payload, RequestID: ev.ID, TraceID: ev.TraceID, FunctionARN: arn}}
	res, err := g.invoke(ctx, nil, &c)
	if err != nil {
		switch {
		case errors.Is(err, errTimeout):
			return invokeapi.FunctionError
		case errors.Is(err, context.Canceled):
			return invokeapi.Retry
		}
		g.log.Info("asynchronous invocation will be retried", "function", fn.name, "request_id", ev.ID, "err", err)
		return invokeapi.Retry
	}
	defer res.Release()
	if res.Failed() {
		c.pool.Breaker().Failure()
		g.log.Warn("asynchronous invocation failed", "function", fn.name, "request_id", ev.ID, "attempt", ev.Attempts+1, "error", string(res.Body))
		return invokeapi.FunctionError
	}
	c.pool.Breaker().Success()
	return invokeapi.Done
}
