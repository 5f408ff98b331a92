package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/prometheus/client_golang/prometheus"

	agentv1 "github.com/edgeserverlessbox/esb/api/agent/v1"

	"github.com/edgeserverlessbox/esb/internal/gateway/worker/workertest"
	"github.com/edgeserverlessbox/esb/internal/manifest"
)

func echoRoutes() manifest.Routing {
	return manifest.Routing{API: "rest", Routes: []manifest.Route{
		{Path: "/users/{id}", Method: "get", Function: "echo"},
		{Path: "/files/{key+}", Method: "any", Function: "echo"},
		{Path: "/public/ping", Method: "get", Function: "echo", Public: true},
		{Path: "/v2/{proxy+}", Method: "any", Function: "echo", API: "http"},
	}}
}

func TestAuthFlowAndOrdering(t *testing.T) {
	ag := newFakeAgent()
	ag.handle("echo:latest", proxyEcho)
	e := startGateway(t, ag, oneFunction("echo", "echo:latest", 2), echoRoutes(), nil)

	// Login: bad key → 401 without PADMA_USER_AUTHORIZED; bad password → 401 with it.
	login := func(key, user, pass string) result {
		return e.do("POST", e.https+"/user/auth/ver1.0",
			[]byte(`{"AuthParameters":{"USERNAME":"`+user+`","PASSWORD":"`+pass+`"}}`), map[string]string{"x-api-key": key})
	}
	r := login("wrong", e.user, e.pass)
	if r.status != 401 || r.header.Get("PADMA_USER_AUTHORIZED") != "" {
		t.Errorf("bad api key: %d %v", r.status, r.header)
	}
	r = login(e.apiKey, e.user, "nope")
	if r.status != 401 || r.header.Get("PADMA_USER_AUTHORIZED") != "true" {
		t.Errorf("bad password: %d %v", r.status, r.header)
	}

	// Without a token: 401 for known and unknown paths alike (no leak).
	for _, p := range []string{"/users/1", "/no/such/route"} {
		if r := e.do("GET", e.https+p, nil, nil); r.status != 401 || string(r.body) != `{"message":"Unauthorized"}` {
			t.Errorf("GET %s without token: %d %s", p, r.status, r.body)
		}
	}
	if r := e.do("GET", e.https+"/users/1", nil, map[string]string{"Authorization": "Bearer not.a.token"}); r.status != 401 {
		t.Errorf("bad token: %d", r.status)
	}
	// Public routes need no token.
	if r := e.do("GET", e.https+"/public/ping", nil, nil); r.status != 200 {
		t.Errorf("public route: %d %s", r.status, r.body)
	}

	e.login()
	if r := e.do("GET", e.https+"/no/such/route", nil, nil); r.status != 404 || string(r.body) != `{"message":"Not Found"}` {
		t.Errorf("unknown route with token: %d %s", r.status, r.body)
	}
	r = e.do("GET", e.https+"/users/1", nil, nil)
	if r.status != 200 {
		t.Fatalf("route with token: %d %s", r.status, r.body)
	}
	var ev events.APIGatewayProxyRequest
	json.Unmarshal(r.body, &ev)
	claims, _ := ev.RequestContext.Authorizer["claims"].(map[string]any)
	if claims["cognito:username"] != "alice" || claims["sub"] == "" {
		t.Errorf("authorizer.claims: %v", ev.RequestContext.Authorizer)
	}
}

