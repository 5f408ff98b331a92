package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestE2EDocker runs every scenario in docker mode.
func TestE2EDocker(t *testing.T) {
	h := newHarness(t, "docker", 27000)
	t.Run("hello-python", func(t *testing.T) { h.t = t; helloPython(h, "e2e-docker-hello-python") })
	t.Run("full-stack", func(t *testing.T) { h.t = t; fullStack(h, "e2e-docker-full-stack") })
	t.Run("hello-go", func(t *testing.T) { h.t = t; helloGo(h, "e2e-docker-hello-go") })
}

// TestE2EContainerd runs the same scenarios in containerd mode.
func TestE2EContainerd(t *testing.T) {
	h := newHarness(t, "containerd", 26000) // below the ephemeral port range
	t.Run("hello-python", func(t *testing.T) { h.t = t; helloPython(h, "e2e-ctrd-hello-python") })
	t.Run("full-stack", func(t *testing.T) { h.t = t; fullStack(h, "e2e-ctrd-full-stack") })
}

// helloPython: up, auth, routes, the Invoke API with the AWS CLI, scale-out
// and scale to zero, a second esb up with a new route, restarts of the gateway
// and the agent (idle and under load), kill -9, down.
func helloPython(h *harness, name string) {
	t := h.t
	dir := h.project("hello-python", name)
	h.mustEsb(dir, "base", "build", "python3.12")
	defer h.down(dir, name)
	start := time.Now()
	out := h.mustEsb(dir, "up", "--wait")
	t.Logf("esb up --wait (build included) took %s", time.Since(start))
	if !strings.Contains(out, "esb is ready") {
		t.Fatalf("esb up --wait said:\n%s", out)
	}
	c := h.client(dir)

	// Auth: no token → 401 on every path; the token opens the route.
	h.mustCall(c, 401, "GET", "/hello", "", "")
	h.mustCall(c, 401, "GET", "/nothing-here", "", "")
	sec := secrets(t, dir)
	r := h.mustCall(c, 401, "POST", "/user/auth/ver1.0", "", `{"AuthParameters":{"USERNAME":"x","PASSWORD":"y"}}`, "x-api-key", "wrong")
	if r.header.Get("PADMA_USER_AUTHORIZED") != "" {
		t.Errorf("wrong API key answered PADMA_USER_AUTHORIZED")
	}
	h.mustCall(c, 200, "POST", "/user/auth/ver1.0", "", fmt.Sprintf(`{"AuthParameters":{"USERNAME":%q,"PASSWORD":%q}}`, sec["AUTH_USER"], sec["AUTH_PASS"]), "x-api-key", sec["X_API_KEY"])
	tok := h.token(dir)
	r = h.mustCall(c, 200, "GET", "/hello", tok, "")
	if !strings.Contains(r.body, "Hello, world") {
		t.Fatalf("GET /hello: %s", r.body)
	}
	r = h.mustCall(c, 200, "GET", "/hello/esb", tok, "")
	if !strings.Contains(r.body, "Hello, esb") {
		t.Fatalf("GET /hello/esb: %s", r.body)
	}
	h.mustCall(c, 404, "GET", "/nothing-here", tok, "")

	// The Invoke API through the AWS CLI (SigV4 with the project's key pair).
	outFile := filepath.Join(t.TempDir(), "out.json")
	h.mustAWS(dir, "lambda", "invoke", "--endpoint-url", h.httpURL, "--function-name", "hello-python",
		"--cli-binary-format", "raw-in-base64-out", "--payload", `{"httpMethod":"GET","path":"/hello","pathParameters":{"name":"cli"}}`, outFile)
	data, _ := os.ReadFile(outFile)
	if !strings.Contains(string(data), "cli") {
		t.Errorf("aws lambda invoke answered %s", data)
	}

	// A second esb up on the running project adds a route without a restart.
	before := h.services(dir)
	tpl := filepath.Join(dir, "template.yaml")
	src, _ := os.ReadFile(tpl)
	added := strings.Replace(string(src), "        HelloName:\n", "        Hi:\n          Type: Api\n          Properties:\n            Path: /hi\n            Method: get\n        HelloName:\n", 1)
	must(t, os.WriteFile(tpl, []byte(added), 0o644))
	h.mustEsb(dir, "up", "--wait")
	deadline := time.Now().Add(15 * time.Second)
	for {
		r, err := h.call(c, "GET", "/hi", tok, "")
		if err == nil && r.status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /hi after the second esb up: %+v %v", r, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	after := h.services(dir)
	for _, s := range []string{"gateway", "agent", "dynamodb", "s3"} {
		if before[s].PID != after[s].PID {
			t.Errorf("second esb up restarted %s (pid %d → %d)", s, before[s].PID, after[s].PID)
		}
	}

	// New code under the same image name: the next esb up rolls it out.
	app := filepath.Join(dir, "functions", "hello", "app.py")
	code, _ := os.ReadFile(app)
	must(t, os.WriteFile(app, []byte(strings.Replace(string(code), `"message": f"{GREETING}, {name}!"`, `"message": f"{GREETING} again, {name}!"`, 1)), 0o644))
	h.mustEsb(dir, "up", "--wait")
	waitFor(t, 30*time.Second, "the new code to answer", func() bool {
		r, err := h.call(c, "GET", "/hello/new", tok, "")
		return err == nil && r.status == 200 && strings.Contains(r.body, "Hello again, new")
	})

	scaling(h, dir, c, tok, name)
	restarts(h, dir, c, tok)
}

// scaling: concurrent requests start several workers; idle workers go away.
func scaling(h *harness, dir string, c *http.Client, tok, name string) {
	t := h.t
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r, err := h.call(c, "GET", fmt.Sprintf("/hello/n%d", i), tok, "")
			if err == nil && r.status != 200 {
				err = fmt.Errorf("status %d: %s", r.status, r.body)
			}
			if err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent request: %v", err)
	}
	if n := len(h.containers(name)); n < 2 {
		t.Errorf("8 concurrent requests ran on %d worker(s); want a scale-out to at least 2", n)
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(h.containers(name)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("workers still there after %s idle (GATEWAY_IDLE_TIMEOUT_SECONDS=4): %v", 20*time.Second, h.containers(name))
		}
		time.Sleep(250 * time.Millisecond)
	}
	if r, err := h.call(c, "GET", "/hello", tok, ""); err != nil || r.status != 200 {
		t.Fatalf("GET /hello after scale to zero: %+v %v\n%s", r, err, h.mustEsb(dir, "status"))
	}
}

