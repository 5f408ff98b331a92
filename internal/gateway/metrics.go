package gateway

import (
	"encoding/json"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/edgeserverlessbox/esb/internal/pool"
)

// metrics are the gateway's Prometheus metrics, in a registry of its own.
type metrics struct {
	reg *prometheus.Registry

	invocations *prometheus.CounterVec   // function, result
	errors      *prometheus.CounterVec   // function, kind
	throttles   *prometheus.CounterVec   // function
	coldStarts  *prometheus.CounterVec   // function
	duration    *prometheus.HistogramVec // function
	requests    *prometheus.CounterVec   // kind, code
	reqDuration *prometheus.HistogramVec // kind

	mu    sync.Mutex
	perFn map[string]*fnMetrics
	fast  sync.Map // name → *fnMetrics, read without the mutex

	reqCount sync.Map // requestKey → prometheus.Counter
	reqObs   sync.Map // kind → prometheus.Observer
}

type requestKey struct {
	kind string
	code int
}

// request counts one HTTP request (cached children: no label hashing per request).
func (m *metrics) request(kind string, code int, d float64) {
	k := requestKey{kind, code}
	c, ok := m.reqCount.Load(k)
	if !ok {
		c, _ = m.reqCount.LoadOrStore(k, m.requests.WithLabelValues(kind, strconv.Itoa(code)))
	}
	c.(prometheus.Counter).Inc()
	o, ok := m.reqObs.Load(kind)
	if !ok {
		o, _ = m.reqObs.LoadOrStore(kind, m.reqDuration.WithLabelValues(kind))
	}
	o.(prometheus.Observer).Observe(d)
}

// fnMetrics caches the labelled children of one function, so the hot path
// does no label lookups.
type fnMetrics struct {
	ok, fnErr, timeout, failed prometheus.Counter
	throttled, cold            prometheus.Counter
	duration                   prometheus.Observer
	errs                       *prometheus.CounterVec
	name                       string
	// last is the function's most recent error, for /health and esb status.
	last atomic.Pointer[lastError]
}

// lastError is a function's most recent failed invocation.
type lastError struct {
	Kind      string    `json:"kind"`
	Message   string    `json:"message,omitempty"`
	RequestID string    `json:"request_id,omitempty"`
	At        time.Time `json:"at"`
}

// maxErrorMessage bounds the message kept as a function's last error.
const maxErrorMessage = 300

var durationBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900}

func newMetrics(pools func() []pool.Stats, queueLen func() int, extra ...prometheus.Collector) *metrics {
	m := &metrics{reg: prometheus.NewRegistry(), perFn: map[string]*fnMetrics{}}
	m.invocations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "esb_function_invocations_total", Help: "Invocations by function and result (success, function_error, timeout, error).",
	}, []string{"function", "result"})
	m.errors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "esb_function_errors_total", Help: "Failed invocations by function and kind (function, timeout, exit, init, oversize, worker, start, malformed).",
	}, []string{"function", "kind"})
	m.throttles = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "esb_function_throttles_total", Help: "Requests refused with 429 because the function's pool stayed full.",
	}, []string{"function"})
	m.coldStarts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "esb_function_cold_starts_total", Help: "Invocations that started a new worker.",
	}, []string{"function"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "esb_function_duration_seconds", Help: "Time from acquiring a worker to its answer.", Buckets: durationBuckets,
	}, []string{"function"})
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "esb_gateway_requests_total", Help: "HTTP requests by kind (api, invoke, auth, internal) and status code.",
	}, []string{"kind", "code"})
	m.reqDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "esb_gateway_request_duration_seconds", Help: "HTTP request duration by kind.", Buckets: durationBuckets,
	}, []string{"kind"})
	m.reg.MustRegister(m.invocations, m.errors, m.throttles, m.coldStarts, m.duration, m.requests, m.reqDuration,
		&poolCollector{stats: pools, queueLen: queueLen},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.reg.MustRegister(extra...)
	return m
}