func TestEventThroughRouteAndIDs(t *testing.T) {
	ag := newFakeAgent()
	var seenTrace atomic.Value
	ag.handle("echo:latest", func(c *workertest.Call) workertest.Reply {
		seenTrace.Store(c.TraceID)
		return proxyEcho(c)
	})
	e := startGateway(t, ag, oneFunction("echo", "echo:latest", 2), echoRoutes(), nil)
	e.login()

	trace := "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
	r := e.do("GET", e.https+"/users/42?x=1&x=2&y=%20z", nil, map[string]string{"X-Amzn-Trace-Id": trace, "X-Custom": "v"})
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var ev events.APIGatewayProxyRequest
	if err := json.Unmarshal(r.body, &ev); err != nil {
		t.Fatalf("event: %v: %s", err, r.body)
	}
	if ev.Resource != "/users/{id}" || ev.Path != "/users/42" || ev.HTTPMethod != "GET" || ev.PathParameters["id"] != "42" {
		t.Errorf("event: %+v", ev)
	}
	if ev.QueryStringParameters["x"] != "2" || len(ev.MultiValueQueryStringParameters["x"]) != 2 || ev.QueryStringParameters["y"] != " z" {
		t.Errorf("query: %v %v", ev.QueryStringParameters, ev.MultiValueQueryStringParameters)
	}
	if ev.Headers["X-Custom"] != "v" || ev.RequestContext.Identity.SourceIP != "127.0.0.1" || ev.RequestContext.Stage != "Prod" {
		t.Errorf("headers/identity: %v %+v", ev.Headers, ev.RequestContext.Identity)
	}
	if rid := r.header.Get("X-Amzn-RequestId"); rid == "" || ev.RequestContext.RequestID != rid {
		t.Errorf("request id: header %q event %q", rid, ev.RequestContext.RequestID)
	}
	if r.header.Get("X-Amzn-Trace-Id") != trace || seenTrace.Load() != trace {
		t.Errorf("trace id not kept: response %q, worker %q", r.header.Get("X-Amzn-Trace-Id"), seenTrace.Load())
	}
	// Without a trace header one is made.
	r = e.do("GET", e.https+"/users/1", nil, nil)
	if tr := r.header.Get("X-Amzn-Trace-Id"); !validTrace(tr) || !strings.HasSuffix(tr, ";Sampled=1") {
		t.Errorf("new trace id %q", tr)
	}
	// HTTP API route: payload 2.0.
	r = e.do("POST", e.https+"/v2/a/b?q=1", []byte(`{"k":"v"}`), map[string]string{"Content-Type": "application/json", "Cookie": "c1=a; c2=b"})
	var v2 events.APIGatewayV2HTTPRequest
	json.Unmarshal(r.body, &v2)
	if v2.Version != "2.0" || v2.RouteKey != "ANY /v2/{proxy+}" || v2.PathParameters["proxy"] != "a/b" || v2.Body != `{"k":"v"}` || len(v2.Cookies) != 2 {
		t.Errorf("v2 event: %s", r.body)
	}
	// Access log: one JSON line per request with both ids.
	if l := e.logs(); !strings.Contains(l, `"type":"access"`) || !strings.Contains(l, `"trace_id":"`+trace) {
		t.Errorf("access log: %s", l)
	}
}

func TestBinaryBodyByteForByte(t *testing.T) {
	ag := newFakeAgent()
	ag.handle("bin:latest", func(c *workertest.Call) workertest.Reply {
		var ev events.APIGatewayProxyRequest
		json.Unmarshal(c.Payload, &ev)
		// Return the request body as it came (base64) as a binary response.
		out, _ := json.Marshal(map[string]any{"statusCode": 200, "isBase64Encoded": true,
			"headers": map[string]string{"Content-Type": "application/octet-stream"}, "body": ev.Body})
		if !ev.IsBase64Encoded {
			out, _ = json.Marshal(map[string]any{"statusCode": 500, "body": "request body not base64"})
		}
		return workertest.Reply{Payload: out}
	})
	e := startGateway(t, ag, oneFunction("bin", "bin:latest", 1),
		manifest.Routing{Routes: []manifest.Route{{Path: "/bin", Method: "post", Function: "bin"}}},
		func(c *Config) { c.BinaryMediaTypes = []string{"application/octet-stream"} })
	e.login()
	body := make([]byte, 70000)
	for i := range body {
		body[i] = byte(i * 7)
	}
	r := e.do("POST", e.https+"/bin", body, map[string]string{"Content-Type": "application/octet-stream", "Accept": "application/octet-stream"})
	if r.status != 200 || !bytes.Equal(r.body, body) {
		t.Fatalf("binary round trip: %d, %d bytes, equal=%v", r.status, len(r.body), bytes.Equal(r.body, body))
	}
}