// restarts: the gateway and the agent killed while idle and under load.
func restarts(h *harness, dir string, c *http.Client, tok string) {
	t := h.t
	h.mustCall(c, 200, "GET", "/hello", tok, "") // a warm worker
	for _, svc := range []string{"gateway", "agent"} {
		// Idle: SIGKILL, the supervisor restarts it, requests work again.
		base := h.services(dir)[svc].Restarts
		must(t, syscall.Kill(pidOf(t, dir, svc), syscall.SIGKILL))
		h.waitService(dir, svc, base+1, 30*time.Second)
		h.mustCall(c, 200, "GET", "/hello", tok, "")

		// Under load: a client sends requests one after another while the
		// service is killed. Each answer must belong to its own request (no
		// duplicates), and once the service is back every request succeeds.
		stop := make(chan struct{})
		type result struct {
			ok   bool
			id   string
			when time.Time
		}
		results := make(chan result, 10000)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				r, err := h.call(c, "GET", fmt.Sprintf("/hello/r%d", n), tok, "")
				ok := err == nil && r.status == 200 && strings.Contains(r.body, fmt.Sprintf("r%d", n))
				id := ""
				if ok {
					id = r.header.Get("X-Amzn-Requestid")
				}
				results <- result{ok, id, time.Now()}
			}
		}()
		time.Sleep(500 * time.Millisecond)
		must(t, syscall.Kill(pidOf(t, dir, svc), syscall.SIGKILL))
		h.waitService(dir, svc, base+2, 30*time.Second)
		back := time.Now()
		time.Sleep(1500 * time.Millisecond)
		close(stop)
		wg.Wait()
		close(results)
		seen := map[string]bool{}
		total, failedAfter := 0, 0
		for r := range results {
			total++
			if r.ok {
				if seen[r.id] {
					t.Errorf("%s restart: request id %s answered twice", svc, r.id)
				}
				seen[r.id] = true
			} else if r.when.After(back.Add(200 * time.Millisecond)) {
				failedAfter++
			}
		}
		if failedAfter > 0 {
			t.Errorf("%s restart under load: %d request(s) failed after the %s was back (of %d)", svc, failedAfter, svc, total)
		}
		t.Logf("%s killed under load: %d requests, %d answered", svc, total, len(seen))
	}
}