func (m *metrics) fn(name string) *fnMetrics {
	if f, ok := m.fast.Load(name); ok {
		return f.(*fnMetrics)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.perFn[name]
	if f == nil {
		f = &fnMetrics{
			name:      name,
			ok:        m.invocations.WithLabelValues(name, "success"),
			fnErr:     m.invocations.WithLabelValues(name, "function_error"),
			timeout:   m.invocations.WithLabelValues(name, "timeout"),
			failed:    m.invocations.WithLabelValues(name, "error"),
			throttled: m.throttles.WithLabelValues(name),
			cold:      m.coldStarts.WithLabelValues(name),
			duration:  m.duration.WithLabelValues(name),
			errs:      m.errors,
		}
		m.perFn[name] = f
		m.fast.Store(name, f)
	}
	return f
}

// errorKind counts a failed invocation by kind and keeps it as the
// function's last error.
func (f *fnMetrics) errorKind(kind, requestID, msg string) {
	f.errs.WithLabelValues(f.name, kind).Inc()
	if len(msg) > maxErrorMessage {
		msg = msg[:maxErrorMessage] + "…"
	}
	f.last.Store(&lastError{Kind: kind, Message: msg, RequestID: requestID, At: time.Now().UTC()})
}

// lastErrors returns each function's most recent error.
func (m *metrics) lastErrors() map[string]*lastError {
	out := map[string]*lastError{}
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, f := range m.perFn {
		if e := f.last.Load(); e != nil {
			out[name] = e
		}
	}
	return out
}

// functionErrorMessage is "errorType: errorMessage" of a function's error
// payload, or the payload's start when it is not AWS's error shape.
func functionErrorMessage(body []byte) string {
	var e struct {
		Type    string `json:"errorType"`
		Message string `json:"errorMessage"`
	}
	if json.Unmarshal(body, &e) == nil && (e.Type != "" || e.Message != "") {
		if e.Type == "" {
			return e.Message
		}
		return e.Type + ": " + e.Message
	}
	if len(body) > maxErrorMessage {
		body = body[:maxErrorMessage]
	}
	return string(body)
}

// poolCollector reads pool sizes, queue lengths and breaker states at scrape time.
type poolCollector struct {
	stats    func() []pool.Stats
	queueLen func() int
}

var (
	descWorkers = prometheus.NewDesc("esb_pool_workers", "Workers of a function's pool by state (idle, busy, starting, paused).", []string{"function", "state"}, nil)
	descMax     = prometheus.NewDesc("esb_pool_max_capacity", "Maximum workers of a function (ReservedConcurrentExecutions).", []string{"function"}, nil)
	descMin     = prometheus.NewDesc("esb_pool_min_capacity", "Workers kept warm (ProvisionedConcurrency).", []string{"function"}, nil)
	descWaiting = prometheus.NewDesc("esb_pool_waiting_requests", "Requests queued for a worker.", []string{"function"}, nil)
	descEvict   = prometheus.NewDesc("esb_pool_evictions_total", "Workers evicted after a failure, a spec change or a vanished container.", []string{"function"}, nil)
	descStartF  = prometheus.NewDesc("esb_pool_start_failures_total", "Worker starts that failed.", []string{"function"}, nil)
	descBreaker = prometheus.NewDesc("esb_circuit_breaker_state", "Circuit breaker state: 0 closed, 1 half-open, 2 open.", []string{"function"}, nil)
	descQueue   = prometheus.NewDesc("esb_async_queue_length", "Asynchronous invocations queued or waiting for a retry.", nil, nil)
)

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descWorkers, descMax, descMin, descWaiting, descEvict, descStartF, descBreaker, descQueue} {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.stats() {
		fn := s.Function
		ch <- prometheus.MustNewConstMetric(descWorkers, prometheus.GaugeValue, float64(s.Idle), fn, "idle")
		ch <- prometheus.MustNewConstMetric(descWorkers, prometheus.GaugeValue, float64(s.Busy), fn, "busy")
		ch <- prometheus.MustNewConstMetric(descWorkers, prometheus.GaugeValue, float64(s.Starting), fn, "starting")
		ch <- prometheus.MustNewConstMetric(descWorkers, prometheus.GaugeValue, float64(s.Paused), fn, "paused")
		ch <- prometheus.MustNewConstMetric(descMax, prometheus.GaugeValue, float64(s.Max), fn)
		ch <- prometheus.MustNewConstMetric(descMin, prometheus.GaugeValue, float64(s.Min), fn)
		ch <- prometheus.MustNewConstMetric(descWaiting, prometheus.GaugeValue, float64(s.Waiting), fn)
		ch <- prometheus.MustNewConstMetric(descEvict, prometheus.CounterValue, float64(s.Evictions), fn)
		ch <- prometheus.MustNewConstMetric(descStartF, prometheus.CounterValue, float64(s.StartFailures), fn)
		ch <- prometheus.MustNewConstMetric(descBreaker, prometheus.GaugeValue, breakerValue(s.Breaker), fn)
	}
	ch <- prometheus.MustNewConstMetric(descQueue, prometheus.GaugeValue, float64(c.queueLen()))
}

func breakerValue(s pool.BreakerState) float64 {
	switch s {
	case pool.BreakerHalfOpen:
		return 1
	case pool.BreakerOpen:
		return 2
	}
	return 0
}