func TestErrorMapping(t *testing.T) {
	ag := newFakeAgent()
	ag.handle("err:latest", func(c *workertest.Call) workertest.Reply {
		return workertest.Reply{ErrorKind: "function", Payload: []byte(`{"errorType":"ValueError","errorMessage":"boom"}`)}
	})
	ag.handle("bad:latest", func(c *workertest.Call) workertest.Reply {
		return workertest.Reply{Payload: []byte(`{"body":"no status"}`)}
	})
	ag.handle("slow:latest", func(c *workertest.Call) workertest.Reply {
		time.Sleep(300 * time.Millisecond)
		return proxyEcho(c)
	})
	ag.timeouts["slow:latest"] = 100 * time.Millisecond
	fns := manifest.Functions{Functions: map[string]manifest.Function{
		"err":  {Image: "err:latest", Timeout: 3, Scaling: manifest.Scaling{MaxCapacity: 1}},
		"bad":  {Image: "bad:latest", Timeout: 3, Scaling: manifest.Scaling{MaxCapacity: 1}},
		"slow": {Image: "slow:latest", Timeout: 1, Scaling: manifest.Scaling{MaxCapacity: 1}},
	}}
	rt := manifest.Routing{Routes: []manifest.Route{
		{Path: "/err", Method: "get", Function: "err"},
		{Path: "/err2", Method: "get", Function: "err", API: "http"},
		{Path: "/bad", Method: "get", Function: "bad"},
		{Path: "/slow", Method: "get", Function: "slow"},
	}}
	e := startGateway(t, ag, fns, rt, func(c *Config) { c.BreakerThreshold = 100 })
	e.login()
	cases := []struct {
		path   string
		status int
		body   string
	}{
		{"/err", 502, `{"message": "Internal server error"}`},
		{"/err2", 500, `{"message":"Internal Server Error"}`},
		{"/bad", 502, `{"message": "Internal server error"}`},
		{"/slow", 504, `{"message": "Endpoint request timed out"}`},
	}
	for _, c := range cases {
		r := e.do("GET", e.https+c.path, nil, nil)
		if r.status != c.status || string(r.body) != c.body {
			t.Errorf("%s: %d %s, want %d %s", c.path, r.status, r.body, c.status, c.body)
		}
	}
	// A timed-out worker is evicted: the next call gets a new container.
	before := ag.ensured["slow"]
	e.do("GET", e.https+"/slow", nil, nil)
	if ag.ensured["slow"] != before+1 {
		t.Errorf("timed-out worker reused")
	}
	// A worker that answered a function error stays warm.
	if ag.ensured["err"] != 1 {
		t.Errorf("function error must not evict: ensured %d", ag.ensured["err"])
	}
	// /health keeps each function's last error for esb status.
	var health struct {
		Pools []struct {
			Function  string
			LastError *struct{ Kind, Message, RequestID string } `json:"last_error"`
		}
	}
	h := e.do("GET", e.https+"/health", nil, nil)
	if err := json.Unmarshal(h.body, &health); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"err": "function ValueError: boom", "bad": "malformed", "slow": "timeout"}
	for _, p := range health.Pools {
		w := want[p.Function]
		if p.LastError == nil || !strings.HasPrefix(p.LastError.Kind+" "+p.LastError.Message, w) {
			t.Errorf("%s: last error %+v, want %q", p.Function, p.LastError, w)
		}
	}
}

func TestThrottleAndMaxCapacity(t *testing.T) {
	ag := newFakeAgent()
	ag.handle("slow:latest", func(c *workertest.Call) workertest.Reply {
		time.Sleep(150 * time.Millisecond)
		return proxyEcho(c)
	})
	e := startGateway(t, ag, oneFunction("slow", "slow:latest", 2),
		manifest.Routing{Routes: []manifest.Route{{Path: "/slow", Method: "get", Function: "slow"}}},
		func(c *Config) { c.AcquireTimeout = 200 * time.Millisecond })
	e.login()
	var wg sync.WaitGroup
	var ok, throttled, other atomic.Int32
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch r := e.do("GET", e.https+"/slow", nil, nil); r.status {
			case 200:
				ok.Add(1)
			case 429:
				throttled.Add(1)
			default:
				other.Add(1)
			}
		}()
	}
	wg.Wait()
	if ag.maxLive["slow"] > 2 || other.Load() != 0 || ok.Load() == 0 || throttled.Load() == 0 {
		t.Errorf("max live %d, ok %d, throttled %d, other %d", ag.maxLive["slow"], ok.Load(), throttled.Load(), other.Load())
	}
}

