package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/edgeserverlessbox/esb/internal/manifest"
	"github.com/edgeserverlessbox/esb/internal/project"
	"github.com/edgeserverlessbox/esb/internal/provision"
	"github.com/edgeserverlessbox/esb/internal/supervisor"
)

// waitServices waits until the named services (all when names is empty) are
// healthy. progress is called when the list of those not ready changes.
func waitServices(ctx context.Context, c *supervisor.Client, names []string, timeout time.Duration, progress func(string), outputDir string) (supervisor.Status, error) {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	deadline := time.Now().Add(timeout)
	last := ""
	first := map[string]int{}
	for {
		st, err := c.Status(ctx)
		if err != nil {
			return st, err
		}
		var waiting []string
		for _, s := range st.Services {
			if _, ok := first[s.Name]; !ok {
				first[s.Name] = s.Restarts
			}
			// A service that keeps failing will not get better by waiting.
			if !s.Healthy && s.Restarts-first[s.Name] >= 3 && outputDir != "" {
				out := filepath.Join(outputDir, s.Name+".out")
				return st, fmt.Errorf("%s keeps failing (%s, %d restarts); its last lines (%s):\n%s", s.Name, s.LastExit, s.Restarts, out, tailFile(out, 12))
			}
			if (len(want) == 0 || want[s.Name]) && !s.Healthy {
				w := s.Name + " " + s.State
				if s.State == supervisor.StateBackoff && s.LastExit != "" {
					w += " (" + s.LastExit + ")"
				}
				waiting = append(waiting, w)
			}
		}
		if len(waiting) == 0 {
			return st, nil
		}
		desc := strings.Join(waiting, ", ")
		if desc != last && progress != nil {
			progress(desc)
			last = desc
		}
		if time.Now().After(deadline) {
			return st, fmt.Errorf("not healthy after %s: %s; see esb status and %s", timeout, desc, "the services' output in <state>/logs/*.out")
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// provisionProject creates the template's tables and buckets once the data
// services answer.
func provisionProject(ctx context.Context, g *Globals, proj *project.Project, l supervisor.Layout, plan upPlan, sec supervisor.Secrets, c *supervisor.Client) error {
	res, err := provision.Load(proj.ResourcesPath())
	if err != nil {
		return err
	}
	if len(res.Tables)+len(res.Buckets) == 0 {
		return nil
	}
	var need []string
	for _, s := range plan.cfg.Services {
		if s.Name == "dynamodb" || s.Name == "s3" {
			need = append(need, s.Name)
		}
	}
	if _, err := waitServices(ctx, c, need, time.Minute, nil, l.Logs()); err != nil {
		return fmt.Errorf("provision: %w", err)
	}
	rep, err := provision.Apply(ctx, res, provision.Endpoints{
		DynamoDB: plan.endpoints.DynamoDB, S3: plan.endpoints.S3, Region: proj.Region,
		AccessKeyID: sec.AccessKeyID, SecretAccessKey: sec.SecretAccessKey,
	})
	if errors.Is(err, provision.ErrNeedsReset) {
		return fmt.Errorf("%w\n(esb up --reset deletes every table's items and every object; back them up first)", err)
	}
	if err != nil {
		return err
	}
	var parts []string
	for _, t := range rep.Tables {
		p := t.Table + " " + string(t.Action)
		if len(t.Changes) > 0 {
			p += " (" + strings.Join(t.Changes, "; ") + ")"
		}
		parts = append(parts, p)
	}
	if len(parts) > 0 {
		fmt.Fprintf(g.Stderr, "Tables:  %s\n", strings.Join(parts, ", "))
	}
	if len(rep.Buckets) > 0 {
		fmt.Fprintf(g.Stderr, "Buckets: %s\n", strings.Join(rep.Buckets, ", "))
	}
	return nil
}

// gatewayHealth is the part of the gateway's GET /health esb reads.
type gatewayHealth struct {
	Status string `json:"status"`
	Agent  struct {
		Status  string `json:"status"`
		Message string `json:"message"`
	} `json:"agent"`
	Pools []struct {
		Function string `json:"function"`
		Idle     int    `json:"idle"`
		Busy     int    `json:"busy"`
		Starting int    `json:"starting"`
		Paused   int    `json:"paused"`
		Waiting  int    `json:"waiting"`
		Max      int    `json:"max_capacity"`
		Min      int    `json:"min_capacity"`
		Breaker  string `json:"circuit_breaker"`
		// LastError is the function's most recent failed invocation.
		LastError *struct {
			Kind      string    `json:"kind"`
			Message   string    `json:"message"`
			RequestID string    `json:"request_id"`
			At        time.Time `json:"at"`
		} `json:"last_error"`
	} `json:"pools"`
	Functions int `json:"functions"`
}

var localHTTP = &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 5 * time.Second}

func fetchGatewayHealth(ctx context.Context, base string) (gatewayHealth, error) {
	var h gatewayHealth
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/health", nil)
	if err != nil {
		return h, err
	}
	resp, err := localHTTP.Do(req)
	if err != nil {
		return h, fmt.Errorf("gateway health: %w", err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		return h, fmt.Errorf("gateway health: %w", err)
	}
	return h, nil
}

// waitReady waits until every service is healthy, the gateway reaches the
// agent, and every function has its min_capacity workers warm.
func waitReady(ctx context.Context, g *Globals, proj *project.Project, c *supervisor.Client, plan upPlan, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	progress := func(s string) { fmt.Fprintf(g.Stderr, "waiting for: %s\n", s) }
	if _, err := waitServices(ctx, c, nil, timeout, progress, layoutOf(proj).Logs()); err != nil {
		return err
	}
	var fns manifest.Functions
	if err := manifest.Load(proj.FunctionsPath(), &fns); err != nil {
		return err
	}
	last := ""
	for {
		h, err := fetchGatewayHealth(ctx, plan.endpoints.GatewayHTTP)
		var waiting []string
		switch {
		case err != nil:
			waiting = append(waiting, err.Error())
		case h.Agent.Status != "ok":
			waiting = append(waiting, "gateway → agent ("+h.Agent.Status+")")
		default:
			have := map[string]int{}
			for _, p := range h.Pools {
				have[p.Function] = p.Idle + p.Busy + p.Paused
			}
			names := make([]string, 0, len(fns.Functions))
			for n := range fns.Functions {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				if min := fns.Functions[n].Scaling.MinCapacity; have[n] < min {
					waiting = append(waiting, fmt.Sprintf("%s workers %d/%d warm", n, have[n], min))
				}
			}
		}
		if len(waiting) == 0 {
			return nil
		}
		desc := strings.Join(waiting, ", ")
		if desc != last {
			progress(desc)
			last = desc
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s: %s; see `esb status` and `esb logs`", timeout, desc)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// printUpSummary says where everything answers and how to call it.
func printUpSummary(g *Globals, proj *project.Project, l supervisor.Layout, plan upPlan, wd string, took time.Duration, waited bool) {
	w := g.Stdout
	state := "started"
	if waited {
		state = "ready"
	}
	fmt.Fprintf(w, "esb is %s: project %s (mode %s) in %s\n", state, proj.Name, plan.cfg.Info[infoMode], took.Round(time.Millisecond))
	ep := plan.endpoints
	ca := project.Rel(wd, plan.cfg.Info[infoCertFile])
	if ep.GatewayHTTPS != "" {
		fmt.Fprintf(w, "  gateway       %s  (CA certificate: %s)\n", ep.GatewayHTTPS, ca)
	}
	fmt.Fprintf(w, "  gateway http  %s\n", strings.Replace(ep.GatewayHTTP, "127.0.0.1", "localhost", 1))
	fmt.Fprintf(w, "  dynamodb      %s\n", ep.DynamoDB)
	fmt.Fprintf(w, "  s3            %s\n", ep.S3)
	if ep.S3Console != "" {
		fmt.Fprintf(w, "  s3 console    %s\n", ep.S3Console)
	}
	if ep.VictoriaLogs != "" {
		fmt.Fprintf(w, "  victorialogs  %s\n", ep.VictoriaLogs)
	}
	fmt.Fprintf(w, "  secrets       %s\n", project.Rel(wd, l.SecretsFile()))
	route := firstGetRoute(proj)
	base := ep.GatewayHTTPS
	curlTLS := "--cacert " + ca + " "
	if base == "" {
		base, curlTLS = strings.Replace(ep.GatewayHTTP, "127.0.0.1", "localhost", 1), ""
	}
	fmt.Fprintf(w, "Try:\n  curl %s-H \"Authorization: Bearer $(esb token)\" %s%s\n", curlTLS, base, route)
}

// firstGetRoute is a route of the project to show in the summary.
func firstGetRoute(proj *project.Project) string {
	var rt manifest.Routing
	if err := manifest.Load(proj.RoutingPath(), &rt); err != nil {
		return "/"
	}
	for _, r := range rt.Routes {
		if (strings.EqualFold(r.Method, "get") || strings.EqualFold(r.Method, "any")) && !strings.Contains(r.Path, "{") {
			return r.Path
		}
	}
	if len(rt.Routes) > 0 && !strings.Contains(rt.Routes[0].Path, "{") {
		return rt.Routes[0].Path
	}
	return "/"
}

// checkEngine says in one line how to install and start Docker or
// containerd when the mode's engine does not answer.
func checkEngine(ctx context.Context, mode string, getenv func(string) string) error {
	switch mode {
	case project.ModeContainerd:
		addr := firstNonEmpty(getenv("CONTAINERD_ADDRESS"), "/run/containerd/containerd.sock")
		if err := dialUnix(ctx, addr); err != nil {
			if _, lerr := exec.LookPath("containerd"); lerr != nil {
				return fmt.Errorf("containerd is not installed: install it with `apt-get install containerd runc containernetworking-plugins iptables`, start it with `systemctl start containerd`, then run esb up again (or use ESB_MODE=docker)")
			}
			return fmt.Errorf("containerd is not running at %s (%v): start it with `systemctl start containerd` (or set CONTAINERD_ADDRESS), then run esb up again", addr, err)
		}
		if _, err := os.Stat(firstNonEmpty(getenv("CNI_BIN_DIR"), "/usr/lib/cni") + "/bridge"); err != nil {
			return fmt.Errorf("the CNI plugins are missing: install them with `apt-get install containernetworking-plugins` (or set CNI_BIN_DIR)")
		}
		return nil
	default:
		host := firstNonEmpty(getenv("DOCKER_HOST"), "unix:///var/run/docker.sock")
		err := pingDocker(ctx, host)
		if err == nil {
			return nil
		}
		if _, lerr := exec.LookPath("dockerd"); lerr != nil && strings.HasPrefix(host, "unix://") {
			return fmt.Errorf("Docker Engine is not installed: install it with `apt-get install docker.io`, start it with `systemctl start docker`, then run esb up again (or use ESB_MODE=containerd)")
		}
		return fmt.Errorf("Docker Engine is not running at %s (%v): start it with `systemctl start docker` (or set DOCKER_HOST), then run esb up again", host, err)
	}
}

func dialUnix(ctx context.Context, path string) error {
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := d.DialContext(dctx, "unix", strings.TrimPrefix(path, "unix://"))
	if err != nil {
		return unwrapOp(err)
	}
	return c.Close()
}

// unwrapOp shortens *net.OpError to its cause.
func unwrapOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		var sys *os.SyscallError
		if errors.As(op.Err, &sys) {
			return sys.Err
		}
		return op.Err
	}
	return err
}

// pingDocker calls the Engine's /_ping on a unix socket or TCP address.
func pingDocker(ctx context.Context, host string) error {
	network, addr := "tcp", strings.TrimPrefix(strings.TrimPrefix(host, "tcp://"), "http://")
	if strings.HasPrefix(host, "unix://") {
		network, addr = "unix", strings.TrimPrefix(host, "unix://")
	}
	tr := &http.Transport{Proxy: nil, DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 3 * time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/_ping", nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		var uerr interface{ Unwrap() error }
		if errors.As(err, &uerr) {
			return unwrapOp(uerr.Unwrap())
		}
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/_ping answered %d", resp.StatusCode)
	}
	return nil
}

// checkPorts makes sure every port esb up will listen on is free, before
// anything starts.
func checkPorts(s upSettings) error {
	type port struct{ what, addr, env string }
	var ports []port
	if !s.sslOff {
		ports = append(ports, port{"gateway HTTPS", net.JoinHostPort(s.bind, fmt.Sprint(s.httpsPort)), "GATEWAY_PORT"})
	}
	ports = append(ports, port{"gateway HTTP", net.JoinHostPort(s.bind, fmt.Sprint(s.httpPort)), "GATEWAY_HTTP_PORT"})
	if s.dynamoEndpoint == "" {
		ports = append(ports, port{"dynamodb", s.dynamoListen, "ESB_DYNAMODB_LISTEN"})
	}
	if s.s3Endpoint == "" {
		ports = append(ports, port{"s3", s.s3Listen, "ESB_S3_LISTEN"})
		if s.s3Consol != "" && !strings.EqualFold(s.s3Consol, "off") {
			ports = append(ports, port{"s3 console", s.s3Consol, "ESB_S3_CONSOLE_LISTEN"})
		}
	}
	if s.vlogsBin != "" {
		ports = append(ports, port{"victorialogs", s.vlogsListen, envVLogsListen})
	}
	for _, p := range ports {
		ln, err := net.Listen("tcp", p.addr)
		if err == nil {
			ln.Close()
			continue
		}
		_, num, _ := net.SplitHostPort(p.addr)
		switch {
		case errors.Is(err, syscall.EADDRINUSE):
			who := portOwner(num)
			return fmt.Errorf("port %s (%s) is already in use%s: stop that program, or give esb another port with %s=…", num, p.what, who, p.env)
		case errors.Is(err, syscall.EACCES):
			return fmt.Errorf("port %s (%s) needs root or CAP_NET_BIND_SERVICE: run esb up as root, or choose a port above 1023 with %s=…", num, p.what, p.env)
		default:
			return fmt.Errorf("cannot listen on %s (%s): %v; set %s", p.addr, p.what, unwrapOp(err), p.env)
		}
	}
	return nil
}

// portOwner names the process listening on a TCP port, when /proc tells
// (" by pid 123 (nginx)"), else "".
func portOwner(port string) string {
	var inodes []string
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || fields[3] != "0A" { // LISTEN
				continue
			}
			if _, hexPort, ok := strings.Cut(fields[1], ":"); ok {
				var n int
				if _, err := fmt.Sscanf(hexPort, "%X", &n); err == nil && fmt.Sprint(n) == port {
					inodes = append(inodes, fields[9])
				}
			}
		}
		fh.Close()
	}
	if len(inodes) == 0 {
		return ""
	}
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		fds, err := os.ReadDir("/proc/" + p.Name() + "/fd")
		if err != nil {
			continue
		}
		for _, fd := range fds {
			link, err := os.Readlink("/proc/" + p.Name() + "/fd/" + fd.Name())
			if err != nil {
				continue
			}
			for _, ino := range inodes {
				if link == "socket:["+ino+"]" {
					comm, _ := os.ReadFile("/proc/" + p.Name() + "/comm")
					return fmt.Sprintf(" by pid %s (%s)", p.Name(), strings.TrimSpace(string(comm)))
				}
			}
		}
	}
	return ""
}

// confirmDataLoss asks before data is deleted, unless yes. Without a
// terminal it refuses and names --yes.
func confirmDataLoss(g *Globals, l supervisor.Layout, yes bool, what string) error {
	if yes {
		return nil
	}
	fmt.Fprintf(g.Stderr, "WARNING: %s permanently deletes every DynamoDB table and every S3 bucket's\ncontents of this project (%s).\n", what, l.Data())
	if !isTerminal(g.Stdin) {
		return fmt.Errorf("%s needs confirmation: run it in a terminal, or add --yes", what)
	}
	fmt.Fprint(g.Stderr, "Delete all data? [y/N] ")
	line, _ := bufio.NewReader(io.LimitReader(g.Stdin, 256)).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return &ExitError{Code: 1, Err: errors.New("cancelled; nothing was deleted")}
}