// fullStack: functions reach DynamoDB and S3 through boto3 and
// aws-sdk-go-v2 unchanged, a chained invoke keeps the trace id, kill -9 of
// the database keeps written data, esb up --reset wipes it.
func fullStack(h *harness, name string) {
	t := h.t
	dir := h.project("full-stack", name)
	h.mustEsb(dir, "base", "build", "python3.12")
	defer h.down(dir, name)
	out := h.mustEsb(dir, "up", "--wait")
	if !strings.Contains(out, name+"-items-dev created") && !strings.Contains(out, name+"-items-dev unchanged") {
		t.Errorf("esb up did not report the table:\n%s", out)
	}
	c := h.client(dir)
	tok := h.token(dir)

	// boto3 → DynamoDB from inside the function; checked with the AWS CLI.
	r := h.mustCall(c, 201, "POST", "/items", tok, `{"id":"e2e-1","name":"widget","category":"tools"}`, "Content-Type", "application/json")
	if !strings.Contains(r.body, "widget") {
		t.Fatalf("POST /items: %s", r.body)
	}
	h.mustCall(c, 200, "GET", "/items/e2e-1", tok, "")
	table := name + "-items-dev"
	got := h.mustAWS(dir, "dynamodb", "get-item", "--endpoint-url", h.dynamo, "--table-name", table, "--key", `{"id":{"S":"e2e-1"}}`)
	if !strings.Contains(got, "widget") {
		t.Fatalf("the item is not in the table: %s", got)
	}

	// aws-sdk-go-v2 → S3 from inside the Go function; checked with the AWS CLI.
	h.mustCall(c, 201, "PUT", "/files/hello.txt", tok, "hello from e2e", "Content-Type", "text/plain")
	r = h.mustCall(c, 200, "GET", "/files/hello.txt", tok, "")
	if !strings.Contains(r.body, "hello from e2e") {
		t.Errorf("GET /files/hello.txt: %s", r.body)
	}
	bucket := name + "-files-dev"
	listing := h.mustAWS(dir, "s3api", "list-objects-v2", "--endpoint-url", h.s3, "--bucket", bucket)
	if !strings.Contains(listing, "hello.txt") {
		t.Errorf("the object is not in the bucket: %s", listing)
	}

	// A chained invoke (boto3's Lambda client in the report function) keeps
	// the caller's trace id.
	root := fmt.Sprintf("1-%08x-%024x", time.Now().Unix(), time.Now().UnixNano())
	r = h.mustCall(c, 201, "POST", "/reports", tok, "{}", "X-Amzn-Trace-Id", "Root="+root+";Sampled=1")
	var rep struct {
		Total int `json:"total"`
	}
	if err := json.Unmarshal([]byte(r.body), &rep); err != nil || rep.Total < 1 {
		t.Errorf("POST /reports: %s", r.body)
	}
	waitFor(t, 5*time.Second, "the chained invoke in the gateway's access log with the caller's trace id", func() bool {
		data, _ := os.ReadFile(filepath.Join(stateDir(dir), "logs", "gateway.out"))
		for _, line := range strings.Split(string(data), "\n") {
			if strings.Contains(line, "/2015-03-31/functions/") && strings.Contains(line, root) {
				return true
			}
		}
		return false
	})

	// kill -9 of the database: restarted, the acknowledged item is still there.
	must(t, syscall.Kill(pidOf(t, dir, "dynamodb"), syscall.SIGKILL))
	h.waitService(dir, "dynamodb", 1, 30*time.Second)
	h.mustCall(c, 200, "GET", "/items/e2e-1", tok, "")

	// esb up --reset wipes the data and starts again.
	out = h.mustEsb(dir, "up", "--reset", "--yes", "--wait")
	if !strings.Contains(out, table+" created") {
		t.Errorf("esb up --reset did not recreate the table:\n%s", out)
	}
	tok = h.token(dir)
	c = h.client(dir)
	h.mustCall(c, 404, "GET", "/items/e2e-1", tok, "")
}