func TestCircuitBreaker(t *testing.T) {
	ag := newFakeAgent()
	var fail atomic.Bool
	fail.Store(true)
	ag.handle("flaky:latest", func(c *workertest.Call) workertest.Reply {
		if fail.Load() {
			return workertest.Reply{ErrorKind: "function", Payload: []byte(`{"errorType":"E","errorMessage":"x"}`)}
		}
		return proxyEcho(c)
	})
	e := startGateway(t, ag, oneFunction("flaky", "flaky:latest", 1),
		manifest.Routing{Routes: []manifest.Route{{Path: "/f", Method: "get", Function: "flaky"}}},
		func(c *Config) { c.BreakerThreshold = 3; c.BreakerRecovery = 200 * time.Millisecond })
	e.login()
	for range 3 {
		if r := e.do("GET", e.https+"/f", nil, nil); r.status != 502 {
			t.Fatalf("failing call: %d", r.status)
		}
	}
	r := e.do("GET", e.https+"/f", nil, nil)
	if r.status != 503 {
		t.Fatalf("open breaker: %d %s", r.status, r.body)
	}
	time.Sleep(250 * time.Millisecond)
	fail.Store(false)
	if r := e.do("GET", e.https+"/f", nil, nil); r.status != 200 {
		t.Fatalf("half-open trial: %d", r.status)
	}
	if r := e.do("GET", e.https+"/f", nil, nil); r.status != 200 {
		t.Fatalf("closed again: %d", r.status)
	}
}

func TestAgentDownAndBack(t *testing.T) {
	ag := newFakeAgent()
	ag.handle("echo:latest", proxyEcho)
	ag.setDown(true)
	e := startGateway(t, ag, oneFunction("echo", "echo:latest", 1), echoRoutes(), nil)
	e.login()
	r := e.do("GET", e.https+"/users/1", nil, nil)
	if r.status != 503 || !strings.Contains(string(r.body), "agent") {
		t.Errorf("agent down: %d %s", r.status, r.body)
	}
	h := e.do("GET", e.https+"/health", nil, nil)
	if !strings.Contains(string(h.body), `"status":"degraded"`) {
		t.Errorf("health with the agent down: %s", h.body)
	}
	ag.setDown(false)
	if r := e.do("GET", e.https+"/users/1", nil, nil); r.status != 200 {
		t.Errorf("agent back: %d %s", r.status, r.body)
	}
}

func TestHealthAndMetrics(t *testing.T) {
	ag := newFakeAgent()
	ag.handle("echo:latest", proxyEcho)
	extra := prometheus.NewCounter(prometheus.CounterOpts{Name: "esb_log_lines_total", Help: "extra collector"})
	extra.Add(3)
	e := startGateway(t, ag, oneFunction("echo", "echo:latest", 1), echoRoutes(), func(c *Config) {
		c.MetricsCollectors = []prometheus.Collector{extra}
	})
	e.login()
	e.do("GET", e.https+"/users/1", nil, nil)
	h := e.do("GET", e.https+"/health", nil, map[string]string{"Authorization": ""})
	var health map[string]any
	json.Unmarshal(h.body, &health)
	if h.status != 200 || health["status"] != "healthy" {
		t.Errorf("health: %d %s", h.status, h.body)
	}
	m := e.do("GET", e.http+"/metrics", nil, nil)
	for _, want := range []string{
		`esb_function_invocations_total{function="echo",result="success"} 1`,
		`esb_function_cold_starts_total{function="echo"} 1`,
		`esb_pool_workers{function="echo",state="idle"} 1`,
		`esb_circuit_breaker_state{function="echo"} 0`,
		`esb_function_duration_seconds_bucket`,
		`esb_async_queue_length 0`,
		`esb_log_lines_total 3`,
	} {
		if !strings.Contains(string(m.body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	c := e.do("GET", e.https+"/metrics/containers", nil, nil)
	if c.status != 200 || !strings.Contains(string(c.body), `"memory_current":1048576`) || !strings.Contains(string(c.body), `"echo":[`) {
		t.Errorf("/metrics/containers: %d %s", c.status, c.body)
	}
	if c := e.do("GET", e.https+"/metrics/containers", nil, map[string]string{"Authorization": ""}); c.status != 401 {
		t.Errorf("/metrics/containers without token: %d", c.status)
	}
}

func TestReloadKeepsInFlight(t *testing.T) {
	ag := newFakeAgent()
	release := make(chan struct{})
	ag.handle("echo:latest", func(c *workertest.Call) workertest.Reply {
		if strings.Contains(string(c.Payload), "/users/slow") {
			<-release
		}
		return proxyEcho(c)
	})
	e := startGateway(t, ag, oneFunction("echo", "echo:latest", 2), echoRoutes(), func(c *Config) { c.WatchInterval = 20 * time.Millisecond })
	e.login()
	done := make(chan result, 1)
	go func() { done <- e.do("GET", e.https+"/users/slow", nil, nil) }()
	time.Sleep(50 * time.Millisecond)

	rt := echoRoutes()
	rt.Routes = append(rt.Routes, manifest.Route{Path: "/new", Method: "get", Function: "echo"})
	rt.Routes = rt.Routes[1:] // drop /users/{id}
	if err := manifest.Save(e.rtFile, rt); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for e.do("GET", e.https+"/new", nil, nil).status != 200 {
		if time.Now().After(deadline) {
			t.Fatal("route file change not picked up")
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(release)
	if r := <-done; r.status != 200 {
		t.Errorf("in-flight request across a reload: %d", r.status)
	}
	if r := e.do("GET", e.https+"/users/1", nil, nil); r.status != 404 {
		t.Errorf("removed route: %d", r.status)
	}
	// A broken file keeps the running configuration.
	os.WriteFile(e.rtFile, []byte("routes: [ {path: /x, method: get, function: missing} ]\n"), 0o644)
	if err := e.g.Reload(); err == nil {
		t.Error("reload of a broken routing.yml must fail")
	}
	if r := e.do("GET", e.https+"/new", nil, nil); r.status != 200 {
		t.Errorf("after a failed reload: %d", r.status)
	}
}

func TestShutdownDestroysWorkers(t *testing.T) {
	ag := newFakeAgent()
	ag.handle("echo:latest", proxyEcho)
	fns := oneFunction("echo", "echo:latest", 2)
	f := fns.Functions["echo"]
	f.Scaling.MinCapacity = 1
	fns.Functions["echo"] = f
	e := startGateway(t, ag, fns, echoRoutes(), nil)
	deadline := time.Now().Add(2 * time.Second)
	for ag.live() != 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if ag.live() != 1 {
		t.Fatalf("min_capacity worker not started: %d", ag.live())
	}
	if env := ag.envs["echo"]; env["AWS_ENDPOINT_URL_LAMBDA"] != "http://gateway:8080" || env["AWS_LAMBDA_FUNCTION_NAME"] != "echo" ||
		env["AWS_LAMBDA_INITIALIZATION_TYPE"] != "provisioned-concurrency" || env["ESB_LOG_FORMAT"] != "json" || env["AWS_REGION"] != "us-east-1" {
		t.Errorf("worker environment: %v", env)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.g.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if ag.live() != 0 {
		t.Errorf("%d containers left after shutdown", ag.live())
	}
}

func TestStartupCleansPreviousRun(t *testing.T) {
	ag := newFakeAgent()
	ag.handle("echo:latest", proxyEcho)
	// A container of a previous run of this project, and one of another project.
	ag.EnsureContainer(context.Background(), reqFor("echo", "echo:latest", "test"))
	ag.EnsureContainer(context.Background(), reqFor("echo", "echo:latest", "other"))
	startGateway(t, ag, oneFunction("echo", "echo:latest", 1), echoRoutes(), nil)
	ag.mu.Lock()
	defer ag.mu.Unlock()
	if len(ag.meta) != 1 || ag.meta["c2"] == nil {
		t.Errorf("after start: %v", ag.meta)
	}
}

func TestNoRoute403Option(t *testing.T) {
	ag := newFakeAgent()
	e := startGateway(t, ag, oneFunction("echo", "echo:latest", 1), echoRoutes(), func(c *Config) {
		c.NoRouteStatus = 403
		c.AuthDisabled = true
	})
	r := e.do("GET", e.https+"/nothing", nil, nil)
	if r.status != 403 || string(r.body) != `{"message":"Missing Authentication Token"}` || r.header.Get("X-Amzn-ErrorType") != "MissingAuthenticationTokenException" {
		t.Errorf("%d %s %v", r.status, r.body, r.header)
	}
}

func TestHTTP2AndPlainHTTP(t *testing.T) {
	ag := newFakeAgent()
	ag.handle("echo:latest", proxyEcho)
	e := startGateway(t, ag, oneFunction("echo", "echo:latest", 1), echoRoutes(), func(c *Config) { c.AuthDisabled = true })
	resp, err := e.client.Get(e.https + "/public/ping")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Errorf("HTTPS protocol %s, want HTTP/2", resp.Proto)
	}
	if r := e.do("GET", e.http+"/users/5", nil, nil); r.status != 200 {
		t.Errorf("plain HTTP: %d", r.status)
	}
}

func TestStartErrors(t *testing.T) {
	dir := t.TempDir()
	fp, rp := writeManifests(t, dir, oneFunction("echo", "echo:latest", 1), echoRoutes())
	base := Config{FunctionsFile: fp, RoutingFile: rp, HTTPAddr: "127.0.0.1:0", APIKey: "k", JWTSecret: "short"}
	if _, err := New(base, newFakeAgent()); err == nil || !strings.Contains(err.Error(), "JWT_SECRET_KEY") {
		t.Errorf("short secret: %v", err)
	}
	base.JWTSecret = strings.Repeat("s", 32)
	g, err := New(base, newFakeAgent())
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer g.Shutdown(context.Background())
	taken := base
	taken.HTTPAddr = g.Addr("http").String()
	g2, _ := New(taken, newFakeAgent())
	if err := g2.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "already in use") {
		t.Errorf("port taken: %v", err)
	}
	bad := base
	bad.RoutingFile = dir + "/missing.yml"
	if _, err := New(bad, newFakeAgent()); err == nil || !strings.Contains(err.Error(), "esb build") {
		t.Errorf("missing routing.yml: %v", err)
	}
}

func reqFor(fn, image, project string) *agentv1.EnsureContainerRequest {
	return &agentv1.EnsureContainerRequest{Function: fn, Image: image, Project: project}
}

func TestReservedConcurrencyZeroThrottles(t *testing.T) {
	ag := newFakeAgent()
	ag.handle("echo:latest", proxyEcho)
	e := startGateway(t, ag, oneFunction("echo", "echo:latest", 0), echoRoutes(), func(c *Config) { c.AuthDisabled = true })
	if r := e.do("GET", e.http+"/users/1", nil, nil); r.status != 429 {
		t.Errorf("route of a function with max_capacity 0: %d", r.status)
	}
	r := e.do("POST", e.http+"/2015-03-31/functions/echo/invocations", []byte(`{}`), nil)
	if r.status != 429 || r.header.Get("X-Amzn-ErrorType") != "TooManyRequestsException" {
		t.Errorf("Invoke of a function with max_capacity 0: %d %v", r.status, r.header)
	}
	if ag.ensured["echo"] != 0 {
		t.Error("a disabled function must never start a worker")
	}
}

func TestClientGoneKeepsWorker(t *testing.T) {
	ag := newFakeAgent()
	ag.handle("slow:latest", func(c *workertest.Call) workertest.Reply {
		time.Sleep(200 * time.Millisecond)
		return proxyEcho(c)
	})
	e := startGateway(t, ag, oneFunction("slow", "slow:latest", 1),
		manifest.Routing{Routes: []manifest.Route{{Path: "/slow", Method: "get", Function: "slow"}}},
		func(c *Config) { c.AuthDisabled = true })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.http+"/slow", nil)
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("client timeout expected")
	}
	time.Sleep(300 * time.Millisecond)
	if r := e.do("GET", e.http+"/slow", nil, nil); r.status != 200 {
		t.Fatalf("after a client went away: %d", r.status)
	}
	if ag.ensured["slow"] != 1 {
		t.Errorf("a client that went away must not cost the worker: %d containers started", ag.ensured["slow"])
	}
}