// helloGo: the Go example (provided.al2023, aws-lambda-go); measures esb up --wait with images built.
func helloGo(h *harness, name string) {
	t := h.t
	dir := h.project("hello-go", name)
	h.mustEsb(dir, "build")
	defer h.down(dir, name)
	start := time.Now()
	h.mustEsb(dir, "up", "--wait")
	t.Logf("esb up --wait for hello-go, images built: %s", time.Since(start))
	h.mustEsb(dir, "down")

	// Two esb up at once: the second waits for the first's lock, then finds
	// the project running; one supervisor, every service healthy.
	var wg sync.WaitGroup
	outs := make([]string, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); outs[i], errs[i] = h.esb(dir, "up", "--wait") }()
	}
	wg.Wait()
	for i := range 2 {
		if errs[i] != nil {
			t.Fatalf("concurrent esb up %d: %v\n%s", i, errs[i], outs[i])
		}
	}
	if !strings.Contains(outs[0]+outs[1], "waiting for it") {
		t.Errorf("neither esb up said it waited for the other:\n%s\n%s", outs[0], outs[1])
	}
	sups := 0
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		cmdline, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if strings.Contains(string(cmdline), "--supervise") && strings.Contains(string(cmdline), dir+"/template.yaml") {
			sups++
		}
	}
	if sups != 1 {
		t.Errorf("%d supervisors run after two concurrent esb up, want 1", sups)
	}

	// kill -9 of the supervisor itself: its daemons live on without it; the
	// next esb up stops them and starts afresh, and the route answers again.
	lock, err := os.ReadFile(filepath.Join(stateDir(dir), "run", "supervisor.lock"))
	must(t, err)
	var supPID int
	fmt.Sscanf(string(lock), "%d", &supPID)
	must(t, syscall.Kill(supPID, syscall.SIGKILL))
	time.Sleep(200 * time.Millisecond)
	if out, err := h.esb(dir, "status"); err == nil || !strings.Contains(out, "without a supervisor") {
		t.Errorf("esb status with the supervisor gone: %v\n%s", err, out)
	}
	out := h.mustEsb(dir, "up", "--wait")
	if !strings.Contains(out, "left from a supervisor that is gone") {
		t.Errorf("esb up did not clean up after the dead supervisor:\n%s", out)
	}
	c := h.client(dir)
	h.mustCall(c, 200, "GET", "/hello/again", h.token(dir), "")
	r := h.mustCall(c, 200, "GET", "/hello/go", h.token(dir), "")
	if !strings.Contains(r.body, "Hello, go") {
		t.Errorf("GET /hello/go: %s", r.body)
	}
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
